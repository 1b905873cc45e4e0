"""What-if perturbations of inputs (VATUN's testing and simulation views), batched with Kornia.

A perturbation *family* maps an input and a scalar strength to a new input; strength
``identity`` returns the input unchanged. :func:`perturb` applies one family at ``S`` strengths to
``n`` inputs in one batch of ``n * S`` images on the inputs' device:

========== ============================================ ========= ==================
kind       what                                         identity  unit
========== ============================================ ========= ==================
rotate     rotation about the image centre              0         degrees, counter-clockwise
translate_x shift to the right                          0         pixels
translate_y shift down                                  0         pixels
scale      zoom about the image centre                  1         factor
brightness add to every value                           0         × value range
contrast   scale the deviation from the image's mean    1         factor
noise      add one fixed Gaussian pattern per input     0         std, × value range
blur       Gaussian blur                                0         sigma, pixels
occlude    a square patch (at ``center``) set to fill   0         side, pixels
slide      a patch (a quarter of the image's side)      0         share of the scan
           moved over the image: in from the left,
           band by band in a serpentine, out at the end
========== ============================================ ========= ==================

Geometric families go through one affine warp (``kornia.geometry.transform``); the area that
enters the frame takes the fill value (the low end of the data's value range, the background of
images scaled to [0, 1]). ``blur`` is ``kornia.filters.gaussian_blur2d`` with one sigma per image.
Brightness, contrast, noise and the occlusion patch are single tensor expressions written here:
Kornia's versions assume images in [0, 1] and clip there, whereas a run's inputs may have any
range, so these clip to the data's value range instead. Noise is drawn once per input from a
seeded generator and scaled by the strength, so a path over strengths is continuous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .limits import check_cap

#: default number of strengths of a what-if path / a robustness curve
DEFAULT_STEPS = 32
ROBUSTNESS_STEPS = 16


@dataclass(frozen=True)
class Family:
    """One perturbation family: its identity strength, unit and default range.

    ``default(height, width)`` gives the default ``(start, stop)`` of the strengths, starting at
    the identity; ``image`` says whether the family needs image-shaped inputs.
    """

    name: str
    identity: float
    unit: str
    image: bool
    default: Callable[[int, int], tuple[float, float]]
    description: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("rotate", 0.0, "degrees", True, lambda h, w: (0.0, 180.0),
               "rotation about the image centre, counter-clockwise"),
        Family("translate_x", 0.0, "pixels", True, lambda h, w: (0.0, w / 2),
               "shift to the right"),
        Family("translate_y", 0.0, "pixels", True, lambda h, w: (0.0, h / 2), "shift down"),
        Family("scale", 1.0, "factor", True, lambda h, w: (1.0, 2.0),
               "zoom about the image centre"),
        Family("brightness", 0.0, "× value range", False, lambda h, w: (0.0, 0.8),
               "added to every value, clipped to the value range"),
        Family("contrast", 1.0, "factor", False, lambda h, w: (1.0, 0.0),
               "deviation from the image mean scaled by the factor"),
        Family("noise", 0.0, "× value range", False, lambda h, w: (0.0, 1.0),
               "one fixed Gaussian pattern per input, std = strength × value range"),
        Family("blur", 0.0, "pixels", True, lambda h, w: (0.0, max(h, w) / 4),
               "Gaussian blur, sigma in pixels"),
        Family("occlude", 0.0, "pixels", True, lambda h, w: (0.0, float(max(h, w))),
               "square patch of this side set to the fill value"),
        Family("slide", 0.0, "share of the scan", True, lambda h, w: (0.0, 1.0),
               "a patch of a quarter of the image's side moved over the image, row by row"),
    )
}


def family(kind: str) -> Family:
    """The :class:`Family` named ``kind``; a clear error lists the known ones."""
    if kind not in FAMILIES:
        raise ValueError(f"kind={kind!r} is not a perturbation; choose one of {sorted(FAMILIES)}")
    return FAMILIES[kind]


def image_size(input_shape: Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` of inputs shaped ``(C, H, W)`` or ``(H, W)``; ``(1, D)`` otherwise."""
    shape = tuple(int(s) for s in input_shape)
    return (shape[-2], shape[-1]) if len(shape) in (2, 3) else (1, int(np.prod(shape)))


def default_strengths(kind: str, input_shape: Sequence[int],
                      steps: int = DEFAULT_STEPS) -> np.ndarray:
    """``steps`` evenly spaced strengths over the family's default range (float32)."""
    lo, hi = family(kind).default(*image_size(input_shape))
    return np.linspace(lo, hi, int(steps), dtype=np.float32)


def check_strengths(strengths: Sequence[float] | np.ndarray | None, kind: str,
                    input_shape: Sequence[int], steps: int = DEFAULT_STEPS) -> np.ndarray:
    """``strengths`` as a finite float32 vector (the family's default when None), at most
    :data:`~dvi_widget.explain.limits.MAX_STRENGTHS` of them."""
    if strengths is None:
        return default_strengths(kind, input_shape, steps)
    arr = np.atleast_1d(np.asarray(strengths, dtype=np.float32))
    check_cap(arr.size, "MAX_STRENGTHS", "strengths", "draw several paths over parts of the range")
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"strengths must be a non-empty 1-D sequence of finite numbers, got "
                         f"shape {arr.shape}")
    if kind == "blur" and (arr < 0).any():
        raise ValueError("strengths of kind='blur' are sigmas and must be >= 0")
    if kind == "slide" and ((arr < 0) | (arr > 1)).any():
        raise ValueError("strengths of kind='slide' are shares of the patch's scan over the "
                         "image and must lie in [0, 1]")
    if kind in ("scale",) and (arr <= 0).any():
        raise ValueError("strengths of kind='scale' are zoom factors and must be > 0")
    return arr


def _as_images(x: torch.Tensor, kind: str) -> torch.Tensor:
    """``(B, C, H, W)`` view of a batch shaped ``(B, C, H, W)`` or ``(B, H, W)``."""
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x[:, None]
    raise ValueError(
        f"kind={kind!r} needs image inputs shaped (C, H, W) or (H, W); these inputs have shape "
        f"{tuple(x.shape[1:])}. Use brightness, contrast or noise, or record image-shaped inputs"
    )


def _affine(img: torch.Tensor, kind: str, s: torch.Tensor, fill: float) -> torch.Tensor:
    from kornia.geometry.transform import get_affine_matrix2d, warp_affine

    b, c, h, w = img.shape
    zeros, ones = torch.zeros_like(s), torch.ones_like(s)
    shift = torch.stack([s if kind == "translate_x" else zeros,
                         s if kind == "translate_y" else zeros], dim=1)
    zoom = s if kind == "scale" else ones
    # kornia.geometry.transform.rotate's convention (counter-clockwise) is the opposite sign
    # of get_affine_matrix2d's angle
    angle = -s if kind == "rotate" else zeros
    center = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=img.dtype, device=img.device)
    matrix = get_affine_matrix2d(shift, center.expand(b, 2), torch.stack([zoom, zoom], 1), angle)
    # bilinear warping is linear in the values, so warping (img - fill) with zero padding and
    # adding fill back equals padding_mode="fill", with one grid_sample instead of two
    out = warp_affine(img - fill if fill else img, matrix[:, :2], (h, w), padding_mode="zeros")
    return out + fill if fill else out


def _blur(img: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    from kornia.filters import gaussian_blur2d

    h, w = img.shape[-2:]
    # a kernel of ±3 sigma, capped so that reflect padding fits inside the image
    half = min(int(np.ceil(3 * float(s.max()))), h - 1, w - 1)
    if half < 1:
        return img
    sigma = s.clamp_min(1e-3)  # sigma -> 0 is a unit impulse: the identity
    return gaussian_blur2d(img, 2 * half + 1, torch.stack([sigma, sigma], dim=1))


def _occlude(img: torch.Tensor, s: torch.Tensor, fill: float,
             center: tuple[float, float] | torch.Tensor | None) -> torch.Tensor:
    """Patches of side ``s (B,)`` at ``center``: one (row, col) or one per image ``(B, 2)``."""
    h, w = img.shape[-2:]
    if center is None:
        center = ((h - 1) / 2, (w - 1) / 2)
    c = torch.as_tensor(center, dtype=img.dtype, device=img.device).reshape(-1, 2)
    cy, cx = c[:, :1], c[:, 1:]  # (B or 1, 1)
    rows = torch.arange(h, dtype=img.dtype, device=img.device)
    cols = torch.arange(w, dtype=img.dtype, device=img.device)
    half = s[:, None] / 2
    # the share of each pixel covered by the patch (so that the path is continuous in strength)
    cover_r = (half - (rows[None] - cy).abs() + 0.5).clamp(0, 1)  # (B, H)
    cover_c = (half - (cols[None] - cx).abs() + 0.5).clamp(0, 1)  # (B, W)
    cover = (cover_r[:, :, None] * cover_c[:, None, :])[:, None]  # (B, 1, H, W)
    return img * (1 - cover) + fill * cover


def slide_patch(height: int, width: int, share: torch.Tensor) -> tuple[float, torch.Tensor]:
    """The ``slide`` family's patch: its side and its centres ``(B, 2)`` (row, col) at ``share``.

    The centre runs along a serpentine scan (in from the left along the top band, down, right to
    left along the next, ..., out at the end of the last), parametrised by arc length so that
    the path is continuous; at share 0 and 1 the patch lies outside the image.
    """
    side = max(1.0, round(max(height, width) / 4))
    n_bands = max(1, int(np.ceil(height / side)))
    y0, y1 = (side - 1) / 2, height - 1 - (side - 1) / 2
    x0, x1 = (side - 1) / 2, width - 1 - (side - 1) / 2
    ys = np.linspace(y0, y1, n_bands) if n_bands > 1 else np.array([(height - 1) / 2])
    corners = []
    for k, y in enumerate(ys):
        ends = (x0, x1) if k % 2 == 0 else (x1, x0)
        corners += [(y, ends[0]), (y, ends[1])]
    # it enters from outside the left edge and leaves across the last band's far edge, so that
    # share 0 and 1 leave the image unchanged (the family's identity)
    outside = side / 2 + 0.5
    corners.insert(0, (ys[0], -outside))
    last_y, last_x = corners[-1]
    corners.append((last_y, -outside if last_x < (width - 1) / 2 else width - 1 + outside))
    pts = torch.tensor(corners, dtype=torch.float64)
    seg = (pts[1:] - pts[:-1]).norm(dim=1)
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)])
    t = share.detach().to("cpu", torch.float64).clamp(0, 1) * cum[-1]
    i = torch.searchsorted(cum, t, right=True).clamp(1, len(pts) - 1)
    frac = ((t - cum[i - 1]) / seg[i - 1].clamp_min(1e-12))[:, None]
    return side, pts[i - 1] + frac * (pts[i] - pts[i - 1])


def apply(x: torch.Tensor, kind: str, strengths: torch.Tensor, *,
          value_range: tuple[float, float], noise: torch.Tensor | None = None,
          center: tuple[float, float] | None = None) -> torch.Tensor:
    """Perturb each row of ``x`` ``(B, *input_shape)`` by its own strength ``strengths (B,)``.

    ``noise`` (``(B, *input_shape)``, standard normal) is required for ``kind="noise"``;
    ``center`` (row, col in pixels) places the occlusion patch (default: the image centre).
    """
    fam = family(kind)
    lo, hi = (float(v) for v in value_range)
    span = hi - lo
    s = strengths.to(device=x.device, dtype=x.dtype)
    bcast = s.reshape(-1, *([1] * (x.ndim - 1)))
    if kind == "brightness":
        return (x + bcast * span).clamp(lo, hi)
    if kind == "contrast":
        mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
        return (mean + bcast * (x - mean)).clamp(lo, hi)
    if kind == "noise":
        if noise is None:
            raise ValueError("kind='noise' needs a noise pattern")
        return (x + bcast * span * noise).clamp(lo, hi)
    img = _as_images(x, kind)
    if fam.name in ("rotate", "translate_x", "translate_y", "scale"):
        out = _affine(img, kind, s, lo)
    elif kind == "blur":
        out = _blur(img, s)
    elif kind == "slide":
        side, centres = slide_patch(img.shape[-2], img.shape[-1], s)
        out = _occlude(img, torch.full_like(s, side), lo, centres)
    else:  # occlude
        out = _occlude(img, s, lo, center)
    return out.reshape(x.shape)


def perturb(x: torch.Tensor, kind: str, strengths: torch.Tensor | np.ndarray, *,
            value_range: tuple[float, float], seed: int = 0,
            center: tuple[float, float] | None = None) -> torch.Tensor:
    """Every input of ``x`` ``(n, *input_shape)`` at every strength: ``(n, S, *input_shape)``.

    One batch of ``n * S`` images on ``x``'s device. For ``kind="noise"`` each input gets one
    Gaussian pattern (seeded by ``seed``), scaled by each strength.
    """
    family(kind)
    s = torch.tensor(np.asarray(strengths, dtype=np.float32), device=x.device)  # a copy: any array
    n, n_s = len(x), len(s)
    rows = x[:, None].expand(n, n_s, *x.shape[1:]).reshape(n * n_s, *x.shape[1:])
    noise = None
    if kind == "noise":
        gen = torch.Generator().manual_seed(int(seed))
        pattern = torch.randn(x.shape, generator=gen).to(device=x.device, dtype=x.dtype)
        noise = pattern[:, None].expand(n, n_s, *x.shape[1:]).reshape(rows.shape)
    out = apply(rows, kind, s.repeat(n), value_range=value_range, noise=noise, center=center)
    return out.reshape(n, n_s, *x.shape[1:])


def first_flip(strengths: np.ndarray, flipped: np.ndarray, identity: float) -> float | None:
    """The strength closest to ``identity`` whose prediction differs from the unperturbed
    input's (the first one in ``strengths`` order among equally close); None when none does."""
    hits = np.flatnonzero(flipped)
    if hits.size == 0:
        return None
    distance = np.abs(np.asarray(strengths, dtype=np.float64)[hits] - identity)
    return float(strengths[hits[int(np.argmin(distance))]])
