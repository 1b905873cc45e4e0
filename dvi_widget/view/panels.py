"""The kernel side of the widget's explore panels, mixed into :class:`Widget`.

Each panel asks through the one envelope of :mod:`dvi_widget.view.protocol` (``{"panel": name,
"id": n, ...}`` plus buffers -> ``{"panel": name, "reply": n, ...}`` or ``{"error": text}``;
arrays as buffers, :mod:`dvi_widget.view.serialize`). Every answer comes from
:mod:`dvi_widget.view.explore` and :mod:`dvi_widget.view.thumbnails`, which take the
:class:`Visualization` contract only, so a cell and a click give the same numbers.

========== ================================================ ====================================
panel      request                                          reply
========== ================================================ ====================================
inspect    ``x, y`` (normalised [-1, 1]), ``epoch``, ``k``  :func:`explore.inspect` as JSON;
                                                            sets ``Widget.clicked``; ``sees``
                                                            (kind, label, predictions, indices,
                                                            tile) and buffer 0: the PNG strip
                                                            of what the model sees there
thumbnails buffer 0: uint32 sample indices (<= 1024)        ``tile, columns, n``; buffer 0: PNG
                                                            atlas (:func:`thumbnails.sprite`)
sample     ``sample, epoch, k``                             :func:`explore.neighbors` as columns
events     ``what``: "summary" | "at" (``epoch, kind``) |   counts per epoch and kind | the
           "sample" (``sample``)                            samples and sizes | one sample's rows
gradcam    ``epoch``; buffer 0: uint32 sample indices       ``shape``; buffer 0: uint8 (n, H, W)
                                                            heat maps (``inspector.explain``)
explain    the Explain panel's tools                        :mod:`dvi_widget.view.explain`
sees_line  ``x0, y0, x1, y1`` (normalised), ``epoch``, ``n``  :meth:`inspect_line`: ``kind, label,
                                                            predictions, sample_predictions,
                                                            samples, tile``; buffer 0: PNG strip
landscape  ``epoch``, ``x0, x1, y0, y1`` (normalised [-1,  ``epoch, x0, x1, y0, y1`` (clipped to
           1], the visible part), ``width, height`` (px) the frame), ``shape``; buffer 0:
                                                            uint8 (H, W, 4) RGBA, row 0 at the
                                                            top (``inspector.landscape``)
========== ================================================ ====================================

Synced traits added here: ``clicked`` (the last clicked spot: epoch, x, y in the frame),
``focus_sample`` (two-way: the sample the history panel shows, -1 none), ``capabilities``,
``scalars`` and ``metrics`` (small JSON tables: ``{"epochs": [...], "columns": {name: [...]}}``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from ..contract import Explaining, Landscapes, Visualization
from . import explain, explore
from .frame import from_view
from .protocol import Handler, panel_handlers
from .serialize import indices_from_buffer, to_buffer
from .thumbnails import MAX_THUMBNAILS, sprite

#: the panels a Widget shows when ``panels`` is not given (legend at the side, the rest below;
#: ``inspect`` is the click popover over the plot)
DEFAULT_PANELS = ("legend", "inspect", "selection", "sample", "confusion", "curves", "events")


def _table(df: pd.DataFrame | None, epochs: np.ndarray) -> dict | None:
    """A per-epoch table as JSON for the front end: one row per shown epoch, NaN as null."""
    if df is None or df.empty:
        return None
    num = df.select_dtypes("number").reindex(epochs.tolist())
    cols = {str(c): [None if not np.isfinite(v) else float(v) for v in num[c].to_numpy(float)]
            for c in num.columns}
    return {"epochs": [int(e) for e in epochs], "columns": cols}


def _records(df: pd.DataFrame) -> dict[str, list]:
    """DataFrame columns as JSON lists (numpy scalars to Python, NA to None)."""
    out = {}
    for c in df.columns:
        values = df[c].astype(object).where(df[c].notna(), None).tolist()
        out[str(c)] = [v.item() if isinstance(v, np.generic) else v for v in values]
    return out


class PanelsMixin(t.HasTraits):
    """Traits and methods of the explore panels (mixed into :class:`Widget`)."""

    clicked = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    focus_sample = t.Int(-1).tag(sync=True)
    capabilities = t.Dict().tag(sync=True)
    scalars = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    metrics = t.Dict(allow_none=True, default_value=None).tag(sync=True)

    vis: Visualization
    n_samples: int

    def _init_panels(self, images: Any) -> dict[str, Any]:  # noqa: ANN401 - images or None
        """The panel traits' values for ``self.vis`` (passed to ``Widget.__init__``); ``images``
        (channels-last uint8, or None) replaces ``vis.images`` as the thumbnails' source."""
        v = self.vis
        self.images = images if images is not None else v.images
        self._events: pd.DataFrame | None = None
        shape = None if self.images is None else [int(s) for s in np.shape(self.images)[1:]]
        return {
            "capabilities": {
                "kernel": True, "images": shape, "inspector": v.inspector is not None,
                "explain": isinstance(v.inspector, Explaining) and shape is not None,
                "max_thumbnails": MAX_THUMBNAILS,
                # the landscape re-rendered for a zoomed view (else the stored raster is shown)
                "landscapes": isinstance(v.inspector, Landscapes),
                "max_landscape_cells": MAX_LANDSCAPE_CELLS,
            },
            "scalars": _table(v.scalars, v.epochs),
            "metrics": _table(v.metrics, v.epochs),
        }

    @t.validate("focus_sample")
    def _check_focus(self, proposal: dict) -> int:
        value = int(proposal["value"])
        if not -1 <= value < self.n_samples:
            raise t.TraitError(f"focus_sample must be a sample index in [0, {self.n_samples}) or "
                              f"-1 (none), got {value}")
        return value

    # ------------------------------------------------------------------ cells
    def inspect(self, x: float, y: float, epoch: int | None = None, k: int = 10) -> dict:
        """What the view says about the spot ``(x, y)`` of the frame at ``epoch`` (default:
        the shown one): class probabilities ``softmax(g_t(ψ_t(y)))`` with an inspector, else the
        landscape cell's class and confidence, and the ``k`` nearest samples in 2-D; see
        :func:`dvi_widget.view.explore.inspect`. A click on the landscape answers the same."""
        res = explore.inspect(self.vis, x, y, self.epoch if epoch is None else epoch, k=k,
                              top=self.vis.n_classes)
        res["sees"] = None
        if res["source"] == "model":
            res["sees"] = explore.sees(self.vis, np.array([[x, y]]), res["epoch"], k=SEES_K)
            if res["sees"] is not None:  # one spot: drop the leading axis of every array
                res["sees"] = {key: v[0] if isinstance(v, np.ndarray) else v
                               for key, v in res["sees"].items()}
        return res

    def inspect_line(self, start: Sequence[float], end: Sequence[float], n: int = 8,
                     epoch: int | None = None) -> dict | None:
        """What the model sees along the segment ``start`` -> ``end`` (frame coordinates) at
        ``n`` evenly spaced spots, at ``epoch`` (default: the shown one): DeepView's Fig. 4
        across a boundary. ``{"points": DataFrame x, y, prediction, confidence, sample,
        sample_prediction; "images": uint8 (n, H, W[, C]) or None; "kind"; "label"; "epoch"}``
        (:func:`explore.sees_line`); None when the view has no inverse to ask."""
        return explore.sees_line(self.vis, start, end, n, self.epoch if epoch is None else epoch)

    def confusion(self, epoch: int | None = None, split: str | None = None) -> pd.DataFrame:
        """Confusion matrix (rows: label, columns: prediction) at ``epoch`` (default: shown)
        over ``split`` (default: the shown split, as the confusion panel)."""
        return explore.confusion(self.vis, self.epoch if epoch is None else epoch,
                                 self._shown_split() if split is None else split)

    def confusion_cell(self, label: int | str, prediction: int | str, epoch: int | None = None,
                       split: str | None = None) -> np.ndarray:
        """Indices of the samples given ``label`` and predicted ``prediction`` at ``epoch``
        (default: shown) in ``split`` (default: shown): what a click on that confusion-matrix
        cell selects. ``w.select(w.confusion_cell("Trouser", "Dress"))``."""
        return explore.confusion_cell(self.vis, label, prediction,
                                      self.epoch if epoch is None else epoch,
                                      self._shown_split() if split is None else split)

    def history(self, sample: int) -> pd.DataFrame:
        """One sample over all epochs (position, prediction, confidence, landscape cell)."""
        return explore.history(self.vis, sample)

    def neighbors(self, sample: int, epoch: int | None = None, k: int = 10) -> pd.DataFrame:
        """A sample's ``k`` nearest samples in 2-D and in representation space (with an
        inspector), with the ones the view separates flagged; see :func:`explore.neighbors`."""
        return explore.neighbors(self.vis, sample, self.epoch if epoch is None else epoch, k)

    def composition(self, epoch: int | None = None) -> pd.DataFrame:
        """The selection's class composition (label, prediction, correct counts per class)."""
        idx = np.zeros(0, np.int64) if self.selection is None else self.selection
        return explore.composition(self.vis, idx, self.epoch if epoch is None else epoch)

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401
        """Training events of the fitted run (``DVI.events``); the default thresholds' table is
        computed once and shared with the events panel."""
        if thresholds:
            return explore.events(self.vis, **thresholds)
        if self._events is None:
            self._events = explore.events(self.vis)
        return self._events

    def thumbnails(self, indices: Sequence[int] | np.ndarray, columns: int | None = None
                   ) -> np.ndarray:
        """The images of ``indices`` as one atlas (uint8), as the panels show them."""
        return sprite(self._images(), indices, columns).atlas

    def _shown_split(self) -> str:
        return "all" if self.show == "both" else self.show

    def _images(self) -> Any:  # noqa: ANN401
        if self.images is None:
            raise ValueError("this widget has no images: the run recorded no image-shaped "
                             "inputs (pass images= to Widget to show some)")
        return self.images

    # ------------------------------------------------------------------ front-end requests
    def _on_inspect(self, req: dict, buffers: list) -> tuple[dict, list]:
        x, y = from_view(self.vis, req["x"], req["y"])
        epoch = int(req.get("epoch", self.epoch))
        res = self.inspect(x, y, epoch, k=int(req.get("k", 8)))
        if res["source"] == "outside":  # the popover shows the error with the nearest samples
            raise ValueError(res["note"])
        self.clicked = {"epoch": res["epoch"], "x": x, "y": y}
        probs = res["probabilities"]
        sees, buffers = None, []
        got = res.get("sees")
        if got is not None:
            sees = {"kind": got["kind"], "label": got["label"],
                    "predictions": [int(p) for p in got["predictions"]],
                    "indices": None if got["indices"] is None
                    else [int(i) for i in got["indices"]], "images": got["images"] is not None}
            if got["images"] is not None:
                s = sprite(got["images"], np.arange(len(got["images"])),
                           columns=len(got["images"]))
                sees["tile"] = list(s.tile)
                buffers = [s.png]
        return {
            "epoch": res["epoch"], "x": x, "y": y, "source": res["source"],
            "decoder": str(getattr(self.vis.inspector, "decoder", "ψ_t → g_t")),
            "prediction": res["prediction"], "confidence": _finite(res["confidence"]),
            "probabilities": None if probs is None else [float(p) for p in probs.to_numpy()],
            "neighbors": _records(res["neighbors"]), "sees": sees,
        }, buffers

    def _on_sees_line(self, req: dict, buffers: list) -> tuple[dict, list]:
        n = int(req.get("n", 8))
        start = from_view(self.vis, req["x0"], req["y0"])
        end = from_view(self.vis, req["x1"], req["y1"])
        line = self.inspect_line(start, end, n, int(req.get("epoch", self.epoch)))
        if line is None:
            raise ValueError("this view has no inverse to ask along a line")
        pts = line["points"]
        content = {"epoch": line["epoch"], "kind": line["kind"], "label": line["label"],
                   "predictions": [int(p) for p in pts["prediction"]],
                   "sample_predictions": [int(p) for p in pts["sample_prediction"]],
                   "samples": [int(i) for i in pts["sample"]], "images": False}
        if line["images"] is None:
            return content, []
        s = sprite(line["images"], np.arange(len(line["images"])), columns=len(line["images"]))
        return {**content, "images": True, "tile": list(s.tile)}, [s.png]

    def _on_thumbnails(self, req: dict, buffers: list) -> tuple[dict, list]:
        s = sprite(self._images(), indices_from_buffer(buffers, self.n_samples))
        return {"tile": list(s.tile), "columns": s.columns, "n": len(s.indices)}, [s.png]

    def _on_sample(self, req: dict, buffers: list) -> tuple[dict, list]:
        df = self.neighbors(int(req["sample"]), int(req.get("epoch", self.epoch)),
                            int(req.get("k", 8)))
        return {"sample": int(req["sample"]), "epoch": df.attrs["epoch"],
                "rows": _records(df)}, []

    def _on_events(self, req: dict, buffers: list) -> tuple[dict, list]:
        ev = self.events()
        kinds = [str(k) for k in ev["kind"].cat.categories]
        what = req.get("what", "summary")
        if what == "summary":
            pos = np.searchsorted(self.vis.epochs, ev["epoch"].to_numpy())
            codes = ev["kind"].cat.codes.to_numpy()
            counts = np.zeros((self.vis.n_epochs, len(kinds)), np.int64)
            np.add.at(counts, (pos, codes), 1)
            return {"kinds": kinds, "counts": counts.tolist(), "n": len(ev)}, []
        if what == "at":
            rows = ev[(ev["epoch"] == int(req["epoch"])) & (ev["kind"] == str(req["kind"]))]
            cols = rows[["sample", "size", "prediction_before", "prediction"]]
            return {"epoch": int(req["epoch"]), "kind": str(req["kind"]), "n": len(rows)}, [
                to_buffer(cols["sample"].to_numpy(), "uint32"),
                to_buffer(cols["size"].to_numpy(), "float32"),
                to_buffer(cols["prediction_before"].to_numpy(), "int32"),
                to_buffer(cols["prediction"].to_numpy(), "int32"),
            ]
        if what == "sample":
            rows = ev[ev["sample"] == int(req["sample"])]
            return {"sample": int(req["sample"]), "rows": _records(
                rows[["epoch", "kind", "size", "prediction_before", "prediction"]])}, []
        raise ValueError(f"events request 'what' must be summary, at or sample, got {what!r}")

    def _on_gradcam(self, req: dict, buffers: list) -> tuple[dict, list]:
        ins = self.vis.inspector
        if not isinstance(ins, Explaining):
            raise ValueError("Grad-CAM needs the fitted model (DVI(...).fit(run).visualization())")
        idx = indices_from_buffer(buffers, self.n_samples)
        out = ins.explain({"what": "gradcam", "indices": idx, "epoch": int(req["epoch"])})
        maps = np.clip(np.round(np.asarray(out["maps"], np.float32) * 255), 0, 255)
        return {"shape": list(maps.shape), "layer": str(out.get("layer", ""))}, [
            to_buffer(maps, "uint8")]


    def zoomed_landscape(self, extent: Any, shape: tuple[int, int],  # noqa: ANN401
                         epoch: int | None = None) -> np.ndarray:
        """The landscape of ``epoch`` (default: the shown one) re-rendered over ``extent = (x0,
        x1, y0, y1)`` (frame coordinates) at ``shape = (H, W)`` cells: uint8 RGBA (H, W, 4),
        what the plot shows when zoomed in (``vis.inspector.landscape``)."""
        ins = self.vis.inspector
        if not isinstance(ins, Landscapes):
            raise ValueError("re-rendering the landscape needs the fitted model "
                             "(DVI(...).fit(run).visualization()); the stored raster is shown")
        return ins.landscape(self.epoch if epoch is None else int(epoch), extent, shape)[0]

    def _on_landscape(self, req: dict, buffers: list) -> tuple[dict, list]:
        v = self.vis
        W, H = int(req["width"]), int(req["height"])
        if not (W >= 1 and H >= 1 and W * H <= MAX_LANDSCAPE_CELLS):
            raise ValueError(f"width x height must be at most {MAX_LANDSCAPE_CELLS:,} cells, got "
                             f"{W} x {H}")
        ask = np.array([req["x0"], req["x1"], req["y0"], req["y1"]], np.float64)
        if not np.isfinite(ask).all():
            raise ValueError("x0, x1, y0, y1 must be finite")
        # the visible part of the frame (the landscape is defined there only)
        vx0, vx1 = max(-1.0, ask[0]), min(1.0, ask[1])
        vy0, vy1 = max(-1.0, ask[2]), min(1.0, ask[3])
        if vx1 <= vx0 or vy1 <= vy0:
            raise ValueError("the asked extent lies outside the frame")
        # the cells keep the asked resolution (px per unit) over the clipped part
        W = max(1, round(W * (vx1 - vx0) / (ask[1] - ask[0])))
        H = max(1, round(H * (vy1 - vy0) / (ask[3] - ask[2])))
        x0, y0 = from_view(v, vx0, vy0)
        x1, y1 = from_view(v, vx1, vy1)
        epoch = int(req.get("epoch", self.epoch))
        rgba = self.zoomed_landscape((x0, x1, y0, y1), (H, W), epoch)
        return {"epoch": epoch, "x0": vx0, "x1": vx1, "y0": vy0, "y1": vy1,
                "shape": [H, W]}, [to_buffer(rgba, "uint8")]


#: inputs a click's popover shows under "what the model sees here" (nearest recorded ones)
SEES_K = 3

#: the most landscape cells one zoomed-landscape request may ask for
MAX_LANDSCAPE_CELLS = 1024 * 1024


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


_HANDLERS: dict[str, Handler] = {
    "inspect": PanelsMixin._on_inspect,
    "thumbnails": PanelsMixin._on_thumbnails,
    "sample": PanelsMixin._on_sample,
    "events": PanelsMixin._on_events,
    "gradcam": PanelsMixin._on_gradcam,
    "landscape": PanelsMixin._on_landscape,
    "sees_line": PanelsMixin._on_sees_line,
    explain.PANEL: explain.handle,
}

#: ``Widget.panel_handlers`` entries of these panels (one envelope: :mod:`.protocol`)
PANEL_HANDLERS: dict[str, Callable[[Any, dict, list], None]] = panel_handlers(_HANDLERS)
