"""A fitted DeepView: :class:`DeepViewEmbedding` and the view's :class:`DeepViewInspector`.

It holds, per fitted epoch, the positions of every recorded sample (train then test), the DiDi
kNN graph, and π⁻¹ (:class:`~dvi_widget.engine.deepview.inverse.RBFInverse`) into the
representation space and, when the run kept its inputs, into the input space; the frame shared
by all epochs and the landscapes over it (``classifier(π⁻¹(y))`` shaded as DVI's, by
:func:`dvi_widget.engine.landscape.render_landscape`). It answers ``transform``, ``inverse``,
``score`` and ``visualization`` as :class:`dvi_widget.engine.embedding.DVIEmbedding` does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from ..._random import subset_rng
from ..._tensor import to_numpy
from ...contract import Visualization, default_palette
from ..inspect import EngineInspector
from .inverse import RBFInverse

SPACES = ("representation", "input")


class DeepViewEmbedding:
    """The fitted epochs of a :class:`dvi_widget.DeepView`.

    Attributes: ``run_``, ``params_`` (dict), ``device_``, ``space_`` ("representation" or
    "input"), ``epochs_`` (list), ``coords_`` (T, N, 2), ``knn_`` (epoch -> (indices,
    distances)), ``inverses_`` (epoch -> {space: RBFInverse}), ``fit_rows_`` / ``held_rows_``
    (the samples π⁻¹ was fitted on / held out), ``extent_``, ``landscape_`` (T, H, W, 4),
    ``landscape_classes_``, ``landscape_confidence_``, ``timings_`` (DataFrame).
    """

    def __init__(self, run: Any, params: dict[str, Any], device: torch.device) -> None:  # noqa: ANN401
        self.run_ = run
        self.params_ = dict(params)
        self.device_ = device
        self.space_ = str(params.get("space", "representation"))
        self._heads: dict[int, torch.nn.Module] = {}
        self._classifiers: dict[int, torch.nn.Module] = {}
        self._scores: dict[int, dict[str, float]] = {}

    def __repr__(self) -> str:
        return f"DeepViewEmbedding(epochs={getattr(self, 'epochs_', None)}, run={self.run_.path})"

    # ---------------------------------------------------------------- pieces
    def check_epoch(self, epoch: int) -> int:
        """``epoch`` as an int, or a ``ValueError`` naming the fitted epochs."""
        if int(epoch) not in self.epochs_:
            raise ValueError(f"epoch={epoch!r} is not fitted; fitted epochs are {self.epochs_}")
        return int(epoch)

    def head(self, epoch: int) -> torch.nn.Module:
        """g_t on the fit's device."""
        epoch = int(epoch)
        if epoch not in self._heads:
            self._heads[epoch] = self.run_.head(epoch, device=self.device_)
        return self._heads[epoch]

    def classifier(self, epoch: int) -> torch.nn.Module:
        """g_t ∘ f_t (the whole model) on the fit's device."""
        from ...data.run.model import epoch_classifier

        epoch = int(epoch)
        if epoch not in self._classifiers:
            self._classifiers[epoch] = epoch_classifier(self.run_, epoch, self.device_)
        return self._classifiers[epoch]

    def logits_fn(self, epoch: int, space: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """The model on rows of ``space``: g_t on representations, g_t ∘ f_t on flattened
        inputs."""
        if space == "representation":
            return self.head(epoch)
        shape = tuple(int(s) for s in self.run_.input_shape)
        clf = self.classifier(epoch)
        return lambda x: clf(x.reshape(-1, *shape))

    def all_representations(self, epoch: int) -> np.ndarray:
        """Every sample's representation at ``epoch``: train then test rows, float32."""
        run = self.run_
        parts = [np.asarray(run.representations(epoch, "train"), np.float32)]
        if int(run.n_test):
            parts.append(np.asarray(run.representations(epoch, "test"), np.float32))
        return np.concatenate(parts)

    def predictions(self, epoch: int) -> np.ndarray:
        """The model's recorded predictions of every sample at ``epoch`` (train then test)."""
        run = self.run_
        parts = [np.asarray(run.logits(epoch, "train"), np.float32)]
        if int(run.n_test):
            parts.append(np.asarray(run.logits(epoch, "test"), np.float32))
        return np.concatenate(parts).argmax(axis=1)

    def _space(self, space: str | None) -> str:
        space = self.space_ if space is None else space
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        return space

    def _inverse(self, epoch: int, space: str) -> RBFInverse:
        inv = self.inverses_[epoch].get(space)
        if inv is None:
            raise ValueError(f"epoch {epoch} has no π⁻¹ into the {space} space: the run did not "
                             "keep its inputs (Run.create(..., save_inputs=True)) or the fit "
                             "was made with inverse_inputs=False")
        return inv

    # ---------------------------------------------------------------- online use
    def inverse(self, points: np.ndarray | torch.Tensor, epoch: int,
                space: str | None = None) -> np.ndarray:
        """π⁻¹ (Theorem 2): ``(n, 2)`` points -> ``(n, h)`` representations
        (``space="representation"``) or ``(n, *input_shape)`` inputs (``space="input"``, when
        the run kept inputs). Default: the space the distances were computed in."""
        epoch = self.check_epoch(epoch)
        space = self._space(space)
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        if not np.isfinite(pts).all():
            raise ValueError("points must be finite")
        out = to_numpy(self._inverse(epoch, space).decode(pts)).astype(np.float32)
        if space == "input":
            out = out.reshape(len(pts), *tuple(int(s) for s in self.run_.input_shape))
        return out

    @torch.no_grad()
    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        """``softmax(model(π⁻¹(points)))`` in the fit's space: ``(n, C)`` float32."""
        epoch = self.check_epoch(epoch)
        inv = self._inverse(epoch, self.space_)
        rows = inv.decode(np.asarray(points, np.float32).reshape(-1, 2))
        logits = self.logits_fn(epoch, self.space_)(rows.to(self.device_))
        return to_numpy(torch.softmax(logits.float(), dim=1)).astype(np.float32)

    @torch.no_grad()
    def transform(self, data: np.ndarray | torch.Tensor, epoch: int,
                  space: str | None = None) -> np.ndarray:
        """Place new rows of ``space`` (default the fit's) on epoch ``epoch``'s view: ``(n, 2)``.

        UMAP without its search index has no out-of-sample map, so a row lands at the
        inverse-square-distance weighted mean of the positions of its ``n_neighbors`` nearest
        recorded samples in the DiDi metric (found among ``widen * n_neighbors`` Euclidean
        candidates, with the fit's scales); a recorded sample lands on its own position.
        """
        from ..complex import knn
        from .didi import mix, pair_terms

        epoch = self.check_epoch(epoch)
        space = self._space(space)
        p = self.params_
        anchors = self.anchor_rows(epoch, space)
        x = np.asarray(data.cpu() if isinstance(data, torch.Tensor) else data, np.float32)
        x = x.reshape(len(x), -1)
        if x.shape[1] != anchors.shape[1]:
            raise ValueError(f"transform() expects (n, {anchors.shape[1]}) rows of the "
                             f"{space} space, got {tuple(np.shape(data))}")
        k = int(p["n_neighbors"])
        c = min(int(np.ceil(p["widen"] * k)), len(anchors))
        cand, _ = knn(anchors, c, query=x, method=p["knn_method"], device=self.device_)
        both = np.concatenate([anchors, x])
        rows = (len(anchors) + np.repeat(np.arange(len(x)), c)).astype(np.int64)
        logits = self.logits_fn(epoch, space)

        def proba(t: torch.Tensor) -> torch.Tensor:
            return torch.softmax(logits(t).float(), dim=1)

        js, eu = pair_terms(proba, both, rows, np.asarray(cand, np.int64).reshape(-1),
                            int(p["n_steps"]), device=self.device_)
        scales = self.scales_[epoch] if space == self.space_ else (1.0, 1.0)
        d = mix(js, eu, float(p["lam"]), *scales).reshape(len(x), c)
        order = np.argsort(d, axis=1)[:, :k]
        d = np.take_along_axis(d, order, 1)
        nbr = np.take_along_axis(np.asarray(cand), order, 1)
        w = 1.0 / np.maximum(d, 1e-12) ** 2
        w /= w.sum(axis=1, keepdims=True)
        pos = self.coords_[self.epochs_.index(epoch)][nbr]
        return (w[..., None] * pos).sum(axis=1).astype(np.float32)

    def anchor_rows(self, epoch: int, space: str) -> np.ndarray:
        """Every recorded sample as a row of ``space`` (flattened inputs for "input")."""
        if space == "representation":
            return self.all_representations(epoch)
        run = self.run_
        parts = [run.inputs("train")] + ([run.inputs("test")] if int(run.n_test) else [])
        if any(p is None for p in parts):
            raise ValueError("the run did not keep its inputs (save_inputs=False): no input space")
        return np.concatenate([np.asarray(p, np.float32).reshape(len(p), -1) for p in parts])

    # ---------------------------------------------------------------- results
    @torch.no_grad()
    def _epoch_scores(self, epoch: int) -> dict[str, float]:
        from ..metrics import evaluate_epoch, q_data, q_knn
        from ..pipeline import METRIC_KS, metric_rows

        idx = self.epochs_.index(epoch)
        run = self.run_
        n_train = int(run.n_train)
        reps = self.all_representations(epoch)
        coords = self.coords_[idx]
        pred = self.predictions(epoch)
        inv = self._inverse(epoch, self.space_)
        logits = self.logits_fn(epoch, self.space_)
        rec = torch.cat([logits(part.to(self.device_)).argmax(1).cpu()
                         for part in inv.decode(coords).split(4096)]).numpy()
        rng = subset_rng(int(self.params_.get("random_state", 0)))
        kw: dict[str, Any] = {}
        for split, sl in (("train", slice(0, n_train)), ("test", slice(n_train, len(reps)))):
            X, Y = reps[sl], coords[sl]
            if len(X) <= max(METRIC_KS):
                continue
            rows = metric_rows(rng, len(X))
            kw.update({f"X_{split}": X, f"Y_{split}": Y, f"rows_{split}": rows,
                       f"pred_{split}": pred[sl][rows], f"pred_{split}_rec": rec[sl][rows]})
        out = evaluate_epoch(ks=METRIC_KS, method=self.params_.get("knn_method", "auto"),
                             device=self.device_, **kw) if "X_train" in kw else {}
        out["q_knn"] = q_knn(coords, pred)
        out["q_data"] = q_data(pred, rec, self.fit_rows_)
        out["q_not_data"] = (q_data(pred, rec, self.held_rows_) if len(self.held_rows_)
                             else float("nan"))
        return out

    def score(self) -> pd.DataFrame:
        """Per-epoch measures as a DataFrame (index: epoch), the same columns as
        ``DVI.score()``: ``nn_pv_{k}_{split}``, ``boundary_pv_{k}_{split}`` (NaN: DeepView has
        no boundary points), ``ppr_{split}`` (predictions on x vs on π⁻¹(π(x)), on the same
        ``METRIC_ROWS`` rows per split as DVI), and DeepView's §5.1 measures ``q_knn``
        (leave-one-out 5-NN accuracy in 2-D against the model's predictions), ``q_data`` (the
        model agrees on π⁻¹(π(x)) and x, over the samples π⁻¹ was fitted on) and ``q_not_data``
        (the same over the held-out ``holdout`` share)."""
        from ..metrics import metrics_table

        for e in self.epochs_:
            if e not in self._scores:
                self._scores[e] = self._epoch_scores(e)
        return metrics_table({e: self._scores[e] for e in self.epochs_})

    def temporal_pv(self, k: int | None = None) -> dict[str, float]:
        """The temporal preserving property (DVI Eq. 4) of the fitted epochs, per split (see
        :meth:`dvi_widget.engine.embedding.DVIEmbedding.temporal_pv`)."""
        from ..metrics import joint_neighbours, neighbours
        from ..metrics import temporal_pv as eq4

        k = int(self.params_["n_neighbors"] if k is None else k)
        run, n_train = self.run_, int(self.run_.n_train)
        out = {"train": float("nan"), "test": float("nan")}
        if len(self.epochs_) < 3:
            return out
        train_nb, test_nb = [], []
        method = self.params_.get("knn_method", "auto")
        for e in self.epochs_:
            X = np.asarray(run.representations(e, "train"), np.float32)
            train_nb.append(neighbours(X, k, method=method, device=self.device_))
            if int(run.n_test):
                test_nb.append(joint_neighbours(
                    X, np.asarray(run.representations(e, "test"), np.float32), k,
                    method=method, device=self.device_))
        out["train"] = eq4(None, [c[:n_train] for c in self.coords_], k, neighbour_sets=train_nb)
        if test_nb:
            out["test"] = eq4(None, [c[n_train:] for c in self.coords_], k,
                              neighbour_sets=test_nb)
        return out

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401 - see find_events
        """Per-sample training events between consecutive fitted epochs
        (:func:`dvi_widget.engine.events.find_events`; no ``neighborhood`` kind: DeepView keeps
        no representation kNN per epoch)."""
        from ..events import find_events

        run = self.run_
        logits = []
        for e in self.epochs_:
            parts = [np.asarray(run.logits(e, "train"), np.float32)]
            if int(run.n_test):
                parts.append(np.asarray(run.logits(e, "test"), np.float32))
            logits.append(np.concatenate(parts))
        return find_events(self.epochs_, logits, self.coords_, self.extent_,
                           labels=np.asarray(run.labels("all")),
                           split=np.asarray(run.splits()), **thresholds)

    def visualization(self, inspector: Any = None) -> Visualization:  # noqa: ANN401
        """Everything the widget shows, for all fitted epochs, as a :class:`Visualization`
        (no boundary points: DeepView has none)."""
        from ..embedding import _scalars_and_images

        run = self.run_
        preds, conf = [], []
        for e in self.epochs_:
            parts = [np.asarray(run.logits(e, "train"), np.float32)]
            if int(run.n_test):
                parts.append(np.asarray(run.logits(e, "test"), np.float32))
            logits = np.concatenate(parts)
            preds.append(logits.argmax(axis=1))
            conf.append(softmax(logits, axis=1).max(axis=1))
        try:
            metrics = self.score()
        except Exception as err:  # noqa: BLE001 - metrics are optional in the view
            warnings.warn(f"DeepView metrics unavailable: {err}", stacklevel=2)
            metrics = None
        metadata = getattr(run, "metadata", None)
        scalars, images = _scalars_and_images(run)
        return Visualization(
            epochs=np.asarray(self.epochs_), coords=self.coords_, extent=self.extent_,
            landscape=self.landscape_, labels=np.asarray(run.labels("all")),
            predictions=np.stack(preds), confidence=np.stack(conf),
            split=np.asarray(run.splits()), class_names=list(run.class_names),
            palette=default_palette(int(run.n_classes)), boundary=None,
            metadata=metadata if isinstance(metadata, pd.DataFrame) else None, metrics=metrics,
            landscape_classes=self.landscape_classes_,
            landscape_confidence=self.landscape_confidence_, scalars=scalars, images=images,
            inspector=DeepViewInspector(self) if inspector is None else inspector)

    # ---------------------------------------------------------------- landscapes
    def render(self, epoch: int, extent: Sequence[float], size: int | tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The landscape ``model(π⁻¹(y))`` over ``extent``, shaded as DVI's
        (:func:`dvi_widget.engine.landscape.render_landscape`)."""
        from ..landscape import render_landscape

        inv = self._inverse(epoch, self.space_)
        return render_landscape(inv.decode, self.logits_fn(epoch, self.space_), extent,
                                size=size, palette=default_palette(int(self.run_.n_classes)),
                                delta=float(self.params_.get("delta", 0.1)),
                                device=self.device_, batch_size=4096)


class DeepViewInspector(EngineInspector):
    """The contract's ``Inspector`` (and ``Landscapes``) over a fitted DeepView: class
    probabilities ``softmax(model(π⁻¹(y)))`` anywhere in the view, the landscape re-rendered for
    a zoomed part of the frame, neighbours in representation space and training events."""

    decoder = "π⁻¹ → g_t"

    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        """``(n, 2)`` points -> ``(n, C)`` float32 ``softmax(model(π⁻¹(points)))``."""
        return self.fitted.probabilities(np.asarray(points, np.float32).reshape(-1, 2), epoch)

    def inverse(self, points: np.ndarray, epoch: int, space: str | None = None) -> np.ndarray:
        """π⁻¹ of ``points`` (see :meth:`DeepViewEmbedding.inverse`)."""
        return self.fitted.inverse(points, epoch, space)

    def landscape(self, epoch: int, extent: Sequence[float], shape: tuple[int, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The landscape over part of the frame (limits as
        :meth:`dvi_widget.engine.inspect.EngineInspector.landscape`)."""
        from ..inspect import landscape_region, remember

        fitted = self.fitted
        epoch = fitted.check_epoch(epoch)
        ext, (H, W) = landscape_region(fitted.extent_, extent, shape)
        key = (epoch, tuple(ext.tolist()), (H, W))
        if key in self._landscapes:
            self._landscapes.move_to_end(key)
            return self._landscapes[key]
        out = fitted.render(epoch, ext, (H, W))
        return remember(self._landscapes, key, out)
