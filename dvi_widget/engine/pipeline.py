"""One epoch of DeepVisualInsight over arrays: :func:`fit_epoch` and its overridable stages.

Per epoch t (DVI §5): boundary samples B_t (§5.1) -> the (k)-BAVR complex over X_t ∪ B_t
(§5.2) -> gradient weights of Eq. 9 -> the layout Y_t of the complex, warm-started with
temporal mobility (§5.4) -> the visualization model V_t = <φ_t, ψ_t> trained on Eq. 12,
warm-started from V_{t-1} -> the few training samples ψ_t decodes as another class settled onto
a cell of their prediction -> test samples placed against Y_t, each then settled the same way
-> optional §6 metrics. The
landscape of an epoch (rendered once the frame shared by all epochs is known,
:mod:`dvi_widget.engine.embedding`) is a stage too.

Each stage is a plain function named in :class:`Stages`; a variant engine replaces one, as
parametric UMAP overrides ``UMAP._fit_embed_data``::

    class MyDVI(DVI):
        stages = dataclasses.replace(DVI.stages, layout=my_layout)

Why the neighbour term is optimised on free 2-D positions and φ_t trained to reproduce them,
why test samples are placed like UMAP's ``transform`` and how temporal mobility works:
ENGINE.md's departures from the paper (summarised in the README's "How the engine works").
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from .._checks import check_finite
from .._random import DRAW, subset_rng
from .._tensor import batched, bfloat16_is_fast, own_rng, to_numpy, to_tensor
from . import losses
from .boundary import synthesize_boundary
from .complex import (
    Complex,
    bavr_complex,
    join_own_class,
    knn,
    knn_and_query,
    query_memberships,
    separate_predictions,
)
from .landscape import render_landscape
from .layout import pca_init, place_points, temporal_mobility, umap_layout
from .mapping import settle_on_prediction
from .model import VisModel
from .train import TrainResult, train_vis_model

#: neighbourhood sizes of the evaluation (DVI §6)
METRIC_KS = (10, 15, 20)
#: rows per split scored (a fixed random sample; all rows below this)
METRIC_ROWS = 1000
#: SGD epochs of the placement of test and new samples (umap-learn's transform: 100)
PLACE_ITERS = 100
#: samples placed at once (bounds the (chunk, neighbours, 2) tensors of the placement)
PLACE_CHUNK = 8192
#: rows per forward pass of φ_t, ψ_t and g_t over arrays
FORWARD_BATCH = 16384
#: a warm epoch's training budget ends before any plateau decays the learning rate, so it
#: decays to this share of it over the budget instead (see :func:`train_vis_model`)
WARM_ANNEAL = 0.3
#: a warm epoch in which more than this share of the training samples changed their predicted
#: class gets a bigger step budget (:func:`warm_budget`)
CHANGED_FREE = 0.2
#: how fast the budget grows above it: ``1 + CHANGED_SLOPE · (share − CHANGED_FREE)`` times
CHANGED_SLOPE = 20.0
#: the largest multiple of ``warm_max_steps`` it gets (and never more than a cold start's)
CHANGED_MAX_FACTOR = 4.0
#: an epoch (cold or warm) whose budget ran out with fewer than this share of the training
#: samples decoded as g predicts them trains on until a check finds it met, up to twice the
#: budget (PPR, DVI §6; :func:`train_stage`): the issue's 0.97 plus the standard error of a PPR
#: scored on 1,000 rows (0.005), so that a sample of the rows sees it met too
PPR_GOAL = 0.975
#: the same for the boundary points decoded onto g's δ-boundary (DVI Def. 2): the issue's 0.55
#: at every epoch plus about two standard errors of a rate over 500 boundary points drawn afresh
#: (0.022 each), so that boundary points synthesised again see it met too
BOUNDARY_GOAL = 0.6
#: the cold layout's epochs by default: umap-learn's 500 up to 10,000 samples, 200 above
COLD_LAYOUT_ITERS, COLD_LAYOUT_ITERS_LARGE, COLD_LAYOUT_LARGE = 500, 200, 10_000
#: the fix named when a run holds NaN or Inf
FIX_RUN = "check the recorded run (a diverged model?) before fitting"


@dataclass(frozen=True)
class Settings:
    """The parameters the pipeline and the fitted state read: a :class:`dvi_widget.DVI`'s
    (see its docstring), with UMAP's curve parameters ``a, b`` fitted and the device resolved."""

    n_neighbors: int
    boundary_ratio: float
    boundary_edge_weight: float
    delta: float
    hidden: Any
    lambdas: tuple[float, float, float]
    prediction_weight: float
    boundary_weight: float
    separation: float
    own_class_neighbors: int
    cross_repulsion: float
    beta: float
    negative_sample_rate: int
    batch_size: int
    learning_rate: float
    max_steps: int
    warm_max_steps: int
    check_every: int
    patience: int
    tol: float
    boundary_steps: int
    layout_iters: int | None
    warm_layout_iters: int
    knn_method: str
    precision: str
    grid_size: int
    extent_quantile: float
    extent_margin: float
    compute_metrics: bool
    random_state: int
    a: float
    b: float
    device: torch.device

    @classmethod
    def of(cls, params: Mapping[str, Any], device: torch.device) -> Settings:  # noqa: ANN401
        """From a :class:`dvi_widget.DVI`'s ``get_params()`` and a resolved device."""
        a, b = losses.find_ab_params(params["spread"], params["min_dist"])
        own = {f.name for f in fields(cls)} - {"a", "b", "device"}
        return cls(**{k: params[k] for k in own}, a=a, b=b, device=device)

    @property
    def bfloat16(self) -> bool:
        """Whether V_t's training steps and the boundary search's passes of f_t run under
        bfloat16 autocast (``precision``)."""
        return self.precision == "bfloat16" or (
            self.precision == "auto" and bfloat16_is_fast(self.device))

    def seed(self, epoch: int) -> int:
        """The seed of epoch ``epoch``'s sampling, synthesis and initialisation."""
        return (int(self.random_state) * 1_000_003 + int(epoch)) % (2**31 - 1)


@dataclass(frozen=True)
class EpochData:
    """What one epoch's fit reads from the run, as arrays."""

    #: (n_train, h) float32 training representations X_t
    X: np.ndarray
    #: (n_train, C) float32 logits g_t(X_t)
    logits: np.ndarray
    #: g_t, on the fit's device
    head: torch.nn.Module
    #: (n_test, h) test representations and (n_test, C) logits, when the run has a test split
    test: np.ndarray | None = None
    test_logits: np.ndarray | None = None
    #: training inputs and f_t, for boundary samples mixed in input space (§5.1)
    inputs: Any = None
    feature_model: torch.nn.Module | None = None

    @classmethod
    def from_run(cls, run: Any, epoch: int, device: torch.device,  # noqa: ANN401 - a Run
                 with_inputs: bool = True) -> EpochData:
        """Read epoch ``epoch`` of ``run``, refusing NaN and Inf; inputs and ``f_t`` only when
        ``with_inputs`` and the run has both, and its inputs are not token ids."""
        X = np.array(run.representations(epoch, "train"), dtype=np.float32)
        check_finite(X, f"run.representations({epoch}, 'train')", FIX_RUN)
        logits = np.array(run.logits(epoch, "train"), dtype=np.float32)
        check_finite(logits, f"run.logits({epoch}, 'train')", FIX_RUN)
        test = test_logits = None
        if int(run.n_test):
            test = np.asarray(run.representations(epoch, "test"), dtype=np.float32)
            check_finite(test, f"run.representations({epoch}, 'test')", FIX_RUN)
            test_logits = np.asarray(run.logits(epoch, "test"))
        # token ids cannot be mixed (λ·a + (1-λ)·b is no sentence): their boundary points are
        # mixed in representation space
        token_ids = getattr(run, "recorded_from_token_ids", None)
        with_inputs = with_inputs and not (token_ids is not None and token_ids(epoch))
        feature_model = run.feature_model(epoch, device=device) if with_inputs else None
        inputs = run.inputs("train") if feature_model is not None else None
        return cls(X=X, logits=logits, head=run.head(epoch, device=device), test=test,
                   test_logits=test_logits, inputs=inputs,
                   feature_model=feature_model if inputs is not None else None)


@dataclass(frozen=True)
class WarmStart:
    """The previous fitted epoch, as epoch t's warm start reads it (§5.4)."""

    model: VisModel
    #: (n_train, k) kNN of X_{t-1}, for eval_sem (Eq. 11)
    knn: np.ndarray
    #: (n_train, 2) positions of the training samples at t-1
    coords: np.ndarray
    #: (n_train,) g_{t-1}'s predicted classes
    predictions: np.ndarray
    #: (n_test, 2) positions of the test samples at t-1 and their (n_test, k) neighbours among
    #: train ∪ test (:func:`dvi_widget.engine.metrics.joint_neighbours`); None without a test
    #: split (then test samples are placed afresh)
    test_coords: np.ndarray | None = None
    test_knn: np.ndarray | None = None
    #: g_{t-1}, so that a sample whose prediction changed can cross onto its new class on the
    #: previous map (:func:`cross_on_previous_map`); None: such samples move freely
    head: torch.nn.Module | None = None


@dataclass
class FittedEpoch:
    """One fitted epoch: its json ``info``, its arrays (see :mod:`dvi_widget.engine.store`)
    and V_t when it is in memory."""

    info: dict[str, Any]
    #: coords, boundary_2d, boundary_representations, boundary_pairs, knn and, with a test
    #: split and a temporal term, test_knn: the test samples' k nearest neighbours among
    #: train ∪ test (:func:`test_neighbours`) that the next epoch's warm start reads, saved so
    #: that a resumed fit reads the same ones as an uninterrupted fit
    arrays: dict[str, np.ndarray]
    model: VisModel | None = None
    #: g_t, kept from the epoch's own fit for the next epoch's warm start (None: read from the
    #: run when that needs it)
    head: torch.nn.Module | None = None


@dataclass(frozen=True)
class Boundary:
    """B_t: ``(m, h)`` representations, the ``(m, 2)`` class pairs they separate, and how they
    were made."""

    representations: np.ndarray
    pairs: np.ndarray
    note: str
    space: str


# ------------------------------------------------------------------------------ stages
def boundary_stage(data: EpochData, s: Settings, seed: int) -> Boundary:
    """§5.1: ``boundary_ratio · n_train`` boundary samples, mixed in input space when f_t and
    the inputs are available (:func:`dvi_widget.engine.boundary.synthesize_boundary`)."""
    n_train, h = data.X.shape
    n_boundary = int(round(s.boundary_ratio * n_train))
    if not n_boundary:
        return Boundary(np.zeros((0, h), np.float32), np.zeros((0, 2), np.int64),
                        "boundary_ratio=0: no boundary samples", "none")
    bnd = synthesize_boundary(
        data.X, data.logits, data.head, n_boundary, inputs=data.inputs,
        feature_model=data.feature_model, delta=s.delta, steps=s.boundary_steps,
        device=s.device, seed=seed, bfloat16=s.bfloat16)
    B = np.asarray(bnd.representations, dtype=np.float32).reshape(-1, h)
    pairs = np.asarray(bnd.pairs, dtype=np.int64).reshape(-1, 2)
    if len(B) and not np.isfinite(B).all():
        keep = np.isfinite(B).all(axis=1)
        B, pairs = B[keep], pairs[keep]
    return Boundary(B, pairs, str(bnd.note), str(bnd.space))


def complex_stage(data: EpochData, bnd: Boundary, s: Settings,
                  seed: int) -> tuple[Complex, np.ndarray]:
    """§5.2: the (k)-BAVR complex over X ∪ B with separated predictions, and X's own
    ``(n_train, k)`` kNN for eval_sem (Eq. 11). The test samples' neighbours among X are
    searched with X's own (one index serves both; ``query_indices``/``query_dists`` of the
    complex), for their placement and their neighbourhood (:func:`test_neighbours`)."""
    n_train = len(data.X)
    x_knn = test_knn = None
    if data.test is not None and len(data.test):
        x_knn, test_knn = knn_and_query(data.X, s.n_neighbors, data.test, method=s.knn_method,
                                        device=s.device, seed=seed)
    cx = bavr_complex(data.X, bnd.representations, k=s.n_neighbors, method=s.knn_method,
                      device=s.device, seed=seed, xb_weight=s.boundary_edge_weight, x_knn=x_knn)
    if test_knn is not None:
        cx = dataclasses.replace(cx, query_indices=to_numpy(test_knn[0]).astype(np.int64),
                                 query_dists=to_numpy(test_knn[1]).astype(np.float32))
    predicted = data.logits.argmax(axis=1)
    cx = separate_predictions(cx, predicted, bnd.pairs, s.separation,
                              repulsion=s.cross_repulsion)
    knn_idx = getattr(cx, "knn_indices", None)
    if knn_idx is None or np.shape(knn_idx) != (n_train, s.n_neighbors):
        knn_idx = knn(data.X, s.n_neighbors, method=s.knn_method, device=s.device, seed=seed)[0]
    knn_idx = to_numpy(knn_idx).astype(np.int64)
    cx, _ = join_own_class(cx, data.X, predicted, knn_idx, s.own_class_neighbors,
                           method=s.knn_method, device=s.device, seed=seed)
    return cx, knn_idx


def _edges(cx: Complex, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(to_numpy(cx.head), dtype=torch.long, device=dev),
            torch.as_tensor(to_numpy(cx.tail), dtype=torch.long, device=dev),
            torch.as_tensor(to_numpy(cx.weight), dtype=torch.float32, device=dev))


def layout_stage(U: torch.Tensor, cx: Complex, previous: torch.Tensor | None,
                 mobility: torch.Tensor | None, s: Settings,
                 gen: torch.Generator) -> torch.Tensor:
    """Y_t: the UMAP layout of the complex (§5.2) that φ_t learns and ψ_t inverts.

    Cold start: PCA initialisation and ``layout_iters`` epochs (None: 500 up to 10,000
    samples, 200 above, as umap-learn chooses). Warm start: the previous
    epoch's positions and up to ``warm_layout_iters`` epochs in which each sample's steps are
    scaled by its mobility (:func:`dvi_widget.engine.layout.temporal_mobility`: samples whose
    neighbourhood and prediction stayed the same stay where they were).
    """
    head, tail, edge_w = _edges(cx, U.device)
    if len(head) == 0:
        raise ValueError("the (k)-BAVR complex has no edges; cannot lay it out (are all "
                         "representations identical?)")
    cold = previous is None
    n_iter = s.layout_iters
    if n_iter is None:  # umap-learn's rule for its optimisation epochs
        n_iter = COLD_LAYOUT_ITERS if cx.n_x <= COLD_LAYOUT_LARGE else COLD_LAYOUT_ITERS_LARGE
    if not cold:
        # as many epochs as there is change to lay out: all of them while half the samples
        # are mobile, down to 40 % of them when few are
        share = 1.0 if mobility is None else float(mobility[: int(cx.n_x)].mean()) / 0.5
        n_iter = round(s.warm_layout_iters * min(1.0, max(0.4, share)))
    return umap_layout(head, tail, edge_w, pca_init(U) if cold else previous, s.a, s.b,
                       n_iter=n_iter, negative_sample_rate=s.negative_sample_rate,
                       mobility=mobility, generator=gen)


def train_stage(model: VisModel, U: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor,
                head: torch.nn.Module, previous_params: list[torch.Tensor] | None,
                similarity: float, n_train: int, s: Settings,
                gen: torch.Generator) -> TrainResult:
    """V_t = <φ_t, ψ_t> trained in place on Eq. 12 (:func:`train_vis_model`); a warm start
    (``previous_params`` given) gets ``warm_max_steps`` and an annealed learning rate. Either
    trains on past its budget while short of :data:`PPR_GOAL` or :data:`BOUNDARY_GOAL`."""
    warm = previous_params is not None
    return train_vis_model(
        model, U, Y, weights, head, previous_params=previous_params, similarity=similarity,
        lambdas=s.lambdas, prediction_weight=s.prediction_weight,
        boundary_weight=s.boundary_weight, delta=s.delta, batch_size=s.batch_size,
        learning_rate=s.learning_rate, max_steps=s.warm_max_steps if warm else s.max_steps,
        check_every=s.check_every, patience=s.patience, tol=s.tol,
        anneal=WARM_ANNEAL if warm else 1.0, keep_best=True, n_samples=n_train, generator=gen,
        bfloat16=s.bfloat16, ppr_goal=PPR_GOAL, boundary_goal=BOUNDARY_GOAL)


def warm_budget(warm_steps: int, cold_steps: int, changed: float) -> int:
    """The step budget of a warm epoch in which the share ``changed`` of the training samples
    changed their predicted class since t−1: ``warm_steps`` up to :data:`CHANGED_FREE` (0.2),
    then ``1 + CHANGED_SLOPE · (changed − CHANGED_FREE)`` times it (slope 20), at most
    :data:`CHANGED_MAX_FACTOR` (4) times and never more than ``max(warm_steps, cold_steps)``.

    V_{t−1} is a good start for what did not change; where a fifth or more of the predictions
    changed (an under-trained model's first epochs: 28–55 % on a digits CNN, 37 % on a digits
    MLP; 8–18 % between the epochs of a 10k or 60k Fashion-MNIST CNN), the prediction term of
    Eq. 12 starts far from its optimum and 100 steps left 3–6 % of the samples decoded as
    another class (ENGINE.md, "More steps where the predictions changed")."""
    factor = min(CHANGED_MAX_FACTOR,
                 1.0 + CHANGED_SLOPE * max(0.0, float(changed) - CHANGED_FREE))
    return int(min(max(warm_steps, cold_steps), round(warm_steps * factor)))


def place_stage(reps: np.ndarray | torch.Tensor, pred: np.ndarray, X: np.ndarray | torch.Tensor,
                pred_x: np.ndarray, B: np.ndarray, pairs: np.ndarray, layout: torch.Tensor,
                s: Settings, seed: int, init: np.ndarray | None = None,
                mobility: torch.Tensor | None = None,
                x_knn: tuple[torch.Tensor, torch.Tensor] | None = None) -> np.ndarray:
    """2-D positions of new samples against an epoch's fixed layout of X ∪ B (UMAP's
    ``transform``; :func:`dvi_widget.engine.layout.place_points`) with the edges each would have
    in that epoch's complex (:func:`dvi_widget.engine.complex.query_memberships`), placed in
    chunks of ``PLACE_CHUNK`` (each point's result depends only on its own neighbours).
    ``init`` (m, 2) and ``mobility`` (m,) warm-start the placement (test samples from their
    positions at t−1, steps scaled by :func:`dvi_widget.engine.layout.temporal_mobility`).
    ``x_knn`` (indices, distances): the new samples' neighbours among X when already searched
    (one search for all chunks)."""
    out = []
    for start in range(0, len(reps), PLACE_CHUNK):
        idx, w = query_memberships(
            reps[start : start + PLACE_CHUNK], pred[start : start + PLACE_CHUNK], X, pred_x,
            B if len(B) else None, pairs, s.n_neighbors, xb_weight=s.boundary_edge_weight,
            separation=s.separation, repulsion=s.cross_repulsion, method=s.knn_method,
            device=s.device, seed=seed,
            x_knn=None if x_knn is None else (x_knn[0][start : start + PLACE_CHUNK],
                                              x_knn[1][start : start + PLACE_CHUNK]))
        chunk = slice(start, start + PLACE_CHUNK)
        y = place_points(idx, w, layout, s.a, s.b, n_iter=PLACE_ITERS,
                         negative_sample_rate=s.negative_sample_rate, seed=seed,
                         init=None if init is None else to_tensor(init[chunk], layout.device),
                         mobility=None if mobility is None else mobility[chunk])
        out.append(to_numpy(y).astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def test_neighbours(data: EpochData, x_knn: tuple[torch.Tensor, torch.Tensor],
                    s: Settings) -> np.ndarray:
    """The test samples' ``k`` nearest neighbours among train ∪ test (self excluded; indices
    into ``[X; test]``, nearest first), as :func:`dvi_widget.engine.metrics.joint_neighbours`
    finds them, from their neighbours among X already searched (``x_knn``: indices and
    distances) and a search among the test samples alone: at 60k training samples a second
    search of the whole training set cost as much as the placement itself."""
    k = x_knn[0].shape[1]
    k_test = min(k, len(data.test) - 1)  # a test split smaller than k: all its others
    if k_test < 1:
        return to_numpy(x_knn[0]).astype(np.int64)
    t_idx, t_dist = knn(data.test, k_test, method=s.knn_method, device=s.device,
                        seed=s.random_state, return_tensors=True)
    idx = torch.cat([x_knn[0].to(t_idx.device), t_idx + len(data.X)], dim=1)
    dist = torch.cat([x_knn[1].to(t_dist.device), t_dist], dim=1)
    order = dist.argsort(dim=1, stable=True)[:, :k]
    return to_numpy(idx.gather(1, order)).astype(np.int64)


def test_warm_start(data: EpochData, previous: WarmStart | None, s: Settings,
                    test_knn: np.ndarray | None) -> dict[str, Any]:
    """Where epoch t's test samples start and how freely they move (§5.4): from their
    positions at t−1, with the mobility of their neighbourhood change among train ∪ test
    (Eq. 11); ``{}`` (a fresh placement) for a cold epoch, without a test split, with λ3 = 0,
    or when t−1 has no test neighbours. Placing each epoch afresh made a test sample's 2-D move
    independent of how much it changed, which is what Eq. 4 measures.

    Unlike training samples, a test sample whose prediction changed is not started afresh:
    such samples oscillate between two classes on noisy runs and jumped across the view at each
    change (a median 1.45 against 0.07 for other moves on a 30-epoch run with 10 % flipped
    labels, Eq. 4 test −0.435). They move as their neighbourhood did, and the placement's
    landscape step (:func:`dvi_widget.engine.mapping.settle_on_prediction`) then carries them
    just over the boundary onto a cell of their new class.
    ``test_knn``: epoch t's test neighbours among train ∪ test (:func:`test_neighbours`; None
    without a test split or with λ3 = 0)."""
    if (previous is None or previous.test_coords is None or previous.test_knn is None
            or data.test is None or s.lambdas[2] <= 0
            or len(previous.test_coords) != len(data.test)):
        return {}
    sem = losses.semantic_similarity(torch.as_tensor(previous.test_knn),
                                     torch.as_tensor(test_knn))
    return {"init": previous.test_coords, "mobility": temporal_mobility(sem)}


def cross_on_previous_map(coords: torch.Tensor, kept: np.ndarray, predictions: np.ndarray,
                          previous: WarmStart) -> tuple[torch.Tensor, np.ndarray]:
    """Where epoch t's training samples start their warm layout (§5.4): where the fit put them
    at t−1 (``coords``), except that a sample whose predicted class changed (``~kept``)
    first walks onto a cell of its new class on the previous map, g_{t−1}(ψ_{t−1}(y)), by the
    shortest way (:func:`dvi_widget.engine.mapping.settle_on_prediction`). Returns the start
    positions and the mask of the samples that crossed there; those then move as their
    neighbourhood did (Eq. 11), like every other sample, instead of freely.

    A sample whose prediction flips has usually changed little (its neighbourhood kept a
    median 0.73 of its 15 neighbours against 0.80 for the others on a 12-epoch Fashion-MNIST
    CNN), but moving freely it was drawn a median 1.30 away against 0.14: at each flip an
    oscillating sample jumped across the view, which cost Eq. 4 (ENGINE.md, "Samples whose
    prediction changed cross the boundary where it is"). One that finds no cell of its new
    class within reach of the previous map (its class lies elsewhere there, or the previous
    model did not predict it near) keeps its place and moves freely, as before. Without
    ``previous.head`` nothing crosses."""
    crossed = np.zeros(len(kept), dtype=bool)
    changed = np.flatnonzero(~kept)
    if previous.head is None or not len(changed):
        return coords, crossed
    rows = torch.as_tensor(changed, device=coords.device)
    spread = float(coords.float().std(dim=0).mean())
    moved, ok = settle_on_prediction(coords[rows].float(),
                                     torch.as_tensor(predictions[changed], device=coords.device),
                                     previous.model.decoded_logits(previous.head), spread)
    coords = coords.clone()
    coords[rows] = moved.to(coords.dtype)
    crossed[changed] = to_numpy(ok)
    return coords, crossed


def _settle_train(coords: np.ndarray, pred: np.ndarray, Y: torch.Tensor, model: VisModel,
                  head: torch.nn.Module, s: Settings, candidates: torch.Tensor | None = None
                  ) -> tuple[np.ndarray, float, float]:
    """Training samples are drawn on a cell of their prediction too: the few that ψ_t decodes
    as another class at their layout position Y_t (PPR's misses: mostly samples whose label
    the model has memorised against their neighbours, a 1-pixel island V_t did not carve) walk
    onto the nearest cell of their class (:func:`dvi_widget.engine.mapping.settle_on_prediction`,
    as test samples do). The others are not moved; one that does not get there stays at Y_t
    (the fitted state moves it onto its class's nearest landscape cell,
    :func:`dvi_widget.engine.embedding.assemble`). Without this, the picture lags the model as
    it memorises flipped labels (the memorisation gap: 0.065 on an MNIST CNN that memorised
    70-93 % of its flips). Returns the drawn positions, the share of training samples moved and
    the PPR of the layout itself (the share ψ_t decodes as predicted at Y_t: what V_t learned,
    before any sample is moved). ``candidates``: the samples the training's last check found
    decoded wrong with these weights (:attr:`dvi_widget.engine.train.TrainResult.mispredicted`),
    so that only those are decoded again; None: all are checked."""
    n = len(coords)
    if n == 0:
        return coords, 0.0, float("nan")
    dev = s.device
    rows = (np.arange(n) if candidates is None
            else np.unique(to_numpy(candidates).astype(np.int64)))
    spread = float(Y.float().std(dim=0).mean())
    settled, ok = settle_on_prediction(torch.as_tensor(coords[rows], device=dev),
                                       torch.as_tensor(pred[rows], device=dev),
                                       model.decoded_logits(head), spread)
    out = coords.copy()
    out[rows] = to_numpy(settled).astype(np.float32)
    moved = np.any(out != coords, axis=1)
    # wrong at the layout = moved (settled) or not got there (settle returns those unmoved)
    wrong = moved.copy()
    wrong[rows] |= ~to_numpy(ok)
    return out, float(moved.mean()), float(1.0 - wrong.mean())


def _settle_test(placed: np.ndarray, data: EpochData, test_pred: np.ndarray, X_np: np.ndarray,
                 pred_np: np.ndarray, B_np: np.ndarray, pairs: np.ndarray, Y: torch.Tensor,
                 s: Settings, x_knn: tuple[torch.Tensor, torch.Tensor], warm: bool,
                 model: VisModel, head: torch.nn.Module, stages: Stages) -> np.ndarray:
    """One map for the test samples: each is drawn on a cell of the class g_t predicts for it
    (:func:`dvi_widget.engine.mapping.settle_on_prediction` from where the placement put it).
    A warm-started sample that does not get there from where it was is placed afresh among its
    neighbours and settled from there; one that gets there from neither (an island of another
    class on a barely trained model's map) is drawn at its nearest training sample of the same
    predicted class that is drawn on that class's cell, and stays placed when it has none among
    its k neighbours."""
    dev = s.device
    spread = float(Y.float().std(dim=0).mean())
    target = torch.as_tensor(test_pred, device=dev)
    logits_of = model.decoded_logits(head)
    settled, ok = settle_on_prediction(torch.as_tensor(placed, device=dev), target, logits_of,
                                       spread)
    placed = to_numpy(settled).astype(np.float32)
    lost = to_numpy(~ok).nonzero()[0]
    if len(lost) and warm:  # a cold epoch's placement already was the fresh one
        fresh = stages.place(data.test[lost], test_pred[lost], X_np, pred_np, B_np, pairs, Y, s,
                             seed=s.random_state, x_knn=(x_knn[0][lost], x_knn[1][lost]))
        again, ok_lost = settle_on_prediction(torch.as_tensor(fresh, device=dev), target[lost],
                                              logits_of, spread)
        placed[lost[to_numpy(ok_lost)]] = to_numpy(again[ok_lost])
        lost = lost[~to_numpy(ok_lost)]
    if len(lost):
        nbr = x_knn[0][torch.as_tensor(lost, device=x_knn[0].device)].to(dev)  # (m, k) into X
        with torch.no_grad():
            drawn = Y[nbr.flatten()].float()
            shows = logits_of(drawn).argmax(dim=1).reshape(nbr.shape)
        fits = ((torch.as_tensor(pred_np, device=dev)[nbr] == target[lost][:, None])
                & (shows == target[lost][:, None]))
        has = fits.any(dim=1)
        first = fits.float().argmax(dim=1)  # nearest first
        at = Y[nbr[torch.arange(len(lost), device=dev), first]].float()
        rows = lost[to_numpy(has)]
        placed[rows] = to_numpy(at[has]).astype(np.float32)
    return placed


def landscape_stage(model: VisModel, head: torch.nn.Module, extent: np.ndarray,
                    palette: np.ndarray, s: Settings) -> tuple[np.ndarray, ...]:
    """The decision landscape of one epoch over the shared frame: RGBA, class and confidence
    per cell (:func:`dvi_widget.engine.landscape.render_landscape`)."""
    return render_landscape(model.decode, head, extent, size=s.grid_size, palette=palette,
                            delta=s.delta, device=s.device)


@dataclass(frozen=True)
class Stages:
    """The stages of :func:`fit_epoch` and of the fitted state; replace one to make a variant
    (``dataclasses.replace(STAGES, layout=...)``), each keeping its default's signature."""

    boundary: Callable[..., Boundary] = boundary_stage
    complex: Callable[..., tuple[Complex, np.ndarray]] = complex_stage
    layout: Callable[..., torch.Tensor] = layout_stage
    train: Callable[..., TrainResult] = train_stage
    place: Callable[..., np.ndarray] = place_stage
    landscape: Callable[..., tuple[np.ndarray, ...]] = landscape_stage


#: the stages of DeepVisualInsight as this package implements them
STAGES = Stages()


# ------------------------------------------------------------------------------ helpers
@torch.no_grad()
def encode(model: VisModel, reps: np.ndarray | torch.Tensor) -> np.ndarray:
    """φ_t over rows, batched: ``(n, h)`` -> ``(n, 2)`` float32."""
    dev = next(model.parameters()).device
    return to_numpy(batched(model.encode, reps, batch_size=FORWARD_BATCH, device=dev,
                            dtype=torch.float32)).astype(np.float32)


@torch.no_grad()
def decode(model: VisModel, points: np.ndarray | torch.Tensor) -> torch.Tensor:
    """ψ_t over rows, batched: ``(n, 2)`` -> ``(n, h)`` on the model's device."""
    dev = next(model.parameters()).device
    return batched(model.decode, points, batch_size=FORWARD_BATCH, device=dev,
                   dtype=torch.float32)


@torch.no_grad()
def predict(head: torch.nn.Module, reps: np.ndarray | torch.Tensor,
            device: torch.device) -> np.ndarray:
    """g_t's predicted classes of ``(n, h)`` representations, batched."""
    return to_numpy(batched(lambda r: head(r).argmax(dim=1), reps, batch_size=FORWARD_BATCH,
                            device=device, dtype=torch.float32))


@torch.no_grad()
def boundary_start(cx: Complex, prev_x: torch.Tensor, B: torch.Tensor,
                   model: VisModel) -> torch.Tensor:
    """Where a warm layout starts the new boundary points: at the membership-weighted mean
    of the previous positions of the samples they are joined to (φ_{t-1}(b) for a boundary
    point joined to none)."""
    n_x, m = int(cx.n_x), len(B)
    dev = prev_x.device
    if m == 0:
        return torch.zeros((0, 2), device=dev)
    head, tail, w = _edges(cx, dev)
    xb = (head < n_x) & (tail >= n_x)
    acc = torch.zeros(m, 2, device=dev)
    total = torch.zeros(m, device=dev)
    acc.index_add_(0, tail[xb] - n_x, prev_x[head[xb]] * w[xb, None])
    total.index_add_(0, tail[xb] - n_x, w[xb])
    start = model.encode(B) if bool((total <= 0).any()) else acc
    return torch.where((total > 0).unsqueeze(1), acc / total.clamp_min(1e-12).unsqueeze(1),
                       start)


def metric_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """The sorted rows of an ``n``-row split that its §6 scores are computed on:
    :data:`METRIC_ROWS` of them drawn by ``rng`` (``subset_rng(random_state)``, one generator
    for the train then the test split), or all ``n`` when fewer. DVI, the baselines and DeepView
    score the same rows."""
    return (np.sort(rng.choice(n, METRIC_ROWS, replace=False)) if n > METRIC_ROWS
            else np.arange(n))


def metrics_key(coords: np.ndarray, B_2d: np.ndarray, s: Settings) -> str:
    """What an epoch's :func:`epoch_metrics` depend on beyond its fitted unit (representations,
    V_t and boundary points): the drawn positions (the cell snap follows the landscape's
    frame), the boundary points' 2-D positions and the scoring settings, as a SHA-256."""
    h = hashlib.sha256()
    for a in (coords, B_2d):
        a = np.ascontiguousarray(a, dtype=np.float32)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(repr((METRIC_ROWS, METRIC_KS, int(s.random_state), DRAW, s.knn_method)).encode())
    return h.hexdigest()


@torch.no_grad()
def epoch_metrics(reps: np.ndarray, n_train: int, coords: np.ndarray, model: VisModel,
                  head: torch.nn.Module, B: np.ndarray, B_2d: np.ndarray,
                  s: Settings) -> dict[str, float]:
    """§6 metrics of one epoch (nn_pv, boundary_pv for k = 10, 15, 20, PPR) on a fixed random
    sample of ``METRIC_ROWS`` rows per split (all rows of smaller splits); ``reps`` and
    ``coords`` hold train then test rows."""
    from .metrics import evaluate_epoch

    rng = subset_rng(s.random_state)  # the same rows every epoch
    kw: dict[str, Any] = {}
    for split, sl in (("train", slice(0, n_train)), ("test", slice(n_train, len(reps)))):
        X, Y = reps[sl], coords[sl]
        # test rows' neighbours are searched among train ∪ test: any test split is scored
        if len(X) <= (max(METRIC_KS) if split == "train" else 0):
            continue
        rows = metric_rows(rng, len(X))
        pred = head(to_tensor(X[rows], s.device)).argmax(dim=1)
        pred_rec = head(decode(model, Y[rows])).argmax(dim=1)
        kw.update({f"X_{split}": X, f"Y_{split}": Y, f"rows_{split}": rows,
                   f"pred_{split}": to_numpy(pred), f"pred_{split}_rec": to_numpy(pred_rec)})
    if "X_train" not in kw:
        return {}
    return evaluate_epoch(B=B, B_2d=B_2d, ks=METRIC_KS, method=s.knn_method, device=s.device,
                          **kw)


# ------------------------------------------------------------------------------ one epoch
@dataclass(frozen=True)
class PreparedEpoch:
    """The stages of an epoch that do not depend on the previous epoch (§5.1 boundary samples,
    §5.2 complex): what a pipelined executor computes ahead of the sequential part."""

    boundary: Boundary
    complex: Complex
    knn: np.ndarray
    timings: dict[str, float]


def _clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the device's queued work is done: on a GPU the stages'
    kernels run asynchronously, and a stage's time would otherwise land in the next one."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def prepare_epoch(data: EpochData, s: Settings, *, seed: int,
                  stages: Stages = STAGES) -> PreparedEpoch:
    """Boundary samples and the complex of one epoch, from its arrays and seed alone."""
    dev = s.device
    t0 = _clock(dev)
    bnd = stages.boundary(data, s, seed)
    t1 = _clock(dev)
    cx, knn_idx = stages.complex(data, bnd, s, seed)
    return PreparedEpoch(bnd, cx, knn_idx, {"boundary": t1 - t0,
                                            "complex": _clock(dev) - t1})


def fit_epoch(data: EpochData, s: Settings, *, seed: int, previous: WarmStart | None = None,
              stages: Stages = STAGES, prepared: PreparedEpoch | None = None) -> FittedEpoch:
    """Fit one epoch (DVI §5) from its arrays, warm-started from ``previous`` (§5.4).

    ``prepared``: the epoch's boundary samples and complex when an executor computed them
    ahead (:func:`prepare_epoch` with the same data, settings and seed); computed here otherwise.

    Returns the epoch's arrays (coords of train then test samples, boundary points in 2-D and
    high-dimensional, their class pairs, X's kNN), V_t, and an ``info`` dict of what the fit
    did (boundary, edges, eval_sem, φ's error ``phi_rms``, steps, losses, timings, metrics).

    The fit seeds torch's global random state (V_t's initialisation, the cold layout's PCA) and
    restores the caller's afterwards: a fit between two training epochs changes nothing in the
    training that follows.
    """
    with own_rng(s.device):
        return _fit_epoch(data, s, seed=seed, previous=previous, stages=stages,
                          prepared=prepared)


def _fit_epoch(data: EpochData, s: Settings, *, seed: int, previous: WarmStart | None,
               stages: Stages, prepared: PreparedEpoch | None) -> FittedEpoch:
    """:func:`fit_epoch`'s body."""
    dev = s.device
    timings: dict[str, float] = {}
    t_start, cpu_start = _clock(dev), time.process_time()
    X_np, head = data.X, data.head
    n_train, h = X_np.shape

    if prepared is None:
        prepared = prepare_epoch(data, s, seed=seed, stages=stages)
    bnd, cx, knn_idx = prepared.boundary, prepared.complex, prepared.knn
    B_np, pairs = bnd.representations, bnd.pairs
    timings.update(prepared.timings)

    # Eq. 9 weights over all vertices, once per epoch
    t0 = _clock(dev)
    U = to_tensor(np.concatenate([X_np, B_np]) if len(B_np) else X_np, dev)
    weights = losses.gradient_weights(head, U, beta=s.beta)
    timings["weights"] = _clock(dev) - t0

    # warm start and temporal term (§5.4)
    torch.manual_seed(seed)
    model = VisModel(input_dim=h, hidden=s.hidden).to(dev)
    prev_params, prev_layout, mobility = None, None, None
    similarity = float("nan")
    pred_np = data.logits.argmax(axis=1)
    s_train = s  # the settings the train stage reads
    if previous is not None:
        model.load_state_dict(previous.model.state_dict())
        prev_params = [p.detach().clone() for p in model.parameters()]
        sem = torch.zeros(n_train, device=dev)
        similarity = 0.0
        if previous.knn.shape == knn_idx.shape:
            sem = losses.semantic_similarity(torch.as_tensor(previous.knn),
                                             torch.as_tensor(knn_idx)).to(dev)
            similarity = float(sem.mean())
        # a sample whose prediction changed crosses onto its new class on the previous map
        # and then moves as its neighbourhood did; one that cannot cross there moves freely
        kept = previous.predictions == pred_np
        prev_x, crossed = cross_on_previous_map(to_tensor(previous.coords, dev), kept, pred_np,
                                                previous)
        sem = sem * torch.as_tensor(kept | crossed, device=dev)
        # and the more predictions changed, the more steps V_t gets (:func:`warm_budget`)
        budget = warm_budget(s.warm_max_steps, s.max_steps, 1.0 - float(kept.mean()))
        if budget != s.warm_max_steps:
            s_train = dataclasses.replace(s, warm_max_steps=budget)
        mobility = torch.ones(len(U), device=dev)
        if s.lambdas[2] > 0:
            mobility[:n_train] = temporal_mobility(sem)
        # where the new epoch's points start: X where they were (or crossed), B among its
        # samples
        prev_layout = torch.cat([prev_x, boundary_start(cx, prev_x, U[n_train:], model)])
    model.set_normalization(U[:n_train])

    t0 = _clock(dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    Y = stages.layout(U, cx, prev_layout, mobility, s, gen)
    timings["layout"] = _clock(dev) - t0
    model.set_envelope(Y)

    t0 = _clock(dev)
    trained = stages.train(model, U, Y, weights, head, prev_params, similarity, n_train, s_train,
                           gen)
    timings["training"] = _clock(dev) - t0

    # train samples and B are shown at Y_t; test samples are placed against it like any
    # new sample (the same procedure as the fitted state's transform)
    t0 = _clock(dev)
    model.eval()
    Y_np = to_numpy(Y).astype(np.float32)
    coords, B_2d = Y_np[:n_train], Y_np[n_train:]
    coords, settled_share, ppr_layout = _settle_train(coords, pred_np, Y, model, head, s,
                                                      trained.mispredicted)
    test_knn = None
    if data.test is not None:
        test_pred = data.test_logits.argmax(axis=1)
        # the test samples' neighbours among X, searched once (with X's own, by the complex
        # stage): for their edges in the complex and for their neighbourhood among
        # train ∪ test (Eq. 11 of the next warm start)
        if cx.query_indices is not None and cx.query_indices.shape == (len(data.test),
                                                                       s.n_neighbors):
            x_knn = (torch.as_tensor(cx.query_indices, device=dev),
                     torch.as_tensor(cx.query_dists, device=dev))
        else:  # a complex stage that did not search them
            x_knn = knn(X_np, s.n_neighbors, query=data.test, method=s.knn_method, device=dev,
                        seed=s.random_state, return_tensors=True)
        if s.lambdas[2] > 0:
            test_knn = test_neighbours(data, x_knn, s)
        warm_test = test_warm_start(data, previous, s, test_knn)
        placed = stages.place(data.test, test_pred, X_np, pred_np, B_np, pairs, Y, s,
                              seed=s.random_state, x_knn=x_knn, **warm_test)
        placed = _settle_test(placed, data, test_pred, X_np, pred_np, B_np, pairs, Y, s,
                              x_knn, bool(warm_test), model, head, stages)
        coords = np.concatenate([coords, placed])
    with torch.no_grad():
        phi_rms = float((model.encode(U) - Y).pow(2).sum(dim=1).mean().sqrt())
    timings["embed"] = _clock(dev) - t0

    metrics: dict[str, float] = {}
    if s.compute_metrics:
        t0 = _clock(dev)
        reps = X_np if data.test is None else np.concatenate([X_np, data.test])
        metrics = epoch_metrics(reps, n_train, coords, model, head, B_np, B_2d, s)
        timings["metrics"] = _clock(dev) - t0
    timings["total"] = _clock(dev) - t_start
    # CPU seconds of the process (all threads): unlike wall-clock, unaffected by other jobs
    timings["cpu"] = time.process_time() - cpu_start

    arrays = {"coords": coords, "boundary_2d": B_2d, "boundary_representations": B_np,
              "boundary_pairs": pairs, "knn": knn_idx}
    if test_knn is not None:
        arrays["test_knn"] = test_knn
    info = {
        "n_boundary": len(B_np), "boundary_space": bnd.space, "boundary_note": bnd.note,
        "n_edges": int(len(cx.head)), "eval_sem_mean": similarity, "a": s.a, "b": s.b,
        "phi_rms": phi_rms, "settled_train": settled_share, "ppr_train_layout": ppr_layout,
        "steps": trained.steps, "loss_history": trained.history,
        "final_loss": trained.final_loss, "timings": timings, "metrics": metrics,
    }
    return FittedEpoch(info=info, arrays=arrays, model=model)
