"""The adversarial path: FGSM/PGD steps (Captum) that push one sample toward a target class (or
away from its prediction), drawn like a what-if path (:func:`.path.path_result`); step 0 is the
input itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .model import class_of, epoch_of, explaining, sample_of
from .path import path_result

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget

#: ``kind`` values whose path is a sequence of gradient steps toward ``target``
ATTACK_KINDS = ("fgsm", "pgd")


def compute_attack(widget: Widget, index: int, epoch: int | None = None, kind: str = "pgd", *,
                   target: int | str | None = None, steps: int = 20, eps: float | None = None
                   ) -> tuple[pd.DataFrame, dict]:
    """Sample ``index``'s ``kind`` attack path at ``epoch`` toward class ``target`` (None: away
    from its prediction) over ``steps`` steps, within ``eps`` of the input (PGD's ε; None: the
    explainer's default): the DataFrame and the ``explain_path`` value."""
    vis = widget.vis
    ins = explaining(vis)
    index, epoch = sample_of(widget, index), epoch_of(widget, epoch)
    target = None if target is None else class_of(vis, target, "target")
    ask = {"what": "path", "index": index, "epoch": epoch, "kind": kind, "target": target,
           "steps": int(steps)}
    if eps is not None:  # else the explainer's default ε
        ask["eps"] = float(eps)
    p = ins.explain(ask)
    asked = {"index": index, "kind": kind, "strengths": None, "target": target,
             "steps": int(steps), "center": None, "eps": None if eps is None else float(eps)}
    return path_result(widget, p, asked, epoch)
