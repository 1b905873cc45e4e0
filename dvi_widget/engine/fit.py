"""Fit DeepVisualInsight to a recorded run, epoch by epoch: the :class:`DVI` estimator.

Per epoch t (DVI §5): boundary samples B_t (§5.1) -> (k)-BAVR complex over X_t ∪ B_t (§5.2) ->
gradient weights of Eq. 9 -> the layout Y_t of the complex -> the visualization model
V_t = <φ_t, ψ_t>, warm-started from V_{t-1} -> 2-D coordinates of every train and test sample
and of B_t -> metrics (§6). After all epochs: one square frame shared by all epochs and a
decision landscape per epoch.

How Eq. 12's three terms are optimised here (measured on Fashion-MNIST 10k × 512 on 2 CPU cores;
``benchmarks/bench_engine.py``):

- **Neighbours (UMAP loss, §5.2)** are optimised on free 2-D positions of X ∪ B — a full-graph,
  umap-learn-style layout (:mod:`dvi_widget.engine.layout`, about two seconds) — and φ_t is then
  trained to reproduce those positions. Parametric UMAP through a 512-d MLP with a few hundred
  mini-batches per epoch, as in the paper, reached nn_pv(15) ≈ 0.22 where UMAP reaches 0.37;
  the layout reaches 0.35–0.37. Training samples and boundary points are *shown at the layout*.
- **Test and new samples** are placed against the epoch's fixed layout as UMAP's ``transform``
  places them (:func:`dvi_widget.engine.layout.place_points`), with the edges they would have in
  the complex: test samples during the fit and any new sample in :meth:`DVI.transform` /
  :meth:`DVI.project` go through the same procedure. φ_t alone placed test samples about a
  neighbourhood's radius off (test nn_pv(15) 0.15 against UMAP.transform's 0.26; placed, 0.28–0.31).
- **Inverse projection (Eq. 8–9)**: ψ_t reconstructs X ∪ B from their layout positions with the
  gradient weights, plus a prediction term (``prediction_weight``: KL from g(x) to g(ψ(y)) and
  cross-entropy to g's class, at the layout) that targets PPR directly; a quarter of each batch
  revisits samples ψ still decodes as another class, and the decoder sees local detail features
  of y (:class:`dvi_widget.engine.model.LocalFourierFeatures`).
- **Temporal continuity (§5.4)**: the layout of epoch t starts from epoch t−1's positions and
  each sample moves with a step scaled by its *mobility* — near 0 when it kept its
  k-neighbourhood (Eq. 11) and its prediction, 1 when it lost 47.5 % of it
  (:func:`dvi_widget.engine.layout.temporal_mobility`). A plain warm start re-optimises every
  position and moves stable samples by SGD noise alone (median 0.15 units between epochs for
  samples that kept ≥ 90 % of their neighbours; Eq. 4 −0.20). V_t is warm-started from V_{t-1}
  and Eq. 10's weight drift (with the mean ``eval_sem``) keeps φ and ψ close to the previous ones.

Choices the paper leaves open, made here:

- ``boundary_edge_weight`` scales the sample–boundary memberships (reference: 1.0, which halves
  each sample's pull towards its own neighbours) and ``separation`` scales edges that join
  different predicted classes (like umap-learn's supervised mode), so that ψ's landscape around
  a sample shows the class g predicts for it;
- representations are standardised inside the model (mean, overall RMS), and Eq. 8 is taken on
  that scale, so λ2 means the same whatever the scale of a layer's activations;
- the learning rate (Adam, 0.01 as in the paper) is divided by 10 at the first plateau of the
  loss instead of every 8 epochs; the second plateau stops training. Everything stays on the
  device as tensors; a training step is one batch of vertices, no data loader.

On disk (the run's ``dvi/`` folder, owned by :mod:`dvi_widget.engine.store`) one set of files per
finished epoch, the shared frame and the landscapes. ``fit(run, resume=True)`` reuses every epoch
fitted with the same parameters after the same previous epoch from the run's current recording of
it, so an interrupted fit continues after the last finished epoch; results pass from one epoch to
the next in memory. The frame depends on all epochs, so it and the landscapes are recomputed at
the end of a fit whenever the extent (or the set of epochs) changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._checks import check_finite
from .._tensor import DeviceLike, resolve_device, to_numpy, to_tensor
from ..contract import square_extent
from . import losses
from .layout import temporal_mobility
from .model import VisModel
from .store import FitStore, fingerprint, matches_run
from .train import train_vis_model

#: parameters that do not change the fitted visualization models (left out of the hash)
_UNHASHED = frozenset({"verbose", "device", "compute_metrics", "grid_size", "extent_quantile",
                       "extent_margin"})
#: what ``DVI.load`` does when the run was re-recorded under the fit
ON_STALE = ("error", "warn", "refit")
#: neighbourhood sizes of the evaluation (DVI §6)
METRIC_KS = (10, 15, 20)
#: SGD epochs of the placement of test and new samples (umap-learn's transform: 100)
PLACE_ITERS = 100
#: samples placed at once (bounds the (chunk, neighbours, 2) tensors of the placement)
PLACE_CHUNK = 8192
#: rows per split scored during fit (a fixed random sample; all rows below this)
METRIC_ROWS = 1000
#: a warm epoch's training budget ends before any plateau decays the learning rate, so it
#: decays to this share of it over the budget instead (see :func:`train_vis_model`)
WARM_ANNEAL = 0.3
ERR_NOT_FITTED = "This DVI instance is not fitted yet; call fit(run) or DVI.load(run) first."


class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted :class:`DVI` (like scikit-learn's)."""


class StaleFitError(ValueError):
    """The run was re-recorded (or lost epochs) after the fit saved in it was made."""


#: the fix named when a run holds NaN or Inf
_FIX_RUN = "check the recorded run (a diverged model?) before fitting"


@dataclass
class _FittedEpoch:
    """One fitted epoch as the fit holds it in memory (see :mod:`dvi_widget.engine.store`)."""

    info: dict[str, Any]
    #: coords, boundary_2d, boundary_representations, boundary_pairs, knn
    arrays: dict[str, np.ndarray]


# ------------------------------------------------------------------------------ estimator
class DVI:
    """DeepVisualInsight: per-epoch 2-D projection and decision landscape of a recorded run.

    Parameters
    ----------
    n_neighbors : int, default 15
        k of the (k)-BAVR complex (§5.2) and of ``eval_sem`` (Eq. 11).
    boundary_ratio : float, default 0.1
        Boundary samples per epoch as a share of the training samples (§6: 0.1 N).
    boundary_edge_weight : float, default 0.3
        Scale of the sample–boundary memberships of the complex (relation (b) of Def. 3). At
        1.0, as in the reference code, half of each sample's attraction goes to boundary points,
        and neighbour preservation drops (Fashion-MNIST 10k, epoch 0, layout of the complex:
        nn_pv(15) 0.29 at 1.0, 0.35 at 0.3, 0.37 at 0.1; boundary_pv(15) 0.61, 0.58, 0.52).
    delta : float, default 0.1
        δ of the δ-boundary (Def. 2), for synthesis and for the white landscape cells.
    hidden : int | sequence of int | None, default None
        Hidden widths of the encoder (decoder mirrored); None is the paper's ``[h/2] * 4``
        capped at 128 units (see :data:`dvi_widget.model.MAX_DEFAULT_WIDTH`).
    lambdas : (float, float, float), default (1.0, 1.0, 0.3)
        Weights of Eq. 12: λ1 of φ's fit to the UMAP layout, λ2 of the reconstruction (Eq. 8),
        λ3 of Eq. 10's weight drift; λ3 = 0 also turns off the layout's temporal mobility.
    prediction_weight : float, default 1.0
        Weight of the prediction term added to Eq. 8 (KL from g(x) to g(ψ(y)) plus the
        cross-entropy of g(ψ(y)) against g's class for x); 0 is the paper.
    separation : float, default 0.01
        Scale of complex edges joining different predicted classes (1.0 is the paper). Keeps
        each predicted class together in the layout, so the landscape under a sample shows its
        predicted class (PPR).
    beta : float, default 1.0
        Exponent of the gradient weights (Eq. 8).
    min_dist, spread : float, default 0.1, 1.0
        UMAP curve parameters; ``a, b`` are fitted from them.
    negative_sample_rate : int, default 5
        Negative pairs per sampled edge.
    batch_size : int, default 1024
        Vertices per training step of V_t (at most a quarter of X ∪ B).
    learning_rate : float, default 0.01
        Adam's initial learning rate (§6); divided by 10 at the first plateau.
    max_steps : int, default 800
        Step budget of V_t for the first fitted epoch (cold start).
    warm_max_steps : int, default 100
        Step budget of warm-started epochs (V_{t-1}'s weights, a layout that barely moved;
        Fashion-MNIST 10k: PPR 0.96–0.99 after 100 steps), over which the learning rate decays
        to ``WARM_ANNEAL`` of its start. Both budgets are capped at 100 passes over X ∪ B. Every
        fit ends with the weights, among those seen at the checks (every ``check_every`` steps
        and after the last), that decode the fewest training samples as another class than g's:
        the last steps at a high rate move PPR by up to ±0.015 (Fashion-MNIST 10k, epochs 1–4,
        PPR train of the last step / annealed / annealed and the best check: 0.968 / 0.972 /
        0.972, 0.976 / 0.980 / 0.980, 0.953 / 0.947 / 0.972).
    check_every, patience, tol : int, int, float, default 20, 3, 0.003
        Early stopping: every ``check_every`` steps the mean loss of the window must improve on
        the best by a relative ``tol``; after ``patience`` windows without that the learning rate
        decays once, and after ``patience`` more training stops.
    boundary_steps : int, default 8
        Bisection steps of the boundary synthesis.
    layout_iters, warm_layout_iters : int, default 500, 150
        Epochs of the layout (:mod:`dvi_widget.engine.layout`) for the cold start (from PCA;
        umap-learn's 500 for up to 10,000 samples: Fashion-MNIST 10k nn_pv(15) 0.375 after
        500, 0.365 after 200) and at most for warm-started epochs (from the previous positions;
        fewer, down to 40 %, when few samples are mobile).
    knn_method : {"auto", "exact", "nndescent"}, default "auto"
    grid_size : int, default 256
        Landscape cells per side.
    extent_quantile, extent_margin : float, default 0.001, 0.1
        The shared frame covers the per-axis ``[q, 1-q]`` quantiles of all coordinates of all
        epochs, squared and padded by the margin.
    compute_metrics : bool, default False
        Score each epoch during fit (nn_pv, boundary_pv, PPR; §6) on a fixed random sample of
        ``METRIC_ROWS`` rows per split. By default the scores are computed on the first call of
        :meth:`score` (or :meth:`visualization`) instead, so that fitting does only fitting
        (scoring was 0.4 s of a 7 s warm epoch at 10k samples, 12.5 s of 40 s at 60k). Eq. 4
        spans all epochs (:meth:`DVI.temporal_pv`).
    device : str, default "auto"
        "auto" is CUDA when available, else the CPU.
    random_state : int, default 0
        Seeds model initialisation, sampling and boundary synthesis (per epoch), so a fit on the
        CPU is deterministic and a resumed fit equals an uninterrupted one.
    verbose : bool, default True
        Show a progress bar over epochs.

    Examples
    --------
    >>> dvi = DVI().fit(run)
    >>> Widget(dvi.visualization())
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        boundary_ratio: float = 0.1,
        boundary_edge_weight: float = 0.3,
        delta: float = 0.1,
        hidden: int | Sequence[int] | None = None,
        lambdas: tuple[float, float, float] = (1.0, 1.0, 0.3),
        prediction_weight: float = 1.0,
        separation: float = 0.01,
        beta: float = 1.0,
        min_dist: float = 0.1,
        spread: float = 1.0,
        negative_sample_rate: int = 5,
        batch_size: int = 1024,
        learning_rate: float = 0.01,
        max_steps: int = 800,
        warm_max_steps: int = 100,
        check_every: int = 20,
        patience: int = 3,
        tol: float = 0.003,
        boundary_steps: int = 8,
        layout_iters: int = 500,
        warm_layout_iters: int = 150,
        knn_method: str = "auto",
        grid_size: int = 256,
        extent_quantile: float = 0.001,
        extent_margin: float = 0.1,
        compute_metrics: bool = False,
        device: DeviceLike = "auto",
        random_state: int = 0,
        verbose: bool = True,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.boundary_ratio = boundary_ratio
        self.boundary_edge_weight = boundary_edge_weight
        self.delta = delta
        self.hidden = hidden
        self.lambdas = lambdas
        self.prediction_weight = prediction_weight
        self.separation = separation
        self.beta = beta
        self.min_dist = min_dist
        self.spread = spread
        self.negative_sample_rate = negative_sample_rate
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_steps = max_steps
        self.warm_max_steps = warm_max_steps
        self.check_every = check_every
        self.patience = patience
        self.tol = tol
        self.boundary_steps = boundary_steps
        self.layout_iters = layout_iters
        self.warm_layout_iters = warm_layout_iters
        self.knn_method = knn_method
        self.grid_size = grid_size
        self.extent_quantile = extent_quantile
        self.extent_margin = extent_margin
        self.compute_metrics = compute_metrics
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -------------------------------------------------------------------- parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name (scikit-learn style)."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params: Any) -> DVI:  # noqa: ANN401 - any parameter value
        """Set constructor arguments by name; returns self."""
        for name, value in params.items():
            if name not in _PARAM_NAMES:
                raise ValueError(f"unknown parameter {name!r}; valid: {sorted(_PARAM_NAMES)}")
            setattr(self, name, value)
        return self

    def _params_hash(self) -> str:
        params = {k: v for k, v in self.get_params().items() if k not in _UNHASHED}
        params["hidden"] = None if self.hidden is None else (
            self.hidden if isinstance(self.hidden, int) else list(self.hidden))
        params["lambdas"] = list(self.lambdas)
        text = json.dumps(params, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def _validate_params(self) -> None:
        """Check every parameter before any work; errors name it, say what it must be and,
        for ``grid_size``, what it would cost."""

        def fail(name: str, what: str) -> None:
            raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        def is_int(v: object) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        def is_real(v: object) -> bool:
            return (isinstance(v, int | float | np.integer | np.floating)
                    and not isinstance(v, bool) and bool(np.isfinite(v)))

        def integer(name: str, lo: int) -> None:
            v = getattr(self, name)
            if not (is_int(v) and v >= lo):
                fail(name, f"an int >= {lo}")

        def real(name: str, lo: float, hi: float = np.inf, lo_open: bool = False,
                 hi_open: bool = False) -> None:
            v = getattr(self, name)
            inside = is_real(v) and (v > lo if lo_open else v >= lo) and (
                v < hi if hi_open else v <= hi)
            if not inside:
                what = (f"{'>' if lo_open else '>='} {lo}" if hi == np.inf else
                        f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")
                fail(name, f"a finite number {what}")

        integer("n_neighbors", 2)
        real("boundary_ratio", 0, 10)
        real("boundary_edge_weight", 0, 1)
        real("delta", 0, 1, hi_open=True)
        try:
            lambdas = tuple(self.lambdas)
        except TypeError:
            lambdas = ()
        if len(lambdas) != 3 or not all(is_real(v) and v >= 0 for v in lambdas):
            fail("lambdas", "three finite non-negative weights (λ1, λ2, λ3)")
        real("beta", 0)
        real("prediction_weight", 0)
        real("separation", 0, 1)
        real("spread", 0, lo_open=True)  # before min_dist, whose range depends on it
        real("min_dist", 0, 3 * self.spread, hi_open=True)
        integer("negative_sample_rate", 1)
        for name in ("batch_size", "max_steps", "warm_max_steps", "check_every", "patience",
                     "boundary_steps", "grid_size"):
            integer(name, 1)
        for name in ("layout_iters", "warm_layout_iters"):
            integer(name, 0)
        # the landscape keeps RGBA (4 bytes), class (2) and confidence (4) per cell per epoch
        max_grid, cell_bytes = 2048, 10
        if self.grid_size > max_grid:
            gib = self.grid_size**2 * cell_bytes / 2**30
            fail("grid_size", f"at most {max_grid} (default 256): {self.grid_size}² cells "
                              f"would take {gib:,.1f} GiB per epoch ({cell_bytes} bytes a cell)")
        hidden = self.hidden
        if not (hidden is None or (type(hidden) is int and hidden >= 1) or (
                isinstance(hidden, Sequence) and len(hidden) > 0
                and all(is_int(v) and v >= 1 for v in hidden))):
            fail("hidden", "None, an int >= 1 or a non-empty sequence of ints >= 1")
        real("learning_rate", 0, lo_open=True)
        real("tol", 0)
        if self.knn_method not in ("auto", "exact", "nndescent"):
            fail("knn_method", 'one of "auto", "exact", "nndescent"')
        real("extent_quantile", 0, 0.5, hi_open=True)
        real("extent_margin", 0)
        integer("random_state", 0)

    # -------------------------------------------------------------------- fit
    def fit(
        self,
        run: Any,  # noqa: ANN401 - a dvi_widget.Run
        epochs: Sequence[int] | None = None,
        resume: bool = True,
        cache_dir: str | os.PathLike | None = None,
    ) -> DVI:
        """Fit one visualization model per epoch of ``run`` (DVI §5), saving each as it finishes.

        Parameters
        ----------
        run : dvi_widget.Run
            The recorded run (representations, logits and heads per epoch).
        epochs : sequence of int, optional
            Epochs to fit (default all recorded ones), fitted in chronological order; epoch t is
            warm-started from the previous epoch of this list.
        resume : bool, default True
            Reuse epochs already saved in the run's ``dvi/`` folder with the same parameters, the
            same previous epoch and the same recording of the epoch; False refits everything.
        cache_dir : path, optional
            Where the frame and landscapes go if the fit folder later becomes read-only (see
            :class:`dvi_widget.engine.store.FitStore`).

        Returns
        -------
        self
        """
        self._validate_params()
        dev = resolve_device(self.device)
        all_epochs = [int(e) for e in getattr(run, "epochs", [])]
        if not all_epochs:
            raise ValueError(f"run at {getattr(run, 'path', '?')} has no recorded epochs; record "
                             "at least one with run.record(model, epoch) before fitting.")
        if epochs is None:
            chosen = sorted(all_epochs)
        else:
            chosen = sorted({int(e) for e in epochs})
            missing = [e for e in chosen if e not in all_epochs]
            if missing or not chosen:
                raise ValueError(f"epochs={list(epochs)!r}: {missing or 'none'} not recorded; "
                                 f"recorded epochs are {sorted(all_epochs)}")
        n_train = int(run.n_train)
        if n_train <= self.n_neighbors:
            raise ValueError(f"the run has {n_train} training samples but n_neighbors="
                             f"{self.n_neighbors}; need more samples than neighbours (lower "
                             "n_neighbors or record more samples).")
        self._start(run, dev, FitStore(run.path, cache_dir))
        self.store_.prepare()

        from tqdm.auto import tqdm

        fitted: dict[int, _FittedEpoch] = {}
        prev_epoch: int | None = None
        chain_ok = resume
        bar = tqdm(chosen, desc="DVI", unit="epoch", disable=not self.verbose)
        try:
            for epoch in bar:
                if chain_ok and self.store_.is_finished(epoch, self.params_hash_, prev_epoch,
                                                        run):
                    fitted[epoch] = self._reuse(epoch)
                    bar.set_postfix_str(f"epoch {epoch}: reused")
                else:
                    chain_ok = False
                    prev = fitted.get(prev_epoch) if prev_epoch is not None else None
                    fitted[epoch] = self._fit_epoch(run, epoch, prev_epoch, prev)
                    info = fitted[epoch].info
                    bar.set_postfix_str(f"epoch {epoch}: {info['steps']} steps, "
                                        f"{info['timings']['total']:.1f}s")
                prev_epoch = epoch
        except KeyboardInterrupt:
            warnings.warn(f"DVI.fit interrupted; finished epochs {sorted(fitted)} are saved under "
                          f"{self.store_.folder}. Call fit(run) again to continue from there.",
                          stacklevel=2)
            if fitted:
                self._finalize(run, fitted)
            raise
        except BaseException:
            self.store_.release()  # store.py: a failed fit leaves the fit folder to the next
            raise
        finally:
            bar.close()
        self._finalize(run, fitted)
        return self

    def _start(self, run: Any, device: torch.device, store: FitStore) -> None:  # noqa: ANN401
        """Set the attributes shared by :meth:`fit` and :meth:`load`."""
        self.run_ = run
        self.device_ = device
        self.store_ = store
        self.a_, self.b_ = losses.find_ab_params(self.spread, self.min_dist)
        self.params_hash_ = self._params_hash()
        self._models: dict[int, VisModel] = {}
        self._heads: dict[int, torch.nn.Module] = {}

    def _reuse(self, epoch: int) -> _FittedEpoch:
        """A finished epoch read back from the fit folder."""
        info = self.store_.info(epoch)
        if info is None:
            raise FileNotFoundError(f"the json of fitted epoch {epoch} under "
                                    f"{self.store_.folder} vanished; refit with DVI().fit(run)")
        return _FittedEpoch(info=info, arrays=self.store_.load_arrays(epoch))

    def _seed(self, epoch: int) -> int:
        return (int(self.random_state) * 1_000_003 + int(epoch)) % (2**31 - 1)

    def _fit_epoch(
        self,
        run: Any,  # noqa: ANN401 - a dvi_widget.Run
        epoch: int,
        prev_epoch: int | None,
        prev: _FittedEpoch | None,
    ) -> _FittedEpoch:
        """Fit epoch ``epoch``, warm-started from ``prev`` (epoch ``prev_epoch``), and save it."""
        from .boundary import synthesize_boundary
        from .complex import bavr_complex, knn, separate_predictions

        dev = self.device_
        seed = self._seed(epoch)
        timings: dict[str, float] = {}
        t_start, cpu_start = time.perf_counter(), time.process_time()

        X_np = np.array(run.representations(epoch, "train"), dtype=np.float32)
        check_finite(X_np, f"run.representations({epoch}, 'train')", _FIX_RUN)
        logits_np = np.array(run.logits(epoch, "train"), dtype=np.float32)
        check_finite(logits_np, f"run.logits({epoch}, 'train')", _FIX_RUN)
        n_train, h = X_np.shape
        head = run.head(epoch, device=dev)

        # §5.1 boundary samples, mixed in input space when f_t is available
        t0 = time.perf_counter()
        n_boundary = int(round(self.boundary_ratio * n_train))
        feature_model = run.feature_model(epoch, device=dev) if n_boundary else None
        inputs = run.inputs("train") if feature_model is not None else None
        if inputs is None:
            feature_model = None
        if n_boundary:
            bnd = synthesize_boundary(
                X_np, logits_np, head, n_boundary, inputs=inputs, feature_model=feature_model,
                delta=self.delta, steps=self.boundary_steps, device=dev, seed=seed,
            )
            B_np = np.asarray(bnd.representations, dtype=np.float32).reshape(-1, h)
            pairs = np.asarray(bnd.pairs, dtype=np.int64).reshape(-1, 2)
            boundary_note, boundary_space = str(bnd.note), str(bnd.space)
        else:
            B_np, pairs = np.zeros((0, h), np.float32), np.zeros((0, 2), np.int64)
            boundary_note, boundary_space = "boundary_ratio=0: no boundary samples", "none"
        if len(B_np) and not np.isfinite(B_np).all():
            keep = np.isfinite(B_np).all(axis=1)
            B_np, pairs = B_np[keep], pairs[keep]
        timings["boundary"] = time.perf_counter() - t0

        # §5.2 the (k)-BAVR complex over X ∪ B, and X's own kNN for eval_sem (Eq. 11)
        t0 = time.perf_counter()
        cx = bavr_complex(X_np, B_np, k=self.n_neighbors, method=self.knn_method, device=dev,
                          seed=seed, xb_weight=self.boundary_edge_weight)
        cx = separate_predictions(cx, logits_np.argmax(axis=1), pairs, self.separation)
        knn_idx = getattr(cx, "knn_indices", None)
        if knn_idx is None or np.shape(knn_idx) != (n_train, self.n_neighbors):
            knn_idx = knn(X_np, self.n_neighbors, method=self.knn_method, device=dev,
                          seed=seed)[0]
        knn_idx = to_numpy(knn_idx).astype(np.int64)
        timings["complex"] = time.perf_counter() - t0

        # Eq. 9 weights over all vertices, once per epoch
        t0 = time.perf_counter()
        U = to_tensor(np.concatenate([X_np, B_np]) if len(B_np) else X_np, dev)
        weights = losses.gradient_weights(head, U, beta=self.beta)
        timings["weights"] = time.perf_counter() - t0

        # warm start and temporal term (§5.4)
        torch.manual_seed(seed)
        model = VisModel(input_dim=h, hidden=self.hidden).to(dev)
        prev_params, prev_layout, mobility = None, None, None
        similarity = float("nan")
        pred_np = logits_np.argmax(axis=1)
        if prev_epoch is not None and prev is not None:
            model.load_state_dict(self._model(prev_epoch).state_dict())
            prev_params = [p.detach().clone() for p in model.parameters()]
            prev_knn, prev_coords = prev.arrays["knn"], prev.arrays["coords"][:n_train]
            sem = torch.zeros(n_train, device=dev)
            if prev_knn.shape == knn_idx.shape:
                sem = losses.semantic_similarity(torch.as_tensor(prev_knn),
                                                 torch.as_tensor(knn_idx)).to(dev)
                similarity = float(sem.mean())
            else:
                similarity = 0.0
            # a sample whose prediction changed has changed its meaning: let it move
            prev_pred = np.asarray(run.logits(prev_epoch, "train")).argmax(axis=1)
            sem = sem * torch.as_tensor(prev_pred == pred_np, device=dev)
            mobility = torch.ones(len(U), device=dev)
            if self.lambdas[2] > 0:
                mobility[:n_train] = temporal_mobility(sem)
            # where the new epoch's points start: X where they were, B among its samples
            prev_layout = torch.cat([to_tensor(prev_coords, dev),
                                     self._boundary_start(cx, to_tensor(prev_coords, dev),
                                                          U[n_train:], model)])
        model.set_normalization(U[:n_train])

        # the layout Y_t of X ∪ B on the complex (§5.2), warm-started with mobility (§5.4)
        t0 = time.perf_counter()
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        Y = self._layout(U, cx, prev_layout, mobility, gen)
        timings["layout"] = time.perf_counter() - t0
        model.set_envelope(Y)

        # V_t = <φ_t, ψ_t> on Eq. 12 (see the module docstring)
        t0 = time.perf_counter()
        trained = train_vis_model(
            model, U, Y, weights, head, previous_params=prev_params, similarity=similarity,
            lambdas=self.lambdas, prediction_weight=self.prediction_weight,
            batch_size=self.batch_size, learning_rate=self.learning_rate,
            max_steps=self.max_steps if prev_epoch is None else self.warm_max_steps,
            check_every=self.check_every, patience=self.patience, tol=self.tol,
            anneal=1.0 if prev_epoch is None else WARM_ANNEAL, keep_best=True,
            n_samples=n_train, generator=gen)
        timings["training"] = time.perf_counter() - t0

        # train samples and B are shown at Y_t; test samples are placed against it like any
        # new sample (the same procedure as DVI.transform)
        t0 = time.perf_counter()
        model.eval()
        Y_np = to_numpy(Y).astype(np.float32)
        coords = Y_np[:n_train]
        B_2d = Y_np[n_train:]
        if int(run.n_test):
            test = np.asarray(run.representations(epoch, "test"), dtype=np.float32)
            check_finite(test, f"run.representations({epoch}, 'test')", _FIX_RUN)
            test_pred = np.asarray(run.logits(epoch, "test")).argmax(axis=1)
            coords = np.concatenate([coords, self._place(
                test, test_pred, X_np, pred_np, B_np, pairs, Y, seed=self.random_state)])
        with torch.no_grad():
            phi_rms = float((model.encode(U) - Y).pow(2).sum(dim=1).mean().sqrt())
        timings["embed"] = time.perf_counter() - t0

        metrics: dict[str, float] = {}
        if self.compute_metrics:
            t0 = time.perf_counter()
            metrics = self._epoch_metrics(run, epoch, model, head, coords, B_np, B_2d)
            timings["metrics"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        # CPU seconds of the process (all threads): unlike wall-clock, unaffected by other jobs
        timings["cpu"] = time.process_time() - cpu_start

        arrays = {"coords": coords, "boundary_2d": B_2d, "boundary_representations": B_np,
                  "boundary_pairs": pairs, "knn": knn_idx}
        info = {
            "epoch": int(epoch), "previous_epoch": prev_epoch, "params_hash": self.params_hash_,
            "params": self._json_params(), "n_train": int(run.n_train), "n_test": int(run.n_test),
            "rep_dim": int(h), "fingerprint": fingerprint(run, epoch),
            "n_boundary": len(B_np), "boundary_space": boundary_space,
            "boundary_note": boundary_note, "n_edges": int(len(cx.head)),
            "eval_sem_mean": similarity, "a": self.a_, "b": self.b_,
            "phi_rms": phi_rms, "steps": trained.steps, "loss_history": trained.history,
            "final_loss": trained.final_loss, "timings": timings, "metrics": metrics,
        }
        self.store_.save_epoch(epoch, model.state_dict(), arrays, info)
        self._models[int(epoch)] = model
        return _FittedEpoch(info=info, arrays=arrays)

    def _json_params(self) -> dict[str, Any]:
        params = self.get_params()
        params["device"] = str(params["device"])
        params["hidden"] = None if self.hidden is None else (
            self.hidden if isinstance(self.hidden, int) else list(self.hidden))
        params["lambdas"] = list(self.lambdas)
        return params

    def _layout(
        self,
        U: torch.Tensor,
        cx: Any,  # noqa: ANN401 - complex.Complex
        previous: torch.Tensor | None,
        mobility: torch.Tensor | None,
        gen: torch.Generator,
    ) -> torch.Tensor:
        """Y_t: the UMAP layout of the complex (§5.2) that φ_t learns and ψ_t inverts.

        Cold start: PCA initialisation and ``layout_iters`` epochs. Warm start: the previous
        epoch's positions and up to ``warm_layout_iters`` epochs in which each sample's steps are
        scaled by its mobility (:func:`dvi_widget.engine.layout.temporal_mobility`: samples
        whose neighbourhood and prediction stayed the same stay where they were).
        """
        from .layout import pca_init, umap_layout

        dev = U.device
        head = torch.as_tensor(to_numpy(cx.head), dtype=torch.long).to(dev)
        tail = torch.as_tensor(to_numpy(cx.tail), dtype=torch.long).to(dev)
        edge_w = torch.as_tensor(to_numpy(cx.weight), dtype=torch.float32).to(dev)
        if len(head) == 0:
            raise ValueError("the (k)-BAVR complex has no edges; cannot lay it out (are all "
                             "representations identical?)")
        cold = previous is None
        n_iter = self.layout_iters
        if not cold:
            # as many epochs as there is change to lay out: all of them while half the samples
            # are mobile, down to 40 % of them when few are (measured on Fashion-MNIST: nn_pv
            # within 0.006 of UMAP's at every epoch with up to 150, 0.01 with up to 120)
            share = 1.0 if mobility is None else float(mobility[: int(cx.n_x)].mean()) / 0.5
            n_iter = round(self.warm_layout_iters * min(1.0, max(0.4, share)))
        return umap_layout(head, tail, edge_w, pca_init(U) if cold else previous, self.a_,
                           self.b_, n_iter=n_iter, negative_sample_rate=self.negative_sample_rate,
                           mobility=mobility, generator=gen)

    @staticmethod
    @torch.no_grad()
    def _boundary_start(
        cx: Any, prev_x: torch.Tensor, B: torch.Tensor, model: VisModel  # noqa: ANN401
    ) -> torch.Tensor:
        """Where a warm layout starts the new boundary points: at the membership-weighted mean
        of the previous positions of the samples they are joined to (φ_{t-1}(b) for a boundary
        point joined to none)."""
        n_x, m = int(cx.n_x), len(B)
        dev = prev_x.device
        if m == 0:
            return torch.zeros((0, 2), device=dev)
        head = torch.as_tensor(to_numpy(cx.head), dtype=torch.long, device=dev)
        tail = torch.as_tensor(to_numpy(cx.tail), dtype=torch.long, device=dev)
        w = torch.as_tensor(to_numpy(cx.weight), dtype=torch.float32, device=dev)
        xb = (head < n_x) & (tail >= n_x)
        acc = torch.zeros(m, 2, device=dev)
        total = torch.zeros(m, device=dev)
        acc.index_add_(0, tail[xb] - n_x, prev_x[head[xb]] * w[xb, None])
        total.index_add_(0, tail[xb] - n_x, w[xb])
        start = model.encode(B) if bool((total <= 0).any()) else acc
        return torch.where((total > 0).unsqueeze(1), acc / total.clamp_min(1e-12).unsqueeze(1),
                           start)

    def _place(
        self,
        reps: np.ndarray | torch.Tensor,
        pred: np.ndarray,
        X: np.ndarray | torch.Tensor,
        pred_x: np.ndarray,
        B: np.ndarray,
        pairs: np.ndarray,
        layout: torch.Tensor,
        seed: int,
    ) -> np.ndarray:
        """2-D positions of new samples against an epoch's fixed layout of X ∪ B (UMAP's
        ``transform``; :func:`dvi_widget.engine.layout.place_points`) with the edges the sample
        would have in that epoch's complex (:func:`dvi_widget.engine.complex.query_memberships`),
        placed in chunks."""
        from .complex import query_memberships
        from .layout import place_points

        out = []
        for start in range(0, len(reps), PLACE_CHUNK):
            idx, w = query_memberships(
                reps[start : start + PLACE_CHUNK], pred[start : start + PLACE_CHUNK], X,
                pred_x, B if len(B) else None, pairs, self.n_neighbors,
                xb_weight=self.boundary_edge_weight, separation=self.separation,
                method=self.knn_method, device=self.device_, seed=seed)
            y = place_points(idx, w, layout, self.a_, self.b_, n_iter=PLACE_ITERS,
                             negative_sample_rate=self.negative_sample_rate, seed=seed)
            out.append(to_numpy(y).astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, 2), np.float32)

    # -------------------------------------------------------------------- embedding helpers
    def _all_representations(self, run: Any, epoch: int) -> np.ndarray:  # noqa: ANN401
        reps = np.array(run.representations(epoch, "train"), dtype=np.float32)
        if int(run.n_test):
            test = np.asarray(run.representations(epoch, "test"), dtype=np.float32)
            check_finite(test, f"run.representations({epoch}, 'test')", _FIX_RUN)
            reps = np.concatenate([reps, test])
        return reps

    @torch.no_grad()
    def _encode(self, model: VisModel, reps: np.ndarray | torch.Tensor,
                batch_size: int = 16384) -> np.ndarray:
        dev = next(model.parameters()).device
        out = [model.encode(to_tensor(reps[i : i + batch_size], dev))
               for i in range(0, len(reps), batch_size)]
        if not out:
            return np.zeros((0, 2), np.float32)
        return to_numpy(torch.cat(out)).astype(np.float32)

    @torch.no_grad()
    def _decode(self, model: VisModel, points: np.ndarray | torch.Tensor,
                batch_size: int = 16384) -> torch.Tensor:
        dev = next(model.parameters()).device
        return torch.cat([model.decode(to_tensor(points[i : i + batch_size], dev))
                          for i in range(0, len(points), batch_size)])

    # -------------------------------------------------------------------- metrics
    @torch.no_grad()
    def _epoch_metrics(
        self, run: Any, epoch: int, model: VisModel, head: torch.nn.Module,  # noqa: ANN401
        coords: np.ndarray, B_np: np.ndarray, B_2d: np.ndarray,
    ) -> dict[str, float]:
        """§6 metrics of one epoch (nn_pv, boundary_pv for k = 10, 15, 20, PPR) on a fixed
        random sample of ``METRIC_ROWS`` rows per split (all rows of smaller splits)."""
        from .metrics import evaluate_epoch

        n_train = int(run.n_train)
        reps = self._all_representations(run, epoch)
        rng = np.random.default_rng(self.random_state)  # the same rows every epoch
        kw: dict[str, Any] = {}
        for split, sl in (("train", slice(0, n_train)), ("test", slice(n_train, len(reps)))):
            X, Y = reps[sl], coords[sl]
            if len(X) <= max(METRIC_KS):
                continue
            rows = (np.sort(rng.choice(len(X), METRIC_ROWS, replace=False))
                    if len(X) > METRIC_ROWS else np.arange(len(X)))
            pred = head(to_tensor(X[rows], self.device_)).argmax(dim=1)
            pred_rec = head(self._decode(model, Y[rows])).argmax(dim=1)
            kw.update({f"X_{split}": X, f"Y_{split}": Y, f"rows_{split}": rows,
                       f"pred_{split}": to_numpy(pred), f"pred_{split}_rec": to_numpy(pred_rec)})
        if "X_train" not in kw:
            return {}
        return evaluate_epoch(B=B_np, B_2d=B_2d, ks=METRIC_KS, method=self.knn_method,
                              device=self.device_, **kw)

    # -------------------------------------------------------------------- the shared frame
    def _finalize(self, run: Any, fitted: dict[int, _FittedEpoch]) -> None:  # noqa: ANN401
        """Set the fitted attributes, the shared extent and the landscapes of ``fitted``.

        A landscape is re-rendered only when the frame or that epoch's model changed; the
        frame json is rewritten only when it changed (a read-only fit loads without writing).
        """
        epochs = sorted(fitted)
        self.epochs_ = epochs
        infos = {e: fitted[e].info for e in epochs}
        self.coords_ = np.stack([fitted[e].arrays["coords"] for e in epochs]).astype(np.float32)
        self.boundary_ = [fitted[e].arrays["boundary_2d"] for e in epochs]
        self.boundary_representations_ = [fitted[e].arrays["boundary_representations"]
                                          for e in epochs]
        self.boundary_pairs_ = [fitted[e].arrays["boundary_pairs"] for e in epochs]
        self._knn = {e: fitted[e].arrays["knn"] for e in epochs}
        self.epoch_info_ = infos
        self.n_steps_ = {e: infos[e]["steps"] for e in epochs}
        extent = square_extent(self.coords_, self.extent_margin, self.extent_quantile)
        frame = {"extent": extent.tolist(), "epochs": list(epochs), "grid_size": self.grid_size,
                 "delta": self.delta, "params_hash": self.params_hash_,
                 "epoch_hashes": {str(e): infos[e]["params_hash"] for e in epochs}}
        old = self.store_.load_frame()
        same_frame = (
            old.get("grid_size") == self.grid_size and old.get("delta") == self.delta
            and old.get("params_hash") == self.params_hash_
            and np.allclose(old.get("extent", [np.nan] * 4), extent, rtol=0, atol=1e-9)
        )
        landscape_times = dict(old.get("landscape_seconds", {})) if same_frame else {}
        rendered_with = dict(old.get("rendered_with", {})) if same_frame else {}
        rgba, classes, conf = [], [], []
        for e in epochs:
            # an epoch's landscape is reusable when the frame and that epoch's model are the same
            cached = (self.store_.load_landscape(e) if same_frame
                      and rendered_with.get(str(e)) == infos[e].get("final_loss") else None)
            if cached is None:
                t0 = time.perf_counter()
                img, cls, cf = self._render(run, e, extent)
                landscape_times[str(e)] = time.perf_counter() - t0
                rendered_with[str(e)] = infos[e].get("final_loss")
                self.store_.save_landscape(e, img, cls, cf)
            else:
                img, cls, cf = cached["rgba"], cached["classes"], cached["confidence"]
            rgba.append(img)
            classes.append(cls)
            conf.append(cf)
        frame["landscape_seconds"] = landscape_times
        frame["rendered_with"] = rendered_with
        self.store_.save_frame(frame)
        self.extent_ = extent
        self.landscape_ = np.stack(rgba)
        self.landscape_classes_ = np.stack(classes)
        self.landscape_confidence_ = np.stack(conf)
        rows = []
        for e in epochs:
            row = {"epoch": e, **infos[e].get("timings", {}), "steps": infos[e]["steps"],
                   "landscape": landscape_times.get(str(e), float("nan"))}
            rows.append(row)
        self.timings_ = pd.DataFrame(rows).set_index("epoch")

    def _render(self, run: Any, epoch: int, extent: np.ndarray) -> tuple[np.ndarray, ...]:  # noqa: ANN401
        from ..contract import default_palette
        from .landscape import render_landscape

        model = self._model(epoch)
        head = self._head(epoch)
        return render_landscape(model.decode, head, extent, size=self.grid_size,
                                palette=default_palette(int(run.n_classes)), delta=self.delta,
                                device=self.device_)

    # -------------------------------------------------------------------- loading
    def _check_fitted(self) -> None:
        if not hasattr(self, "epochs_"):
            raise NotFittedError(ERR_NOT_FITTED)

    def _check_epoch(self, epoch: int) -> int:
        self._check_fitted()
        if int(epoch) not in self.epochs_:
            raise ValueError(f"epoch={epoch!r} is not fitted; fitted epochs are {self.epochs_}")
        return int(epoch)

    def _model(self, epoch: int) -> VisModel:
        epoch = int(epoch)
        if epoch not in self._models:
            model = VisModel(input_dim=int(self.run_.rep_dim), hidden=self.hidden)
            model.load_state_dict(self.store_.load_state(epoch, self.device_))
            self._models[epoch] = model.to(self.device_)
        return self._models[epoch].eval()

    def _head(self, epoch: int) -> torch.nn.Module:
        epoch = int(epoch)
        if epoch not in self._heads:
            self._heads[epoch] = self.run_.head(epoch, device=self.device_)
        return self._heads[epoch]

    @classmethod
    def load(
        cls,
        run: Any,  # noqa: ANN401 - a dvi_widget.Run or a path
        device: DeviceLike = "auto",
        verbose: bool = False,
        on_stale: str = "error",
        cache_dir: str | os.PathLike | None = None,
    ) -> DVI:
        """Read a fit back from the run's ``dvi/`` folder (e.g. in a new kernel); writes nothing
        unless the frame or a landscape must be re-rendered (then into ``cache_dir`` when the
        run is read-only).

        Parameters
        ----------
        run : a :class:`dvi_widget.Run`, or a path (opened with ``Run.open``).
        device : where the visualization models run ("auto": CUDA when available).
        verbose : progress bar when ``on_stale="refit"`` refits.
        on_stale : what to do when the run changed under the fit (an epoch re-recorded with
            ``record(..., overwrite=True)`` or deleted since it was fitted): ``"error"`` raises
            :class:`StaleFitError` naming the epochs; ``"warn"`` warns and loads the epochs
            fitted before the first changed one; ``"refit"`` refits from there (resume keeps
            the unchanged epochs before it).
        cache_dir : see :class:`dvi_widget.engine.store.FitStore`.

        The epochs loaded are the chain of finished epochs that share the parameters of the
        newest fit.
        """
        if on_stale not in ON_STALE:
            raise ValueError(f"on_stale must be one of {ON_STALE}, got {on_stale!r}")
        if isinstance(run, (str, os.PathLike)):
            from ..data.run import Run

            run = Run.open(run)
        store = FitStore(run.path, cache_dir)
        infos = store.infos()
        if not infos:
            raise FileNotFoundError(f"no fitted DVI epochs under {store.folder}; call "
                                    "DVI().fit(run) first")
        frame = store.load_frame()
        newest = infos[max(infos)]
        target = frame.get("params_hash", newest["params_hash"])
        params = next((i["params"] for i in infos.values() if i["params_hash"] == target),
                      newest["params"])
        params = {k: v for k, v in params.items() if k in _PARAM_NAMES}  # older versions' too
        params.update(device=device, verbose=verbose)
        if isinstance(params.get("lambdas"), list):
            params["lambdas"] = tuple(params["lambdas"])
        self = cls(**params)
        self._validate_params()
        self._start(run, resolve_device(device), store)
        wanted = frame.get("epochs") or sorted(e for e, i in infos.items()
                                               if i["params_hash"] == self.params_hash_)
        chain = store.chain(self.params_hash_, wanted)
        if not chain:
            raise FileNotFoundError(f"no consistent chain of fitted epochs under {store.folder} "
                                    "(fitted by another version of dvi_widget?); refit with "
                                    "DVI().fit(run)")
        stale = [e for e in chain if not matches_run(infos[e], run)]
        if stale:
            gone = [e for e in stale if e not in run.epochs]
            what = (f"epoch(s) {stale} of {run.path} changed since they were fitted"
                    + (f" ({gone} no longer recorded)" if gone else ""))
            if on_stale == "refit":
                warnings.warn(f"{what}; refitting from epoch {stale[0]}.", stacklevel=2)
                return self.set_params(verbose=verbose).fit(
                    run, epochs=[e for e in chain if e in run.epochs], cache_dir=cache_dir)
            if on_stale == "error":
                raise StaleFitError(
                    f"{what}: the saved fit no longer shows this run. Refit with "
                    "DVI.load(run, on_stale='refit') or DVI(...).fit(run) (resume keeps the "
                    f"epochs before {stale[0]}), or load the epochs before it with "
                    "on_stale='warn'.")
            chain = chain[: chain.index(stale[0])]
            warnings.warn(f"{what}; loaded only the epochs fitted before it: {chain}. Refit "
                          "with DVI.load(run, on_stale='refit').", stacklevel=2)
            if not chain:
                raise StaleFitError(f"{what}, and no epoch fitted before it remains; refit with "
                                    "DVI(...).fit(run).")
        fitted = {e: self._reuse(e) for e in chain}
        for e in chain:  # read every model now: a damaged file fails here, naming itself
            self._model(e)
        self._finalize(run, fitted)
        return self

    # -------------------------------------------------------------------- online use
    def transform(
        self, representations: np.ndarray | torch.Tensor, epoch: int, *, place: bool = True
    ) -> np.ndarray:
        """Project ``(n, h)`` representations of epoch ``epoch`` to ``(n, 2)`` points.

        ``place=True``: among the epoch's training samples and boundary points, as the fit
        places the test samples (UMAP's ``transform`` against the fixed layout, with the edges
        each new sample would have in the epoch's complex); a training sample's representation
        lands where its neighbours are. ``place=False``: φ_t alone (the encoder; one forward
        pass, about ``phi_rms`` from the layout, saved per epoch in ``epoch_info_``).
        """
        epoch = self._check_epoch(epoch)
        reps = self._check_rows("representations", representations, int(self.run_.rep_dim))
        if not place:
            return self._encode(self._model(epoch), reps)
        idx = self.epochs_.index(epoch)
        run, n_train = self.run_, int(self.run_.n_train)
        head = self._head(epoch)
        with torch.no_grad():
            pred = np.concatenate([to_numpy(head(to_tensor(reps[i : i + 16384], self.device_))
                                            .argmax(dim=1)) for i in range(0, len(reps), 16384)])
        layout = to_tensor(np.concatenate([self.coords_[idx][:n_train], self.boundary_[idx]]),
                           self.device_)
        return self._place(
            reps, pred, np.asarray(run.representations(epoch, "train"), dtype=np.float32),
            np.asarray(run.logits(epoch, "train")).argmax(axis=1),
            self.boundary_representations_[idx], self.boundary_pairs_[idx], layout,
            seed=self.random_state)

    def project(
        self, data: np.ndarray | torch.Tensor, epoch: int, kind: str = "auto"
    ) -> np.ndarray:
        """Project new inputs (through ``run.feature_model``) or representations to 2-D.

        ``kind="auto"`` treats ``(n, h)`` arrays as representations and arrays shaped like the
        recorded inputs as inputs; pass ``kind="inputs"`` or ``"representations"`` to force.
        """
        epoch = self._check_epoch(epoch)
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
        check_finite(x.numpy(), "inputs", _FIX_RUN)
        with torch.no_grad():
            reps = torch.cat([feature_model(x[i : i + 1024].to(self.device_)).reshape(
                min(1024, len(x) - i), -1) for i in range(0, len(x), 1024)])
        return self.transform(reps, epoch)

    def inverse_transform(self, points: np.ndarray | torch.Tensor, epoch: int) -> np.ndarray:
        """ψ_t: ``(n, 2)`` points -> ``(n, h)`` representations."""
        epoch = self._check_epoch(epoch)
        pts = self._check_rows("points", points, 2)
        return to_numpy(self._decode(self._model(epoch), pts)).astype(np.float32)

    def inverse(
        self, points: np.ndarray | torch.Tensor, epoch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """2-D points -> ``(representations (n, h), probabilities (n, C))``: ψ_t, softmax(g_t)."""
        epoch = self._check_epoch(epoch)
        pts = self._check_rows("points", points, 2)
        reps = self._decode(self._model(epoch), pts)
        with torch.no_grad():
            probs = torch.softmax(self._head(epoch)(reps).float(), dim=1)
        return to_numpy(reps).astype(np.float32), to_numpy(probs).astype(np.float32)

    @staticmethod
    def _check_rows(name: str, arr: np.ndarray | torch.Tensor, width: int) -> np.ndarray:
        a = to_numpy(arr) if isinstance(arr, torch.Tensor) else np.asarray(arr)
        if a.ndim != 2 or a.shape[1] != width:
            raise ValueError(f"{name} must be (n, {width}), got shape {a.shape}")
        if len(a) == 0:
            raise ValueError(f"{name} is empty (0 rows)")
        a = np.array(a, dtype=np.float32)  # a writable copy (memmaps are read-only)
        check_finite(a, name)
        return a

    # -------------------------------------------------------------------- results
    def score(self) -> pd.DataFrame:
        """Per-epoch §6 metrics as a DataFrame (index: epoch; NaN where not applicable).

        Columns ``nn_pv_{k}_{split}`` (Eq. 1), ``boundary_pv_{k}_{split}`` (Eq. 2) for k = 10, 15,
        20 and split train / test, ``ppr_train``, ``ppr_test`` (see
        :func:`dvi_widget.engine.metrics.evaluate_epoch`), on a fixed random sample of
        ``METRIC_ROWS`` rows per split. Computed during fit (``compute_metrics=True``) or here on
        first call otherwise. The temporal property (Eq. 4) spans all epochs:
        :meth:`temporal_pv`.
        """
        self._check_fitted()
        rows = []
        for idx, e in enumerate(self.epochs_):
            info = self.epoch_info_[e]
            metrics = {k: v for k, v in (info.get("metrics") or {}).items()
                       if not k.startswith("temporal")}  # fits of version 0.1 scored it here
            if not metrics:
                metrics = self._epoch_metrics(
                    self.run_, e, self._model(e), self._head(e), self.coords_[idx],
                    self.boundary_representations_[idx], self.boundary_[idx])
                info["metrics"] = metrics
            rows.append({"epoch": e, **metrics})
        from .metrics import metrics_table

        return metrics_table({r.pop("epoch"): r for r in rows})

    def temporal_pv(self, k: int | None = None) -> dict[str, float]:
        """The temporal preserving property (DVI Eq. 4) of the fitted epochs, per split.

        Per sample, the Pearson correlation over consecutive epoch pairs between its
        k-neighbourhood overlap (Eq. 11; a test sample's neighbours searched among train ∪ test)
        and its 2-D move; then the mean over samples
        (:func:`dvi_widget.engine.metrics.temporal_pv`).
        ``k`` defaults to ``n_neighbors``. Returns ``{"train": r, "test": r}`` (NaN with fewer
        than 3 epochs or no test split).
        """
        from .metrics import joint_neighbours, neighbours
        from .metrics import temporal_pv as eq4

        self._check_fitted()
        k = int(self.n_neighbors if k is None else k)
        run, n_train = self.run_, int(self.run_.n_train)
        out = {"train": float("nan"), "test": float("nan")}
        if len(self.epochs_) < 3:
            return out
        train_nb, test_nb = [], []
        for e in self.epochs_:
            X = np.asarray(run.representations(e, "train"), dtype=np.float32)
            stored = self._knn.get(e)
            train_nb.append(stored[:, :k] if stored is not None and stored.shape[1] >= k
                            else neighbours(X, k, method=self.knn_method, device=self.device_))
            if int(run.n_test):
                test_nb.append(joint_neighbours(
                    X, np.asarray(run.representations(e, "test"), dtype=np.float32), k,
                    method=self.knn_method, device=self.device_))
        out["train"] = eq4(None, [c[:n_train] for c in self.coords_], k, neighbour_sets=train_nb)
        if test_nb:
            out["test"] = eq4(None, [c[n_train:] for c in self.coords_], k,
                              neighbour_sets=test_nb)
        return out

    def visualization(self) -> Any:  # noqa: ANN401 - dvi_widget.visualization.Visualization
        """Everything the widget shows, for all fitted epochs, as a :class:`Visualization`."""
        from ..contract import Visualization, default_palette
        from .inspect import visualization_extras

        self._check_fitted()
        run = self.run_
        preds, conf = [], []
        for e in self.epochs_:
            logits = np.concatenate([np.asarray(run.logits(e, "train"), dtype=np.float32)] + (
                [np.asarray(run.logits(e, "test"), dtype=np.float32)] if int(run.n_test) else []))
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            preds.append(logits.argmax(axis=1))
            conf.append(p.max(axis=1))
        sizes = [len(b) for b in self.boundary_]
        n_b = min(sizes) if sizes else 0
        boundary = np.stack([b[:n_b] for b in self.boundary_]) if n_b > 0 else None
        metadata = getattr(run, "metadata", None)
        try:
            metrics = self.score()
        except Exception as err:  # noqa: BLE001 - metrics are optional in the view
            warnings.warn(f"DVI metrics unavailable: {err}", stacklevel=2)
            metrics = None
        return Visualization(
            epochs=np.asarray(self.epochs_), coords=self.coords_, extent=self.extent_,
            landscape=self.landscape_, labels=np.asarray(run.labels("all")),
            predictions=np.stack(preds), confidence=np.stack(conf), split=np.asarray(run.splits()),
            class_names=list(run.class_names), palette=default_palette(int(run.n_classes)),
            boundary=boundary, metadata=metadata if isinstance(metadata, pd.DataFrame) else None,
            metrics=metrics, landscape_classes=self.landscape_classes_,
            landscape_confidence=self.landscape_confidence_, **visualization_extras(self),
        )

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401 - see find_events
        """Per-sample, per-epoch training events (prediction flips, confidence jumps, far
        moves, changed neighbourhoods, boundary crossings) with their sizes; thresholds
        ``confidence_jump``, ``move``, ``neighborhood_change``, ``kinds``: see
        :func:`dvi_widget.engine.events.find_events`."""
        from .events import dvi_events

        return dvi_events(self, **thresholds)

    # -------------------------------------------------------------------- explanations
    # Thin doors into dvi_widget.explain (imported lazily: Captum and Kornia load on first use).
    def explainer(self) -> Any:  # noqa: ANN401 - dvi_widget.explain.Explainer
        """Grad-CAM, what-if/adversarial paths, robustness curves and local surrogates on this
        fit's landscapes: a cached :class:`dvi_widget.explain.Explainer`, projector ``self``."""
        from ..explain import Explainer

        self._check_fitted()
        ex = getattr(self, "_explainer", None)
        if ex is None or ex.run is not self.run_ or ex.device != self.device_:
            ex = self._explainer = Explainer(self.run_, projector=self, device=self.device_)
        return ex

    def what_if(self, index_or_input: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                strengths: Sequence[float] | None = None, **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """A perturbation path of one sample on epoch ``epoch``'s landscape: DataFrame (strength,
        x, y, prediction, confidence, ...), ``attrs["first_flip"]``; see ``Explainer.what_if``."""
        return self.explainer().what_if(index_or_input, epoch, kind, strengths, **options)

    def adversarial(self, index_or_input: Any, epoch: int, target: int | str | None = None,  # noqa: ANN401
                    **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """An FGSM/PGD path toward class ``target`` on the landscape; see
        ``Explainer.adversarial``."""
        return self.explainer().adversarial(index_or_input, epoch, target, **options)

    def robustness(self, indices_or_class: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                   strengths: Sequence[float] | None = None, **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """Mean softmax per class and share flipped against strength, for a selection or a class;
        see ``Explainer.robustness``."""
        return self.explainer().robustness(indices_or_class, epoch, kind, strengths, **options)

    def surrogate(self, index_or_input: Any, epoch: int, **options: Any) -> Any:  # noqa: ANN401
        """DeepVID's local linear student around one sample (weights images, fidelity,
        neighbours on the landscape); see ``Explainer.surrogate``."""
        return self.explainer().surrogate(index_or_input, epoch, **options)


_PARAM_NAMES = tuple(
    name for name in DVI.__init__.__code__.co_varnames[1 : DVI.__init__.__code__.co_argcount
                                                       + DVI.__init__.__code__.co_kwonlyargcount]
)
