"""Arrays <-> binary buffers for the widget comm: the one place the view serialises arrays.

Traits carry ``{"view": memoryview, "dtype": str, "shape": list}`` (ipywidgets lifts any
``memoryview``/``bytes`` found in the state, at any depth, out of the JSON message); panel
requests and replies (:mod:`dvi_widget.view.protocol`) carry plain buffers whose dtype the
request type fixes. The front end's counterpart is ``js/src/codecs.js``; both sides use C order
and little endian.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: dtypes the front end knows how to view (must match js/src/codecs.js).
SUPPORTED_DTYPES = ("float32", "float64", "uint8", "int8", "uint16", "int16", "uint32", "int32")


def _wire(value: np.ndarray) -> np.ndarray:
    """``value`` as a C-ordered little-endian array of a dtype the front end views (64-bit
    numbers narrowed to 32 bits, booleans to uint8)."""
    arr = np.asarray(value)
    narrow = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32,
              np.dtype(np.uint64): np.uint32, np.dtype(np.bool_): np.uint8}
    if arr.dtype in narrow:
        arr = arr.astype(narrow[arr.dtype])
    if arr.dtype.name not in SUPPORTED_DTYPES:
        raise TypeError(f"cannot send dtype {arr.dtype} to the front end; use one of "
                        f"{SUPPORTED_DTYPES}")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def array_to_json(value: np.ndarray | None, widget: Any = None) -> dict | None:  # noqa: ANN401
    """Serialize an ndarray as a binary buffer plus dtype and shape (C order)."""
    if value is None:
        return None
    arr = _wire(value)
    return {"view": memoryview(arr).cast("B"), "dtype": arr.dtype.name, "shape": list(arr.shape)}


def array_from_json(value: dict | None, widget: Any = None) -> np.ndarray | None:  # noqa: ANN401
    """Rebuild an ndarray from ``{"view"|"buffer", "dtype", "shape"}`` sent by the front end."""
    if value is None:
        return None
    buf = value.get("view", value.get("buffer"))
    dtype = np.dtype(value["dtype"])
    arr = np.frombuffer(bytes(buf), dtype=dtype)
    return arr.reshape(value["shape"]).copy()


array_serialization = {"to_json": array_to_json, "from_json": array_from_json}

#: positions of more samples than this travel as uint16 (:func:`coords_to_json`)
COORDS_UINT16_ABOVE = 200_000
_NAN_CODE = 65535


def coords_to_json(value: np.ndarray | None, widget: Any = None) -> dict | None:  # noqa: ANN401
    """The widget's ``(T, N, 2)`` positions: float32, or, above ``COORDS_UINT16_ABOVE``
    samples, quantised to uint16 over their finite range ``[lo, hi]`` (sent as ``"range"``;
    65535 codes NaN). Half the bytes (1M samples × 20 epochs: 160 → 80 MB) at steps of
    ``(hi - lo) / 65534`` — about 4e-5 of the [-1, 1] square, a 60th of a pixel on an
    800-pixel plot, a pixel at 60× zoom. ``js/src/codecs.js``'s ``decodeCoords`` reverses it."""
    if value is None:
        return None
    arr = np.asarray(value, np.float32)
    if arr.ndim != 3 or arr.shape[1] <= COORDS_UINT16_ABOVE:
        return array_to_json(arr)
    # an epoch at a time: temporaries of one epoch's size, not the whole array's
    lo, hi = np.inf, -np.inf
    for epoch in arr:
        ok = np.isfinite(epoch)
        lo = min(lo, float(np.min(epoch, where=ok, initial=np.inf)))
        hi = max(hi, float(np.max(epoch, where=ok, initial=-np.inf)))
    if lo > hi:  # nothing finite
        lo, hi = -1.0, 1.0
    step = max(hi - lo, 1e-12) / (_NAN_CODE - 1)
    q = np.full(arr.shape, _NAN_CODE, np.uint16)
    for epoch, out_t in zip(arr, q, strict=True):
        ok = np.isfinite(epoch)
        out_t[ok] = np.rint((epoch[ok] - lo) / step).astype(np.uint16)
    out = array_to_json(q)
    assert out is not None
    out["range"] = [lo, hi]
    return out


def coords_from_json(value: dict | None, widget: Any = None) -> np.ndarray | None:  # noqa: ANN401
    """Positions back from :func:`coords_to_json`'s form (float32 or quantised uint16)."""
    arr = array_from_json(value, widget)
    if arr is None or value is None or "range" not in value:
        return arr
    lo, hi = (float(v) for v in value["range"])
    out = (lo + arr.astype(np.float64) * (max(hi - lo, 1e-12) / (_NAN_CODE - 1))).astype(
        np.float32)
    out[arr == _NAN_CODE] = np.nan
    return out


coords_serialization = {"to_json": coords_to_json, "from_json": coords_from_json}


def tree_to_json(value: Any, widget: Any = None) -> Any:  # noqa: ANN401
    """A JSON-like value whose ndarrays (at any depth, in dicts and lists) are serialized by
    :func:`array_to_json`; numpy scalars become Python numbers."""
    if isinstance(value, np.ndarray):
        return array_to_json(value)
    if isinstance(value, dict):
        return {str(k): tree_to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tree_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def tree_from_json(value: Any, widget: Any = None) -> Any:  # noqa: ANN401
    """The inverse of :func:`tree_to_json` (serialized arrays back to ndarrays)."""
    if isinstance(value, dict):
        if "dtype" in value and "shape" in value and ("view" in value or "buffer" in value):
            return array_from_json(value)
        return {k: tree_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tree_from_json(v) for v in value]
    return value


tree_serialization = {"to_json": tree_to_json, "from_json": tree_from_json}


def to_buffer(value: np.ndarray, dtype: str | np.dtype) -> bytes:
    """One reply buffer: ``value`` as ``dtype``, C order, little endian."""
    return _wire(np.asarray(value).astype(np.dtype(dtype).newbyteorder("<"))).tobytes()


def indices_from_buffer(buffers: Sequence[Any], n: int, k: int = 0) -> np.ndarray:
    """uint32 sample indices (in ``[0, n)``) from buffer ``k`` of a front-end request."""
    if len(buffers) <= k:
        raise ValueError(f"the request carries no index buffer (buffer {k} of {len(buffers)})")
    idx = np.frombuffer(bytes(buffers[k]), dtype="<u4").astype(np.int64)
    if idx.size and idx.max() >= n:
        raise IndexError(f"sample index {idx.max()} out of range [0, {n})")
    return idx
