"""The DeepVisualInsight estimator :class:`DVI`: its parameters, ``fit`` and ``load``.

``DVI(...).fit(run)`` fits one visualization model per recorded epoch, in chronological order:
each epoch goes through :func:`dvi_widget.engine.pipeline.fit_epoch` (boundary -> complex ->
layout -> V_t -> placement of the test samples), warm-started from the previous one and saved by
:mod:`dvi_widget.engine.store` as it finishes. The fitted state, with the frame shared by all
epochs and the landscapes, is a :class:`dvi_widget.engine.embedding.DVIEmbedding`
(``dvi.embedding_``); ``DVI`` exposes its methods and attributes under the same names
(``dvi.transform``, ``dvi.inverse``, ``dvi.score``, ``dvi.visualization``, ``dvi.coords_``, ...).

``fit(run, resume=True)`` reuses every epoch fitted with the same parameters after the same
previous epoch from the run's current recording of it, so an interrupted fit continues after the
last finished epoch; :meth:`DVI.load` reads a fit back, and what happens when the run changed
under it is :mod:`dvi_widget.engine.resume`'s. A variant engine replaces stages
(:class:`dvi_widget.engine.pipeline.Stages`) on a subclass::

    class MyDVI(DVI):
        stages = dataclasses.replace(DVI.stages, layout=my_layout)

Explanations (``what_if``, ``adversarial``, ``robustness``, ``surrogate``) sit above the engine:
the public ``dvi_widget.DVI`` adds them to this class.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .._tensor import DeviceLike, resolve_device
from ..data.epochs import EveryNth
from . import resume as stale_policy
from .complex import nndescent_compiles_next
from .distributed import check_executor
from .embedding import DVIEmbedding, assemble, load_model
from .estimator import Estimator, delegate, is_int, is_real
from .estimator import NotFittedError as NotFittedError
from .metrics import joint_neighbours
from .pipeline import STAGES, EpochData, FittedEpoch, Settings, Stages, WarmStart, fit_epoch
from .resume import ON_STALE as ON_STALE
from .resume import StaleFitError as StaleFitError
from .store import FitStore, fingerprint

#: what the progress bar says while each stage of an epoch runs (:func:`announcing`)
STAGE_NAMES = {"boundary": "boundary samples", "complex": "kNN complex", "layout": "layout",
               "train": "training φ/ψ", "place": "placing test samples",
               "landscape": "landscape"}
#: the bar's note while the kNN complex builds the process's first pynndescent index
COMPILE_NOTE = " (compiling pynndescent, once per process: ~20 s)"


def announcing(stages: Stages, say: Callable[[str], None]) -> Stages:
    """``stages`` with each stage calling ``say(name)`` before it runs (the progress bar names
    what an epoch is doing: a cold epoch at 60k takes half a minute)."""
    def announced(name: str, stage: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(stage)
        def run(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - the stage's own
            say(name)
            return stage(*args, **kwargs)
        return run
    return dataclasses.replace(stages, **{f.name: announced(f.name, getattr(stages, f.name))
                                          for f in dataclasses.fields(stages)})


#: parameters that do not change the fitted visualization models (left out of the hash)
_UNHASHED = frozenset({"verbose", "device", "compute_metrics", "grid_size", "extent_quantile",
                       "extent_margin"})
#: upper bounds of the parameters that count iterations (or, for ``negative_sample_rate``,
#: multiply an iteration's work), so that no setting fits indefinitely
MAX_ITERATIONS = {"max_steps": 100_000, "warm_max_steps": 100_000, "layout_iters": 10_000,
                  "warm_layout_iters": 10_000, "boundary_steps": 64, "check_every": 10_000,
                  "patience": 1_000, "negative_sample_rate": 100}
#: the fitted state's attributes that a fitted DVI exposes as its own
FITTED_ATTRIBUTES = frozenset({
    "run_", "store_", "device_", "a_", "b_", "params_hash_", "epochs_", "coords_", "boundary_",
    "boundary_representations_", "boundary_pairs_", "knn_", "epoch_info_", "n_steps_",
    "extent_", "landscape_", "landscape_classes_", "landscape_confidence_", "timings_"})


def _chosen_epochs(run: Any, epochs: Iterable[int] | EveryNth | None) -> list[int]:  # noqa: ANN401
    """The recorded epochs to fit, sorted; a clear error for anything else."""
    recorded = sorted(int(e) for e in getattr(run, "epochs", []))
    if not recorded:
        raise ValueError(f"run at {getattr(run, 'path', '?')} has no recorded epochs; record "
                         "at least one with run.record(model, epoch) before fitting.")
    if epochs is None:
        return recorded
    if isinstance(epochs, EveryNth):
        return epochs.of(recorded)
    if isinstance(epochs, str | bytes) or not isinstance(epochs, Iterable):
        raise TypeError(f"epochs must be a sequence of recorded epoch numbers (ints), got "
                        f"{epochs!r} ({type(epochs).__name__})")
    given = list(epochs)
    bad = [e for e in given if isinstance(e, bool) or not isinstance(e, int | np.integer)]
    if bad:
        raise TypeError(f"epochs must hold recorded epoch numbers (ints), got {bad[:3]!r} in "
                        f"epochs={given!r}")
    chosen = sorted({int(e) for e in given})
    missing = [e for e in chosen if e not in recorded]
    if missing or not chosen:
        raise ValueError(f"epochs={given!r}: {missing or 'none'} not recorded; recorded epochs "
                         f"are {recorded}")
    return chosen


# ------------------------------------------------------------------------------ estimator
class DVI(Estimator):
    """DeepVisualInsight: per-epoch 2-D projection and decision landscape of a recorded run.

    Parameters
    ----------
    n_neighbors : int, default 15
        k of the (k)-BAVR complex (§5.2) and of ``eval_sem`` (Eq. 11).
    boundary_ratio : float, default 0.1
        Boundary samples per epoch as a share of the training samples (§6: 0.1 N).
    boundary_edge_weight : float, default 0.3
        Scale of the sample–boundary memberships of the complex (relation (b) of Def. 3). At
        1.0, as in the reference code, half of each sample's attraction goes to boundary points
        and neighbour preservation drops (measured: ENGINE.md's departures).
    delta : float, default 0.1
        δ of the δ-boundary (Def. 2), for synthesis and for the white landscape cells. With
        two classes the gap is that of the two softmax probabilities (min-max rescaling of two
        logits is always 0 and 1): the band where the top class has probability 0.45–0.55.
    hidden : int | sequence of int | None, default None
        Hidden widths of the encoder (decoder mirrored); None is the paper's ``[h/2] * 4``
        capped at 128 units (see :data:`dvi_widget.engine.model.MAX_DEFAULT_WIDTH`).
    lambdas : (float, float, float), default (1.0, 1.0, 0.3)
        Weights of Eq. 12: λ1 of φ's fit to the UMAP layout, λ2 of the reconstruction (Eq. 8),
        λ3 of Eq. 10's weight drift; λ3 = 0 also turns off the layout's temporal mobility.
    prediction_weight : float, default 1.0
        Weight of the prediction term added to Eq. 8 (KL from g(x) to g(ψ(y)) plus the
        cross-entropy of g(ψ(y)) against g's class for x); 0 is the paper.
    boundary_weight : float, default 2.0
        Weight of the boundary term added to Eq. 8: ψ decodes each boundary point's 2-D
        position onto g's δ-boundary (hinge on the normalised top-2 gap, see
        :func:`dvi_widget.engine.losses.boundary_loss`), so the landscape's white band is
        where the model's boundary is; 0 leaves it out. Measured on eight runs (ENGINE.md, "ψ
        decodes boundary points onto the boundary"): at 1.0 the worst epoch decoded 0.46–0.72
        of the boundary points onto the boundary, at 2.0 0.56–0.72, PPR held.
    separation : float, default 0.01
        Scale of complex edges joining different predicted classes (1.0 is the paper). Keeps
        each predicted class together in the layout, so the landscape under a sample shows its
        predicted class (PPR).
    cross_repulsion : float, default 0.25
        Sample–sample complex edges joining different predicted classes push their two ends
        apart instead of pulling them together, with this share of their membership as the
        chance per layout iteration (0 keeps them as weak attractions scaled by
        ``separation``; at most 1). Boundary points join both their classes' samples and
        interleave the two where the classes meet, so samples whose neighbours are mostly
        their own class were drawn among another's, where no smooth ψ decodes them as
        predicted; the repulsion sorts that frontier. On Fashion-MNIST 10k / 60k it lifted PPR
        train (worst epoch) from 0.954 / 0.954 to 0.977 / 0.974 with nn_pv(15) unchanged, at
        a cost of up to 0.015 in Eq. 4 and boundary_pv (ENGINE.md: "Crossing neighbours repel").
    own_class_neighbors : int, default 0
        A sample fewer than half of whose ``n_neighbors`` nearest neighbours share its predicted
        class gets complex edges to this many nearest samples of its own predicted class, so
        the layout draws it at the edge of its class's region rather than inside another's
        (:func:`dvi_widget.engine.complex.join_own_class`); 0 (the default) turns this off.
        It trades PPR for neighbour and temporal preservation: on Fashion-MNIST 10k (5 epochs)
        0 / 5 / 10 / 15 gave PPR train (worst epoch) 0.954 / 0.964 / 0.971 / 0.993, Eq. 4 train
        −0.501 / −0.483 / −0.461 / −0.451, nn_pv(15) 0.360 / 0.355 / 0.352 / 0.345; on a barely
        trained model it also draws low-margin samples inside their class's region rather than
        at its boundary (ENGINE.md: "Outlying samples may join their own class").
    beta : float, default 1.0
        Exponent of the gradient weights (Eq. 8).
    min_dist, spread : float, default 0.1, 1.0
        UMAP curve parameters; ``a, b`` are fitted from them.
    negative_sample_rate : int, default 5
        Negative pairs per sampled edge (at most 100).
    batch_size : int, default 1024
        Vertices per training step of V_t (at most a quarter of X ∪ B).
    learning_rate : float, default 0.01
        Adam's initial learning rate (§6); divided by 10 at the first plateau.
    max_steps : int, default 300
        Step budget of V_t for the first fitted epoch (cold start); at most 100,000. An epoch
        (cold or warm) whose budget runs out (no plateau) with more than 2.5 % of the training
        samples decoded as another class than g's trains on, ``check_every`` steps at a time,
        until no more than that many do, or while fewer than 60 % of the boundary points decode
        onto g's δ-boundary, up to twice its budget
        (:data:`dvi_widget.engine.pipeline.PPR_GOAL`, ``BOUNDARY_GOAL``).
    warm_max_steps : int, default 100
        Step budget of warm-started epochs (V_{t-1}'s weights, a layout that barely moved), over
        which the learning rate decays to :data:`dvi_widget.engine.pipeline.WARM_ANNEAL` of its
        start; at most 100,000. An epoch in which more than a fifth of the training samples
        changed their predicted class gets up to 4 times it (never more than ``max_steps``;
        :func:`dvi_widget.engine.pipeline.warm_budget`). Both budgets are capped at 100 passes
        over X ∪ B. Every fit ends with the weights, among those seen at the checks (every
        ``check_every`` steps and after the last), that decode the fewest training samples as
        another class than g's.
    check_every, patience, tol : int, int, float, default 20, 3, 0.003
        Early stopping: every ``check_every`` steps (at most 10,000) the mean loss of the
        window must improve on the best by a relative ``tol``; after ``patience`` windows (at
        most 1,000) without that the learning rate decays once, and after ``patience`` more
        training stops.
    boundary_steps : int, default 8
        Bisection steps of the boundary synthesis (at most 64).
    layout_iters, warm_layout_iters : int or None, int, default None, 150
        Epochs of the layout (:mod:`dvi_widget.engine.layout`) for the cold start (from PCA;
        None is umap-learn's rule: 500 for up to 10,000 training samples, 200 above) and at
        most for warm-started epochs (from the previous positions; fewer, down to 40 %, when
        few samples are mobile); each at most 10,000.
    knn_method : {"auto", "exact", "nndescent"}, default "auto"
    precision : {"auto", "float32", "bfloat16"}, default "auto"
        Arithmetic of V_t's training steps and of the boundary search: "bfloat16" runs their
        forward passes under bfloat16 autocast (weights, losses and everything after training
        stay float32; each boundary point found is checked and kept in float32), ~1.75–2×
        faster where the hardware has bfloat16 products; "auto" is "bfloat16" on such a
        device (a CPU with AVX512-BF16 or AMX, a CUDA GPU that supports it) and "float32"
        elsewhere, so results can differ in the last digits between such machines.
    grid_size : int, default 256
        Landscape cells per side.
    extent_quantile, extent_margin : float, default 0.001, 0.1
        The shared frame covers the per-axis ``[q, 1-q]`` quantiles of all coordinates of all
        epochs, squared and padded by the margin.
    compute_metrics : bool, default False
        Score each epoch during fit (nn_pv, boundary_pv, PPR; §6) on a fixed random sample of
        ``METRIC_ROWS`` rows per split. By default the scores are computed on the first call of
        :meth:`score` (or :meth:`visualization`) instead, so that fitting does only fitting,
        and kept in the fit folder for the next time the fit is opened.
        Eq. 4 spans all epochs (:meth:`DVI.temporal_pv`).
    device : str, default "auto"
        "auto" is CUDA when available, else the CPU.
    random_state : int, default 0
        Seeds model initialisation, sampling and boundary synthesis (per epoch), so a fit on the
        CPU is deterministic and a resumed fit equals an uninterrupted one.
    verbose : bool, default True
        Show a progress bar over epochs that names the stage each epoch is in, and says when
        the kNN search is about to compile pynndescent (~20 s, once per process: the first
        approximate search, which the CPU uses above 10,000 samples of 512 dimensions and
        20,000 of up to 128).

    Attributes
    ----------
    embedding_ : :class:`dvi_widget.engine.embedding.DVIEmbedding`
        The fitted state; its attributes (``epochs_``, ``coords_``, ``extent_``,
        ``landscape_``, ``epoch_info_``, ``timings_``, ...) read as this estimator's.
    stages : :class:`dvi_widget.engine.pipeline.Stages`
        The pipeline's stages (a class attribute; a variant engine replaces one).

    Examples
    --------
    >>> dvi = DVI().fit(run)
    >>> Widget(dvi.visualization())
    """

    #: the stages of each epoch's fit (see :mod:`dvi_widget.engine.pipeline`)
    stages: Stages = STAGES

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
        boundary_weight: float = 2.0,
        separation: float = 0.01,
        own_class_neighbors: int = 0,
        cross_repulsion: float = 0.25,
        beta: float = 1.0,
        min_dist: float = 0.1,
        spread: float = 1.0,
        negative_sample_rate: int = 5,
        batch_size: int = 1024,
        learning_rate: float = 0.01,
        max_steps: int = 300,
        warm_max_steps: int = 100,
        check_every: int = 20,
        patience: int = 3,
        tol: float = 0.003,
        boundary_steps: int = 8,
        layout_iters: int | None = None,
        warm_layout_iters: int = 150,
        knn_method: str = "auto",
        precision: str = "auto",
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
        self.boundary_weight = boundary_weight
        self.separation = separation
        self.own_class_neighbors = own_class_neighbors
        self.cross_repulsion = cross_repulsion
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
        self.precision = precision
        self.grid_size = grid_size
        self.extent_quantile = extent_quantile
        self.extent_margin = extent_margin
        self.compute_metrics = compute_metrics
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    FITTED_ATTRIBUTES = FITTED_ATTRIBUTES
    UNHASHED = _UNHASHED
    MAX_INT = MAX_ITERATIONS

    # -------------------------------------------------------------------- parameters
    def _json_params(self) -> dict[str, Any]:
        """The parameters as a fitted epoch's json keeps them (sequences as lists)."""
        params = super()._json_params()
        params["hidden"] = None if self.hidden is None else (
            self.hidden if isinstance(self.hidden, int) else list(self.hidden))
        params["lambdas"] = list(self.lambdas)
        return params

    def _params_hash(self) -> str:
        """What identifies the fitted models: the hashed parameters, and the stages a variant
        replaced."""
        if self.stages == STAGES:
            return super()._params_hash()
        return super()._params_hash({"stages": {
            f.name: f"{getattr(s, '__module__', '?')}.{getattr(s, '__qualname__', s)}"
            for f in dataclasses.fields(Stages)
            if (s := getattr(self.stages, f.name)) is not getattr(STAGES, f.name)}})

    def _validate_params(self) -> None:
        """Check every parameter before any work; errors name it, say what it must be and,
        for ``grid_size``, what it would cost."""

        fail, integer, real = self._fail, self._check_int, self._check_real
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
        real("boundary_weight", 0)
        real("separation", 0, 1)
        integer("own_class_neighbors", 0, 1000)
        real("cross_repulsion", 0, 1)
        real("spread", 0, lo_open=True)  # before min_dist, whose range depends on it
        real("min_dist", 0, 3 * self.spread, hi_open=True)
        integer("negative_sample_rate", 1)
        for name in ("batch_size", "max_steps", "warm_max_steps", "check_every", "patience",
                     "boundary_steps", "grid_size"):
            integer(name, 1)
        for name in ("layout_iters", "warm_layout_iters"):
            if name != "layout_iters" or self.layout_iters is not None:
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
        self._check_choice("knn_method", ("auto", "exact", "nndescent"))
        self._check_choice("precision", ("auto", "float32", "bfloat16"))
        real("extent_quantile", 0, 0.5, hi_open=True)
        real("extent_margin", 0)
        integer("random_state", 0)

    # -------------------------------------------------------------------- fit
    def fit(
        self,
        run: Any,  # noqa: ANN401 - a dvi_widget.Run
        epochs: Sequence[int] | EveryNth | None = None,
        resume: bool = True,
        cache_dir: str | os.PathLike | None = None,
        executor: str | None = None,
        ray_address: str | None = None,
    ) -> DVI:
        """Fit one visualization model per epoch of ``run`` (DVI §5), saving each as it finishes.

        Parameters
        ----------
        run : dvi_widget.Run
            The recorded run (representations, logits and heads per epoch).
        epochs : sequence of int or ``dvi_widget.every(n)``, optional
            Epochs to fit (default all recorded ones), fitted in chronological order; epoch t is
            warm-started from the previous epoch of this list. Only these are shown: the
            slider steps through them and nothing between them is interpolated.
        resume : bool, default True
            Reuse epochs already saved in the run's ``dvi/`` folder with the same parameters,
            warm-started from the previous epoch as it is saved now, and from the same recording
            of the epoch; False refits everything.
        cache_dir : path, optional
            Where the frame and landscapes go if the fit folder later becomes read-only (see
            :class:`dvi_widget.engine.store.FitStore`).
        executor : None or ``"ray"``
            ``"ray"``: each epoch's reading, boundary samples and complex run as Ray tasks
            pipelined ahead of the sequential layout and φ/ψ training (the extra
            ``dvi_widget[ray]``; the result equals this process's fit with the same seeds).
            See :mod:`dvi_widget.engine.distributed`.
        ray_address : the Ray cluster to join (``ray.init(address=...)``); default: the one
            already initialised in this process, else a local one.

        Returns
        -------
        self
        """
        self._validate_params()
        executor = check_executor(executor)
        device = resolve_device(self.device)
        chosen = _chosen_epochs(run, epochs)
        n_train = int(run.n_train)
        if n_train <= self.n_neighbors:
            raise ValueError(f"the run has {n_train} training samples but n_neighbors="
                             f"{self.n_neighbors}; need more samples than neighbours (lower "
                             "n_neighbors or record more samples).")
        settings = Settings.of(self.get_params(), device)
        params_hash = self._params_hash()
        store = FitStore(run.path, cache_dir)
        store.prepare()
        with_inputs = int(round(self.boundary_ratio * n_train)) > 0

        from tqdm.auto import tqdm

        fitted: dict[int, FittedEpoch] = {}
        prev_epoch: int | None = None
        chain_ok = resume
        prefetch = None
        if executor == "ray":
            from .distributed import RayPrefetch

            prefetch = RayPrefetch(run, chosen, settings, with_inputs, self.stages,
                                   address=ray_address)
        bar = tqdm(chosen, desc="DVI", unit="epoch", disable=not self.verbose)
        shown = {"epoch": None}

        def say(stage: str) -> None:
            note = COMPILE_NOTE if stage == "complex" and nndescent_compiles_next(
                n_train, int(run.rep_dim), settings.knn_method, device) else ""
            bar.set_postfix_str(f"epoch {shown['epoch']}: {STAGE_NAMES.get(stage, stage)}{note}")

        stages = announcing(self.stages, say) if self.verbose else self.stages
        try:
            for epoch in bar:
                shown["epoch"] = epoch
                prev_unit = None if prev_epoch is None else store.unit_token(prev_epoch)
                if chain_ok and store.is_finished(epoch, params_hash, prev_epoch, run,
                                                  previous_unit=prev_unit):
                    fitted[epoch] = stale_policy.reuse(store, epoch)
                    bar.set_postfix_str(f"epoch {epoch}: reused")
                else:
                    chain_ok = False
                    warm = None if prev_epoch is None else self._warm_start(
                        run, store, settings, prev_epoch, fitted[prev_epoch])
                    prepared = None if prefetch is None else prefetch.get(epoch)
                    data = EpochData.from_run(run, epoch, device, with_inputs)
                    done = fit_epoch(data, settings, seed=settings.seed(epoch), previous=warm,
                                     stages=stages, prepared=prepared)
                    info = {
                        "epoch": int(epoch), "previous_epoch": prev_epoch,
                        "previous_unit": prev_unit,
                        "params_hash": params_hash, "params": self._json_params(),
                        "n_train": n_train, "n_test": int(run.n_test),
                        "rep_dim": int(data.X.shape[1]), "fingerprint": fingerprint(run, epoch),
                        **done.info}
                    store.save_epoch(epoch, done.model.state_dict(), done.arrays, info)
                    fitted[epoch] = FittedEpoch(info=info, arrays=done.arrays, model=done.model,
                                                head=data.head)
                    bar.set_postfix_str(f"epoch {epoch}: {info['steps']} steps, "
                                        f"{info['timings']['total']:.1f}s")
                if prev_epoch is not None:  # read by the next epoch's warm start only
                    fitted[prev_epoch].arrays.pop("test_knn", None)
                    fitted[prev_epoch].head = None
                prev_epoch = epoch
        except KeyboardInterrupt:
            warnings.warn(f"DVI.fit interrupted; finished epochs {sorted(fitted)} are saved under "
                          f"{store.folder}. Call fit(run) again to continue from there.",
                          stacklevel=2)
            if fitted:
                self.embedding_ = assemble(run, store, settings, params_hash, fitted,
                                           self.stages)
            raise
        finally:
            bar.close()
            if prefetch is not None:
                prefetch.close()
            store.release()  # a fit, finished or failed, leaves the fit folder to the next
        self.embedding_ = assemble(run, store, settings, params_hash, fitted, self.stages)
        return self

    def _warm_start(self, run: Any, store: FitStore, settings: Settings,  # noqa: ANN401
                    prev_epoch: int, prev: FittedEpoch) -> WarmStart:
        """What epoch t reads of the previous fitted epoch (§5.4); a reused epoch's V_t is
        read from the fit folder."""
        if prev.model is None:
            prev.model = load_model(store, prev_epoch, int(run.rep_dim), self.hidden,
                                    settings.device)
        if prev.head is None:  # a reused epoch: g_{t-1} was not loaded by its own fit
            prev.head = run.head(prev_epoch, device=settings.device)
        n_train, n_test = int(run.n_train), int(run.n_test)
        test: dict[str, Any] = {}
        if n_test and settings.lambdas[2] > 0:  # test samples start where they were (§5.4)
            test_knn = prev.arrays.get("test_knn")
            if test_knn is None:  # a fit folder written before test_knn was saved
                test_knn = joint_neighbours(
                    np.asarray(run.representations(prev_epoch, "train"), np.float32),
                    np.asarray(run.representations(prev_epoch, "test"), np.float32),
                    settings.n_neighbors, method=settings.knn_method, device=settings.device)
            test = {"test_coords": prev.arrays["coords"][n_train:], "test_knn": test_knn}
        return WarmStart(model=prev.model, knn=prev.arrays["knn"],
                         coords=prev.arrays["coords"][:n_train],
                         predictions=np.asarray(run.logits(prev_epoch, "train")).argmax(axis=1),
                         head=prev.head, **test)

    # -------------------------------------------------------------------- loading
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
            the unchanged epochs before it). See :mod:`dvi_widget.engine.resume`.
        cache_dir : see :class:`dvi_widget.engine.store.FitStore`.

        The epochs loaded are the chain of finished epochs that share the parameters of the
        newest fit.
        """
        stale_policy.check_on_stale(on_stale)
        if isinstance(run, str | os.PathLike):
            from ..data.run import Run

            run = Run.open(run)
        store = FitStore(run.path, cache_dir)
        saved = stale_policy.saved_fit(store, cls._param_names())
        self = cls(**{**saved.params, "device": device, "verbose": verbose})
        self._validate_params()
        settings = Settings.of(self.get_params(), resolve_device(device))
        params_hash = self._params_hash()
        chain, refit = stale_policy.epochs_to_load(store, saved, params_hash, run, on_stale)
        if refit:
            return self.fit(run, epochs=chain, cache_dir=cache_dir)
        fitted = {e: stale_policy.reuse(store, e) for e in chain}
        for e in chain:  # read every model now: a damaged file fails here, naming itself
            fitted[e].model = load_model(store, e, int(run.rep_dim), self.hidden,
                                         settings.device)
            fitted[e].arrays.pop("test_knn", None)  # read by a fit's next warm start only
        self.embedding_ = assemble(run, store, settings, params_hash, fitted, self.stages)
        return self

    # -------------------------------------------------------------------- the fitted state
    def _inspector(self) -> Any:  # noqa: ANN401 - a contract.Inspector, or None
        """The inspector :meth:`visualization` hands to the view (None: the engine's own
        :class:`dvi_widget.engine.inspect.EngineInspector`); a facade adds to it."""
        return None

    def visualization(self) -> Any:  # noqa: ANN401 - a dvi_widget.contract.Visualization
        """Everything the widget shows, for all fitted epochs, as a
        :class:`dvi_widget.contract.Visualization` (see :meth:`DVIEmbedding.visualization`),
        with a progress bar (``verbose``) while epochs not yet scored are scored."""
        return self.embedding_.visualization(inspector=self._inspector(),
                                             progress=bool(self.verbose))

    transform = delegate(DVIEmbedding, "transform")
    encode = delegate(DVIEmbedding, "encode")
    project = delegate(DVIEmbedding, "project")
    inverse_transform = delegate(DVIEmbedding, "inverse_transform")
    inverse = delegate(DVIEmbedding, "inverse")
    score = delegate(DVIEmbedding, "score")
    temporal_pv = delegate(DVIEmbedding, "temporal_pv")
    events = delegate(DVIEmbedding, "events")

