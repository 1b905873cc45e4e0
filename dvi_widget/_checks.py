"""Argument checks shared by the modules that accept user data."""

from __future__ import annotations

import numpy as np


def class_ids(arr: np.ndarray, name: str, n: int) -> np.ndarray:
    """Validate ``arr`` as ``n`` non-negative integer class ids; return them as int64 (n,).

    A column vector ``(n, 1)`` is accepted and flattened. Errors name the argument and say
    how to fix it (float labels: ``.astype(int)``; one-hot labels: ``.argmax(1)``).
    """
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class ids, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} labels but the inputs have {n} samples")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer class ids, got dtype {arr.dtype}; "
            "convert with .astype(int) (one-hot labels: use .argmax(1))"
        )
    if len(arr) and arr.min() < 0:
        raise ValueError(f"{name} contains negative class ids (min {int(arr.min())})")
    return arr.astype(np.int64, copy=False)
