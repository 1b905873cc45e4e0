"""Thumbnails of samples for the front end: one sprite atlas (uint8 and PNG) per request.

The widget never sends all images up front: a hover or a page of a selection asks for a list of
sample indices, and gets one atlas image whose tile ``i`` is sample ``indices[i]`` (row-major,
``columns`` tiles per row), plus the tile size, as PNG bytes or raw RGBA.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contract import Visualization

#: the most thumbnails one request may ask for (a page of the selection panel is 100)
MAX_THUMBNAILS = 1024


@dataclass(frozen=True)
class Sprite:
    """One atlas of thumbnails.

    Attributes
    ----------
    indices : int64 (m,)     the samples, in tile order
    atlas : uint8 (rows*h, columns*w) gray, or (rows*h, columns*w, 3|4) colour
    tile : (h, w)            size of one thumbnail in pixels
    columns : int            tiles per atlas row; tile i is at row i // columns, column
                             i % columns (unused tiles at the end are black)
    """

    indices: np.ndarray
    atlas: np.ndarray
    tile: tuple[int, int]
    columns: int

    @property
    def png(self) -> bytes:
        """The atlas as PNG bytes (for an ``<img>`` or ``createImageBitmap`` in the browser)."""
        return encode_png(self.atlas)

    def rgba(self) -> np.ndarray:
        """The atlas as uint8 RGBA (rows*h, columns*w, 4), e.g. for a WebGL texture."""
        a = self.atlas
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.shape[2] == 3:
            a = np.concatenate([a, np.full((*a.shape[:2], 1), 255, np.uint8)], axis=2)
        return np.ascontiguousarray(a)

    def tile_image(self, i: int) -> np.ndarray:
        """Tile ``i`` cut back out of the atlas, (h, w[, C]) uint8."""
        h, w = self.tile
        r, c = divmod(int(i), self.columns)
        return self.atlas[r * h : (r + 1) * h, c * w : (c + 1) * w]


def sprite(
    images: Visualization | Any,  # noqa: ANN401 - or any uint8 (N, H, W[, C]) indexable array
    indices: Sequence[int] | np.ndarray,
    columns: int | None = None,
) -> Sprite:
    """Pack the images of ``indices`` into one atlas, reading only those rows.

    Parameters
    ----------
    images : a :class:`Visualization` with ``images``, or its ``images`` array itself.
    indices : sample indices (global: train first, then test), at most ``MAX_THUMBNAILS``.
    columns : tiles per atlas row; default ``ceil(sqrt(m))`` (a near-square atlas).

    Examples
    --------
    >>> s = sprite(vis, [3, 17, 42]); s.png[:4]   # b'\\x89PNG'
    """
    if isinstance(images, Visualization):
        if images.images is None:
            raise ValueError("this Visualization has no images (the run recorded no image-shaped "
                             "inputs); show its metadata rows instead")
        images = images.images
    idx = np.asarray(indices)
    if idx.dtype == np.bool_ or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise TypeError(f"indices must be integer sample indices, got dtype {idx.dtype}")
    idx = idx.reshape(-1).astype(np.int64)
    if idx.size == 0:
        raise ValueError("indices is empty; ask for at least one thumbnail")
    if idx.size > MAX_THUMBNAILS:
        raise ValueError(f"{idx.size} thumbnails requested; ask for at most {MAX_THUMBNAILS} at "
                         "a time (a page)")
    n = len(images)
    if idx.min() < 0 or idx.max() >= n:
        raise IndexError(f"indices must lie in [0, {n}), got {idx.min()}..{idx.max()}")
    tiles = np.asarray(images[idx], dtype=np.uint8)  # one batched read, (m, h, w[, c])
    m, h, w = tiles.shape[:3]
    cols = int(columns) if columns is not None else int(np.ceil(np.sqrt(m)))
    if cols < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = -(-m // cols)
    pad = rows * cols - m
    if pad:
        tiles = np.concatenate([tiles, np.zeros((pad, *tiles.shape[1:]), np.uint8)])
    grid = tiles.reshape(rows, cols, h, w, *tiles.shape[3:]).swapaxes(1, 2)
    atlas = np.ascontiguousarray(grid.reshape(rows * h, cols * w, *tiles.shape[3:]))
    return Sprite(indices=idx, atlas=atlas, tile=(int(h), int(w)), columns=cols)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA image.

    Written here with the standard library (zlib) rather than adding Pillow as a dependency:
    an 8-bit PNG is four chunks (PNG spec §11: IHDR, IDAT with filter byte 0 per row, IEND).
    """
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        color = 0
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        color = 2 if img.shape[2] == 3 else 6
    else:
        raise ValueError(f"encode_png takes (H, W), (H, W, 3) or (H, W, 4) uint8, got {img.shape}")
    h, w = img.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, -1)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
