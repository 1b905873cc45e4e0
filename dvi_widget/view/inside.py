"""The kernel side of the inside panels, mixed into :class:`Widget`: ``distributions``
(TensorBoard's distributions over epochs, linked to the epoch slider), ``network`` (VATUN's
network view of neural patterns, linked to the selection) and ``features`` (gradient-ascent
images and first-layer kernels, computed on request; shown when the source implements
:class:`~dvi_widget.contract.InsideFeatures`).

The widget asks an :class:`~dvi_widget.contract.Inside` source (``w.show_inside(source)``, e.g.
``dvi_widget.inside.InsideSource(run)``) and never the model itself.

============= ============================================== ====================================
panel         request                                        reply
============= ============================================== ====================================
distributions ``kind`` (weight, bias, grad, activation)      ``kind, layers, epochs, statistics,
                                                             flags``; buffer 0: float32 (L, T, Q)
                                                             quantiles (NaN: not recorded)
network       ``what: "patterns", epoch``                    ``epoch, layers, patterns`` (id,
                                                             layers, units, count, support,
                                                             classes, shared), ``recommended``
                                                             (ids the selection shares, by
                                                             Jaccard similarity), ``selected``
network       ``what: "select", epoch, pattern``             sets ``Widget.selection`` to exactly
                                                             the pattern's samples; ``count``
features      ``what: "layers", epoch``                      ``layers`` ([{name, units}])
features      ``what: "grid", epoch, layer, units`` (<= 16)  ``shape, labels``; buffer 0: uint8
              | ``what: "strip", layer, unit, epochs`` (<=   (n, H, W, C) images (gradient
              12) | ``what: "filters", epoch``               ascent; first-layer kernels)
============= ============================================== ====================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import traitlets as t

from ..contract import Inside, InsideFeatures
from .serialize import to_buffer

PANELS = ("distributions", "network", "features")
#: the most images one features request computes (gradient ascent is ~0.1 s per image)
MAX_FEATURES = 16
MAX_STRIP_EPOCHS = 12
KINDS = ("weight", "bias", "grad", "activation")
#: the most patterns the network view lists
MAX_PATTERNS = 200


class InsideMixin(t.HasTraits):
    """``show_inside`` and the two panels' handlers (see the module docstring)."""

    inside_source: Any = None

    def show_inside(self, source: Inside, panels: Sequence[str] = PANELS) -> Any:  # noqa: ANN401
        """Show the distributions and network panels of ``source`` (an
        :class:`~dvi_widget.contract.Inside`, e.g. ``dvi_widget.inside.InsideSource(run)``);
        returns the widget."""
        if not isinstance(source, Inside):
            raise TypeError("show_inside needs an Inside source (bands, flags, patterns), e.g. "
                            f"dvi_widget.inside.InsideSource(run); got {type(source).__name__}")
        if not isinstance(source, InsideFeatures):
            panels = [p for p in panels if p != "features"]
        unknown = [p for p in panels if p not in PANELS]
        if unknown:
            raise ValueError(f"unknown inside panels {unknown}; choose from {list(PANELS)}")
        self.inside_source = source
        self.capabilities = {**self.capabilities, "inside": True}
        self.panels = [*self.panels, *[p for p in panels if p not in self.panels]]
        return self

    def _need_inside(self) -> Inside:
        if self.inside_source is None:
            raise ValueError("no inside source: call w.show_inside(dvi_widget.inside."
                             "InsideSource(run)) on a run recorded with gradients=monitor")
        return self.inside_source

    def _on_distributions(self, req: dict, buffers: list) -> tuple[dict, list]:
        kind = str(req.get("kind", "grad"))
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        src = self._need_inside()
        layers, epochs, cube, stats = src.bands(kind)
        f = src.flags()
        flags = [{"flag": str(r.flag), "layer": str(r.layer),
                  "epochs": [int(e) for e in r.epochs], "detail": str(r.detail)}
                 for r in f.itertuples()]
        return {"kind": kind, "layers": [str(la) for la in layers],
                "epochs": [int(e) for e in epochs], "statistics": list(stats),
                "shape": list(cube.shape), "flags": flags}, [to_buffer(cube, "float32")]

    def _on_network(self, req: dict, buffers: list) -> tuple[dict, list]:
        src = self._need_inside()
        epoch = int(req.get("epoch", self.epoch))
        layers, df = src.patterns(epoch)
        df = df.head(MAX_PATTERNS)
        what = req.get("what", "patterns")
        if what == "select":
            k = int(req["pattern"])
            if not 0 <= k < len(df):
                raise ValueError(f"pattern must be in [0, {len(df)}), got {k}")
            samples = np.asarray(df.iloc[k]["samples"], np.int64)
            self.select(samples)
            return {"epoch": epoch, "pattern": k, "count": len(samples)}, []
        if what != "patterns":
            raise ValueError(f"what must be 'patterns' or 'select', got {what!r}")
        sel = np.unique(np.asarray(self.selection, np.int64))
        shared = [int(np.isin(s, sel).sum()) if len(sel) else 0 for s in df["samples"]]
        # ranked as dvi_widget.inside.recommend: Jaccard similarity with the selection
        jaccard = [c / max(1, len(s) + len(sel) - c) for c, s in zip(shared, df["samples"],
                                                                      strict=True)]
        order = sorted((i for i, c in enumerate(shared) if c > 0),
                       key=lambda i: (-jaccard[i], -shared[i], i))
        patterns = [{"id": i, "layers": [int(x) for x in r.layers],
                     "units": [int(u) for u in r.units], "count": int(r.count),
                     "support": float(r.support), "shared": shared[i],
                     "classes": {str(c): int(n) for c, n in r.classes.items()}}
                    for i, r in enumerate(df.itertuples())]
        return {"epoch": epoch, "layers": layers, "patterns": patterns, "recommended": order,
                "selected": len(sel)}, []


    def _on_features(self, req: dict, buffers: list) -> tuple[dict, list]:
        src = self._need_inside()
        if not isinstance(src, InsideFeatures):
            raise ValueError("this inside source has no feature visualization "
                             "(dvi_widget.inside.InsideSource has)")
        what = req.get("what")
        epoch = int(req.get("epoch", self.epoch))
        if what == "layers":
            return {"epoch": epoch, "layers": src.feature_layers(epoch)}, []
        if what == "filters":
            imgs, labels = src.filters(epoch), None
        elif what in ("grid", "strip"):
            layer = str(req.get("layer", "logits"))
            if what == "grid":
                units = [int(u) for u in req.get("units", [])]
                if not 0 < len(units) <= MAX_FEATURES:
                    raise ValueError(f"ask for 1 to {MAX_FEATURES} units, got {len(units)}")
                imgs, labels = src.features(epoch, layer, units), units
            else:
                epochs = [int(e) for e in req.get("epochs", [])]
                if not 0 < len(epochs) <= MAX_STRIP_EPOCHS:
                    raise ValueError(f"ask for 1 to {MAX_STRIP_EPOCHS} epochs, got {len(epochs)}")
                unit = int(req["unit"])
                imgs = np.concatenate([src.features(e, layer, [unit]) for e in epochs])
                labels = epochs
        else:
            raise ValueError(f"what must be 'layers', 'grid', 'strip' or 'filters', got {what!r}")
        imgs = np.asarray(imgs, np.float32)
        if imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
            if imgs.ndim == 4:  # filters of a multi-channel input: one image per channel pair
                imgs = imgs.reshape(-1, 1, *imgs.shape[2:])
            else:
                raise ValueError(f"the inputs are not images (the maximised inputs have shape "
                                 f"{imgs.shape[1:]}); call dvi_widget.inside.maximize in a cell "
                                 "for their values")
        pix = np.round(np.clip(imgs, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        return {"what": what, "epoch": epoch, "shape": list(pix.shape),
                "labels": None if labels is None else [int(v) for v in labels]}, [
            to_buffer(pix, "uint8")]


HANDLERS = {"distributions": InsideMixin._on_distributions, "network": InsideMixin._on_network,
            "features": InsideMixin._on_features}
