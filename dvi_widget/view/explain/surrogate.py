"""The local surrogate (DeepVID): a linear student fitted to the model's logits on perturbed
neighbours of one sample; its weights per class, its fidelity, and the neighbours placed by the
one map (as a path's points are: the view draws them where the map puts them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..frame import to_view
from .model import class_of, epoch_of, explaining, sample_of

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget


def compute_surrogate(widget: Widget, index: int, epoch: int | None = None,
                      classes: Sequence[int | str] | None = None) -> tuple[dict, dict]:
    """DeepVID's local surrogate of sample ``index`` at ``epoch``: ``weights`` (K, h, w) for
    ``classes`` (default: the predicted one), ``fidelity``, and the neighbours as a DataFrame
    (x, y, prediction, class_name, proximity); and the ``explain_surrogate`` value."""
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
    xy = np.asarray(r["positions"], np.float32).reshape(-1, 2)
    weights = np.asarray(r["weights"], np.float32)
    if weights.ndim == 2:  # inputs that are not images: one row per class
        weights = weights[:, None, :]
    preds = np.asarray(r["predictions"], np.int64)
    prox = np.asarray(r["proximity"], np.float32)
    fid = {k: float(v) for k, v in dict(r["fidelity"]).items()}
    names = np.asarray(vis.class_names, dtype=object)
    neighbours = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "prediction": preds,
                               "class_name": names[preds], "proximity": prox})
    ids = [int(c) for c in r["classes"]]
    out = {"weights": weights, "classes": ids, "fidelity": fid, "neighbors": neighbours,
           "epoch": epoch, "index": index}
    image = r.get("image")
    shown = {"index": index, "epoch": epoch, "classes": ids, "fidelity": fid,
             "weights": weights, "positions": to_view(vis, xy),
             "predictions": preds.astype(np.uint16), "proximity": prox,
             # the sample's input as the path's pictures show it (the model's value range)
             "image": None if image is None else np.ascontiguousarray(image, np.uint8)}
    return out, shown
