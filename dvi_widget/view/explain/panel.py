"""The Explain panel's kernel side: its synced traits, the request handler (one envelope,
:mod:`dvi_widget.view.protocol`) and ``Widget.what_if`` / ``clear_what_if``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from ..serialize import indices_from_buffer, tree_serialization
from .adversarial import ATTACK_KINDS, compute_attack
from .model import kinds
from .path import compute_path, strengths_of
from .robustness import compute_robustness
from .surrogate import compute_surrogate

#: the panel's name in ``Widget.panels`` and in its requests
PANEL = "explain"


def _shown_trait() -> t.Dict:
    return t.Dict(allow_none=True, default_value=None).tag(sync=True, **tree_serialization)


class ExplainMixin(t.HasTraits):
    """Traits and methods of the Explain panel (mixed into :class:`Widget`)."""

    #: the drawn what-if or adversarial path (None: none), see :mod:`dvi_widget.view.explain`
    explain_path = _shown_trait()
    #: the robustness curves shown
    explain_robustness = _shown_trait()
    #: the surrogate shown (its neighbours are drawn on the plot at its epoch)
    explain_surrogate = _shown_trait()

    #: the panel's last results: "path", "robustness" (DataFrames), "surrogate" (dict)
    explanations: dict[str, Any]

    def what_if(self, index: int, kind: str = "rotate", strengths: Any = None, *,  # noqa: ANN401
                target: int | str | None = None, steps: int = 20, epoch: int | None = None,
                center: tuple[float, float] | None = None, eps: float | None = None
                ) -> pd.DataFrame:
        """Draw sample ``index``'s what-if path (``kind`` a perturbation family: rotate,
        translate_x, translate_y, scale, brightness, contrast, noise, blur, occlude) or
        adversarial path (``"fgsm"``/``"pgd"``, ``steps`` toward class ``target``, PGD within
        ``eps`` of the input) over the
        landscape of ``epoch`` (default: the shown one; the path follows the epoch slider).

        Returns the path as a DataFrame (strength, x, y, prediction, class_name, confidence,
        flipped; ``attrs["first_flip"]``), also kept in ``w.explanations["path"]``; x, y are
        where the one map places each perturbed input, the first (strength 0) exactly where
        the sample is drawn. Needs a fitted DVI's view.

        Examples
        --------
        >>> df = w.what_if(12, kind="rotate", strengths=range(0, 181, 5))  # doctest: +SKIP
        >>> df.attrs["first_flip"], w.explanations["path"] is df          # doctest: +SKIP
        """
        show_panel(self)
        if epoch is not None:
            self.epoch = int(epoch)  # show the epoch the path is drawn on
        return _draw_path(self, index, epoch, kind, strengths, target=target, steps=steps,
                          center=center, eps=eps)[0]

    def clear_what_if(self) -> ExplainMixin:
        """Erase the drawn what-if path and surrogate neighbours; returns self."""
        self.explain_path = None
        self.explain_surrogate = None
        return self


def show_panel(widget: Any) -> None:  # noqa: ANN401 - a Widget
    """Add the panel to the widget's side panels (and open them) if it is not there."""
    if PANEL not in widget.panels:
        widget.panels = [*widget.panels, PANEL]
    widget.panel_open = True


def _draw_path(widget: Any, index: int, epoch: int | None, kind: str,  # noqa: ANN401
               strengths: Any = None, *, target: int | str | None = None,  # noqa: ANN401
               steps: int = 20, center: Any = None,  # noqa: ANN401
               eps: float | None = None) -> tuple[pd.DataFrame, float]:
    """Compute a path, keep its DataFrame and draw it (the ``explain_path`` trait); returns the
    DataFrame and the compute time (ms)."""
    t0 = time.perf_counter()
    if kind in ATTACK_KINDS:
        df, shown = compute_attack(widget, index, epoch, kind, target=target, steps=steps,
                                   eps=eps)
    else:
        df, shown = compute_path(widget, index, epoch, kind, strengths, center=center)
    ms = round(1000 * (time.perf_counter() - t0), 1)
    widget.explanations["path"] = df
    widget.explain_path = {**shown, "compute_ms": ms}
    return df, ms


def _same_path(shown: dict | None, request: dict) -> bool:
    """Whether ``shown`` (the drawn path) answers the panel's ``follow`` request already (every
    view of the widget follows the epoch and asks for the same path)."""
    if not request.get("follow") or not shown or shown.get("epoch") != request.get("epoch"):
        return False
    asked = shown.get("request") or {}
    s = strengths_of(request)
    want = None if s is None else s.tolist()
    have = asked.get("strengths")
    same_strengths = (want is None and have is None) or (
        want is not None and have is not None and np.allclose(want, have))
    return (asked.get("index") == request.get("index") and asked.get("kind") == request.get("kind")
            and same_strengths and asked.get("target") == request.get("target")
            and (request.get("kind") not in ATTACK_KINDS
                 or (asked.get("steps") == int(request.get("steps") or 20)
                     and asked.get("eps") == _eps(request)))
            and asked.get("center") == request.get("center"))


def _eps(request: dict) -> float | None:
    """An attack request's ε (None: the explainer's default)."""
    eps = request.get("eps")
    return None if eps is None else float(eps)


def handle(widget: Any, request: dict, buffers: list) -> tuple[dict, list]:  # noqa: ANN401
    """The Explain panel's requests (see :mod:`dvi_widget.view.explain`): set the tool's trait,
    reply with the compute time."""
    what = request.get("type")
    t0 = time.perf_counter()
    if what == "kinds":
        return {"kinds": kinds(widget.vis)}, []
    if what == "path":
        if _same_path(widget.explain_path, request):
            return {"compute_ms": 0.0, "cached": True}, []
        _, ms = _draw_path(widget, request.get("index"), request.get("epoch"),
                           str(request.get("kind", "rotate")), strengths_of(request),
                           target=request.get("target"),
                           steps=int(request.get("steps") or 20), center=request.get("center"),
                           eps=_eps(request))
        return {"compute_ms": ms}, []
    if what == "robustness":
        sel = (indices_from_buffer(buffers, widget.n_samples) if request.get("class") is None
               else int(request["class"]))
        df, shown = compute_robustness(widget, sel, request.get("epoch"),
                                       str(request.get("kind", "rotate")), strengths_of(request))
        widget.explanations["robustness"] = df
        ms = round(1000 * (time.perf_counter() - t0), 1)
        widget.explain_robustness = {**shown, "compute_ms": ms}
        return {"compute_ms": ms}, []
    if what == "surrogate":
        out, shown = compute_surrogate(widget, request.get("index"), request.get("epoch"),
                                       request.get("classes"))
        widget.explanations["surrogate"] = out
        ms = round(1000 * (time.perf_counter() - t0), 1)
        widget.explain_surrogate = {**shown, "compute_ms": ms}
        return {"compute_ms": ms}, []
    raise ValueError(f"unknown explain request type {what!r}; one of kinds, path, robustness, "
                     "surrogate")
