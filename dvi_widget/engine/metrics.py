"""Quality measures of a time-travelling visualization (DVI section 4 and 6), all rates in [0, 1].

Arrays in, floats / DataFrames out, so the same functions score DVI and the baselines (UMAP, PCA).
High-dimensional kNN use :func:`dvi_widget.complex.knn` (exact batched torch for ~10k points);
2-D kNN use a k-d tree (exact, milliseconds for 10k points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree

from .._checks import as_array
from .._tensor import ArrayLike, DeviceLike
from .complex import knn

DEFAULT_KS: tuple[int, ...] = (10, 15, 20)


def _as_array(name: str, a: ArrayLike, ndim: int = 2) -> np.ndarray:
    return as_array(a, name, ndim=ndim, finite=True)


def _check_rows(**arrays: np.ndarray) -> None:
    sizes = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"these arrays must have the same number of rows (samples): {sizes}.")


def neighbours(
    points: ArrayLike,
    k: int,
    *,
    query: ArrayLike | None = None,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> np.ndarray:
    """Index sets ``N_k`` (DVI Def. 1) as an (m, k) int64 array, nearest first.

    ``query=None``: the neighbours of each point among the others (self excluded); otherwise the
    neighbours of each query row among ``points``. Points of dimension <= 3 (projections) use an
    exact k-d tree; higher dimensions use :func:`dvi_widget.complex.knn`.
    """
    P = _as_array("points", points)
    Q = None if query is None else _as_array("query", query)
    need = k + 1 if Q is None else k
    if P.shape[0] < need:
        raise ValueError(
            f"k={k} needs at least {need} points but got {P.shape[0]}; use a smaller k."
        )
    if P.shape[1] > 3:
        return knn(P, k, query=Q, method=method, device=device)[0]
    tree = cKDTree(np.asarray(P, dtype=np.float64))
    if Q is not None:
        _, idx = tree.query(np.asarray(Q, dtype=np.float64), k=k)
        return idx.reshape(len(Q), k).astype(np.int64)
    _, idx = tree.query(np.asarray(P, dtype=np.float64), k=k + 1)
    idx = idx.reshape(len(P), k + 1)
    own = idx == np.arange(len(P))[:, None]
    own[~own.any(axis=1), -1] = True  # duplicates may hide self: then drop the farthest
    return idx[~own].reshape(len(P), k).astype(np.int64)


def overlap_rate(a: np.ndarray, b: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per row ``|a_i[:k] ∩ b_i[:k]| / k`` for two (n, >=k) index arrays (nearest first)."""
    k = a.shape[1] if k is None else k
    at = torch.from_numpy(np.ascontiguousarray(a[:, :k]))
    bt = torch.from_numpy(np.ascontiguousarray(b[:, :k]))
    hits = (at.unsqueeze(2) == bt.unsqueeze(1)).any(dim=2).sum(dim=1)
    return (hits.double() / k).numpy()


def nn_pv(
    X: ArrayLike,
    Y: ArrayLike,
    k: int = 15,
    *,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | np.ndarray:
    """k-neighbour preserving rate, DVI Eq 1: ``mean_i |N_k(x_i) ∩ N_k(y_i)| / k``.

    ``X`` (N, h) high-dimensional, ``Y`` (N, 2) their projections; self excluded from both.
    ``return_per_sample=True`` gives the (N,) per-sample rates instead of the mean.
    """
    Xa, Ya = _as_array("X", X), _as_array("Y", Y)
    _check_rows(X=Xa, Y=Ya)
    per = overlap_rate(
        neighbours(Xa, k, method=method, device=device), neighbours(Ya, k, device="cpu")
    )
    return per if return_per_sample else float(per.mean())


def boundary_pv(
    X: ArrayLike,
    Y: ArrayLike,
    B: ArrayLike,
    B2: ArrayLike,
    k: int = 15,
    *,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | np.ndarray:
    """k-boundary-neighbour preserving rate, DVI Eq 2.

    ``mean_i |N_k^(b)(x_i) ∩ N_k^(b')(y_i)| / k``: the k nearest boundary points of ``x_i`` among
    ``B`` (M, h) against those of ``y_i`` among ``B2`` (M, 2), the projections of ``B``.
    Raises ``ValueError`` when ``M < k`` (no k boundary neighbours exist).
    """
    Xa, Ya = _as_array("X", X), _as_array("Y", Y)
    Ba, B2a = _as_array("B", B), _as_array("B2", B2)
    _check_rows(X=Xa, Y=Ya)
    _check_rows(B=Ba, B2=B2a)
    if Ba.shape[0] < k:
        raise ValueError(f"boundary_pv(k={k}) needs at least k boundary points, got {Ba.shape[0]}.")
    nb_x = neighbours(Ba, k, query=Xa, method=method, device=device)
    nb_y = neighbours(B2a, k, query=Ya, device="cpu")
    per = overlap_rate(nb_x, nb_y)
    return per if return_per_sample else float(per.mean())


def ppr(pred: ArrayLike, pred_reconstructed: ArrayLike) -> float:
    """Prediction preserving rate (DVI section 6): share with ``argmax g(x) == argmax g(ψ(φ(x)))``.

    Each argument is either predicted labels (N,) or logits/probabilities (N, C) (argmax taken).
    """
    a, b = as_array(pred, "pred"), as_array(pred_reconstructed, "pred_reconstructed")
    a = a.argmax(axis=1) if a.ndim == 2 else a
    b = b.argmax(axis=1) if b.ndim == 2 else b
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"pred and pred_reconstructed must have the same length; got {a.shape} and {b.shape}."
        )
    if a.size == 0:
        raise ValueError("ppr() got no samples.")
    return float(np.mean(a == b))


def joint_neighbours(
    ref: ArrayLike,
    new: ArrayLike,
    k: int,
    *,
    rows: np.ndarray | None = None,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> np.ndarray:
    """``N_k`` of rows of ``new`` among ``ref ∪ new`` (self excluded), as (m, k) indices into the
    stacked ``[ref; new]``, nearest first.

    This is how test samples are scored: a test sample's neighbours are searched among the
    training *and* test samples, in the representation space and in 2-D alike. ``rows`` picks
    the rows of ``new`` to score (default all).
    """
    R, Nw = _as_array("ref", ref), _as_array("new", new)
    if R.shape[1] != Nw.shape[1]:
        raise ValueError(f"ref and new must have the same width, got {R.shape} and {Nw.shape}.")
    rows = np.arange(len(Nw)) if rows is None else np.asarray(rows, dtype=np.int64)
    both = np.concatenate([R, Nw])
    found = neighbours(both, k + 1, query=Nw[rows], method=method, device=device)
    own = found == (rows + len(R))[:, None]
    own[~own.any(axis=1), -1] = True  # duplicates may hide self: then drop the farthest
    return found[~own].reshape(len(rows), k)


def nn_pv_new(
    X_ref: ArrayLike,
    Y_ref: ArrayLike,
    X_new: ArrayLike,
    Y_new: ArrayLike,
    k: int = 15,
    *,
    rows: np.ndarray | None = None,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | np.ndarray:
    """Eq. 1 for new (test) samples: ``mean_i |N_k(x_i) ∩ N_k(y_i)| / k`` over rows of ``X_new``,
    their neighbours searched among ``ref ∪ new`` in both spaces (:func:`joint_neighbours`).

    ``X_ref``/``Y_ref`` are the training samples and their 2-D positions, ``X_new``/``Y_new`` the
    test samples and theirs (e.g. placed by ``DVI.transform`` or ``umap.UMAP.transform``).
    """
    Xr, Yr, Xn, Yn = (_as_array(n, a) for n, a in
                      (("X_ref", X_ref), ("Y_ref", Y_ref), ("X_new", X_new), ("Y_new", Y_new)))
    _check_rows(X_ref=Xr, Y_ref=Yr)
    _check_rows(X_new=Xn, Y_new=Yn)
    hx = joint_neighbours(Xr, Xn, k, rows=rows, method=method, device=device)
    hy = joint_neighbours(Yr, Yn, k, rows=rows, device="cpu")
    per = overlap_rate(hx, hy)
    return per if return_per_sample else float(per.mean())


def _move(Y_prev: np.ndarray, Y_cur: np.ndarray) -> np.ndarray:
    return np.linalg.norm(Y_cur.astype(np.float64) - Y_prev.astype(np.float64), axis=1)


def transition_corr(
    X_prev: ArrayLike,
    X_cur: ArrayLike,
    Y_prev: ArrayLike,
    Y_cur: ArrayLike,
    k: int = 15,
    *,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | tuple[np.ndarray, np.ndarray]:
    """Correlation *across samples* within one transition t-1 → t (not the paper's Eq. 4).

    For every sample ``e_i = eval_sem_i`` (Eq. 11) and ``d_i = ||y_i^t - y_i^{t-1}||``; the
    result is ``pearson(e, d)`` over the N samples: negative when the samples whose neighbourhood
    changed most are the ones that moved most. :func:`temporal_pv` (Eq. 4) correlates the same
    two quantities per sample over the epochs instead. NaN when ``e`` or ``d`` is constant.
    ``return_per_sample=True`` returns ``(e, d)``.
    """
    Xp, Xc = _as_array("X_prev", X_prev), _as_array("X_cur", X_cur)
    Yp, Yc = _as_array("Y_prev", Y_prev), _as_array("Y_cur", Y_cur)
    _check_rows(X_prev=Xp, X_cur=Xc, Y_prev=Yp, Y_cur=Yc)
    e = overlap_rate(neighbours(Xp, k, method=method, device=device),
                     neighbours(Xc, k, method=method, device=device), k)
    d = _move(Yp, Yc)
    if return_per_sample:
        return e, d
    return _pearson(e, d)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den <= 1e-12 * max(len(a), 1):
        return float("nan")
    return float((a * b).sum() / den)


def temporal_pv(
    Xs: Sequence[ArrayLike] | None,
    Ys: Sequence[ArrayLike],
    k: int = 15,
    *,
    neighbour_sets: Sequence[np.ndarray] | None = None,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | np.ndarray:
    """Temporal preserving property, DVI Eq. 4 with Eq. 11, over a sequence of T >= 3 epochs.

    For sample i and each transition t-1 → t (t = 1..T-1)::

        e_i^t = eval_sem(x_i^{t-1}, x_i^t, k) = |N_k(x_i^{t-1}) ∩ N_k(x_i^t)| / k   (Eq. 11)
        d_i^t = ||φ^t(x_i^t) - φ^{t-1}(x_i^{t-1})||                                 (2-D move)

    ``r_i = pearson_t(e_i^t, d_i^t)`` over the sample's T-1 transitions (Eq. 4), and the result
    is the mean of ``r_i`` over the samples (those whose ``e_i`` or ``d_i`` never varies have no
    correlation and are left out; NaN when none vary). Negative is good: a sample moves in the
    epochs where its neighbourhood changes and stays put where it does not. ``Ys`` must share
    one 2-D frame. ``neighbour_sets`` may give each epoch's ``N_k`` (N, >= k) instead of ``Xs``
    (e.g. test samples' neighbours among train ∪ test, :func:`joint_neighbours`).
    ``return_per_sample=True`` returns ``r`` (N,), NaN where left out.
    """
    if neighbour_sets is None:
        if Xs is None or len(Xs) != len(Ys):
            raise ValueError("Xs and Ys must list the same epochs, got "
                             f"{None if Xs is None else len(Xs)} and {len(Ys)}.")
        neighbour_sets = [neighbours(_as_array("Xs[t]", x), k, method=method, device=device)
                          for x in Xs]
    if len(neighbour_sets) != len(Ys):
        raise ValueError(f"neighbour_sets and Ys must list the same epochs, got "
                         f"{len(neighbour_sets)} and {len(Ys)}.")
    if len(Ys) < 3:
        raise ValueError(f"temporal_pv needs at least 3 epochs (2 transitions), got {len(Ys)}.")
    Ya = [_as_array("Ys[t]", y) for y in Ys]
    for t in range(1, len(Ya)):
        _check_rows(**{"Ys[t-1]": Ya[t - 1], "Ys[t]": Ya[t], "N_k[t]": neighbour_sets[t]})
    E = np.stack([overlap_rate(neighbour_sets[t - 1], neighbour_sets[t], k)
                  for t in range(1, len(Ya))], 1)
    D = np.stack([_move(Ya[t - 1], Ya[t]) for t in range(1, len(Ya))], 1)
    E = E - E.mean(1, keepdims=True)
    D = D - D.mean(1, keepdims=True)
    den = np.sqrt((E * E).sum(1) * (D * D).sum(1))
    ok = den > 1e-12
    r = np.full(E.shape[0], np.nan)
    r[ok] = (E * D).sum(1)[ok] / den[ok]
    if return_per_sample:
        return r
    return float(np.nanmean(r)) if ok.any() else float("nan")


def evaluate_epoch(
    X_train: ArrayLike,
    Y_train: ArrayLike,
    *,
    X_test: ArrayLike | None = None,
    Y_test: ArrayLike | None = None,
    B: ArrayLike | None = None,
    B_2d: ArrayLike | None = None,
    pred_train: ArrayLike | None = None,
    pred_train_rec: ArrayLike | None = None,
    pred_test: ArrayLike | None = None,
    pred_test_rec: ArrayLike | None = None,
    rows_train: np.ndarray | None = None,
    rows_test: np.ndarray | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    method: str = "auto",
    device: DeviceLike = "auto",
    high_knn: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """The per-epoch measures of DVI §6 as a flat dict of floats (NaN where not applicable).

    Keys: ``nn_pv_{k}_{split}`` (Eq. 1; test rows' neighbours among train ∪ test, see
    :func:`nn_pv_new`), ``boundary_pv_{k}_{split}`` (Eq. 2, against the epoch's boundary points
    ``B`` and their 2-D ``B_2d``; NaN when fewer than k), ``ppr_{split}`` (predictions before/
    after ``ψ(φ(x))``, given per scored row) for ``k`` in ``ks`` and split in train/test (test
    keys only when test arrays are given). Eq. 4 spans all epochs: see :func:`temporal_pv`.

    ``rows_train`` / ``rows_test`` score a subset of rows (their neighbours still searched among
    all samples): a fixed random sample makes scoring cheap at any size. ``pred_*`` are then
    given for those rows only. ``high_knn`` may hold precomputed high-dimensional neighbours (at
    least ``max(ks)`` columns, nearest first) for the scored rows: ``"train"`` (among the
    training samples, self excluded) and ``"test"`` (:func:`joint_neighbours`).
    """
    cache = dict(high_knn or {})
    ks = tuple(sorted(int(k) for k in ks))
    kmax = ks[-1]
    Xtr, Ytr = _as_array("X_train", X_train), _as_array("Y_train", Y_train)
    _check_rows(X_train=Xtr, Y_train=Ytr)
    r_tr = np.arange(len(Xtr)) if rows_train is None else np.asarray(rows_train, np.int64)
    out: dict[str, float] = {}

    def cached(key: str, n_rows: int) -> np.ndarray | None:
        got = cache.get(key)
        if got is not None and got.shape[0] == n_rows and got.shape[1] >= kmax:
            return np.asarray(got)[:, :kmax]
        return None

    hx = cached("train", len(r_tr))
    if hx is None:
        hx = _drop_self(neighbours(Xtr, kmax + 1, query=Xtr[r_tr], method=method,
                                   device=device), r_tr)
    hy = _drop_self(neighbours(Ytr, kmax + 1, query=Ytr[r_tr], device="cpu"), r_tr)
    splits = [("train", Xtr[r_tr], Ytr[r_tr], hx, hy, pred_train, pred_train_rec)]
    if X_test is not None and Y_test is not None:
        Xte, Yte = _as_array("X_test", X_test), _as_array("Y_test", Y_test)
        _check_rows(X_test=Xte, Y_test=Yte)
        r_te = np.arange(len(Xte)) if rows_test is None else np.asarray(rows_test, np.int64)
        hxt = cached("test", len(r_te))
        if hxt is None:
            hxt = joint_neighbours(Xtr, Xte, kmax, rows=r_te, method=method, device=device)
        hyt = joint_neighbours(Ytr, Yte, kmax, rows=r_te, device="cpu")
        splits.append(("test", Xte[r_te], Yte[r_te], hxt, hyt, pred_test, pred_test_rec))
    Bn = None if B is None else _as_array("B", B)
    B2n = None if B_2d is None else _as_array("B_2d", B_2d)
    have_b = Bn is not None and B2n is not None and Bn.shape[0] > 0
    if have_b:
        _check_rows(B=Bn, B_2d=B2n)
    kb = max((k for k in ks if have_b and Bn.shape[0] >= k), default=0)
    for split, X, Y, h_high, h_low, p, p_rec in splits:
        for k in ks:
            out[f"nn_pv_{k}_{split}"] = float(overlap_rate(h_high, h_low, k).mean())
        if kb:
            bx = neighbours(Bn, kb, query=X, method=method, device=device)
            by = neighbours(B2n, kb, query=Y, device="cpu")
        for k in ks:
            out[f"boundary_pv_{k}_{split}"] = (
                float(overlap_rate(bx, by, k).mean()) if kb >= k else float("nan"))
        have_p = p is not None and p_rec is not None
        out[f"ppr_{split}"] = ppr(p, p_rec) if have_p else float("nan")
    return out


def _drop_self(found: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Remove each row's own index from a (m, k+1) query result (or its farthest entry)."""
    own = found == rows[:, None]
    own[~own.any(axis=1), -1] = True
    return found[~own].reshape(len(rows), found.shape[1] - 1)


def metrics_table(per_epoch: Mapping[int, Mapping[str, float]]) -> pd.DataFrame:
    """Per-epoch metrics as a DataFrame: index ``epoch``, one column per measure.

    ``per_epoch`` maps epoch -> the dict of :func:`evaluate_epoch` (or any flat dict). Columns
    are ordered measure, then k, then split (nn_pv, boundary_pv, ppr, then any others).
    """
    df = pd.DataFrame.from_dict({int(e): dict(v) for e, v in per_epoch.items()}, orient="index")
    df.index.name = "epoch"
    df = df.sort_index()
    order = {"nn_pv": 0, "boundary_pv": 1, "ppr": 2, "temporal_corr": 3}

    def key(col: str) -> tuple:
        for name, rank in order.items():
            if col.startswith(name + "_"):
                rest = col[len(name) + 1 :].split("_")
                k = int(rest[0]) if rest[0].isdigit() else 0
                return (rank, k, rest[-1] != "train", col)
        return (len(order), 0, False, col)

    return df[sorted(df.columns, key=key)]


def metrics_long(table: pd.DataFrame) -> pd.DataFrame:
    """Tidy form of :func:`metrics_table`: columns epoch, metric, k, split, value."""
    long = table.reset_index().melt(id_vars="epoch", var_name="name", value_name="value")
    parts = long["name"].str.extract(
        r"^(?P<metric>[a-z_]+?)(?:_(?P<k>\d+))?_(?P<split>train|test)$"
    )
    long = pd.concat([long[["epoch"]], parts, long[["value"]]], axis=1)
    long["k"] = pd.to_numeric(long["k"]).astype("Int64")
    return long


# ------------------------------------------------------------------ DeepView's measures (§5.1)
def q_knn(coords: ArrayLike, predictions: ArrayLike, k: int = 5) -> float:
    """Q_kNN (DeepView §5.1): leave-one-out accuracy of a ``k``-nearest-neighbour classifier in
    the 2-D view against the model's predictions (majority vote of each sample's ``k`` nearest
    other samples, ties to the lowest class as scikit-learn's ``KNeighborsClassifier``).

    ``predictions`` are class ids ``(n,)`` or logits/probabilities ``(n, C)``. On the layout of a
    Euclidean UMAP this is Q_kNN-E (:func:`q_knn_e`).
    """
    Y = _as_array("coords", coords)
    p = as_array(predictions, "predictions")
    p = p.argmax(axis=1) if p.ndim == 2 else p
    if p.ndim != 1 or len(p) != len(Y):
        raise ValueError(f"predictions must hold one class per row of coords ({len(Y)}), got "
                         f"shape {p.shape}")
    p = p.astype(np.int64)
    nbr = neighbours(Y, int(k))
    votes = p[nbr]  # (n, k)
    n_classes = int(p.max()) + 1
    counts = np.zeros((len(p), n_classes), np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(p)), votes.shape[1]), votes.reshape(-1)), 1)
    return float(np.mean(counts.argmax(axis=1) == p))


def q_knn_e(representations: ArrayLike, predictions: ArrayLike, k: int = 5, *,
            n_neighbors: int = 30, seed: int = 0) -> float:
    """Q_kNN-E (DeepView §5.1): :func:`q_knn` on a Euclidean ``umap.UMAP(n_neighbors)`` layout of
    the same rows."""
    import warnings

    import umap

    X = _as_array("representations", representations)
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state"
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        Y = umap.UMAP(n_neighbors=int(n_neighbors), random_state=seed).fit_transform(X)
    return q_knn(Y, predictions, k)


def q_data(pred: ArrayLike, pred_inverse: ArrayLike, rows: ArrayLike | None = None) -> float:
    """Q_data / Q_¬data (DeepView §5.1): agreement of the model's prediction on ``π⁻¹(π(x))``
    with its prediction on ``x``, over ``rows`` (the samples π⁻¹ was fitted on for Q_data, the
    held-out ones for Q_¬data; default all). The same measure as :func:`ppr`, which DVI calls
    the prediction preserving rate."""
    a, b = as_array(pred, "pred"), as_array(pred_inverse, "pred_inverse")
    if rows is not None:
        r = np.asarray(rows, np.int64)
        a, b = a[r], b[r]
    return ppr(a, b)
