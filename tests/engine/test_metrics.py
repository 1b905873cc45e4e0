"""Section-6 measures on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvi_widget.engine.metrics import (
    boundary_pv,
    evaluate_epoch,
    joint_neighbours,
    metrics_long,
    metrics_table,
    neighbours,
    nn_pv,
    nn_pv_new,
    overlap_rate,
    ppr,
    temporal_pv,
    transition_corr,
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


def test_transition_corr_sign_on_constructed_example():
    X0, X1, Y0, Y1, movers = _moving_sequence()
    r = transition_corr(X0, X1, Y0, Y1, 10)
    assert r < -0.5
    e, d = transition_corr(X0, X1, Y0, Y1, 10, return_per_sample=True)
    assert e[~movers].mean() > e[movers].mean() + 0.3
    assert np.corrcoef(e, d)[0, 1] == pytest.approx(r)
    # a projection that moves the wrong samples scores positive
    wrong = Y0.copy()
    wrong[~movers] += 3.0
    assert transition_corr(X0, X1, Y0, wrong, 10) > 0.5
    # nothing moves: correlation undefined -> NaN, not an error
    assert np.isnan(transition_corr(X0, X1, Y0, Y0, 10))


def _brute_eq4(Xs, Ys, k):
    """DVI Eq. 4 written out: per sample a Pearson over transitions, then the mean."""
    nbs = [neighbours(X, k) for X in Xs]
    rs = []
    for i in range(len(Xs[0])):
        e = [len(np.intersect1d(nbs[t - 1][i], nbs[t][i])) / k for t in range(1, len(Xs))]
        d = [np.linalg.norm(Ys[t][i] - Ys[t - 1][i]) for t in range(1, len(Xs))]
        if np.ptp(e) > 0 and np.ptp(d) > 0:  # a constant series has no correlation
            rs.append(np.corrcoef(e, d)[0, 1])
    return float(np.mean(rs))


def test_temporal_pv_is_eq4_per_sample_over_epochs():
    X0, X1, Y0, Y1, movers = _moving_sequence(seed=1)
    # movers in transition 1 stay in transition 2 and vice versa -> per-sample r = -1
    rng = np.random.default_rng(5)
    X2 = X1.copy()
    X2[~movers] = X1[~movers][rng.permutation((~movers).sum())]
    Y2 = Y1.copy()
    Y2[~movers] += 3.0 * rng.normal(size=((~movers).sum(), 2))
    Y2[movers] += 0.01
    X3, Y3 = X2.copy(), Y2 + 0.001 * rng.normal(size=Y2.shape)
    Xs, Ys = [X0, X1, X2, X3], [Y0, Y1, Y2, Y3]
    r = temporal_pv(Xs, Ys, 10, return_per_sample=True)
    assert np.nanmean(r) < -0.8
    assert temporal_pv(Xs, Ys, 10) == pytest.approx(np.nanmean(r))
    # exactly the definition, on a random sequence where samples disagree
    Zs = [X0 + 0.8 * rng.normal(size=X0.shape).astype(np.float32) for _ in range(4)]
    Ws = [rng.normal(size=(len(X0), 2)) for _ in range(4)]
    assert temporal_pv(Zs, Ws, 10) == pytest.approx(_brute_eq4(Zs, Ws, 10), abs=1e-9)
    # precomputed neighbour sets give the same
    nbs = [neighbours(Z, 10) for Z in Zs]
    assert temporal_pv(None, Ws, 10, neighbour_sets=nbs) == pytest.approx(
        temporal_pv(Zs, Ws, 10))
    with pytest.raises(ValueError, match="at least 3 epochs"):
        temporal_pv([X0, X1], [Y0, Y1], 10)


def test_joint_neighbours_and_nn_pv_new(clouds):
    X, X2, _ = clouds
    ref, new = X[:600], X[600:]
    nb = joint_neighbours(ref, new, 10)
    both = np.concatenate([ref, new])
    full = neighbours(both, 10)[600:]
    assert np.array_equal(np.sort(nb, 1), np.sort(full, 1))
    assert nn_pv_new(X2[:600], X2[:600], X2[600:], X2[600:], 10) == 1.0
    rng = np.random.default_rng(0)
    assert nn_pv_new(ref, rng.normal(size=(600, 2)), new, rng.normal(size=(200, 2)), 15) < 0.05
    sub = nn_pv_new(ref, ref[:, :2], new, new[:, :2], 10, rows=np.arange(50))
    per = nn_pv_new(ref, ref[:, :2], new, new[:, :2], 10, return_per_sample=True)
    assert sub == pytest.approx(per[:50].mean())


def test_neighbours_low_dim_handles_duplicates():
    P = np.array([[0, 0], [0, 0], [1, 0], [3, 0], [6, 0]], dtype=np.float32)
    nb = neighbours(P, 2)
    assert (nb != np.arange(5)[:, None]).all()
    assert set(nb[0]) == {1, 2} and set(nb[1]) == {0, 2}
    assert overlap_rate(np.array([[1, 2, 3]]), np.array([[3, 9, 1]])).tolist() == [2 / 3]


def test_evaluate_epoch_and_table(clouds):
    X, X2, B = clouds
    Xt = X[:100] + 0.05
    kw = dict(
        X_test=Xt,
        Y_test=Xt[:, :2],
        B=B,
        B_2d=B[:, :2],
        pred_train=np.zeros(800, int),
        pred_train_rec=(np.arange(800) % 10 == 0).astype(int),
    )
    first = evaluate_epoch(X, X[:, :2], **kw)
    assert first["ppr_train"] == pytest.approx(0.9)
    assert np.isnan(first["ppr_test"])
    for k in (10, 15, 20):
        assert first[f"nn_pv_{k}_train"] == pytest.approx(nn_pv(X, X[:, :2], k))
        assert first[f"nn_pv_{k}_test"] == pytest.approx(
            nn_pv_new(X, X[:, :2], Xt, Xt[:, :2], k))
        assert first[f"boundary_pv_{k}_test"] == pytest.approx(
            boundary_pv(Xt, Xt[:, :2], B, B[:, :2], k)
        )
    # a sample of rows scores those rows (their neighbours still among all samples)
    rows = np.arange(0, 800, 4)
    part = evaluate_epoch(X, X[:, :2], rows_train=rows, ks=(15,), pred_train=np.zeros(200),
                          pred_train_rec=np.zeros(200))
    per = nn_pv(X, X[:, :2], 15, return_per_sample=True)
    assert part["nn_pv_15_train"] == pytest.approx(per[rows].mean())
    assert part["ppr_train"] == 1.0
    cached = evaluate_epoch(X, X[:, :2], **kw, high_knn={"train": neighbours(X, 25)})
    assert cached == pytest.approx(first, nan_ok=True)
    wrong = evaluate_epoch(X, X[:, :2], **kw, high_knn={"train": neighbours(X[:, :2], 20)})
    assert wrong["nn_pv_20_train"] == 1.0  # a (wrong) cache is really used
    no_b = evaluate_epoch(X, X[:, :2], B=B[:0], B_2d=B[:0, :2])
    assert np.isnan(no_b["boundary_pv_15_train"]) and "nn_pv_15_test" not in no_b
    table = metrics_table({2: first, 1: no_b})
    assert isinstance(table, pd.DataFrame) and list(table.index) == [1, 2]
    assert table.columns[0] == "nn_pv_10_train" and table.shape == (2, 14)
    long = metrics_long(table)
    assert set(long["metric"]) == {"nn_pv", "boundary_pv", "ppr"}
    assert long["k"].isna().sum() == 4  # ppr has no k: 2 splits x 2 epochs
