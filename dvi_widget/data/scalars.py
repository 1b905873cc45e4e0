"""Training curves of a run: user scalars per epoch, and loss and accuracy from the logits.

``Run.record(model, epoch, scalars={"loss": 0.41, "lr": 1e-3})`` stores the user's numbers in the
epoch's json (checked by :func:`check_scalars`); :func:`scalars_table` reads them back for all
epochs next to the loss and accuracy of the recorded logits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: columns computed from the recorded logits unless the user gave a scalar of the same name
COMPUTED = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")


def check_scalars(scalars: Mapping[str, Any] | None) -> dict[str, float]:
    """Validate ``scalars`` as a mapping of names to finite numbers; return plain floats.

    Numbers may be Python or numpy scalars or one-element tensors (``loss.detach()``).
    """
    if scalars is None:
        return {}
    if not isinstance(scalars, Mapping):
        raise TypeError(f'scalars must be a dict of name -> number, e.g. {{"loss": 0.4}}, got '
                        f"{type(scalars).__name__}")
    out: dict[str, float] = {}
    for name, value in scalars.items():
        if not isinstance(name, str) or not name or name == "epoch":
            raise ValueError(f"scalars key {name!r} must be a non-empty string other than "
                             "'epoch'")
        if not isinstance(value, int | float | np.number) and hasattr(value, "item"):
            try:  # a one-element tensor or array
                value = value.item()
            except (ValueError, RuntimeError):
                raise TypeError(f"scalars[{name!r}] must be a single number, got shape "
                                f"{tuple(getattr(value, 'shape', ()))}") from None
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise TypeError(f"scalars[{name!r}] must be a number, got {type(value).__name__}; "
                            "pass loss.item() for a tensor")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"scalars[{name!r}] is {value}; only finite numbers are stored")
        out[name] = value
    return out


def _loss_and_accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy of ``labels`` under ``logits`` (float64) and top-1 accuracy."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z[np.arange(len(z)), labels] - np.log(np.exp(z).sum(axis=1))
    return float(-log_p.mean()), float((z.argmax(axis=1) == labels).mean())


def scalars_table(run: Any) -> pd.DataFrame:  # noqa: ANN401 - a dvi_widget.Run
    """Per-epoch training curves of ``run`` (index: epoch, float columns).

    ``train_loss``, ``test_loss`` (mean cross-entropy of the given labels) and
    ``train_accuracy``, ``test_accuracy`` computed from the recorded logits (the model in eval
    mode on the recorded samples; NaN for an empty split), then every user scalar; a user
    scalar with one of these four names replaces the computed value for the epochs it was
    given. Epochs without a user scalar hold NaN in its column.
    """
    labels = {s: np.asarray(run.labels(s)) for s in ("train", "test")}
    rows = []
    for epoch in run.epochs:  # one vectorised pass per epoch over its logits
        row: dict[str, float] = {"epoch": int(epoch)}
        for split, y in labels.items():
            if len(y):
                loss, acc = _loss_and_accuracy(run.logits(epoch, split), y)
            else:
                loss = acc = float("nan")
            row[f"{split}_loss"], row[f"{split}_accuracy"] = loss, acc
        row.update(run.epoch_info(epoch).get("scalars") or {})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=list(COMPUTED), dtype=np.float64).rename_axis("epoch")
    return pd.DataFrame(rows).set_index("epoch").astype(np.float64)
