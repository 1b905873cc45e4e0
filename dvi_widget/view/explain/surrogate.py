"""The local surrogate (DeepVID): a linear student fitted to the model's logits on perturbed
neighbours of one sample; its weights per class, its fidelity, and the neighbours placed by φ_t
and anchored like a path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..frame import anchor, to_view
from .model import class_of, epoch_of, explaining, sample_of
from .path import phi_and_drawn

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget


def compute_surrogate(widget: Widget, index: int, epoch: int | None = None,
                      classes: Sequence[int | str] | None = None) -> tuple[dict, dict]:
    """DeepVID's local surrogate of sample ``index`` at ``epoch``: ``weights`` (K, h, w) for
    ``classes`` (default: the predicted one), ``fidelity``, and the neighbours as a DataFrame
    (x, y, x_drawn, y_drawn, prediction, proximity); and the ``explain_surrogate`` value."""
    vis = widget.vis
    ins = explaining(vis)
    index, epoch = sample_of(widget, index), epoch_of(widget, epoch)
    request: dict[str, Any] = {"what": "surrogate", "index": index, "epoch": epoch}
    if classes:
        try:
            request["classes"] = [class_of(vis, c) for c in classes]
        except ValueError:
            raise ValueError(f"classes must be class names or ids in [0, {vis.n_classes}), "
                             f"got {list(classes)}") from None
    r = ins.explain(request)
    raw = np.asarray(r["positions"], np.float32).reshape(-1, 2)
    shown_pts = anchor(raw, *phi_and_drawn(widget, index, epoch))
    weights = np.asarray(r["weights"], np.float32)
    if weights.ndim == 2:  # inputs that are not images: one row per class
        weights = weights[:, None, :]
    preds = np.asarray(r["predictions"], np.int64)
    prox = np.asarray(r["proximity"], np.float32)
    fid = {k: float(v) for k, v in dict(r["fidelity"]).items()}
    names = np.asarray(vis.class_names, dtype=object)
    neighbours = pd.DataFrame({"x": raw[:, 0], "y": raw[:, 1], "x_drawn": shown_pts[:, 0],
                               "y_drawn": shown_pts[:, 1], "prediction": preds,
                               "class_name": names[preds], "proximity": prox})
    ids = [int(c) for c in r["classes"]]
    out = {"weights": weights, "classes": ids, "fidelity": fid, "neighbors": neighbours,
           "epoch": epoch, "index": index}
    shown = {"index": index, "epoch": epoch, "classes": ids, "fidelity": fid,
             "weights": weights, "positions": to_view(vis, shown_pts),
             "predictions": preds.astype(np.uint16), "proximity": prox}
    return out, shown
