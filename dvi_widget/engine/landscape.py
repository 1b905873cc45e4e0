"""The decision landscape: decode a 2-D grid with ψ_t and classify it with g_t (DVI §5).

Each cell takes the colour of its predicted class (a fixed palette indexed by class id), blended
toward white as the confidence falls, and is pure white where the cell lies on the δ-boundary
(DVI Def. 2: min-max normalised top-1/top-2 logit gap below δ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._tensor import DeviceLike, batched, resolve_device, to_numpy

#: the most a class colour is washed toward white at the lowest confidence (1/C)
MAX_WASH = 0.75
WHITE = 255


def _shape(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` (one side, or ``(H, W)``) as ``(H, W)`` positive ints."""
    hw = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(hw) != 2 or any(int(v) != v or int(v) < 1 for v in hw):
        raise ValueError(f"size must be a positive int or (H, W) of them, got {size!r}")
    return int(hw[0]), int(hw[1])


def grid_points(extent: Sequence[float], size: int | tuple[int, int]) -> torch.Tensor:
    """Centres of a ``size x size`` (or ``H x W``) grid over ``extent = (x0, x1, y0, y1)``,
    row-major.

    Row 0 is the top of the image (largest y), column 0 the left (smallest x). Returns
    ``(H*W, 2)`` float32.
    """
    H, W = _shape(size)
    x0, x1, y0, y1 = (float(v) for v in extent)
    xs = x0 + (torch.arange(W, dtype=torch.float64) + 0.5) * (x1 - x0) / W
    ys = y1 - (torch.arange(H, dtype=torch.float64) + 0.5) * (y1 - y0) / H
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).to(torch.float32)


def shade(
    classes: np.ndarray, confidence: np.ndarray, on_boundary: np.ndarray, palette: np.ndarray,
    n_classes: int,
) -> np.ndarray:
    """RGBA uint8: palette colour washed toward white by low confidence; white on the boundary.

    The wash is ``MAX_WASH * (1 - t)`` with ``t`` the confidence rescaled from ``[1/C, 1]`` to
    ``[0, 1]``, so a certain cell shows the pure class colour.
    """
    palette = np.asarray(palette, dtype=np.float32)
    t = (confidence.astype(np.float32) - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)
    wash = MAX_WASH * (1.0 - np.clip(t, 0.0, 1.0))
    rgb = palette[classes] * (1.0 - wash[..., None]) + WHITE * wash[..., None]
    rgb[on_boundary] = WHITE
    rgba = np.empty((*classes.shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba


@torch.no_grad()
def render_landscape(
    decoder: Callable[[torch.Tensor], torch.Tensor],
    head: Callable[[torch.Tensor], torch.Tensor],
    extent: Sequence[float],
    size: int | tuple[int, int] = 256,
    palette: np.ndarray | None = None,
    delta: float = 0.1,
    device: DeviceLike = "auto",
    batch_size: int = 16384,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour a ``size x size`` grid over ``extent`` by ``g_t(ψ_t(y))`` (DVI §5, Def. 2).

    Parameters
    ----------
    decoder : callable
        ψ_t: ``(n, 2)`` -> ``(n, h)``, already on ``device``.
    head : callable
        g_t: ``(n, h)`` -> ``(n, C)`` logits, already on ``device``.
    extent : (x0, x1, y0, y1)
        The frame shared by all epochs.
    size : int or (H, W), default 256
        Cells per side (or rows and columns: a part of the frame at screen resolution).
    palette : (C', 3) uint8, optional
        Colours indexed by class id (``C' >= C``); default ``default_palette(C)``.
    delta : float, default 0.1
        Cells whose normalised top-1/top-2 gap is below ``delta`` are white.
    device : str or torch.device, default "auto"
    batch_size : int
        Grid cells decoded at once.

    Returns
    -------
    rgba : uint8 (H, W, 4)
        Row 0 is the top of the frame (largest y).
    classes : int16 (H, W)
        Predicted class per cell.
    confidence : float32 (H, W)
        Softmax probability of the predicted class per cell.

    Examples
    --------
    >>> rgba, cls, conf = render_landscape(model.decode, head, extent=(-5, 5, -5, 5), size=64)
    """
    from .boundary import boundary_gap

    H, W = _shape(size)
    x0, x1, y0, y1 = (float(v) for v in extent)
    if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
        raise ValueError(f"extent must be finite (x0, x1, y0, y1) with x0<x1, y0<y1, got {extent}")
    dev = resolve_device(device)
    points = grid_points(extent, (H, W))

    def classify(cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = head(decoder(cells))
        conf, cls = torch.softmax(logits.float(), dim=1).max(dim=1)
        return cls, conf, boundary_gap(logits)

    classes, confidence, gaps = batched(classify, points, batch_size=batch_size, device=dev)
    n_classes = int(head(decoder(points[:1].to(dev))).shape[1])
    cls_np = to_numpy(classes).reshape(H, W).astype(np.int16)
    conf_np = to_numpy(confidence).reshape(H, W).astype(np.float32)
    gap_np = to_numpy(gaps).reshape(H, W)
    if palette is None:
        from ..contract import default_palette

        palette = default_palette(n_classes)
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) < n_classes:
        raise ValueError(
            f"palette must be (C>={n_classes}, 3) colours indexed by class id, got {palette.shape}"
        )
    rgba = shade(cls_np, conf_np, gap_np < delta, palette, n_classes)
    return rgba, cls_np, conf_np
