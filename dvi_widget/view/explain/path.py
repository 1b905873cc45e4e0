"""The what-if path: one sample perturbed over a range of strengths (a Kornia family), each
perturbed input classified by g_t and placed by the one map (which starts the path exactly on the
sample as it is drawn, so the view draws the positions as they come). Adversarial paths
(:mod:`.adversarial`) are drawn the same way: :func:`path_result` turns either answer into the
user's DataFrame and the synced ``explain_path`` trait's value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..frame import to_view
from .model import epoch_of, explaining, kinds, sample_of

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget

#: the number of strengths between ``start`` and ``stop`` a panel request may ask for
MAX_STEPS = 512


def strengths_of(request: dict) -> np.ndarray | None:
    """The strengths a panel request asks for: ``strengths``, or ``start, stop, steps``."""
    if request.get("strengths") is not None:
        return np.asarray(request["strengths"], np.float32)
    if request.get("start") is not None and request.get("stop") is not None:
        steps = int(request.get("steps") or 32)
        if not 2 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must lie in [2, {MAX_STEPS}], got {steps}")
        return np.linspace(float(request["start"]), float(request["stop"]), steps,
                           dtype=np.float32)
    return None


def compute_path(widget: Widget, index: int, epoch: int | None = None, kind: str = "rotate",
                 strengths: Sequence[float] | np.ndarray | None = None, *,
                 center: Sequence[float] | None = None) -> tuple[pd.DataFrame, dict]:
    """Sample ``index``'s what-if path under perturbation family ``kind`` at ``epoch``: the
    DataFrame and the ``explain_path`` trait value (see :func:`path_result`)."""
    vis = widget.vis
    ins = explaining(vis)
    index, epoch = sample_of(widget, index), epoch_of(widget, epoch)
    families = kinds(vis)
    if kind not in families:
        raise ValueError(f"kind={kind!r} is not a perturbation or attack of this run; "
                         f"choose one of {sorted(families)}")
    request: dict[str, Any] = {"what": "path", "index": index, "epoch": epoch, "kind": kind}
    if strengths is not None:
        request["strengths"] = np.atleast_1d(np.asarray(strengths, np.float32)).tolist()
    if center is not None:
        request["center"] = [float(c) for c in center]
    asked = {"index": index, "kind": kind, "strengths": None if strengths is None else
             np.asarray(strengths, np.float32).tolist(), "target": None, "steps": 20,
             "center": None if center is None else [float(c) for c in center]}
    return path_result(widget, ins.explain(request), asked, epoch)


def path_result(widget: Widget, p: dict, asked: dict, epoch: int) -> tuple[pd.DataFrame, dict]:
    """The model's path answer ``p`` as the user's DataFrame (strength, x, y, prediction,
    class_name, confidence, flipped; ``attrs``: kind, unit, epoch, index, first_flip,
    original_prediction, target, reached) and the ``explain_path`` trait value (positions in
    the widget's square, as the map places them; ``asked`` is the request the panel re-sends
    when the epoch changes)."""
    vis = widget.vis
    index, kind = asked["index"], asked["kind"]
    names = np.asarray(vis.class_names, dtype=object)
    xy = np.asarray(p["positions"], np.float32).reshape(-1, 2)
    s = np.asarray(p["strengths"], np.float32)
    preds = np.asarray(p["predictions"], np.int64)
    conf = np.asarray(p["confidence"], np.float32)
    original = int(p["original_prediction"])
    first_flip_index = int(p["first_flip_index"])
    reached = int(p.get("reached_index", -1))
    df = pd.DataFrame({
        "strength": s, "x": xy[:, 0], "y": xy[:, 1], "prediction": preds,
        "class_name": names[preds], "confidence": conf, "flipped": preds != original,
    })
    df.attrs.update(kind=kind, unit=p.get("unit"), epoch=epoch, index=index,
                    first_flip=p.get("first_flip"), original_prediction=original,
                    target=p.get("target"), reached=None if reached < 0 else reached)
    shown = {
        "index": index, "epoch": epoch, "kind": kind, "unit": p.get("unit"),
        "first_flip": p.get("first_flip"), "first_flip_index": first_flip_index,
        "original_prediction": original, "target": p.get("target"), "reached_index": reached,
        "request": asked,
        "positions": to_view(vis, xy),
        "predictions": preds.astype(np.uint16), "confidence": conf, "strengths": s,
        # the perturbed input at every point, as pictures (the hover card and the strip)
        "images": (None if p.get("images") is None
                   else np.ascontiguousarray(np.asarray(p["images"], np.uint8))),
        "eps": None if p.get("eps") is None else float(p["eps"]),
    }
    return df, shown
