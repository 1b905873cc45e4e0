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


def temporal_pv(
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
    """Temporal preserving correlation of one transition t-1 → t, DVI Eq 4 with Eq 11.

    For every sample i::

        e_i = eval_sem(x_i^{t-1}, x_i^t, k) = |N_k(x_i^{t-1}) ∩ N_k(x_i^t)| / k     (Eq 11)
        d_i = ||y_i^t - y_i^{t-1}||                                                  (2-D move)

    and the result is the Pearson correlation ``corr(e, d)`` over the N samples (Eq 4). Negative
    is good: samples whose high-dimensional neighbourhood is kept move little, those whose
    neighbourhood changes move more. ``Y_prev``/``Y_cur`` must be in one shared 2-D frame.
    Returns NaN when ``e`` or ``d`` is constant (correlation undefined). For the per-sample
    correlation across a whole sequence of epochs see :func:`temporal_pv_sequence`.
    ``return_per_sample=True`` returns ``(e, d)`` instead.
    """
    e, d = _transition(X_prev, X_cur, Y_prev, Y_cur, k, method=method, device=device)
    if return_per_sample:
        return e, d
    return _pearson(e, d)


def _transition(
    X_prev: ArrayLike,
    X_cur: ArrayLike,
    Y_prev: ArrayLike,
    Y_cur: ArrayLike,
    k: int,
    *,
    method: str = "auto",
    device: DeviceLike = "auto",
    high_prev: np.ndarray | None = None,
    high_cur: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    Yp, Yc = _as_array("Y_prev", Y_prev), _as_array("Y_cur", Y_cur)
    n = Yp.shape[0]
    if high_prev is None:
        Xp = _as_array("X_prev", X_prev)
        _check_rows(X_prev=Xp, Y_prev=Yp)
        high_prev = neighbours(Xp, k, method=method, device=device)
    if high_cur is None:
        Xc = _as_array("X_cur", X_cur)
        _check_rows(X_cur=Xc, Y_cur=Yc)
        high_cur = neighbours(Xc, k, method=method, device=device)
    _check_rows(Y_prev=Yp, Y_cur=Yc)
    if high_prev.shape[0] != n or high_cur.shape[0] != n:
        raise ValueError("X_prev, X_cur, Y_prev and Y_cur must describe the same N samples.")
    e = overlap_rate(high_prev, high_cur, k)
    d = np.linalg.norm(Yc.astype(np.float64) - Yp.astype(np.float64), axis=1)
    return e, d


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den <= 1e-12 * max(len(a), 1):
        return float("nan")
    return float((a * b).sum() / den)


def temporal_pv_sequence(
    Xs: Sequence[ArrayLike],
    Ys: Sequence[ArrayLike],
    k: int = 15,
    *,
    return_per_sample: bool = False,
    method: str = "auto",
    device: DeviceLike = "auto",
) -> float | np.ndarray:
    """Per-sample temporal correlation over a sequence of T >= 3 epochs, averaged.

    For sample i and transitions t = 1..T-1, ``e_i^t`` and ``d_i^t`` as in :func:`temporal_pv`;
    ``r_i = pearson_t(e_i^t, d_i^t)`` over the T-1 transitions (the DVI reference
    implementation's per-sample variant), and the result is the mean of ``r_i`` over samples whose
    ``e_i`` and ``d_i`` both vary (others are skipped; NaN when none do). With few epochs each
    ``r_i`` rests on few points: prefer :func:`temporal_pv` per transition then.
    ``return_per_sample=True`` returns ``r`` (N,), NaN where skipped.
    """
    if len(Xs) != len(Ys):
        raise ValueError(f"Xs and Ys must list the same epochs, got {len(Xs)} and {len(Ys)}.")
    if len(Xs) < 3:
        raise ValueError(
            f"temporal_pv_sequence needs at least 3 epochs (2 transitions), got {len(Xs)}."
        )
    highs = [neighbours(_as_array("Xs[t]", x), k, method=method, device=device) for x in Xs]
    E, D = [], []
    for t in range(1, len(Xs)):
        e, d = _transition(
            None, None, Ys[t - 1], Ys[t], k, high_prev=highs[t - 1], high_cur=highs[t]
        )
        E.append(e)
        D.append(d)
    Ea = np.stack(E, 1)
    Da = np.stack(D, 1)
    Ea = Ea - Ea.mean(1, keepdims=True)
    Da = Da - Da.mean(1, keepdims=True)
    den = np.sqrt((Ea * Ea).sum(1) * (Da * Da).sum(1))
    ok = den > 1e-12
    r = np.full(Ea.shape[0], np.nan)
    r[ok] = (Ea * Da).sum(1)[ok] / den[ok]
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
    X_train_prev: ArrayLike | None = None,
    Y_train_prev: ArrayLike | None = None,
    X_test_prev: ArrayLike | None = None,
    Y_test_prev: ArrayLike | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    method: str = "auto",
    device: DeviceLike = "auto",
    high_knn: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """All section-6 measures of one epoch as a flat dict of floats (NaN where not applicable).

    Keys: ``nn_pv_{k}_{split}``, ``boundary_pv_{k}_{split}``, ``ppr_{split}``,
    ``temporal_pv_{k}_{split}`` for ``k`` in ``ks`` and split in train/test (test keys only when
    test arrays are given). The boundary measure uses the epoch's boundary points ``B`` and
    their projection ``B_2d`` for both splits (NaN when fewer than k); PPR needs the predictions
    before/after ``ψ(φ(x))``; temporal needs the previous epoch's ``X`` and ``Y`` (NaN on the
    first epoch). Each kNN is computed once at ``max(ks)`` and sliced for smaller k.

    ``high_knn`` may hold precomputed high-dimensional neighbour indices (self excluded,
    nearest first, at least ``max(ks)`` columns) under the keys ``"train"``, ``"test"``,
    ``"train_prev"``, ``"test_prev"`` — e.g. kept from the previous epoch — to skip those kNN.
    """
    cache = dict(high_knn or {})

    def high(key: str, X: np.ndarray) -> np.ndarray:
        got = cache.get(key)
        if got is not None and got.shape[0] == X.shape[0] and got.shape[1] >= kmax:
            return np.asarray(got)[:, :kmax]
        return neighbours(X, kmax, method=method, device=device)

    ks = tuple(sorted(int(k) for k in ks))
    kmax = ks[-1]
    out: dict[str, float] = {}
    splits = [("train", X_train, Y_train, pred_train, pred_train_rec, X_train_prev, Y_train_prev)]
    if X_test is not None and Y_test is not None:
        splits.append(("test", X_test, Y_test, pred_test, pred_test_rec, X_test_prev, Y_test_prev))
    Bn = None if B is None else _as_array("B", B)
    B2n = None if B_2d is None else _as_array("B_2d", B_2d)
    for split, X, Y, p, p_rec, Xp, Yp in splits:
        Xa, Ya = _as_array(f"X_{split}", X), _as_array(f"Y_{split}", Y)
        _check_rows(**{f"X_{split}": Xa, f"Y_{split}": Ya})
        hx = high(split, Xa)
        hy = neighbours(Ya, kmax, device="cpu")
        for k in ks:
            out[f"nn_pv_{k}_{split}"] = float(overlap_rate(hx, hy, k).mean())
        have_b = Bn is not None and B2n is not None and Bn.shape[0] > 0
        if have_b:
            _check_rows(B=Bn, B_2d=B2n)
        kb = max((k for k in ks if have_b and Bn.shape[0] >= k), default=0)
        if kb:
            bx = neighbours(Bn, kb, query=Xa, method=method, device=device)
            by = neighbours(B2n, kb, query=Ya, device="cpu")
        for k in ks:
            ok = kb >= k
            out[f"boundary_pv_{k}_{split}"] = (
                float(overlap_rate(bx, by, k).mean()) if ok else float("nan")
            )
        have_p = p is not None and p_rec is not None
        out[f"ppr_{split}"] = ppr(p, p_rec) if have_p else float("nan")
        if Xp is not None and Yp is not None:
            hp = high(f"{split}_prev", _as_array(f"X_{split}_prev", Xp))
            for k in ks:
                e, d = _transition(None, None, Yp, Ya, k, high_prev=hp, high_cur=hx)
                out[f"temporal_pv_{k}_{split}"] = _pearson(e, d)
        else:
            for k in ks:
                out[f"temporal_pv_{k}_{split}"] = float("nan")
    return out


def metrics_table(per_epoch: Mapping[int, Mapping[str, float]]) -> pd.DataFrame:
    """Per-epoch metrics as a DataFrame: index ``epoch``, one column per measure.

    ``per_epoch`` maps epoch -> the dict of :func:`evaluate_epoch` (or any flat dict). Columns
    are ordered measure, then k, then split (nn_pv, boundary_pv, ppr, temporal_pv).
    """
    df = pd.DataFrame.from_dict({int(e): dict(v) for e, v in per_epoch.items()}, orient="index")
    df.index.name = "epoch"
    df = df.sort_index()
    order = {"nn_pv": 0, "boundary_pv": 1, "ppr": 2, "temporal_pv": 3}

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
