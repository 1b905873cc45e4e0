"""Recorded inputs as displayable images, read lazily: :class:`ImageArray`.

A run stores its inputs as float32 arrays in whatever layout the model reads them ((N, H, W),
(N, C, H, W) or (N, H, W, C)), on whatever scale (0–1, 0–255, standardised). The view wants
uint8 images of a few samples at a time (a thumbnail on hover, a page of a selection): an
:class:`ImageArray` converts just the rows asked for, so 60,000 images are never read at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: channel counts an image may have (gray, RGB, RGBA)
CHANNELS = (1, 3, 4)
#: rows read to choose the value range when it is not given
RANGE_SAMPLE_ROWS = 1024


def image_layout(sample_shape: Sequence[int]) -> str | None:
    """How one sample of this shape is an image: ``"HW"``, ``"CHW"``, ``"HWC"``, or None.

    ``(H, W)`` is gray; ``(C, H, W)`` with C in 1, 3, 4 is channels-first (torch's order, chosen
    when both ends could be channels); ``(H, W, C)`` channels-last. Flat vectors and other
    shapes are not images (a 64-vector could be 8x8 pixels or 64 table columns: reshape such
    inputs to (H, W) when they are images).
    """
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) == 2 and min(shape) >= 2:
        return "HW"
    if len(shape) == 3:
        if shape[0] in CHANNELS and min(shape[1:]) >= 2:
            return "CHW"
        if shape[2] in CHANNELS and min(shape[:2]) >= 2:
            return "HWC"
    return None


def _auto_range(sample: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(sample)), float(np.max(sample))
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class ImageArray:
    """uint8 images ``(N, H, W)`` or ``(N, H, W, 3|4)`` over one or more input arrays, lazily.

    Parameters
    ----------
    *parts : arrays (n_i, *sample_shape), e.g. a run's train and test inputs (memmaps are fine:
        only the rows indexed are read). Their rows are numbered one after the other.
    value_range : (low, high), optional
        Input values mapped to 0 and 255 (clipped outside). Default: from up to
        ``RANGE_SAMPLE_ROWS`` evenly spaced rows: ``(0, 1)`` when they lie in [0, 1],
        ``(0, 255)`` when in [0, 255], else their min and max (standardised inputs).
    layout : "auto" or one of "HW", "CHW", "HWC"
        See :func:`image_layout`.

    Examples
    --------
    >>> images = ImageArray(run.inputs("train"), run.inputs("test"))
    >>> images[[3, 7]].shape          # (2, 28, 28) uint8
    """

    def __init__(
        self,
        *parts: np.ndarray,
        value_range: tuple[float, float] | None = None,
        layout: str = "auto",
    ) -> None:
        if not parts:
            raise ValueError("ImageArray needs at least one input array")
        arrays = [a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)
                  for a in parts]
        sample = tuple(arrays[0].shape[1:])
        for i, a in enumerate(arrays):
            if len(a.shape) < 2 or tuple(a.shape[1:]) != sample:
                raise ValueError(f"ImageArray part {i} has shape {tuple(a.shape)}; every part "
                                 f"must be (n, *{sample})")
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
                raise TypeError(f"ImageArray part {i} has dtype {a.dtype}; images are numeric")
        if layout == "auto":
            layout = image_layout(sample)
        fits = {"HW": len(sample) == 2,
                "CHW": len(sample) == 3 and sample[0] in CHANNELS,
                "HWC": len(sample) == 3 and sample[-1] in CHANNELS}
        if not fits.get(layout, False):
            raise ValueError(
                f"inputs of shape {sample} per sample are not images (expected (H, W), (C, H, W) "
                f"or (H, W, C) with C in {CHANNELS}); reshape them, or leave images out")
        self.layout = str(layout)
        self._parts = arrays
        self._offsets = np.cumsum([0] + [len(a) for a in arrays])
        if layout == "HW":
            h, w, c = sample[0], sample[1], 1
        elif layout == "CHW":
            c, h, w = sample
        else:
            h, w, c = sample
        self.shape = (int(self._offsets[-1]), h, w) if c == 1 else (int(self._offsets[-1]), h,
                                                                     w, c)
        self.dtype = np.dtype(np.uint8)
        if value_range is None:
            value_range = _auto_range(self._raw(self._spread_rows()))
        lo, hi = (float(v) for v in value_range)
        if not (np.isfinite([lo, hi]).all() and hi > lo):
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        self.value_range = (lo, hi)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return (f"ImageArray(shape={self.shape}, layout={self.layout!r}, "
                f"value_range={self.value_range})")

    def _spread_rows(self) -> np.ndarray:
        n = len(self)
        return np.unique(np.linspace(0, n - 1, min(n, RANGE_SAMPLE_ROWS)).astype(np.int64))

    def _raw(self, rows: np.ndarray) -> np.ndarray:
        """Input rows (global indices, any order) as float32 (m, *sample_shape)."""
        part = np.searchsorted(self._offsets, rows, side="right") - 1
        out = np.empty((len(rows), *self._parts[0].shape[1:]), dtype=np.float32)
        for p in np.unique(part):  # at most a handful of parts: never a loop over samples
            sel = np.flatnonzero(part == p)
            local = rows[sel] - self._offsets[p]
            order = np.argsort(local, kind="stable")  # sorted reads are sequential on a memmap
            out[sel[order]] = np.asarray(self._parts[p][local[order]], dtype=np.float32)
        return out

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """uint8 image(s): an int gives (H, W[, C]); a slice or index array gives (m, H, W[, C])."""
        n = len(self)
        if isinstance(index, slice):
            rows = np.arange(n, dtype=np.int64)[index]
        else:
            rows = np.asarray(index)
            if rows.dtype == np.bool_:
                raise TypeError("index ImageArray with integer sample indices, not a mask "
                                "(use np.flatnonzero(mask))")
            if not np.issubdtype(rows.dtype, np.integer):
                raise TypeError(f"ImageArray indices must be integers, got {rows.dtype}")
        single = rows.ndim == 0
        rows = rows.reshape(-1).astype(np.int64)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"sample index out of range for {n} images")
        rows = np.where(rows < 0, rows + n, rows)
        raw = self._raw(rows)
        lo, hi = self.value_range
        img = np.clip(np.rint((raw - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
        if self.layout == "CHW":
            img = np.moveaxis(img, 1, -1)
        if img.ndim == 4 and img.shape[-1] == 1:
            img = img[..., 0]
        img = np.ascontiguousarray(img)
        return img[0] if single else img
