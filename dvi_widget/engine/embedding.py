"""A fitted DVI: :class:`DVIEmbedding`, what ``DVI.fit`` and ``DVI.load`` leave behind.

Like openTSNE's ``TSNEEmbedding`` it holds the fitted epochs (positions, boundary points, the
visualization models V_t, the shared frame and the landscapes) and answers everything asked of
them afterwards: :meth:`~DVIEmbedding.transform` and :meth:`~DVIEmbedding.project` new samples,
:meth:`~DVIEmbedding.inverse` 2-D points, :meth:`~DVIEmbedding.score` the epochs (§6),
:meth:`~DVIEmbedding.visualization` for the widget and :meth:`~DVIEmbedding.events`.
:func:`assemble` builds it from the fitted epochs, computing the frame shared by all epochs and
rendering each epoch's landscape over it (re-rendered only when the frame or the epoch's model
changed). A :class:`dvi_widget.DVI` exposes all of it under the same names.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from .._checks import check_finite
from .._tensor import batched, to_numpy, to_tensor
from ..contract import Visualization, default_palette, square_extent
from .inspect import EngineInspector
from .mapping import EpochMap, snap_to_cells
from .model import VisModel
from .pipeline import (
    FIX_RUN,
    STAGES,
    FittedEpoch,
    Settings,
    Stages,
    decode,
    encode,
    epoch_metrics,
    metrics_key,
    predict,
)
from .store import FitStore

#: how far outside the frame :meth:`DVIEmbedding.inverse` decodes points, in frame widths:
#: ψ_t is trained on the layout inside the frame; far outside it extrapolates linearly to
#: representations that g_t classifies with a spurious certainty (or to NaN)
EXTENT_TOLERANCE = 1.0
#: inputs per forward pass of ``f_t`` in :meth:`DVIEmbedding.project`
FEATURE_BATCH = 1024


def load_model(store: FitStore, epoch: int, rep_dim: int, hidden: Any,  # noqa: ANN401
               device: torch.device) -> VisModel:
    """V_t of a finished epoch read from the fit folder, on ``device``, in eval mode."""
    model = VisModel(input_dim=int(rep_dim), hidden=hidden)
    model.load_state_dict(store.load_state(int(epoch), device))
    return model.to(device).eval()


def check_rows(name: str, arr: np.ndarray | torch.Tensor, width: int) -> np.ndarray:
    """A non-empty, finite ``(n, width)`` float32 copy of ``arr``, or a ``ValueError``."""
    a = to_numpy(arr) if isinstance(arr, torch.Tensor) else np.asarray(arr)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name} must be (n, {width}), got shape {a.shape}")
    if len(a) == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if np.iscomplexobj(a):
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = np.array(a, dtype=np.float32)  # a writable copy (memmaps are read-only)
    check_finite(a, name)
    return a


class DVIEmbedding:
    """The fitted epochs of a :class:`dvi_widget.DVI` and everything computed from them.

    Attributes (set by :func:`assemble`): ``run_``, ``store_``, ``device_``, ``a_``, ``b_``,
    ``params_hash_``, ``epochs_`` (list), ``coords_`` (T, N, 2), ``boundary_``,
    ``boundary_representations_`` and ``boundary_pairs_`` (per epoch), ``knn_`` (per epoch, the
    training samples' high-dimensional kNN), ``epoch_info_`` (per epoch, its json),
    ``n_steps_``, ``extent_`` (x0, x1, y0, y1), ``landscape_`` (T, H, W, 4),
    ``landscape_classes_``, ``landscape_confidence_``, ``timings_`` (DataFrame).
    """

    def __init__(self, run: Any, store: FitStore, settings: Settings,  # noqa: ANN401 - a Run
                 params_hash: str, stages: Stages = STAGES,
                 models: dict[int, VisModel] | None = None) -> None:
        self.run_ = run
        self.store_ = store
        self.settings = settings
        self.stages = stages
        self.device_ = settings.device
        self.a_, self.b_ = settings.a, settings.b
        self.params_hash_ = params_hash
        self._models: dict[int, VisModel] = dict(models or {})
        self._heads: dict[int, torch.nn.Module] = {}
        self.knn_: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"DVIEmbedding(epochs={getattr(self, 'epochs_', None)}, run={self.run_.path})"

    # ---------------------------------------------------------------- per-epoch pieces
    def check_epoch(self, epoch: int) -> int:
        """``epoch`` as an int, or a ``ValueError`` naming the fitted epochs."""
        if int(epoch) not in self.epochs_:
            raise ValueError(f"epoch={epoch!r} is not fitted; fitted epochs are {self.epochs_}")
        return int(epoch)

    def model(self, epoch: int) -> VisModel:
        """V_t = <φ_t, ψ_t> of a fitted epoch (read from the fit folder once)."""
        epoch = int(epoch)
        if self._models.get(epoch) is None:
            self._models[epoch] = load_model(self.store_, epoch, int(self.run_.rep_dim),
                                             self.settings.hidden, self.device_)
        return self._models[epoch].eval()

    def head(self, epoch: int) -> torch.nn.Module:
        """g_t, the classifier's head at ``epoch``, on the fit's device."""
        epoch = int(epoch)
        if epoch not in self._heads:
            self._heads[epoch] = self.run_.head(epoch, device=self.device_)
        return self._heads[epoch]

    def all_representations(self, epoch: int) -> np.ndarray:
        """Every sample's representation at ``epoch``: train then test rows, float32."""
        run = self.run_
        reps = np.array(run.representations(epoch, "train"), dtype=np.float32)
        if int(run.n_test):
            test = np.asarray(run.representations(epoch, "test"), dtype=np.float32)
            check_finite(test, f"run.representations({epoch}, 'test')", FIX_RUN)
            reps = np.concatenate([reps, test])
        return reps

    # ---------------------------------------------------------------- online use
    def transform(
        self, representations: np.ndarray | torch.Tensor, epoch: int, *,
        place: bool | None = None,
    ) -> np.ndarray:
        """Where ``(n, h)`` representations of epoch ``epoch`` land on its view: ``(n, 2)``.

        One map for every input (:class:`~dvi_widget.engine.mapping.EpochMap`): a recorded
        sample's representation returns the position it is drawn at; any other lands among the
        recorded samples g_t predicts as the same class (Shepard interpolation, continuous in
        the input while its prediction holds), on a landscape cell of its own prediction.
        ``place`` is deprecated and ignored (it chose between two maps; φ_t alone is
        :meth:`encode`).
        """
        if place is not None:
            warnings.warn("transform(place=...) is deprecated and ignored: every input is placed "
                          "by one map now (use encode() for the encoder φ_t alone)",
                          DeprecationWarning, stacklevel=2)
        epoch = self.check_epoch(epoch)
        reps = check_rows("representations", representations, int(self.run_.rep_dim))
        placed = self.epoch_map(epoch)(reps, predict(self.head(epoch), reps, self.device_))
        lost = ~np.isfinite(placed).all(axis=1)
        if lost.any():
            raise ValueError(
                f"{int(lost.sum())} of {len(reps)} representations (first row "
                f"{int(np.flatnonzero(lost)[0])}) lie too far from epoch {epoch}'s recorded "
                "ones to be placed (their distances overflow float32); check their scale.")
        return placed

    def encode(self, representations: np.ndarray | torch.Tensor, epoch: int) -> np.ndarray:
        """φ_t alone (the paper's parametric encoder, one forward pass): ``(n, 2)`` points.
        It is not what the view draws (it sits about ``phi_rms`` from the layout, saved per
        epoch in ``epoch_info_``); :meth:`transform` is."""
        epoch = self.check_epoch(epoch)
        reps = check_rows("representations", representations, int(self.run_.rep_dim))
        return encode(self.model(epoch), reps)

    def epoch_map(self, epoch: int) -> EpochMap:
        """The one map of a fitted epoch (built on first use; the last epoch asked is kept,
        its anchors are every recorded sample's representation)."""
        epoch = self.check_epoch(epoch)
        cached = getattr(self, "_epoch_map", None)
        if cached is None or cached[0] != epoch:
            idx = self.epochs_.index(epoch)
            anchors = self.all_representations(epoch)
            self._epoch_map = (epoch, EpochMap(
                anchors, self.coords_[idx], self.landscape_classes_[idx], self.extent_,
                anchor_classes=predict(self.head(epoch), anchors, self.device_),
                device=self.device_))
        return self._epoch_map[1]

    def project(
        self, data: np.ndarray | torch.Tensor, epoch: int, kind: str = "auto"
    ) -> np.ndarray:
        """Project new inputs (through ``run.feature_model``) or representations to 2-D.

        ``kind="auto"`` treats ``(n, h)`` arrays as representations and arrays shaped like the
        recorded inputs as inputs; pass ``kind="inputs"`` or ``"representations"`` to force.
        """
        epoch = self.check_epoch(epoch)
        if kind not in ("auto", "inputs", "representations"):
            raise ValueError(f'kind must be "auto", "inputs" or "representations", got {kind!r}')
        shape = tuple(np.shape(data))
        h = int(self.run_.rep_dim)
        input_shape = getattr(self.run_, "input_shape", None)
        is_reps = len(shape) == 2 and shape[1] == h
        is_inputs = input_shape is not None and shape[1:] == tuple(input_shape)
        if kind == "representations" or (kind == "auto" and is_reps and not is_inputs):
            return self.transform(data, epoch)
        if not is_inputs and kind == "auto":
            raise ValueError(f"project() got shape {shape}: expected (n, {h}) representations or "
                             f"(n, *{input_shape}) inputs")
        feature_model = self.run_.feature_model(epoch, device=self.device_)
        if feature_model is None:
            if is_reps:
                return self.transform(data, epoch)
            raise ValueError("project() got inputs but the run has no feature model for epoch "
                             f"{epoch} (record it with the model, or pass representations)")
        x = to_tensor(data, torch.device("cpu"))
        check_finite(x.numpy(), "inputs", FIX_RUN)
        reps = batched(lambda rows: feature_model(rows).reshape(len(rows), -1), x,
                       batch_size=FEATURE_BATCH, device=self.device_)
        return self.transform(reps, epoch)

    def _check_points(self, points: np.ndarray | torch.Tensor) -> np.ndarray:
        """``(n, 2)`` points no farther than ``EXTENT_TOLERANCE`` frame widths outside the
        frame, as float32."""
        pts = check_rows("points", points, 2)
        x0, x1, y0, y1 = (float(v) for v in self.extent_)
        margin = EXTENT_TOLERANCE * (x1 - x0)
        far = ((pts[:, 0] < x0 - margin) | (pts[:, 0] > x1 + margin)
               | (pts[:, 1] < y0 - margin) | (pts[:, 1] > y1 + margin))
        if far.any():
            first = pts[np.flatnonzero(far)[0]]
            raise ValueError(
                f"{int(far.sum())} of {len(pts)} points (first {first.tolist()}) lie outside the "
                f"view's extent [{x0:.4g}, {x1:.4g}] x [{y0:.4g}, {y1:.4g}] by more than "
                f"{EXTENT_TOLERANCE:g} frame width ({margin:.4g}); ψ_t is not defined that far "
                "from the layout it was trained on.")
        return pts

    def inverse_transform(self, points: np.ndarray | torch.Tensor, epoch: int) -> np.ndarray:
        """ψ_t: ``(n, 2)`` points -> ``(n, h)`` representations. Points more than
        ``EXTENT_TOLERANCE`` frame widths outside the view's extent are refused."""
        epoch = self.check_epoch(epoch)
        pts = self._check_points(points)
        return to_numpy(decode(self.model(epoch), pts)).astype(np.float32)

    def inverse(
        self, points: np.ndarray | torch.Tensor, epoch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """2-D points -> ``(representations (n, h), probabilities (n, C))``: ψ_t, softmax(g_t).
        Points more than ``EXTENT_TOLERANCE`` frame widths outside the view's extent are
        refused."""
        epoch = self.check_epoch(epoch)
        pts = self._check_points(points)
        reps = decode(self.model(epoch), pts)
        with torch.no_grad():
            probs = torch.softmax(self.head(epoch)(reps).float(), dim=1)
        return to_numpy(reps).astype(np.float32), to_numpy(probs).astype(np.float32)

    # ---------------------------------------------------------------- results
    def score(self, progress: bool = False) -> pd.DataFrame:
        """Per-epoch §6 metrics as a DataFrame (index: epoch; NaN where not applicable).

        Columns ``nn_pv_{k}_{split}`` (Eq. 1), ``boundary_pv_{k}_{split}`` (Eq. 2) for k = 10, 15,
        20 and split train / test, ``ppr_train``, ``ppr_test`` (see
        :func:`dvi_widget.engine.metrics.evaluate_epoch`), on a fixed random sample of
        ``METRIC_ROWS`` rows per split (:func:`dvi_widget.engine.pipeline.epoch_metrics`);
        and DeepView's ``q_knn``, ``q_data``, ``q_not_data`` (:meth:`_deepview_measures`), so
        that ``DeepView.score()`` has the same columns. Computed during fit
        (``compute_metrics=True``) or here on first call otherwise, and then kept in the fit
        folder (or the cache folder of a read-only run) for the fitted epoch and its drawn
        positions, so a reopened fit does not score again (1.3 s an epoch at 60k samples on 2
        CPU cores; ``progress`` shows a bar over the epochs scored here). The temporal property
        (Eq. 4) spans all epochs: :meth:`temporal_pv`.
        """
        from tqdm.auto import tqdm

        from .metrics import metrics_table

        n_train = int(self.run_.n_train)
        found: dict[int, dict[str, float] | None] = {}
        keys: dict[int, str] = {}
        for idx, e in enumerate(self.epochs_):
            metrics = {k: v for k, v in (self.epoch_info_[e].get("metrics") or {}).items()
                       if not k.startswith("temporal")}  # fits of version 0.1 scored it here
            if not metrics:  # scored once per fitted epoch and drawn positions, then cached
                keys[e] = metrics_key(self.coords_[idx], self.boundary_[idx], self.settings)
                metrics = self.store_.load_metrics(e, keys[e])
            found[e] = metrics
        missing = [(idx, e) for idx, e in enumerate(self.epochs_) if found[e] is None]
        for idx, e in tqdm(missing, desc="DVI scores", unit="epoch",
                           disable=not (progress and missing)):
            found[e] = epoch_metrics(
                self.all_representations(e), n_train, self.coords_[idx], self.model(e),
                self.head(e), self.boundary_representations_[idx], self.boundary_[idx],
                self.settings)
            with contextlib.suppress(OSError):  # no writable place: scored again next time
                self.store_.save_metrics(e, keys[e], found[e])
        per_epoch = {}
        for idx, e in enumerate(self.epochs_):
            metrics = found[e]
            self.epoch_info_[e]["metrics"] = metrics
            per_epoch[e] = {**metrics, **self._deepview_measures(idx, e, metrics)}
        return metrics_table(per_epoch)

    def _deepview_measures(self, idx: int, epoch: int, metrics: dict[str, float]
                           ) -> dict[str, float]:
        """DeepView's §5.1 measures for DVI, so both engines' scores share their columns:
        ``q_knn`` (leave-one-out 5-NN accuracy of the drawn positions against g_t's
        predictions, all samples), and ``q_data`` / ``q_not_data``: the agreement of
        g_t(ψ_t(y)) at each drawn position with g_t(x), over the samples ψ_t was fitted on (the
        training split) and over held-out ones (the test split) — that is DVI's PPR per split,
        reused as is (same rows)."""
        from .metrics import q_knn

        run = self.run_
        logits = [np.asarray(run.logits(epoch, "train"), dtype=np.float32)]
        if int(run.n_test):
            logits.append(np.asarray(run.logits(epoch, "test"), dtype=np.float32))
        pred = np.concatenate(logits).argmax(axis=1)
        return {"q_knn": q_knn(self.coords_[idx], pred),
                "q_data": float(metrics.get("ppr_train", float("nan"))),
                "q_not_data": float(metrics.get("ppr_test", float("nan")))}

    def temporal_pv(self, k: int | None = None) -> dict[str, float]:
        """The temporal preserving property (DVI Eq. 4) of the fitted epochs, per split.

        Per sample, the Pearson correlation over consecutive epoch pairs between its
        k-neighbourhood overlap (Eq. 11; a test sample's neighbours searched among train ∪ test)
        and its 2-D move; then the mean over samples
        (:func:`dvi_widget.engine.metrics.temporal_pv`). ``k`` defaults to ``n_neighbors``.
        Returns ``{"train": r, "test": r}`` (NaN with fewer than 3 epochs or no test split).
        """
        from .metrics import joint_neighbours, neighbours
        from .metrics import temporal_pv as eq4

        s = self.settings
        k = int(s.n_neighbors if k is None else k)
        run, n_train = self.run_, int(self.run_.n_train)
        out = {"train": float("nan"), "test": float("nan")}
        if len(self.epochs_) < 3:
            return out
        train_nb, test_nb = [], []
        for e in self.epochs_:
            X = np.asarray(run.representations(e, "train"), dtype=np.float32)
            stored = self.knn_.get(e)
            train_nb.append(stored[:, :k] if stored is not None and stored.shape[1] >= k
                            else neighbours(X, k, method=s.knn_method, device=self.device_))
            if int(run.n_test):
                test_nb.append(joint_neighbours(
                    X, np.asarray(run.representations(e, "test"), dtype=np.float32), k,
                    method=s.knn_method, device=self.device_))
        out["train"] = eq4(None, [c[:n_train] for c in self.coords_], k, neighbour_sets=train_nb)
        if test_nb:
            out["test"] = eq4(None, [c[n_train:] for c in self.coords_], k,
                              neighbour_sets=test_nb)
        return out

    def visualization(self, inspector: Any = None,  # noqa: ANN401
                      progress: bool = False) -> Visualization:
        """Everything the widget shows, for all fitted epochs, as a :class:`Visualization`;
        ``inspector`` answers the view's live questions (default :class:`EngineInspector`);
        ``progress``: a bar while epochs are scored (:meth:`score`)."""
        run = self.run_
        preds, conf = [], []
        for e in self.epochs_:
            logits = np.concatenate([np.asarray(run.logits(e, "train"), dtype=np.float32)] + (
                [np.asarray(run.logits(e, "test"), dtype=np.float32)] if int(run.n_test) else []))
            preds.append(logits.argmax(axis=1))
            conf.append(softmax(logits, axis=1).max(axis=1))
        sizes = [len(b) for b in self.boundary_]
        n_b = min(sizes) if sizes else 0
        boundary = np.stack([b[:n_b] for b in self.boundary_]) if n_b > 0 else None
        metadata = getattr(run, "metadata", None)
        try:
            metrics = self.score(progress=progress)
        except Exception as err:  # noqa: BLE001 - metrics are optional in the view
            warnings.warn(f"DVI metrics unavailable: {err}", stacklevel=2)
            metrics = None
        scalars, images = _scalars_and_images(run)
        return Visualization(
            epochs=np.asarray(self.epochs_), coords=self.coords_, extent=self.extent_,
            landscape=self.landscape_, labels=np.asarray(run.labels("all")),
            predictions=np.stack(preds), confidence=np.stack(conf), split=np.asarray(run.splits()),
            class_names=list(run.class_names), palette=default_palette(int(run.n_classes)),
            boundary=boundary, metadata=metadata if isinstance(metadata, pd.DataFrame) else None,
            metrics=metrics, landscape_classes=self.landscape_classes_,
            landscape_confidence=self.landscape_confidence_, scalars=scalars, images=images,
            inspector=EngineInspector(self) if inspector is None else inspector,
        )

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401 - see find_events
        """Per-sample, per-epoch training events (prediction flips, confidence jumps, far
        moves, changed neighbourhoods, boundary crossings) with their sizes; thresholds
        ``confidence_jump``, ``move``, ``neighborhood_change``, ``kinds``: see
        :func:`dvi_widget.engine.events.find_events`."""
        from .events import dvi_events

        return dvi_events(self, **thresholds)


def _scalars_and_images(run: Any) -> tuple[pd.DataFrame | None, Any]:  # noqa: ANN401 - a Run
    """The run's training curves, and its inputs as lazily converted images when they are
    image-shaped."""
    from ..data.images import ImageArray, image_layout

    scalars = run.scalars() if hasattr(run, "scalars") else None
    images = None
    shape = getattr(run, "input_shape", None)
    if shape is not None and image_layout(shape) is not None:
        parts = [run.inputs("train")] + ([run.inputs("test")] if int(run.n_test) else [])
        if all(p is not None for p in parts):
            images = ImageArray(*parts)
    return scalars, images


def _on_cells(run: Any, epoch: int, coords: np.ndarray, cell_classes: np.ndarray,  # noqa: ANN401
              extent: np.ndarray) -> np.ndarray:
    """The recorded samples as drawn: each on a landscape cell of the class g_t predicts for it.
    The fit already put them where ψ_t decodes their prediction (training samples settled, test
    samples placed and settled); a point that is there yet whose *cell* (decoded at its centre,
    at the landscape's resolution) shows another class, or that could not be settled, moves to
    the centre of the nearest cell of its class, where both the cell and ψ_t show it
    (:func:`dvi_widget.engine.mapping.snap_to_cells`, the one map's last step for new inputs
    too). A few of each epoch's samples, mostly memorised flipped labels on an island smaller
    than a cell; the saved arrays keep the fit's positions (warm starts read those) and this is
    redone, identically, on every load."""
    parts = [run.predictions(epoch, "train")]
    if int(run.n_test):
        parts.append(run.predictions(epoch, "test"))
    pred = np.concatenate(parts)
    if len(pred) != len(coords):  # pragma: no cover - a run and its fit disagree
        return coords
    return snap_to_cells(coords, pred, cell_classes, extent, inset=0.5)


def assemble(run: Any, store: FitStore, settings: Settings, params_hash: str,  # noqa: ANN401
             fitted: dict[int, FittedEpoch], stages: Stages = STAGES) -> DVIEmbedding:
    """The fitted state of the epochs in ``fitted``: their arrays, the frame shared by all of
    them and each epoch's landscape over it.

    A landscape is re-rendered only when the frame or that epoch's model changed; the frame
    json is rewritten only when it changed (a read-only fit loads without writing).
    """
    emb = DVIEmbedding(run, store, settings, params_hash, stages,
                       models={e: f.model for e, f in fitted.items() if f.model is not None})
    epochs = sorted(fitted)
    infos = {e: fitted[e].info for e in epochs}
    emb.epochs_ = epochs
    emb.coords_ = np.stack([fitted[e].arrays["coords"] for e in epochs]).astype(np.float32)
    emb.boundary_ = [fitted[e].arrays["boundary_2d"] for e in epochs]
    emb.boundary_representations_ = [fitted[e].arrays["boundary_representations"]
                                     for e in epochs]
    emb.boundary_pairs_ = [fitted[e].arrays["boundary_pairs"] for e in epochs]
    emb.knn_ = {e: fitted[e].arrays["knn"] for e in epochs}
    emb.epoch_info_ = infos
    emb.n_steps_ = {e: infos[e]["steps"] for e in epochs}
    s = settings
    extent = square_extent(emb.coords_, s.extent_margin, s.extent_quantile)
    frame = {"extent": extent.tolist(), "epochs": list(epochs), "grid_size": s.grid_size,
             "delta": s.delta, "params_hash": params_hash,
             "epoch_hashes": {str(e): infos[e]["params_hash"] for e in epochs}}
    old = store.load_frame()
    same_frame = (
        old.get("grid_size") == s.grid_size and old.get("delta") == s.delta
        and old.get("params_hash") == params_hash
        and np.allclose(old.get("extent", [np.nan] * 4), extent, rtol=0, atol=1e-9)
    )
    landscape_times = dict(old.get("landscape_seconds", {})) if same_frame else {}
    rendered_with = dict(old.get("rendered_with", {})) if same_frame else {}
    palette = default_palette(int(run.n_classes))
    rgba, classes, conf = [], [], []
    for e in epochs:
        # an epoch's landscape is reusable when the frame and that epoch's model are the same
        cached = (store.load_landscape(e) if same_frame
                  and rendered_with.get(str(e)) == infos[e].get("final_loss") else None)
        if cached is None:
            t0 = time.perf_counter()
            img, cls, cf = stages.landscape(emb.model(e), emb.head(e), extent, palette, s)
            landscape_times[str(e)] = time.perf_counter() - t0
            rendered_with[str(e)] = infos[e].get("final_loss")
            store.save_landscape(e, img, cls, cf)
        else:
            img, cls, cf = cached["rgba"], cached["classes"], cached["confidence"]
        rgba.append(img)
        classes.append(cls)
        conf.append(cf)
    frame["landscape_seconds"] = landscape_times
    frame["rendered_with"] = rendered_with
    store.save_frame(frame)
    emb.coords_ = np.stack([_on_cells(run, e, emb.coords_[t], classes[t], extent)
                            for t, e in enumerate(epochs)])
    emb.extent_ = extent
    emb.landscape_ = np.stack(rgba)
    emb.landscape_classes_ = np.stack(classes)
    emb.landscape_confidence_ = np.stack(conf)
    emb.timings_ = pd.DataFrame([
        {"epoch": e, **infos[e].get("timings", {}), "steps": infos[e]["steps"],
         "landscape": landscape_times.get(str(e), float("nan"))} for e in epochs
    ]).set_index("epoch")
    return emb
