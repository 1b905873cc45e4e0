"""Robustness curves: the mean softmax per class and the share of samples whose prediction
flipped, over a perturbation family's strengths, for a selection of samples or a class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .model import class_of, epoch_of, explaining, kinds

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget


def compute_robustness(widget: Widget, selection: Any, epoch: int | None = None,  # noqa: ANN401
                       kind: str = "rotate",
                       strengths: Sequence[float] | np.ndarray | None = None,
                       ) -> tuple[pd.DataFrame, dict]:
    """Robustness of ``selection`` (sample indices, or a class id/name) at ``epoch``: a
    DataFrame indexed by strength (mean softmax per class name, ``flipped``, ``accuracy``) and
    the ``explain_robustness`` trait value."""
    vis = widget.vis
    ins = explaining(vis)
    epoch = epoch_of(widget, epoch)
    names = list(vis.class_names)
    if isinstance(selection, str | int | np.integer) and not isinstance(selection, bool):
        of = class_of(vis, selection)
        what = f"class {names[of]}"
    else:
        of = np.asarray(selection, np.int64).reshape(-1)
        if of.size == 0:
            raise ValueError("the selection is empty: select samples, or choose a class")
        what = f"{of.size} selected"
    request: dict[str, Any] = {"what": "robustness", "selection": of, "epoch": epoch,
                               "kind": kind}
    if strengths is not None:
        request["strengths"] = np.asarray(strengths, np.float32).tolist()
    r = ins.explain(request)
    s = np.asarray(r["strengths"], np.float32)
    mean = np.asarray(r["mean_probability"], np.float32).reshape(len(s), -1)
    df = pd.DataFrame(mean, columns=names, index=pd.Index(s, name="strength"))
    df["flipped"] = np.asarray(r["flipped"], np.float32)
    df["accuracy"] = np.asarray(r["accuracy"], np.float32)
    df.attrs.update(kind=kind, epoch=epoch, of=what, n_samples=int(r["n_samples"]))
    shown = {"epoch": epoch, "kind": kind, "of": what, "unit": kinds(vis).get(kind, {}).get("unit"),
             "n_samples": int(r["n_samples"]), "strengths": s, "mean_probability": mean,
             "flipped": df["flipped"].to_numpy(np.float32),
             "accuracy": df["accuracy"].to_numpy(np.float32)}
    return df, shown
