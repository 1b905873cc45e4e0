"""The DeepView estimator :class:`DeepView`: parameters, ``fit(run)``, ``load(run)``.

Per recorded epoch, in chronological order: the DiDi kNN graph on candidate pairs
(:func:`~dvi_widget.engine.deepview.graph.candidate_graph`), UMAP of it initialised with the
previous epoch's positions (the first epoch: spectral), and π⁻¹ (Theorem 2) fitted on a fixed
70 % of the samples (the other 30 % score Q_¬data), into the representation space and, when the
run kept its inputs, into the input space. Then the frame shared by all epochs and each epoch's
landscape. The fit is saved to ``run.path / "deepview"`` (:mod:`.store`) and read back by
:meth:`DeepView.load`.
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..._random import DRAW, subset_rng
from ..._tensor import DeviceLike, resolve_device
from ...contract import square_extent
from ..estimator import Estimator, delegate, is_int
from ..estimator import NotFittedError as NotFittedError
from . import store
from .embedding import SPACES, DeepViewEmbedding
from .inverse import RBFInverse

FITTED_ATTRIBUTES = frozenset({
    "run_", "device_", "space_", "epochs_", "coords_", "knn_", "inverses_", "scales_",
    "fit_rows_", "held_rows_", "extent_", "landscape_", "landscape_classes_",
    "landscape_confidence_", "timings_", "params_"})
#: the key prefix of each π⁻¹'s arrays in a saved epoch (store.py's epoch_XXXXX.npz)
INVERSE_PREFIX = {"representation": "rep_", "input": "in_"}
#: parameters that do not change the fitted epochs
_UNHASHED = frozenset({"verbose", "device", "grid_size", "extent_quantile", "extent_margin",
                       "delta"})


class DeepView(Estimator):
    """DeepView (Schulz, Hinder & Hammer, IJCAI 2019): a discriminative UMAP of each recorded
    epoch and an inverse π⁻¹ that paints the classifier's decisions under it.

    Parameters
    ----------
    lam : float, default 0.65
        λ of Definition 1: weight of the Euclidean term against the Jensen–Shannon pullback
        (the paper's choice for CIFAR-10 and Fashion-MNIST).
    n_steps : int, default 5
        Segments of the straight-line approximation of the DiDi arc length.
    n_neighbors : int, default 30
        UMAP's neighbours (the sample itself included, as UMAP counts), as in the paper.
    widen : float, default 3.0
        Euclidean candidates per sample, as a multiple of ``n_neighbors``; DiDi distances are
        computed on these pairs only (symmetrised), the ``n_neighbors`` smallest kept.
    space : {"representation", "input"}, default "representation"
        Where distances are computed: on the recorded representations with the head g_t as the
        classifier, or on the recorded inputs with the whole model g_t ∘ f_t (the run must keep
        its inputs and its architecture).
    normalise : bool, default True
        Divide each DiDi term by its largest value over a fixed random sample of 4,096 pairs
        before mixing (the authors' code divides by the largest over all pairs); False mixes
        them unscaled, as the paper's equation is printed.
    min_dist, spread : float, default 0.1, 1.0
        UMAP's curve parameters.
    n_epochs : int or None, default None
        UMAP's optimisation epochs for the first fitted epoch (None: umap-learn's default).
    warm_n_epochs, warm_learning_rate : int, float, default 100, 0.1
        UMAP's optimisation epochs and learning rate for the later epochs, which start from
        the previous epoch's positions (UMAP-T style): fewer, gentler steps keep playback one
        stable frame (measured on Fashion-MNIST: the median sample moves 6 % of the frame
        between epochs, against 26 % with umap-learn's defaults from the same start).
    holdout : float, default 0.3
        Share of the samples left out of π⁻¹'s fit (for Q_¬data; the paper fits on 70 %).
    inverse_width : float, default 0.5
        π⁻¹'s kernel half-width in units of the median distance between neighbouring centres
        (measured on Fashion-MNIST, 1k and 10k samples: 0.5 gives Q_data 0.997-0.999, 1.0
        0.993-0.994, 2.0 0.98; Q_¬data is the same within 0.01, set by the layout).
    inverse_neighbors : int, default 16
        Centres each point of π⁻¹ sums over.
    inverse_steps : int, default 30
        Conjugate-gradient iterations fitting π⁻¹'s prototypes θ (least squares; fewer
        regularise more).
    inverse_inputs : bool, default True
        Also fit π⁻¹ into the input space when the run kept its inputs (what the model sees at
        a spot of the view).
    knn_method : {"auto", "exact", "nndescent"}, default "auto"
        The Euclidean candidate search (:func:`dvi_widget.engine.complex.knn`).
    grid_size : int, default 256
        Landscape cells per side.
    delta : float, default 0.1
        White landscape cells where the normalised top-2 gap is below δ (as DVI's).
    extent_quantile, extent_margin : float, default 0.001, 0.1
        The shared frame (as DVI's).
    device : str, default "auto"
    random_state : int, default 0
    verbose : bool, default True
        Progress bars.

    Examples
    --------
    >>> dv = DeepView().fit(run)
    >>> Widget(dv.visualization())
    >>> pd.concat({"DVI": dvi.score(), "DeepView": dv.score()})
    """

    def __init__(
        self,
        lam: float = 0.65,
        n_steps: int = 5,
        n_neighbors: int = 30,
        *,
        widen: float = 3.0,
        space: str = "representation",
        normalise: bool = True,
        min_dist: float = 0.1,
        spread: float = 1.0,
        n_epochs: int | None = None,
        warm_n_epochs: int = 100,
        warm_learning_rate: float = 0.1,
        holdout: float = 0.3,
        inverse_width: float = 0.5,
        inverse_neighbors: int = 16,
        inverse_steps: int = 30,
        inverse_inputs: bool = True,
        knn_method: str = "auto",
        grid_size: int = 256,
        delta: float = 0.1,
        extent_quantile: float = 0.001,
        extent_margin: float = 0.1,
        device: DeviceLike = "auto",
        random_state: int = 0,
        verbose: bool = True,
    ) -> None:
        self.lam = lam
        self.n_steps = n_steps
        self.n_neighbors = n_neighbors
        self.widen = widen
        self.space = space
        self.normalise = normalise
        self.min_dist = min_dist
        self.spread = spread
        self.n_epochs = n_epochs
        self.warm_n_epochs = warm_n_epochs
        self.warm_learning_rate = warm_learning_rate
        self.holdout = holdout
        self.inverse_width = inverse_width
        self.inverse_neighbors = inverse_neighbors
        self.inverse_steps = inverse_steps
        self.inverse_inputs = inverse_inputs
        self.knn_method = knn_method
        self.grid_size = grid_size
        self.delta = delta
        self.extent_quantile = extent_quantile
        self.extent_margin = extent_margin
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    FITTED_ATTRIBUTES = FITTED_ATTRIBUTES
    UNHASHED = _UNHASHED

    # -------------------------------------------------------------------- parameters
    def _validate_params(self) -> None:
        """Check every parameter before any work; errors name it and say what it must be."""
        integer, real = self._check_int, self._check_real
        real("lam", 0, 1)
        for name, lo, hi in (("n_steps", 1, 1000), ("n_neighbors", 2, 1000),
                             ("inverse_neighbors", 1, 1000), ("inverse_steps", 0, 100_000),
                             ("grid_size", 1, 2048), ("random_state", 0, 2**32 - 1),
                             ("warm_n_epochs", 1, 10_000)):
            integer(name, lo, hi)
        real("widen", 1, 100)
        self._check_choice("space", tuple(SPACES))
        real("holdout", 0, 1, hi_open=True)
        real("inverse_width", 0, lo_open=True)
        real("spread", 0, lo_open=True)  # before min_dist, whose range depends on it
        real("min_dist", 0, 3 * self.spread)
        real("warm_learning_rate", 0, lo_open=True)
        if self.n_epochs is not None and not (is_int(self.n_epochs)
                                              and 1 <= self.n_epochs <= 10_000):
            self._fail("n_epochs", "None or an int in [1, 10000]")
        real("delta", 0, 1, hi_open=True)
        self._check_choice("knn_method", ("auto", "exact", "nndescent"))
        real("extent_quantile", 0, 0.5, hi_open=True)
        real("extent_margin", 0)

    # -------------------------------------------------------------------- fit
    def _params_hash(self) -> str:
        """The hashed parameters and how the held-out rows are drawn (a fit whose rows were
        drawn another way is not resumed)."""
        return super()._params_hash({"rows": DRAW})

    def _rows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The fixed split of the samples into π⁻¹'s fit rows and the held-out rows
        (:func:`dvi_widget._random.subset_rng` of ``random_state``)."""
        perm = subset_rng(self.random_state).permutation(n)
        n_held = int(round(self.holdout * n))
        return np.sort(perm[n_held:]), np.sort(perm[:n_held])

    def fit(self, run: Any, epochs: Sequence[int] | None = None,  # noqa: ANN401 - a Run
            resume: bool = True) -> DeepView:
        """Fit DeepView to every recorded epoch of ``run`` (or ``epochs``), in chronological
        order, each epoch's UMAP initialised with the previous one's positions; each epoch is
        saved under ``run.path / "deepview"`` as soon as it is fitted. ``resume``: reuse the
        saved epochs fitted with the same parameters after the same fit of the same previous
        epoch from the same recording (an interrupted fit continues where it stopped); False
        refits all.
        Returns self."""
        from tqdm.auto import tqdm

        from ..fit import _chosen_epochs
        from ..store import fingerprint

        self._validate_params()
        device = resolve_device(self.device)
        chosen = _chosen_epochs(run, epochs)
        n = int(run.n_train) + int(run.n_test)
        if n <= self.n_neighbors:
            raise ValueError(f"the run has {n} samples but n_neighbors={self.n_neighbors}; "
                             "need more samples than neighbours")
        if self.space == "input" and run.input_shape is None:
            raise ValueError('space="input" needs a run that kept its inputs '
                             "(Run.create(..., save_inputs=True))")
        fit_rows, held_rows = self._rows(n)
        emb = DeepViewEmbedding(run, self._json_params(), device)
        emb.epochs_, emb.knn_, emb.inverses_, emb.scales_ = [], {}, {}, {}
        emb.fit_rows_, emb.held_rows_ = fit_rows, held_rows
        params_hash = self._params_hash()
        coords, timings = [], []
        bar = tqdm(chosen, desc="DeepView", unit="epoch", disable=not self.verbose)
        prev: np.ndarray | None = None
        prev_epoch: int | None = None
        prev_fit: str | None = None
        chain_ok, saving = bool(resume), True
        try:
            for epoch in bar:
                epoch = int(epoch)
                print_ = fingerprint(run, epoch)
                saved = (store.finished_epoch(run, epoch, params_hash, prev_epoch, print_,
                                              previous_fit=prev_fit) if chain_ok else None)
                if saved is not None:
                    Y = self._restore(emb, epoch, store.load_epoch(run, epoch))
                    fit_id = saved.get("fit_id")
                    timings.append({**dict(saved.get("timing") or {}), "epoch": epoch})
                    bar.set_postfix_str(f"epoch {epoch}: reused")
                else:
                    chain_ok = False
                    Y, row = self._fit_epoch(emb, epoch, prev, device)
                    timings.append(row)
                    fit_id = secrets.token_hex(8)  # what the next epoch records it followed
                    if saving:
                        saving = self._save_epoch(emb, epoch, Y, {
                            "params_hash": params_hash, "previous_epoch": prev_epoch,
                            "fit_id": fit_id, "previous_fit": prev_fit,
                            "fingerprint": print_, "timing": row})
                    bar.set_postfix_str(f"epoch {epoch}: {row['total']:.1f}s")
                coords.append(Y)
                prev, prev_epoch, prev_fit = Y, epoch, fit_id
        except KeyboardInterrupt:
            warnings.warn(f"DeepView.fit interrupted; the finished epochs {list(emb.epochs_)} are "
                          f"saved under {store.folder(run)}: fit(run) again continues from there",
                          stacklevel=2)
            raise
        finally:
            bar.close()
        emb.coords_ = np.stack(coords).astype(np.float32)
        self._finish(emb, timings)
        self._save(emb)
        self.embedding_ = emb
        return self

    def _fit_epoch(self, emb: DeepViewEmbedding, epoch: int, prev: np.ndarray | None,
                   device: torch.device) -> tuple[np.ndarray, dict[str, Any]]:
        """Fit one epoch into ``emb`` (DiDi graph, UMAP from ``prev``'s positions when given,
        π⁻¹ per space); returns its coordinates and its timing row."""
        from .didi import term_scales
        from .graph import candidate_graph, layout
        from .inverse import fit_inverse

        run, seed = emb.run_, int(self.random_state)
        t0 = time.perf_counter()
        X = emb.anchor_rows(epoch, self.space)
        logits = emb.logits_fn(epoch, self.space)

        def proba(t: torch.Tensor) -> torch.Tensor:
            return torch.softmax(logits(t).float(), dim=1)

        scales = (term_scales(proba, X, self.n_steps, seed=seed, device=device)
                  if self.normalise else (1.0, 1.0))
        idx, dst, info = candidate_graph(
            X, proba, self.n_neighbors, widen=self.widen, lam=self.lam, n_steps=self.n_steps,
            scales=scales, knn_method=self.knn_method, device=device, seed=seed,
            progress=self.verbose)
        t1 = time.perf_counter()
        if prev is None:
            Y = layout(idx, dst, min_dist=self.min_dist, spread=self.spread,
                       n_epochs=self.n_epochs, seed=seed)
        else:
            Y = layout(idx, dst, init=prev, min_dist=self.min_dist, spread=self.spread,
                       n_epochs=self.warm_n_epochs, seed=seed,
                       umap_kwargs={"learning_rate": self.warm_learning_rate})
        t2 = time.perf_counter()
        spaces = ["representation"]
        if self.space == "input" or (self.inverse_inputs and run.input_shape is not None
                                     and run.inputs("train") is not None):
            spaces.append("input")
        inverses: dict[str, RBFInverse] = {}
        for space in spaces:
            data = X if space == self.space else emb.anchor_rows(epoch, space)
            inverses[space] = fit_inverse(
                Y[emb.fit_rows_], data[emb.fit_rows_], width=self.inverse_width,
                neighbors=self.inverse_neighbors, steps=self.inverse_steps, device=device,
                progress=self.verbose)
        t3 = time.perf_counter()
        emb.epochs_.append(epoch)
        emb.knn_[epoch] = (idx, dst)
        emb.inverses_[epoch] = inverses
        emb.scales_[epoch] = scales
        return Y, {"epoch": epoch, "distances": t1 - t0, "layout": t2 - t1, "inverse": t3 - t2,
                   "total": t3 - t0, "pairs": info["pairs"]}

    @staticmethod
    def _restore(emb: DeepViewEmbedding, e: int, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Put a saved epoch's graph, π⁻¹ and scales into ``emb``; returns its coordinates."""
        inverses = {}
        for space, prefix in INVERSE_PREFIX.items():
            if prefix + "theta" in arrays:
                inverses[space] = RBFInverse.from_state(
                    {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
                ).to(emb.device_).eval()
        emb.epochs_.append(int(e))
        emb.knn_[int(e)] = (arrays["knn_indices"], arrays["knn_dists"])
        emb.inverses_[int(e)] = inverses
        emb.scales_[int(e)] = tuple(float(v) for v in arrays["scales"])
        return np.asarray(arrays["coords"], np.float32)

    def _finish(self, emb: DeepViewEmbedding, timings: list[dict[str, Any]]) -> None:
        """The shared frame and each epoch's landscape."""
        emb.extent_ = square_extent(emb.coords_, self.extent_margin, self.extent_quantile)
        rgba, cls, conf = [], [], []
        for row, e in zip(timings, emb.epochs_, strict=True):
            t0 = time.perf_counter()
            img, c, cf = emb.render(e, emb.extent_, self.grid_size)
            row["landscape"] = time.perf_counter() - t0
            rgba.append(img)
            cls.append(c)
            conf.append(cf)
        emb.landscape_ = np.stack(rgba)
        emb.landscape_classes_ = np.stack(cls)
        emb.landscape_confidence_ = np.stack(conf)
        emb.timings_ = pd.DataFrame(timings).set_index("epoch")

    def _save_epoch(self, emb: DeepViewEmbedding, e: int, coords: np.ndarray,
                    info: dict[str, Any]) -> bool:
        """Save one fitted epoch (arrays, then its info); False (with a warning) when the
        folder cannot be written (a read-only run: the fit stays in memory)."""
        arrays: dict[str, np.ndarray] = {
            "coords": np.asarray(coords, np.float32), "knn_indices": emb.knn_[e][0],
            "knn_dists": emb.knn_[e][1], "scales": np.asarray(emb.scales_[e])}
        for space, inv in emb.inverses_[e].items():
            arrays.update({INVERSE_PREFIX[space] + k: v for k, v in inv.state().items()})
        try:
            store.save_epoch(emb.run_, e, arrays, info)
        except OSError as err:
            warnings.warn(f"DeepView fit not saved under {store.folder(emb.run_)}: {err}",
                          stacklevel=3)
            return False
        return True

    def _save(self, emb: DeepViewEmbedding) -> None:
        """Write fit.json (after every epoch's files: it names the complete fit)."""
        run = emb.run_
        info = {"params": self._json_params(), "params_hash": self._params_hash(),
                "epochs": list(emb.epochs_),
                "timings": emb.timings_.reset_index().to_dict(orient="records")}
        try:
            store.save_fit(run, info, emb.fit_rows_, emb.held_rows_)
        except OSError as err:
            warnings.warn(f"DeepView fit not saved under {store.folder(run)}: {err}",
                          stacklevel=3)

    # -------------------------------------------------------------------- loading
    @classmethod
    def load(cls, run: Any, device: DeviceLike = "auto", verbose: bool = False) -> DeepView:  # noqa: ANN401
        """Read a fit back from ``run.path / "deepview"`` (``run``: a Run or a path)."""
        import os

        if isinstance(run, str | os.PathLike):
            from ...data.run import Run

            run = Run.open(run)
        info, fit_rows, held_rows = store.load_fit(run)
        params = {k: v for k, v in dict(info.get("params", {})).items() if k in cls._param_names()}
        self = cls(**{**params, "device": device, "verbose": verbose})
        self._validate_params()
        epochs = [int(e) for e in info.get("epochs", [])]
        missing = [e for e in epochs if e not in run.epochs]
        if missing or not epochs:
            named = missing or "no epochs"
            raise ValueError(f"the DeepView fit in {store.folder(run)} names {named} that the "
                             "run does not hold; refit with DeepView().fit(run)")
        emb = DeepViewEmbedding(run, self._json_params(), resolve_device(device))
        emb.epochs_, emb.knn_, emb.inverses_, emb.scales_ = [], {}, {}, {}
        emb.fit_rows_, emb.held_rows_ = fit_rows, held_rows
        coords = [self._restore(emb, e, store.load_epoch(run, e)) for e in epochs]
        emb.coords_ = np.stack(coords).astype(np.float32)
        timings = [dict(r) for r in info.get("timings", [])] or [{"epoch": e} for e in epochs]
        self._finish(emb, timings)
        self.embedding_ = emb
        return self

    # -------------------------------------------------------------------- fitted state
    def visualization(self) -> Any:  # noqa: ANN401 - a dvi_widget.contract.Visualization
        """Everything the widget shows, as a :class:`dvi_widget.contract.Visualization`."""
        return self.embedding_.visualization()

    transform = delegate(DeepViewEmbedding, "transform")
    inverse = delegate(DeepViewEmbedding, "inverse")
    probabilities = delegate(DeepViewEmbedding, "probabilities")
    score = delegate(DeepViewEmbedding, "score")
    temporal_pv = delegate(DeepViewEmbedding, "temporal_pv")
    events = delegate(DeepViewEmbedding, "events")

