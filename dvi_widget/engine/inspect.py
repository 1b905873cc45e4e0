"""The engine's answers to the view's questions: :class:`EngineInspector`.

It implements :class:`dvi_widget.contract.Inspector` over a fitted DVI's state
(:class:`dvi_widget.engine.embedding.DVIEmbedding`), which hands it over in
:meth:`~dvi_widget.engine.embedding.DVIEmbedding.visualization`. All work is batched torch on the
fit's device. Explanations (the contract's ``Explaining``) are added by a subclass above the
engine.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._tensor import to_tensor

#: distances computed at once by :meth:`EngineInspector.neighbors` (queries x samples)
NEIGHBOR_CHUNK = 1 << 24
#: the most cells one :meth:`EngineInspector.landscape` request may decode (a 1024 x 1024
#: screen; ~1 s of ψ_t + g_t on a CPU)
MAX_LANDSCAPE_CELLS = 1024 * 1024
#: ... and the longest side it may ask for
MAX_LANDSCAPE_SIDE = 2048
#: re-rendered landscapes kept, the most recently used (a pan back and forth is answered at once)
LANDSCAPE_CACHE = 8


def landscape_region(frame: Sequence[float], extent: Sequence[float], shape: Sequence[int]
                     ) -> tuple[np.ndarray, tuple[int, int]]:
    """A requested landscape region checked against the view's ``frame``: ``extent`` as a
    float64 (x0, x1, y0, y1) inside it and ``shape`` as (H, W) within the cell limits."""
    H, W = (int(v) for v in shape)
    if min(H, W) < 1 or max(H, W) > MAX_LANDSCAPE_SIDE or H * W > MAX_LANDSCAPE_CELLS:
        raise ValueError(f"shape must be (H, W) with 1 <= H, W <= {MAX_LANDSCAPE_SIDE} and "
                         f"H*W <= {MAX_LANDSCAPE_CELLS:,} cells, got {tuple(shape)}")
    ext = np.asarray(extent, np.float64).reshape(-1)
    fx0, fx1, fy0, fy1 = (float(v) for v in frame)
    tol = 1e-6 * (fx1 - fx0)
    if (ext.size != 4 or not np.isfinite(ext).all() or ext[1] <= ext[0] or ext[3] <= ext[2]
            or ext[0] < fx0 - tol or ext[1] > fx1 + tol or ext[2] < fy0 - tol
            or ext[3] > fy1 + tol):
        raise ValueError(f"extent must be (x0, x1, y0, y1) with x0 < x1, y0 < y1 inside the "
                         f"view's frame [{fx0:.4g}, {fx1:.4g}] x [{fy0:.4g}, {fy1:.4g}], got "
                         f"{ext.tolist()}")
    return ext, (H, W)


def remember(cache: OrderedDict, key: Any, value: Any) -> Any:  # noqa: ANN401
    """Keep ``value`` under ``key`` in an LRU ``cache`` of :data:`LANDSCAPE_CACHE` entries."""
    cache[key] = value
    while len(cache) > LANDSCAPE_CACHE:
        cache.popitem(last=False)
    return value


class EngineInspector:
    """Class probabilities anywhere in the view, high-dimensional neighbours, training events.

    Parameters
    ----------
    fitted : a fitted DVI's state, ``dvi.embedding_`` (kept by reference: its models are
        loaded once).

    Examples
    --------
    >>> ins = dvi.visualization().inspector
    >>> ins.probabilities(np.array([[0.0, 1.5]]), epoch=3)    # (1, C) float32
    >>> ins.neighbors(np.array([17]), epoch=3, k=10)          # ((1, 10) int64, (1, 10) float32)
    """

    def __init__(self, fitted: Any) -> None:  # noqa: ANN401 - a DVIEmbedding
        self.fitted = fitted
        #: one epoch's representations (train then test) and squared norms, for neighbors()
        self._reps: tuple[int, torch.Tensor, torch.Tensor] | None = None
        #: landscape() answers per (epoch, extent, shape), least recently used first
        self._landscapes: OrderedDict[tuple, tuple[np.ndarray, ...]] = OrderedDict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epochs={self.fitted.epochs_})"

    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        """``(n, 2)`` points -> ``(n, C)`` float32 ``softmax(g_t(ψ_t(points)))``
        (:meth:`~dvi_widget.engine.embedding.DVIEmbedding.inverse`)."""
        return self.fitted.inverse(np.asarray(points, dtype=np.float32).reshape(-1, 2), epoch)[1]

    def landscape(self, epoch: int, extent: Sequence[float], shape: tuple[int, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The landscape over part of the frame: ``extent = (x0, x1, y0, y1)`` inside the view's
        extent, ``shape = (H, W)`` cells (at most ``MAX_LANDSCAPE_CELLS``, each side at most
        ``MAX_LANDSCAPE_SIDE``), rendered as the stored one is (same ψ_t, g_t, palette and δ:
        :func:`dvi_widget.engine.landscape.render_landscape`). Returns ``(rgba uint8 (H, W, 4),
        classes int16 (H, W), confidence float32 (H, W))``; the last ``LANDSCAPE_CACHE``
        answers are kept per (epoch, extent, shape)."""
        from ..contract import default_palette
        from .landscape import render_landscape

        fitted = self.fitted
        epoch = fitted.check_epoch(epoch)
        ext, (H, W) = landscape_region(fitted.extent_, extent, shape)
        key = (epoch, tuple(ext.tolist()), (H, W))
        if key in self._landscapes:
            self._landscapes.move_to_end(key)
            return self._landscapes[key]
        n_classes = int(fitted.run_.n_classes)
        out = render_landscape(fitted.model(epoch).decode, fitted.head(epoch), ext, size=(H, W),
                               palette=default_palette(n_classes),
                               delta=fitted.settings.delta, device=fitted.device_)
        return remember(self._landscapes, key, out)

    def representations(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """All N samples' representations at ``epoch`` (train then test) on the fit's device,
        and their squared norms; the last epoch asked for is kept."""
        epoch = self.fitted.check_epoch(epoch)
        if self._reps is None or self._reps[0] != epoch:
            self._reps = None  # free the previous epoch first
            X = to_tensor(self.fitted.all_representations(epoch), self.fitted.device_)
            self._reps = (epoch, X, (X * X).sum(dim=1))
        return self._reps[1], self._reps[2]

    @torch.no_grad()
    def neighbors(
        self, indices: np.ndarray, epoch: int, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest samples of each sample in ``indices`` in representation space.

        Exact Euclidean search among all N samples at ``epoch`` (batched torch), each query
        sample excluded. Returns ``(m, k)`` int64 indices and ``(m, k)`` float32 distances,
        ascending.
        """
        X, xx = self.representations(epoch)
        n = X.shape[0]
        idx = np.asarray(indices).reshape(-1)
        if idx.dtype == np.bool_ or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise TypeError(f"indices must be integer sample indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size == 0:
            raise ValueError("indices is empty")
        if idx.min() < 0 or idx.max() >= n:
            raise IndexError(f"indices must lie in [0, {n}), got {idx.min()}..{idx.max()}")
        if not (isinstance(k, int | np.integer) and 1 <= k < n):
            raise ValueError(f"k must be an int in [1, {n - 1}], got {k!r}")
        k = int(k)
        # Written here rather than with engine.complex.knn, which re-centres and re-norms the
        # (N, h) matrix on every call (20x the cost of a click's one matrix-vector product):
        # candidates from |x|^2 - 2 q.x (cached norms, chunks of queries), then exact
        # distances of the k kept from differences (the matmul form loses precision for
        # near-duplicates).
        q_idx = torch.as_tensor(idx, device=X.device)
        out_i = []
        rows = max(1, NEIGHBOR_CHUNK // n)
        for start in range(0, len(idx), rows):
            qi = q_idx[start : start + rows]
            d2 = torch.addmm(xx.unsqueeze(0), X[qi], X.T, beta=1.0, alpha=-2.0)
            d2[torch.arange(len(qi), device=X.device), qi] = float("inf")  # not itself
            out_i.append(torch.topk(d2, k, dim=1, largest=False).indices)
        nbr = torch.cat(out_i)
        dist = (X[nbr] - X[q_idx].unsqueeze(1)).norm(dim=2)
        dist, order = dist.sort(dim=1, stable=True)
        nbr = nbr.gather(1, order)
        return nbr.cpu().numpy().astype(np.int64), dist.cpu().numpy().astype(np.float32)

    #: the map the probabilities come through (the popover's caption)
    decoder = "ψ_t → g_t"

    #: the captions of :meth:`sees`' inputs
    SEES_LABEL = "nearest recorded inputs to the decoded point ψ_t(y)"
    SEES_LABEL_INVERSE = "nearest recorded inputs to the decoded point π⁻¹(y)"
    SEES_LABEL_DECODED = "π⁻¹(y): the input the inverse gives here"

    @torch.no_grad()
    def sees(self, points: np.ndarray, epoch: int, k: int = 3) -> dict[str, Any]:
        """What the model sees at ``(n, 2)`` points (the contract's ``Seeing``).

        An engine whose inspector has an inverse into the input space (``inverse(points,
        epoch, space)``, DeepView's π⁻¹) answers with that input (``kind="decoded"``) and the
        whole model's class for it. DVI's ψ_t decodes into the representation space only, so
        its answer is the ``k`` recorded samples whose representations at ``epoch`` lie nearest
        to ψ_t(y) (``kind="nearest"``, exact Euclidean among all N samples) with g_t's class
        for each of them. ``probabilities``: the view's ``softmax`` at the spot."""
        epoch = self.fitted.check_epoch(epoch)
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        probs = np.asarray(self.probabilities(pts, epoch), np.float32)
        inverse = getattr(self, "inverse", None)
        if callable(inverse):  # an engine with π⁻¹ (DeepView): into the input space if it can
            try:  # both needed: the decoded input, and the whole model to classify it
                inputs = np.asarray(inverse(pts, epoch, "input"), np.float32)
                clf = self.fitted.classifier(epoch)
            except ValueError:  # no inputs kept, or no architecture: the nearest recorded ones
                inputs = None
            if inputs is not None:
                preds = clf(to_tensor(inputs, self.fitted.device_)).argmax(dim=1)
                return {"kind": "decoded", "label": self.SEES_LABEL_DECODED,
                        "inputs": inputs[:, None], "indices": None, "distances": None,
                        "predictions": preds.cpu().numpy().astype(np.int64)[:, None],
                        "probabilities": probs}
            reps = np.asarray(inverse(pts, epoch, "representation"), np.float32)
            label = self.SEES_LABEL_INVERSE
        else:
            reps, label = self.fitted.inverse_transform(pts, epoch), self.SEES_LABEL
        X, xx = self.representations(epoch)
        if not (isinstance(k, int | np.integer) and 1 <= k <= X.shape[0]):
            raise ValueError(f"k must be an int in [1, {X.shape[0]}], got {k!r}")
        q = to_tensor(reps, X.device)
        d2 = torch.addmm(xx.unsqueeze(0), q, X.T, beta=1.0, alpha=-2.0)
        nbr = torch.topk(d2, int(k), dim=1, largest=False).indices
        dist = (X[nbr] - q.unsqueeze(1)).norm(dim=2)
        dist, order = dist.sort(dim=1, stable=True)
        nbr = nbr.gather(1, order)
        head = self.fitted.head(epoch)
        preds = head(X[nbr.reshape(-1)]).argmax(dim=1).reshape(nbr.shape)
        return {"kind": "nearest", "label": label, "inputs": None,
                "indices": nbr.cpu().numpy().astype(np.int64),
                "distances": dist.cpu().numpy().astype(np.float32),
                "predictions": preds.cpu().numpy().astype(np.int64), "probabilities": probs}

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401 - see find_events
        """``DVI.events(**thresholds)``."""
        return self.fitted.events(**thresholds)
