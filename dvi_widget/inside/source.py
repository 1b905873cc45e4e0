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
from .patterns import PATTERN_LAYERS, epoch_network, neural_patterns


class InsideSource:
    """A recorded run as the source of the distributions and network panels.

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


def _units(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    if isinstance(module, PATTERN_LAYERS):
        return int(module.out_channels)
    return 0
