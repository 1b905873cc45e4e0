"""Section-6 measures on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvi_widget.engine.metrics import (
    boundary_pv,
    evaluate_epoch,
    metrics_long,
    metrics_table,
    neighbours,
    nn_pv,
    overlap_rate,
    ppr,
    temporal_pv,
    temporal_pv_sequence,
)


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 32)).astype(np.float32)
    X2 = rng.normal(size=(800, 2)).astype(np.float32)
    B = rng.normal(size=(90, 32)).astype(np.float32)
    return X, X2, B


def _brute_overlap(X, Y, k):
    def nk(P):
        D = ((P[:, None] - P[None]) ** 2).sum(-1)
        np.fill_diagonal(D, np.inf)
        return np.argsort(D, 1)[:, :k]

    a, b = nk(X.astype(np.float64)), nk(Y.astype(np.float64))
    return np.mean([len(np.intersect1d(r, s)) / k for r, s in zip(a, b, strict=True)])


def test_nn_pv_identity_and_random(clouds):
    _, X2, _ = clouds
    assert nn_pv(X2, X2[:, :2], 10) == 1.0
    X, _, _ = clouds
    rng = np.random.default_rng(1)
    low = nn_pv(X, rng.normal(size=(800, 2)), 15)
    assert low < 0.05  # chance level is about k / N = 0.02
    # 2-D data isometrically embedded in 32-D (orthonormal columns) keeps every neighbour
    basis, _ = np.linalg.qr(rng.normal(size=(32, 2)))
    assert nn_pv(X2.astype(np.float64) @ basis.T, X2, 15) == 1.0


def test_nn_pv_matches_brute_force_and_per_sample(clouds):
    X, _, _ = clouds
    Y = X[:, :2] + 0.3 * X[:, 2:4]  # partially informative projection
    got = nn_pv(X[:300], Y[:300], 10)
    assert got == pytest.approx(_brute_overlap(X[:300], Y[:300], 10), abs=1e-12)
    per = nn_pv(X[:300], Y[:300], 10, return_per_sample=True)
    assert per.shape == (300,) and per.mean() == pytest.approx(got)
    assert set(np.unique(per * 10).round(6)) <= set(range(11))


def test_boundary_pv(clouds):
    X, X2, B = clouds
    B2 = B[:, :2]
    rng = np.random.default_rng(2)
    B2d = rng.normal(size=(90, 2))
    # 2-D data and its own 2-D boundary: identical witness sets
    assert boundary_pv(X2, X2, B2d, B2d, 10) == 1.0
    # data close to a 2-D plane, projected onto it: high but not perfect; random: chance level
    Xp = np.hstack([3 * X[:, :2], 0.3 * X[:, 2:]])
    Bp = np.hstack([3 * B[:, :2], 0.3 * B[:, 2:]])
    part = boundary_pv(Xp, Xp[:, :2], Bp, Bp[:, :2], 10)
    rand = boundary_pv(Xp, rng.normal(size=(800, 2)), Bp, rng.normal(size=(90, 2)), 10)
    assert rand < 0.2 and 0.6 < part < 1.0, (rand, part)  # chance is k / M = 0.11
    with pytest.raises(ValueError, match="at least k boundary points"):
        boundary_pv(X, X2, B[:5], B2[:5], 10)
    with pytest.raises(ValueError, match="same number of rows"):
        boundary_pv(X, X2, B, B2[:50], 10)


def test_ppr():
    a = np.array([0, 1, 2, 2, 1])
    assert ppr(a, np.array([0, 1, 2, 0, 0])) == 0.6
    logits = np.eye(3)[a] * 5.0
    assert ppr(logits, a) == 1.0
    with pytest.raises(ValueError, match="same length"):
        ppr(a, a[:3])


def _moving_sequence(n=400, seed=0):
    """Epoch t -> t+1: half the samples keep their neighbourhood and stay put, half are
    shuffled in high-dim space (neighbourhoods destroyed) and moved far in 2-D."""
    rng = np.random.default_rng(seed)
    X0 = rng.normal(size=(n, 16)).astype(np.float32)
    Y0 = rng.normal(size=(n, 2))
    movers = np.arange(n) % 2 == 1
    X1 = X0.copy()
    X1[movers] = X0[movers][rng.permutation(movers.sum())]
    Y1 = Y0.copy()
    Y1[movers] += rng.normal(size=(movers.sum(), 2)) * 3.0
    Y1[~movers] += rng.normal(size=((~movers).sum(), 2)) * 0.01
    return X0, X1, Y0, Y1, movers


def test_temporal_pv_sign_on_constructed_example():
    X0, X1, Y0, Y1, movers = _moving_sequence()
    r = temporal_pv(X0, X1, Y0, Y1, 10)
    assert r < -0.5
    e, d = temporal_pv(X0, X1, Y0, Y1, 10, return_per_sample=True)
    assert e[~movers].mean() > e[movers].mean() + 0.3
    assert np.corrcoef(e, d)[0, 1] == pytest.approx(r)
    # a projection that moves the wrong samples scores positive
    wrong = Y0.copy()
    wrong[~movers] += 3.0
    assert temporal_pv(X0, X1, Y0, wrong, 10) > 0.5
    # nothing moves: correlation undefined -> NaN, not an error
    assert np.isnan(temporal_pv(X0, X1, Y0, Y0, 10))


def test_temporal_pv_sequence():
    X0, X1, Y0, Y1, movers = _moving_sequence(seed=1)
    # movers in transition 1 stay in transition 2 and vice versa -> per-sample r = -1
    rng = np.random.default_rng(5)
    X2 = X1.copy()
    X2[~movers] = X1[~movers][rng.permutation((~movers).sum())]
    Y2 = Y1.copy()
    Y2[~movers] += 3.0 * rng.normal(size=((~movers).sum(), 2))
    Y2[movers] += 0.01
    X3, Y3 = X2.copy(), Y2 + 0.001 * rng.normal(size=Y2.shape)
    r = temporal_pv_sequence([X0, X1, X2, X3], [Y0, Y1, Y2, Y3], 10, return_per_sample=True)
    assert np.nanmean(r) < -0.8
    assert temporal_pv_sequence([X0, X1, X2, X3], [Y0, Y1, Y2, Y3], 10) == pytest.approx(
        np.nanmean(r)
    )
    with pytest.raises(ValueError, match="at least 3 epochs"):
        temporal_pv_sequence([X0, X1], [Y0, Y1], 10)


def test_neighbours_low_dim_handles_duplicates():
    P = np.array([[0, 0], [0, 0], [1, 0], [3, 0], [6, 0]], dtype=np.float32)
    nb = neighbours(P, 2)
    assert (nb != np.arange(5)[:, None]).all()
    assert set(nb[0]) == {1, 2} and set(nb[1]) == {0, 2}
    assert overlap_rate(np.array([[1, 2, 3]]), np.array([[3, 9, 1]])).tolist() == [2 / 3]


def test_evaluate_epoch_and_table(clouds):
    X, X2, B = clouds
    rng = np.random.default_rng(3)
    kw = dict(
        X_test=X[:100],
        Y_test=X[:100, :2],
        B=B,
        B_2d=B[:, :2],
        pred_train=np.zeros(800, int),
        pred_train_rec=(np.arange(800) % 10 == 0).astype(int),
    )
    first = evaluate_epoch(X, X[:, :2], **kw)
    assert first["ppr_train"] == pytest.approx(0.9)
    assert np.isnan(first["ppr_test"]) and np.isnan(first["temporal_pv_15_train"])
    for k in (10, 15, 20):
        assert first[f"nn_pv_{k}_train"] == pytest.approx(nn_pv(X, X[:, :2], k))
        assert first[f"boundary_pv_{k}_test"] == pytest.approx(
            boundary_pv(X[:100], X[:100, :2], B, B[:, :2], k)
        )
    Xn = X + 0.1 * rng.normal(size=X.shape).astype(np.float32)
    second = evaluate_epoch(
        Xn, Xn[:, :2], X_train_prev=X, Y_train_prev=X[:, :2], **kw, ks=(10, 15, 20)
    )
    assert second["temporal_pv_10_train"] == pytest.approx(
        temporal_pv(X, Xn, X[:, :2], Xn[:, :2], 10)
    )
    cache = {"train": neighbours(Xn, 25), "train_prev": neighbours(X, 20)}
    cached = evaluate_epoch(
        Xn, Xn[:, :2], X_train_prev=X, Y_train_prev=X[:, :2], **kw, high_knn=cache
    )
    assert cached == pytest.approx(second, nan_ok=True)
    cache["train_prev"] = cache["train"]  # a (wrong) cache is really used: eval_sem = 1
    assert np.isnan(
        evaluate_epoch(Xn, Xn[:, :2], X_train_prev=X, Y_train_prev=X[:, :2], high_knn=cache)[
            "temporal_pv_10_train"
        ]
    )
    no_b = evaluate_epoch(X, X[:, :2], B=B[:0], B_2d=B[:0, :2])
    assert np.isnan(no_b["boundary_pv_15_train"]) and "nn_pv_15_test" not in no_b
    table = metrics_table({2: second, 1: first})
    assert isinstance(table, pd.DataFrame) and list(table.index) == [1, 2]
    assert table.columns[0] == "nn_pv_10_train" and table.shape == (2, 20)
    long = metrics_long(table)
    assert set(long["metric"]) == {"nn_pv", "boundary_pv", "ppr", "temporal_pv"}
    assert long["k"].isna().sum() == 4  # ppr has no k: 2 splits x 2 epochs
