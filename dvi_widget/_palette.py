"""The class palette every producer of the contract shares: :func:`default_palette`."""

from __future__ import annotations

import functools
import warnings

import numpy as np

#: the lightest a class colour may be (CIELAB L*): the landscape washes colours toward white as
#: confidence falls and the plot background is white, so lighter colours would vanish there
MAX_LIGHTNESS = 80.0


@functools.cache
def _distinct_colours() -> np.ndarray:
    """colorcet's ``glasbey_category10`` (Glasbey et al. 2007: each colour chosen as far as
    possible from all before it, starting from Tableau-10), minus its colours lighter than
    :data:`MAX_LIGHTNESS` after the first ten: 215 colours, uint8 (K, 3)."""
    import colorcet

    rgb = np.asarray(colorcet.glasbey_category10, dtype=np.float64)
    keep = np.arange(len(rgb)) < 10
    keep |= _lightness(rgb) <= MAX_LIGHTNESS
    return np.round(rgb[keep] * 255).astype(np.uint8)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L* (0 black .. 100 white) of sRGB colours in [0, 1] (D65)."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f - 16


def default_palette(n_classes: int) -> np.ndarray:
    """A fixed ``(n_classes, 3)`` uint8 palette indexed by class id.

    The first ten colours are Tableau-10 (matplotlib's default cycle); the next ones come from
    colorcet's Glasbey palette, each as far as possible from all before it, none lighter than
    CIELAB L* 80 (never white). Measured in CIELAB (ΔE*ab, CIE76): no two of the first 20
    colours are closer than 27, no two of the first 60 closer than 13.5 (tests pin both).
    Beyond the 215 distinct colours they repeat (class c gets colour c mod 215) with a warning:
    then colour by a coarser grouping, or pass your own ``palette``.
    """
    n = int(n_classes)
    if n < 0:
        raise ValueError(f"n_classes must be >= 0, got {n_classes!r}")
    base = _distinct_colours()
    if n > len(base):
        warnings.warn(
            f"{n} classes but only {len(base)} distinguishable colours: colours repeat (class "
            f"c gets the colour of class c mod {len(base)}). Pass palette= to "
            "Visualization.from_arrays, or group classes, to tell them apart.",
            stacklevel=2,
        )
    return base[np.arange(n) % len(base)].copy()
