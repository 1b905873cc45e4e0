"""Caps on the size of one explanation request, and the checks of its numeric arguments.

Every entry point of :class:`~dvi_widget.explain.Explainer` (a cell's call, or the widget's
request through ``Explainer.payload``) checks its sizes here before any work, so that no request
can block the kernel for long or fill its memory, whatever the front end sends: without caps,
2·10⁶ what-if strengths, 20,000 PGD steps or Grad-CAM of 10⁶ samples blocked the kernel for
13–30 s and took up to 3.4 GB. A refusal is a ``ValueError`` naming the argument and the cap
(``dvi_widget.explain.limits.NAME``); larger jobs are several requests (chunks of samples).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: strengths of one what-if path (the widget's controls send at most 512)
MAX_STRENGTHS = 1024
#: gradient steps of one adversarial path (the widget's controls send at most 200; 500 steps
#: of an 8×8-digit CNN take 2 s on one CPU thread)
MAX_ATTACK_STEPS = 500
#: inputs of one Grad-CAM request (the widget asks for one page of thumbnails at a time)
MAX_GRADCAM_INPUTS = 10_000
#: heat-map pixels of one Grad-CAM request (inputs × height × width: 128 MiB of float32)
MAX_GRADCAM_PIXELS = 2**25
#: perturbed inputs of one robustness curve (samples × strengths; the default: 1,000 × 16)
MAX_ROBUSTNESS_INPUTS = 200_000
#: generated neighbours of one local surrogate (default 500)
MAX_SURROGATE_NEIGHBORS = 20_000
#: nearest training samples a surrogate's neighbours mix towards (default 10)
MAX_SURROGATE_K = 1000


def check_cap(count: int, cap_name: str, what: str, hint: str = "") -> None:
    """Refuse ``count`` items of ``what`` beyond the cap called ``cap_name`` (a constant of this
    module), with a message naming both."""
    cap = globals()[cap_name]
    if count > cap:
        raise ValueError(f"{what}: {count:,} is more than the cap of {cap:,} per request "
                         f"(dvi_widget.explain.limits.{cap_name}){'; ' + hint if hint else ''}")


def whole(value: Any, name: str, low: int = 1, cap_name: str | None = None) -> int:  # noqa: ANN401
    """``value`` as an int >= ``low`` (and within the cap ``cap_name``); floats with a fraction,
    booleans, strings and NaN are refused with a ``ValueError`` naming ``name``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
        ok = True
    if not ok or int(value) < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    if cap_name is not None:
        check_cap(int(value), cap_name, name)
    return int(value)


def positive(value: Any, name: str, *, zero: bool = False) -> float:  # noqa: ANN401
    """``value`` as a finite float > 0 (>= 0 with ``zero``); NaN, Inf, booleans, strings and
    negative numbers are refused with a ``ValueError`` naming ``name``."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and (v >= 0 if zero else v > 0)):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero else '> 0'}, got "
                         f"{value!r}")
    return v
