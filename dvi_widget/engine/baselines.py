"""Baseline projections beside DVI: UMAP (aligned across epochs, UMAP-T), t-SNE (openTSNE) and PCA.

Each is fitted per epoch on the run's recorded representations (training samples; test samples
placed afterwards the method's own way) and gives what an engine gives: a fitted state whose
:meth:`BaselineFit.visualization` returns the :class:`~dvi_widget.contract.Visualization` contract
and whose :meth:`BaselineFit.score` returns the columns of ``DVI.score()`` computed with the same
functions and the same rows (:func:`dvi_widget.engine.pipeline.epoch_metrics`'s sample).

A baseline has a landscape only when it has an inverse that can be asked about a whole grid:

=======  =============================================  ======================================
method   fit per epoch                                  inverse (landscape, PPR, Q_data)
=======  =============================================  ======================================
pca      ``sklearn.decomposition.PCA(2)``               exact linear one (the PCA plane): yes
umap     ``umap.UMAP(init=previous epoch)`` (UMAP-T),    none used (``inverse_transform`` takes
         test samples by ``UMAP.transform``             seconds per hundred points): no
tsne     openTSNE ``affinity.PerplexityBasedNN`` +      none: no
         ``TSNEEmbedding(init=previous epoch)``; test
         samples by ``prepare_partial`` / ``optimize``
=======  =============================================  ======================================

Without an inverse the landscape is a transparent 1 x 1 image and ``landscape_classes`` is None,
so the click popover says it has nothing to say about a spot; :data:`NO_LANDSCAPE` is the label
the compare view shows over such a view. umap-learn and openTSNE are imported only when used.

``score()`` adds DeepView's Q_kNN (:func:`dvi_widget.engine.metrics.q_knn`, all samples), as
``DVI.score()`` and ``DeepView.score()`` do.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._random import subset_rng
from .._tensor import to_numpy, to_tensor
from ..contract import Visualization, default_palette, square_extent
from .metrics import evaluate_epoch, metrics_table, neighbours, q_knn
from .metrics import temporal_pv as eq4
from .pipeline import METRIC_KS, metric_rows

#: the methods this module fits, and whether each has an inverse (landscape, PPR, Q_data)
METHODS: dict[str, bool] = {"pca": True, "umap": False, "tsne": False}
#: what the compare view shows over a view without a landscape
NO_LANDSCAPE = "no inverse: no landscape"
#: landscape cells per side of a baseline with an inverse
GRID = 128


def _predict(head: torch.nn.Module, reps: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return to_numpy(head(to_tensor(np.asarray(reps, np.float32), "cpu")).argmax(dim=1))


class BaselineFit:
    """One baseline fitted on every chosen epoch of a run (see the module docstring).

    Attributes: ``method``, ``run_``, ``epochs_``, ``coords_`` (T, N, 2) train then test rows,
    ``extent_`` (one square frame over all epochs), ``boundary_`` (T, B, 2) the given boundary
    points placed as test samples are (or None), ``seconds_`` (fit seconds per epoch: train
    fit and test placement), ``has_inverse``.
    """

    def __init__(self, method: str, random_state: int = 0, n_neighbors: int = 15,
                 perplexity: float = 30.0) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        self.method = method
        self.random_state = int(random_state)
        self.n_neighbors = int(n_neighbors)
        self.perplexity = float(perplexity)
        self.has_inverse = METHODS[method]

    def __repr__(self) -> str:
        return f"BaselineFit({self.method!r}, epochs={getattr(self, 'epochs_', None)})"

    # ------------------------------------------------------------------ fitting
    def fit(self, run: Any, epochs: Sequence[int] | None = None,  # noqa: ANN401 - a Run
            boundary: Mapping[int, np.ndarray] | None = None) -> BaselineFit:
        """Fit every epoch of ``epochs`` (default all recorded), each initialised from the
        previous one (UMAP, t-SNE; PCA's sign is aligned with the previous epoch's axes).
        ``boundary`` maps an epoch to high-dimensional boundary points (e.g. a fitted DVI's
        ``boundary_representations_``) to place and score boundary_pv against."""
        self.run_ = run
        self.epochs_ = sorted(int(e) for e in (run.epochs if epochs is None else epochs))
        if not self.epochs_:
            raise ValueError("no epochs to fit")
        self._models: list[Any] = []
        coords, bounds, self.seconds_ = [], [], {}
        prev = None
        for e in self.epochs_:
            X = np.array(run.representations(e, "train"), dtype=np.float32)
            Xt = (np.array(run.representations(e, "test"), dtype=np.float32)
                  if int(run.n_test) else np.zeros((0, X.shape[1]), np.float32))
            B = None if boundary is None or boundary.get(e) is None else np.asarray(
                boundary[e], np.float32)
            t0 = time.perf_counter()
            model, Y = getattr(self, f"_fit_{self.method}")(X, prev)
            Yt = self._place(model, Xt) if len(Xt) else np.zeros((0, 2), np.float32)
            self.seconds_[e] = time.perf_counter() - t0
            bounds.append(None if B is None or not len(B) else self._place(model, B))
            coords.append(np.concatenate([Y, Yt]).astype(np.float32))
            self._models.append(model)
            prev = Y
        self.coords_ = np.stack(coords)
        self.extent_ = square_extent(self.coords_)
        sizes = [0 if b is None else len(b) for b in bounds]
        self.boundary_representations_ = [None if boundary is None else boundary.get(e)
                                          for e in self.epochs_]
        self.boundary_ = (np.stack([b[: min(sizes)] for b in bounds]).astype(np.float32)
                          if min(sizes) > 0 else None)
        self._bounds = bounds
        self._landscapes: dict[int, tuple[np.ndarray, ...]] = {}
        return self

    def _fit_pca(self, X: np.ndarray, prev: np.ndarray | None) -> tuple[Any, np.ndarray]:
        from sklearn.decomposition import PCA

        model = PCA(n_components=2, random_state=self.random_state).fit(X)
        Y = model.transform(X)
        if prev is not None:  # an axis's sign is arbitrary: keep the one closest to last epoch
            flip = np.sign((Y * prev).sum(axis=0))
            flip[flip == 0] = 1
            model.components_ *= flip[:, None]
            Y = model.transform(X)
        return model, Y.astype(np.float32)

    def _fit_umap(self, X: np.ndarray, prev: np.ndarray | None) -> tuple[Any, np.ndarray]:
        import umap

        init = "spectral" if prev is None else np.asarray(prev, np.float64)
        model = umap.UMAP(n_neighbors=self.n_neighbors, min_dist=0.1, init=init,
                          random_state=self.random_state, n_jobs=1).fit(X)
        return model, np.asarray(model.embedding_, np.float32)

    def _fit_tsne(self, X: np.ndarray, prev: np.ndarray | None) -> tuple[Any, np.ndarray]:
        from openTSNE import TSNEEmbedding, affinity, initialization

        aff = affinity.PerplexityBasedNN(X, perplexity=min(self.perplexity, (len(X) - 1) / 3),
                                         n_jobs=1, random_state=self.random_state)
        init = (initialization.pca(X, random_state=self.random_state) if prev is None
                else initialization.rescale(np.asarray(prev, np.float64)))
        emb = TSNEEmbedding(init, aff, n_jobs=1, random_state=self.random_state)
        if prev is None:
            emb = emb.optimize(n_iter=250, exaggeration=12)
        emb = emb.optimize(n_iter=500 if prev is None else 250)
        return emb, np.asarray(emb, np.float32)

    def _place(self, model: Any, X: np.ndarray) -> np.ndarray:  # noqa: ANN401
        """New rows (test samples, boundary points) on a fitted epoch's map."""
        if self.method == "tsne":
            part = model.prepare_partial(X, initialization="median", k=min(25, len(model) - 1))
            return np.asarray(part.optimize(n_iter=100, learning_rate=0.1, momentum=0.8),
                              np.float32)
        return np.asarray(model.transform(X), np.float32)

    # ------------------------------------------------------------------ the inverse
    def check_epoch(self, epoch: int) -> int:
        if int(epoch) not in self.epochs_:
            raise ValueError(f"epoch={epoch!r} is not fitted; fitted epochs are {self.epochs_}")
        return int(epoch)

    def inverse_transform(self, points: np.ndarray, epoch: int) -> np.ndarray:
        """PCA's inverse (the point on the PCA plane) of ``(n, 2)`` points; other methods
        have none and raise."""
        if not self.has_inverse:
            raise ValueError(f"{self.method} has no inverse here: {NO_LANDSCAPE}")
        model = self._models[self.epochs_.index(self.check_epoch(epoch))]
        return model.inverse_transform(np.asarray(points, np.float64)).astype(np.float32)

    def inverse(self, points: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(representations, probabilities)`` of ``(n, 2)`` points (methods with an inverse)."""
        reps = self.inverse_transform(points, epoch)
        with torch.no_grad():
            probs = torch.softmax(self.run_.head(int(epoch))(to_tensor(reps, "cpu")).float(), 1)
        return reps, to_numpy(probs).astype(np.float32)

    def _landscape(self, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from .landscape import render_landscape

        if idx not in self._landscapes:
            model = self._models[idx]
            comps = torch.as_tensor(model.components_, dtype=torch.float32)
            mean = torch.as_tensor(model.mean_, dtype=torch.float32)
            self._landscapes[idx] = render_landscape(
                lambda y: y.float() @ comps + mean, self.run_.head(self.epochs_[idx]),
                self.extent_, size=GRID, palette=default_palette(int(self.run_.n_classes)),
                device="cpu")
        return self._landscapes[idx]

    # ------------------------------------------------------------------ results
    def visualization(self) -> Visualization:
        """The contract: positions, the run's predictions and confidences, and a landscape only
        for a method with an inverse (else transparent, no per-cell classes)."""
        run = self.run_
        preds, conf = [], []
        for e in self.epochs_:
            logits = np.concatenate([np.asarray(run.logits(e, "train"), np.float32)] + (
                [np.asarray(run.logits(e, "test"), np.float32)] if int(run.n_test) else []))
            p = torch.softmax(torch.as_tensor(logits), 1).numpy()
            preds.append(p.argmax(1))
            conf.append(p.max(1))
        land = classes = confidence = None
        if self.has_inverse:
            parts = [self._landscape(i) for i in range(len(self.epochs_))]
            land = np.stack([p[0] for p in parts])
            classes = np.stack([p[1] for p in parts])
            confidence = np.stack([p[2] for p in parts])
        from .embedding import _scalars_and_images

        scalars, images = _scalars_and_images(run)
        return Visualization.from_arrays(
            coords=self.coords_, labels=np.asarray(run.labels("all")),
            predictions=np.stack(preds), confidence=np.stack(conf), landscape=land,
            extent=self.extent_, epochs=np.asarray(self.epochs_), split=np.asarray(run.splits()),
            class_names=list(run.class_names), boundary=self.boundary_, metrics=self.score(),
            landscape_classes=classes, landscape_confidence=confidence, scalars=scalars,
            images=images)

    def score(self) -> pd.DataFrame:
        """``DVI.score()``'s columns for this baseline: nn_pv and boundary_pv (k = 10, 15, 20)
        and PPR (NaN without an inverse) on the same fixed random rows as DVI's, plus ``q_knn``
        (:func:`dvi_widget.engine.metrics.q_knn` over all samples) and, with an inverse,
        ``q_data`` / ``q_not_data`` (PPR of the fitted / held-out split, as DVI's). Computed
        once."""
        if getattr(self, "_score", None) is not None:
            return self._score
        run, n_train = self.run_, int(self.run_.n_train)
        per_epoch = {}
        for idx, e in enumerate(self.epochs_):
            X = np.asarray(run.representations(e, "train"), np.float32)
            Xt = (np.asarray(run.representations(e, "test"), np.float32) if int(run.n_test)
                  else X[:0])
            Y = self.coords_[idx]
            rng = subset_rng(self.random_state)  # DVI's rows (epoch_metrics)
            kw: dict[str, Any] = {}
            head = run.head(e)
            for split, Xs, Ys in (("train", X, Y[:n_train]), ("test", Xt, Y[n_train:])):
                if len(Xs) <= max(METRIC_KS):
                    continue
                rows = metric_rows(rng, len(Xs))
                kw.update({f"X_{split}": Xs, f"Y_{split}": Ys, f"rows_{split}": rows})
                if self.has_inverse:
                    kw[f"pred_{split}"] = _predict(head, Xs[rows])
                    kw[f"pred_{split}_rec"] = _predict(
                        head, self.inverse_transform(Ys[rows], e))
            B = self.boundary_representations_[idx]
            metrics = evaluate_epoch(B=B, B_2d=self._bounds[idx], ks=METRIC_KS, device="cpu",
                                     **kw)
            pred = np.concatenate([_predict(head, X)] + ([_predict(head, Xt)] if len(Xt) else []))
            metrics["q_knn"] = q_knn(Y, pred)
            metrics["q_data"] = metrics["ppr_train"]
            metrics["q_not_data"] = metrics.get("ppr_test", float("nan"))
            per_epoch[e] = metrics
        self._score = metrics_table(per_epoch)
        return self._score

    def temporal_pv(self, k: int = 15) -> dict[str, float]:
        """DVI Eq. 4 of the fitted epochs per split, as ``DVI.temporal_pv`` computes it."""
        from .metrics import joint_neighbours

        run, n_train = self.run_, int(self.run_.n_train)
        out = {"train": float("nan"), "test": float("nan")}
        if len(self.epochs_) < 3:
            return out
        tr, te = [], []
        for e in self.epochs_:
            X = np.asarray(run.representations(e, "train"), np.float32)
            tr.append(neighbours(X, k, device="cpu"))
            if int(run.n_test):
                te.append(joint_neighbours(
                    X, np.asarray(run.representations(e, "test"), np.float32), k, device="cpu"))
        out["train"] = eq4(None, [c[:n_train] for c in self.coords_], k, neighbour_sets=tr)
        if te:
            out["test"] = eq4(None, [c[n_train:] for c in self.coords_], k, neighbour_sets=te)
        return out
