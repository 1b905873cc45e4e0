"""``dvi_widget.compare``: every method on the same run, side by side, with one table of measures.

Above the engine, explain and view floors (it fits with the public :class:`~dvi_widget.DVI`,
DeepView when it is available, and the baselines of :mod:`dvi_widget.engine.baselines`, then
hands their :class:`~dvi_widget.contract.Visualization` objects to the view's
:class:`~dvi_widget.view.compare.Compare`).

The table (:meth:`Comparison.table`): one row per method at an epoch, columns

=====================  ===========================================================================
``nn_pv_15_train``     DVI Eq. 1, k = 15 (from each method's ``score()``, the same rows for all)
``nn_pv_15_test``      Eq. 1 of the test samples (neighbours among train ∪ test)
``boundary_pv_15_train`` Eq. 2 against DVI's boundary points of the epoch (NaN without DVI)
``ppr_train/test``     prediction preserving rate through the method's inverse (NaN without one)
``temporal_pv_train``  Eq. 4 over all compared epochs (NaN with fewer than 3)
``q_knn``              DeepView's Q_kNN: leave-one-out 5-NN accuracy in 2-D against the model's
                       predictions (:func:`dvi_widget.engine.metrics.q_knn`), all samples
``q_knn_e``            Q_kNN of a Euclidean UMAP of the same representations (the ``umap`` row's;
                       an engine's own value where its ``score()`` has one)
``q_data``             agreement of f(π⁻¹(π(x))) with f(x) on the samples π⁻¹ was fitted on: the
                       engine's own value, else PPR of the training samples
``q_not_data``         the same on held-out samples: the engine's own, else PPR of the test split
``fit_seconds``        seconds the method took for that epoch
=====================  ===========================================================================

Every number of a method's row that its ``score()`` has is that ``score()``'s number.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: methods in the order shown
DEFAULT_METHODS = ("dvi", "deepview", "umap", "pca", "tsne")
#: the table's columns, in order
MEASURES = ("nn_pv_15_train", "nn_pv_15_test", "boundary_pv_15_train", "ppr_train", "ppr_test",
            "temporal_pv_train", "q_knn", "q_knn_e", "q_data", "q_not_data", "fit_seconds")
#: notes shown under a view's title
NOTES = {"dvi": "ψ_t → g_t landscape", "deepview": "π⁻¹ → f landscape",
         "pca": "PCA⁻¹ (the PCA plane) → g_t landscape"}


def _key(name: str) -> str:
    """A column name reduced for matching (``Q_¬data`` -> ``qnotdata``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("¬", "not"))


#: the names an engine's ``score()`` may give the Q measures, reduced by :func:`_key`
_Q_NAMES = {
    "q_knn": ("qknn",), "q_knn_e": ("qknne", "qknneuclidean", "qknneucl"),
    "q_data": ("qdata",), "q_not_data": ("qnotdata", "qnodata", "qheldout", "qndata"),
}


class Comparison:
    """The fitted methods of one run and their measures (what :func:`compare` shows).

    Attributes: ``fits`` (method -> fitted state: a ``DVI``, a ``DeepView`` fit or a
    :class:`~dvi_widget.engine.baselines.BaselineFit`), ``epochs``, ``seconds`` (method ->
    {epoch: fit seconds}), ``notes``.
    """

    def __init__(self, run: Any, fits: Mapping[str, Any],  # noqa: ANN401 - a Run
                 seconds: Mapping[str, Mapping[int, float]], epochs: Sequence[int]) -> None:
        self.run = run
        self.fits = dict(fits)
        self.seconds = {m: dict(s) for m, s in seconds.items()}
        self.epochs = [int(e) for e in epochs]
        from .engine.baselines import METHODS, NO_LANDSCAPE

        self.notes = {m: NO_LANDSCAPE if m in METHODS and not METHODS[m] else NOTES.get(m, "")
                      for m in self.fits}
        self._temporal: dict[str, float] = {}
        self._q: dict[tuple[str, int], float] = {}

    def visualizations(self) -> dict[str, Any]:
        """method -> its Visualization (the contract)."""
        return {m: f.visualization() for m, f in self.fits.items()}

    def scores(self) -> dict[str, pd.DataFrame]:
        """method -> its own ``score()`` (index: epoch)."""
        return {m: f.score() for m, f in self.fits.items()}

    def temporal(self, method: str) -> float:
        """Eq. 4 of the training samples over the compared epochs."""
        if method not in self._temporal:
            fit = self.fits[method]
            value = float("nan")
            if len(self.epochs) >= 3 and hasattr(fit, "temporal_pv"):
                value = float(fit.temporal_pv()["train"])
            self._temporal[method] = value
        return self._temporal[method]

    def _q_knn(self, method: str, epoch: int) -> float:
        from .engine.metrics import q_knn

        if (method, epoch) not in self._q:
            fit = self.fits[method]
            idx = list(fit.epochs_).index(epoch)
            run = self.run
            logits = [np.asarray(run.logits(epoch, "train"))] + (
                [np.asarray(run.logits(epoch, "test"))] if int(run.n_test) else [])
            pred = np.concatenate(logits).argmax(axis=1)
            self._q[(method, epoch)] = q_knn(np.asarray(fit.coords_[idx]), pred)
        return self._q[(method, epoch)]

    def table(self, epoch: int) -> pd.DataFrame:
        """One row per method at ``epoch`` (columns :data:`MEASURES`; see the module docstring)."""
        epoch = int(epoch)
        if epoch not in self.epochs:
            raise ValueError(f"epoch {epoch} was not compared; epochs are {self.epochs}")
        rows = {}
        for m, fit in self.fits.items():
            score = fit.score()
            own = score.loc[epoch] if epoch in score.index else pd.Series(dtype=float)
            keys = {_key(c): c for c in own.index}
            row = {c: float(own[c]) if c in own.index else np.nan for c in MEASURES[:5]}
            row["temporal_pv_train"] = self.temporal(m)
            for col, names in _Q_NAMES.items():
                hit = next((keys[n] for n in names if n in keys), None)
                row[col] = float(own[hit]) if hit is not None else np.nan
            if np.isnan(row["q_knn"]):
                row["q_knn"] = self._q_knn(m, epoch)
            if np.isnan(row["q_data"]):
                row["q_data"] = row["ppr_train"]
            if np.isnan(row["q_not_data"]):
                row["q_not_data"] = row["ppr_test"]
            row["fit_seconds"] = float(self.seconds.get(m, {}).get(epoch, np.nan))
            rows[m] = row
        df = pd.DataFrame.from_dict(rows, orient="index")[list(MEASURES)]
        if "umap" in df.index:
            df["q_knn_e"] = df["q_knn_e"].fillna(df.loc["umap", "q_knn"])
        df.index.name = "method"
        df.attrs["epoch"] = epoch
        return df

    def tables(self, epochs: Sequence[int] | None = None) -> pd.DataFrame:
        """:meth:`table` of several epochs (default all) in one frame indexed (method, epoch)."""
        return pd.concat({e: self.table(e) for e in (epochs or self.epochs)},
                         names=["epoch"]).swaplevel().sort_index()

    def widget(self, **kwargs: Any) -> Any:  # noqa: ANN401 - a view.compare.Compare
        """The linked views and the table (:class:`dvi_widget.view.compare.Compare`)."""
        from .view.compare import Compare

        return Compare(self.visualizations(), self.table, self.notes, **kwargs)


def _engine_seconds(fit: Any) -> dict[int, float]:  # noqa: ANN401 - a DVI or a DeepView
    """An engine's fit seconds per epoch (its ``timings_["total"]``)."""
    t = getattr(fit, "timings_", None)
    if t is None or "total" not in getattr(t, "columns", ()):
        return {}
    return {int(e): float(v) for e, v in t["total"].items()}


def fit_methods(
    run: Any,  # noqa: ANN401 - a dvi_widget.Run
    methods: Sequence[str] = DEFAULT_METHODS,
    epochs: Sequence[int] | None = None,
    *,
    fitted: Mapping[str, Any] | None = None,  # noqa: ANN401
    dvi_params: Mapping[str, Any] | None = None,
    deepview_params: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> Comparison:
    """Fit (or take from ``fitted``) every method of ``methods`` on ``run``'s ``epochs``
    (default all recorded). DVI is fitted with the public :class:`~dvi_widget.DVI`
    (``dvi_params``; its ``fit`` reuses a saved fit of the same parameters), DeepView with
    ``dvi_widget.DeepView(**deepview_params)``, the baselines with
    :class:`~dvi_widget.engine.baselines.BaselineFit` (boundary points: DVI's, when DVI is
    among the methods)."""
    from .engine.baselines import METHODS, BaselineFit

    known = set(DEFAULT_METHODS) | set(METHODS)
    bad = [m for m in methods if m not in known]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {sorted(known)}, got "
                         f"{list(methods)}")
    epochs = sorted(int(e) for e in (run.epochs if epochs is None else epochs))
    fits: dict[str, Any] = {}
    seconds: dict[str, dict[int, float]] = {}
    given = dict(fitted or {})
    for m in [m for m in DEFAULT_METHODS if m in methods] + [
            m for m in methods if m not in DEFAULT_METHODS]:
        if m in given:
            fits[m] = given[m]
            seconds[m] = (_engine_seconds(given[m]) if m in ("dvi", "deepview")
                          else dict(getattr(given[m], "seconds_", {}) or {}))
            continue
        if m == "dvi":
            from .explain.doors import DVI

            fits[m] = DVI(**{"random_state": random_state, **(dvi_params or {})}).fit(run, epochs)
            seconds[m] = _engine_seconds(fits[m])
        elif m == "deepview":
            fits[m], seconds[m] = _fit_deepview(run, epochs, deepview_params)
        else:
            boundary = None
            if "dvi" in fits:
                dvi = fits["dvi"]
                boundary = {e: np.asarray(b) for e, b in zip(
                    dvi.epochs_, dvi.boundary_representations_, strict=True)}
            fits[m] = BaselineFit(m, random_state=random_state).fit(run, epochs, boundary)
            seconds[m] = dict(fits[m].seconds_)
    for m, fit in fits.items():
        got = [int(e) for e in fit.epochs_]
        if got != epochs:
            raise ValueError(f"{m} is fitted on epochs {got}, the comparison on {epochs}")
    return Comparison(run, fits, seconds, epochs)


def _fit_deepview(run: Any, epochs: list[int],  # noqa: ANN401
                  params: Mapping[str, Any] | None) -> tuple[Any, dict[int, float]]:
    """DeepView, imported only now (it lives on its own branch until merged)."""
    import dvi_widget

    try:
        DeepView = dvi_widget.DeepView  # noqa: N806 - a class
    except AttributeError:
        raise ImportError("DeepView is not available in this dvi_widget; compare without it: "
                          "methods=('dvi', 'umap', 'pca', 'tsne')") from None
    t0 = time.perf_counter()
    fit = DeepView(**dict(params or {})).fit(run, epochs=epochs)
    total = time.perf_counter() - t0
    per = _engine_seconds(fit)
    if not per:
        per = {e: total / len(epochs) for e in epochs}
    return fit, per


def compare(
    run: Any,  # noqa: ANN401 - a dvi_widget.Run
    methods: Sequence[str] = DEFAULT_METHODS,
    epochs: Sequence[int] | None = None,
    *,
    fitted: Mapping[str, Any] | None = None,  # noqa: ANN401
    dvi_params: Mapping[str, Any] | None = None,
    deepview_params: Mapping[str, Any] | None = None,
    random_state: int = 0,
    **view: Any,  # noqa: ANN401
) -> Any:  # noqa: ANN401 - a dvi_widget.view.compare.Compare
    """Every method on the same run, side by side: linked small views and a measures table.

    Fits each of ``methods`` (``"dvi"``, ``"deepview"``, ``"umap"``, ``"pca"``, ``"tsne"``) on
    the run's recorded representations of ``epochs`` (default all), or takes it from ``fitted``
    (method -> an already fitted state, e.g. ``{"dvi": dvi}``); returns a
    :class:`~dvi_widget.view.compare.Compare` widget (its ``comparison`` holds the fits, its
    ``table()`` the measures at the shown epoch). ``view`` goes to the Compare (``epoch``,
    ``height``, ``color_by``, widget options).

    Examples
    --------
    >>> c = dvi_widget.compare(run, epochs=[0, 4, 9], fitted={"dvi": dvi})   # doctest: +SKIP
    >>> c.table()                     # doctest: +SKIP
    """
    comparison = fit_methods(run, methods, epochs, fitted=fitted, dvi_params=dvi_params,
                             deepview_params=deepview_params, random_state=random_state)
    out = comparison.widget(**view)
    out.comparison = comparison
    return out
