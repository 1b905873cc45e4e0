"""The inside panels' source: a recorded run answering the view's :class:`~dvi_widget.contract.
Inside` questions (the view asks through the contract and never imports this package).

>>> w = Widget(dvi)                                   # doctest: +SKIP
>>> w.show_inside(InsideSource(run))                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ..data.run import inside as _store
from .distributions import Q_NAMES, distributions, flags
from .maximize import filters, maximize
from .patterns import PATTERN_LAYERS, epoch_network, neural_patterns

#: the largest input (H x W) the features panel maximises on request
MAX_FEATURE_PIXELS = 128 * 128


class InsideSource:
    """A recorded run as the source of the distributions, network and features panels
    (:class:`~dvi_widget.contract.Inside` and :class:`~dvi_widget.contract.InsideFeatures`).

    Parameters
    ----------
    run : a Run recorded with ``gradients=GradientMonitor(model)`` (distributions) and with its
        inputs and architecture (neural patterns: the Run that recorded it, or
        ``Run.open(path, model=...)``).
    min_support : neural patterns held by at least this fraction of the samples.
    max_patterns : the most frequent patterns sent to the network view per epoch.
    flag_options : keyword arguments of :func:`dvi_widget.inside.flags`.
    """

    def __init__(self, run: Any, *, min_support: float = 0.05, max_patterns: int = 40,  # noqa: ANN401
                 **flag_options: Any) -> None:  # noqa: ANN401
        self.run = run
        self.min_support = float(min_support)
        self.max_patterns = int(max_patterns)
        self.flag_options = flag_options
        self._patterns: dict[int, tuple[list[dict[str, Any]], pd.DataFrame]] = {}

    def bands(self, kind: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        df = distributions(self.run, kind)
        layers = list(dict.fromkeys(df["layer"].tolist()))
        epochs = np.array(_store.epochs_with_inside(self.run), np.int64)
        q = df[df["statistic"].isin(Q_NAMES)]
        cube = np.full((len(layers), len(epochs), len(Q_NAMES)), np.nan, np.float32)
        li = {la: i for i, la in enumerate(layers)}
        ei = {int(e): i for i, e in enumerate(epochs)}
        si = {s: i for i, s in enumerate(Q_NAMES)}
        cube[q["layer"].map(li).to_numpy(), q["epoch"].map(ei).to_numpy(),
             q["statistic"].map(si).to_numpy()] = q["value"].to_numpy(np.float32)
        return layers, epochs, cube, list(Q_NAMES)

    def flags(self) -> pd.DataFrame:
        return flags(self.run, **self.flag_options)

    def patterns(self, epoch: int) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        epoch = int(epoch)
        if epoch not in self._patterns:
            df = neural_patterns(self.run, epoch, min_support=self.min_support)
            names = df.attrs["layers"]
            modules = dict(epoch_network(self.run, epoch).named_modules())
            layers = [{"name": n, "units": _units(modules[n])} for n in names]
            pos = {n: i for i, n in enumerate(names)}
            labels = self.run.labels("all")
            df = df.head(self.max_patterns).copy()
            df["layers"] = [[pos[n] for n in la] for la in df["layers"]]
            df["classes"] = [
                {int(c): int(k) for c, k in zip(*np.unique(labels[s], return_counts=True),
                                                strict=True)} for s in df["samples"]]
            self._patterns = {epoch: (layers, df.reset_index(drop=True))}
        return self._patterns[epoch]


    # ------------------------------------------------------------ feature visualization

    def feature_layers(self, epoch: int) -> list[dict[str, Any]]:
        modules = epoch_network(self.run, int(epoch)).named_modules()
        return [{"name": "logits", "units": self.run.n_classes}] + [
            {"name": n, "units": _units(m)} for n, m in modules
            if n and isinstance(m, PATTERN_LAYERS)]

    def features(self, epoch: int, layer: str, units: Any) -> np.ndarray:  # noqa: ANN401
        shape = self.run.input_shape or ()
        if len(shape) == 3 and shape[1] * shape[2] > MAX_FEATURE_PIXELS:
            raise ValueError(f"inputs of {shape[1]}x{shape[2]} are too large to maximise on a "
                             "panel's request; call dvi_widget.inside.maximize in a cell")
        lo, hi = self._value_range()
        imgs = maximize(self.run, int(epoch), layer, units, value_range=(lo, hi))
        return ((imgs - lo) / max(hi - lo, 1e-12)).astype(np.float32)

    def filters(self, epoch: int) -> np.ndarray:
        return filters(self.run, int(epoch))

    def _value_range(self) -> tuple[float, float]:
        if not hasattr(self, "_range"):
            from .maximize import _range

            self._range = _range(self.run)
        return self._range


def _units(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    if isinstance(module, PATTERN_LAYERS):
        return int(module.out_channels)
    return 0
