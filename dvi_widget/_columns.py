"""Table columns as plain numpy arrays plus a small JSON entry: tables stored without pickles.

The run folder (user metadata) and a saved :class:`~dvi_widget.contract.Visualization`
(metadata and metrics) keep DataFrame columns this way, and read them back with
``np.load(allow_pickle=False)``, so opening a shared folder never runs code from it. pandas'
own formats either pickle object columns or need an extra dependency (Parquet: pyarrow).

A column becomes one entry (``kind`` and what decoding needs) and its arrays, keyed by a suffix:

- ``"array"``: numbers, booleans, datetimes as they are (``""``);
- ``"category"``: integer codes (``""``) and the categories (``"categories"``);
- ``"str"``: anything else as text (``""``) and, when some values are missing, a boolean mask
  (``"missing"``) so that they come back as ``None`` rather than the string ``"None"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def encode_column(values: pd.Series | np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(entry, arrays)`` for one column; ``arrays[""]`` holds the values."""
    col = pd.Series(values)
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        entry = {"kind": "category", "ordered": bool(col.cat.ordered)}
        cat_values = cats.to_numpy()
        if cat_values.dtype == object:
            cat_values = cat_values.astype(str)
        return entry, {"": col.cat.codes.to_numpy(), "categories": cat_values}
    arr = col.to_numpy()
    if arr.dtype != object and (
        np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bmM"
    ):
        return {"kind": "array"}, {"": arr}
    missing = col.isna().to_numpy()
    arrays = {"": col.astype(str).to_numpy().astype(str)}
    if missing.any():
        arrays["missing"] = missing
    return {"kind": "str"}, arrays


def decode_column(entry: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:  # noqa: ANN401
    """The column values that :func:`encode_column` stored (an array or a Categorical)."""
    kind = entry.get("kind")
    values = arrays[""]
    if kind == "array":
        return values
    if kind == "category":
        return pd.Categorical.from_codes(values, categories=arrays["categories"],
                                         ordered=bool(entry.get("ordered")))
    if kind == "str":
        out = values.astype(object)
        if "missing" in arrays:
            out[arrays["missing"]] = None
        return out
    raise ValueError(f"unknown column kind {kind!r}")


def encode_frame(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A DataFrame as a JSON-able schema and flat arrays (keys ``"<i>"``, ``"<i>.<suffix>"``,
    ``"index"``...); a default RangeIndex is not stored."""
    schema: dict[str, Any] = {"columns": [], "index": None}
    arrays: dict[str, np.ndarray] = {}

    def put(key: str, values: pd.Series | np.ndarray) -> dict[str, Any]:
        entry, parts = encode_column(values)
        arrays.update({f"{key}.{s}" if s else key: a for s, a in parts.items()})
        return entry

    for i, (name, col) in enumerate(df.items()):
        schema["columns"].append({"name": str(name), **put(str(i), col)})
    index = df.index
    if isinstance(index, pd.MultiIndex):
        raise ValueError("a DataFrame with a MultiIndex cannot be stored; reset_index() first")
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        schema["index"] = {"name": index.name, **put("index", index.to_series())}
    elif index.name is not None:
        schema["index"] = {"name": index.name, "kind": "range"}
    return schema, arrays


def decode_frame(schema: dict[str, Any], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """The DataFrame that :func:`encode_frame` stored."""

    def get(key: str, entry: dict[str, Any]) -> Any:  # noqa: ANN401
        parts = {k[len(key) + 1 :] if k != key else "": a for k, a in arrays.items()
                 if k == key or k.startswith(f"{key}.")}
        return decode_column(entry, parts)

    data = {c["name"]: get(str(i), c) for i, c in enumerate(schema["columns"])}
    index = schema.get("index")
    values = get("index", index) if index is not None and index["kind"] != "range" else None
    n = len(values) if values is not None else len(next(iter(data.values()), ()))
    df = pd.DataFrame(data, index=pd.RangeIndex(n) if values is None else pd.Index(values))
    if index is not None:
        df.index.name = index["name"]
    return df
