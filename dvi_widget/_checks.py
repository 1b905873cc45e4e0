"""Argument checks shared by the modules that accept user data.

One numpy coercion (:func:`as_array`), one finite check (:func:`check_finite`) and the class-id
check. Nothing here imports torch, so the view can use these checks too: tensors are recognised
by their methods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import numpy as np

#: without class names or a class count, the count is ``max(label) + 1`` unless that is more
#: than this many times the number of distinct labels (and above the floor): then it is asked for
IMPLIED_CLASSES_FACTOR, IMPLIED_CLASSES_FLOOR = 2, 32


def as_array(
    x: Any,  # noqa: ANN401 - arrays, tensors, lists
    name: str,
    *,
    ndim: int | None = None,
    finite: bool = False,
) -> np.ndarray:
    """``x`` (numpy array or memmap, torch tensor on any device, nested list) as numpy.

    Arrays come back as they are (no copy); tensors are detached and brought to host memory
    (bfloat16, which numpy lacks, as float32). ``ndim`` checks the number of dimensions;
    ``finite`` refuses NaN and Inf in a floating array (:func:`check_finite`). Errors name the
    argument ``name``.
    """
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
            x = x.detach().cpu()
            if str(x.dtype) == "torch.bfloat16":
                x = x.float()
            x = x.numpy()
        else:
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as err:
                raise TypeError(
                    f"{name} must be a numpy array or torch tensor, got {type(x).__name__} "
                    f"({err})"
                ) from None
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if finite and x.dtype.kind in "fc":
        check_finite(x, name)
    return x


def check_finite(x: Any, name: str, fix: str = "") -> None:  # noqa: ANN401 - array or tensor
    """Raise ``ValueError`` when ``x`` (numpy array or torch tensor) holds NaN or Inf.

    The message names ``name``, counts the rows that are affected and ends with ``fix``.
    Tensors are checked where they live (no copy to the host).
    """
    finite = x.isfinite() if hasattr(x, "isfinite") else np.isfinite(x)
    if bool(finite.all()):
        return
    bad = ~finite
    if bad.ndim >= 1:
        n_bad = int(bad.reshape(bad.shape[0], -1).any(1).sum())
        where = f" ({n_bad} of {bad.shape[0]} {'rows' if bad.ndim > 1 else 'values'})"
    else:
        where = ""
    raise ValueError(f"{name} contains NaN or Inf values{where}" + (f"; {fix}" if fix else ""))


def float_inputs(x: Any, name: str) -> np.ndarray:  # noqa: ANN401 - arrays, tensors, lists
    """Model inputs ``(n_samples, *input_shape)`` as float32, exactly as given (no rescaling);
    errors name ``name`` (too few dimensions, not numeric, NaN or Inf)."""
    arr = as_array(x, name)
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, *input_shape), at least 2-D; got shape "
            f"{arr.shape}"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "c":  # float32 would drop the imaginary part without a word
        raise TypeError(f"{name} is complex ({arr.dtype}); pass real inputs (e.g. the real "
                        "and imaginary parts as separate features or channels)")
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, name, "clean the inputs first")
    return arr


def class_ids(arr: Any, name: str, n: int) -> np.ndarray:  # noqa: ANN401 - arrays, tensors

    """Validate ``arr`` as ``n`` non-negative integer class ids; return them as int64 (n,).

    A column vector ``(n, 1)`` is accepted and flattened, as are floats that are whole numbers
    (``BCEWithLogitsLoss`` targets: 0.0 / 1.0). Errors name the argument and say how to fix it
    (fractional labels; one-hot labels: ``.argmax(1)``; names such as ``"cat"``: the ids the
    model was trained with, never an order guessed here, which could differ from the model's).
    """
    arr = as_array(arr, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class ids, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} labels but the inputs have {n} samples")
    if arr.dtype.kind == "O":  # numbers in an object column (pandas) are numbers
        with contextlib.suppress(TypeError, ValueError):
            numeric = np.asarray(arr.tolist())
            if numeric.dtype.kind in "iuf":
                arr = numeric
    if arr.dtype.kind in "OUSa":  # names: only the user knows the model's order of classes
        shown = ", ".join(repr(v) for v in list(dict.fromkeys(arr[:50].tolist()))[:3])
        raise TypeError(
            f"{name} holds class names ({shown}, ...); "
            "pass the integer class ids the model was trained with (the column of its output "
            "for each class, e.g. LabelEncoder().fit_transform(y) or pd.Categorical(y).codes) "
            "and class_names= in that order")
    if arr.dtype.kind == "f" and len(arr) and np.isfinite(arr).all() \
            and np.array_equal(arr, np.round(arr)):
        arr = arr.astype(np.int64)  # whole numbers stored as floats (BCE targets 0.0 / 1.0)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer class ids, got dtype {arr.dtype}"
            + ("" if arr.dtype.kind != "f" else " with fractional values (soft or mixed "
               "labels?)" if np.isfinite(arr).all() else " with NaN or infinite values")
            + "; pass one class id per sample (one-hot labels: use .argmax(1))"
        )
    if len(arr) and arr.min() < 0:
        raise ValueError(f"{name} contains negative class ids (min {int(arr.min())})")
    return arr.astype(np.int64, copy=False)


def resolve_class_names(
    labels: np.ndarray, class_names: Iterable[Any] | None, n_classes: int | None
) -> list[str]:
    """One name per class: ``class_names`` as strings, ``"0".."C-1"`` for ``n_classes``, or
    ``"0"..str(max label)`` implied by the labels, which is refused when the labels' maximum is
    far above the number of distinct labels (one stray label would make millions of empty
    classes). Every label must index a name."""
    top = int(labels.max()) if len(labels) else 0
    if isinstance(class_names, str | bytes):
        raise TypeError(f"class_names is a single string ({class_names!r}); pass a list with "
                        "one name per class, e.g. class_names=['cat', 'dog']")
    class_names = None if class_names is None else list(class_names)
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) \
                or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        if class_names is not None and len(class_names) != n_classes:
            raise ValueError(f"class_names has {len(class_names)} entries but "
                             f"n_classes={n_classes}; pass one of them")
    if class_names is None:
        if n_classes is None:
            distinct = len(np.unique(labels))
            if top + 1 > max(IMPLIED_CLASSES_FACTOR * distinct, IMPLIED_CLASSES_FLOOR):
                raise ValueError(
                    f"labels go up to {top} but only {distinct} distinct labels occur; pass "
                    f"n_classes={top + 1} (or class_names) if the run really has {top + 1} "
                    "classes, else fix the labels"
                )
            n_classes = top + 1
        class_names = [str(i) for i in range(int(n_classes))]
    class_names = [str(c) for c in class_names]
    if len(class_names) == 0:
        raise ValueError("class_names is empty")
    twice = sorted({c for c in class_names if class_names.count(c) > 1})
    if twice:
        raise ValueError(f"class_names holds {', '.join(map(repr, twice))} more than once; "
                         "every class needs its own name")
    if top >= len(class_names):
        raise ValueError(
            f"labels go up to {top} but class_names has {len(class_names)} entries "
            f"(class ids must be 0..{len(class_names) - 1})"
        )
    return class_names
