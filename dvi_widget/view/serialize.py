"""ndarray <-> ``{"view": memoryview, "dtype": str, "shape": list}`` for the widget comm.

Large arrays cross the comm as binary buffers: ipywidgets lifts any ``memoryview``/``bytes`` found
in the state out of the JSON message. The front end rebuilds a typed array from the DataView,
respecting its ``byteOffset`` (``js/src/codecs.js``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: dtypes the front end knows how to view (must match js/src/codecs.js).
SUPPORTED_DTYPES = ("float32", "float64", "uint8", "int8", "uint16", "int16", "uint32", "int32")


def array_to_json(value: np.ndarray | None, widget: Any = None) -> dict | None:  # noqa: ANN401
    """Serialize an ndarray as a binary buffer plus dtype and shape (C order)."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.int64:
        arr = arr.astype(np.int32)
    elif arr.dtype == np.uint64:
        arr = arr.astype(np.uint32)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype.name not in SUPPORTED_DTYPES:
        raise TypeError(f"cannot send dtype {arr.dtype} to the front end; use one of "
                        f"{SUPPORTED_DTYPES}")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
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
