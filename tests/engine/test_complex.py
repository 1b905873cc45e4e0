"""kNN, UMAP fuzzy simplicial set (checked against umap-learn) and the (k)-BAVR complex."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dvi_widget.engine import complex as complex_module
from dvi_widget.engine.complex import (
    Complex,
    _exact_is_cheap,
    bavr_complex,
    fuzzy_simplicial_set,
    join_own_class,
    knn,
    knn_and_query,
    separate_predictions,
)


def _brute(X, Q=None, k=5):
    self_q = Q is None
    Q = X if Q is None else Q
    D = np.linalg.norm(Q[:, None, :].astype(np.float64) - X[None, :, :], axis=2)
    if self_q:
        np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, 1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 24)) * 3
    X = (centers[rng.integers(0, 5, 600)] + rng.normal(size=(600, 24))).astype(np.float32)
    return X


def test_exact_knn_equals_brute_force(data):
    idx, dist = knn(data, 10, method="exact", device="cpu")
    bi, bd = _brute(data, k=10)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (600, 10)
    assert (idx != np.arange(600)[:, None]).all()  # self excluded
    np.testing.assert_allclose(dist, bd, rtol=1e-5, atol=1e-5)
    assert np.mean(np.sort(idx, 1) == np.sort(bi, 1)) == 1.0
    assert (np.diff(dist, axis=1) >= 0).all()


def test_exact_knn_blocked_path_for_large_inputs():
    # > 4096 points on the CPU use the symmetric blocked search: check rows of every block
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4500, 8)).astype(np.float32)
    idx, dist = knn(X, 12, method="exact", device="cpu")
    rows = np.r_[0:5, 2040:2050, 4090:4100, 4495:4500]
    bi, bd = _brute(X, X[rows], k=13)
    bi, bd = bi[:, 1:], bd[:, 1:]  # column 0 is the row itself (distance 0)
    np.testing.assert_allclose(dist[rows], bd, rtol=1e-5, atol=1e-5)
    assert np.mean(np.sort(idx[rows], 1) == np.sort(bi, 1)) == 1.0
    assert (idx != np.arange(4500)[:, None]).all()


def test_exact_knn_with_query_and_chunks(data):
    Q = data[:50] + 0.01
    idx, dist = knn(data, 7, query=Q, method="exact", device="cpu")
    bi, bd = _brute(data, Q, k=7)
    np.testing.assert_allclose(dist, bd, rtol=1e-5, atol=1e-5)
    assert (idx[:, 0] == np.arange(50)).all()  # the query's own source is its nearest point
    it, dt = knn(torch.from_numpy(data), 7, method="exact", device="cpu", return_tensors=True)
    assert isinstance(it, torch.Tensor) and it.shape == (600, 7)


def test_auto_does_not_import_pynndescent_for_small_inputs():
    # in a fresh interpreter: popping it from this one could force a numba recompile later
    code = (
        "import sys, numpy as np; from dvi_widget.engine.complex import knn, bavr_complex; "
        "X = np.random.default_rng(0).normal(size=(300, 8)).astype('float32'); "
        "knn(X, 5, device='cpu'); bavr_complex(X, X[:40] * 0.5, 5, device='cpu'); "
        "assert 'pynndescent' not in sys.modules, 'pynndescent was imported'"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_nndescent_recall(data, monkeypatch):
    """... and the first pynndescent build of a process is announced (it compiles for ~20 s),
    the later ones not."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 16)).astype(np.float32)
    monkeypatch.setattr(complex_module, "_nndescent_built", False)
    assert complex_module.nndescent_compiles_next(3000, 16, "nndescent")
    assert not complex_module.nndescent_compiles_next(3000, 16, "exact")
    assert not complex_module.nndescent_compiles_next(3000, 16, "auto", "cpu")  # exact is cheap
    assert complex_module.nndescent_compiles_next(60_000, 512, "auto", "cpu")
    idx, dist = knn(X, 10, method="nndescent", seed=0)
    assert not complex_module.nndescent_compiles_next(3000, 16, "nndescent")
    assert not complex_module.nndescent_compiles_next(60_000, 512, "auto", "cpu")
    ex, _ = knn(X, 10, method="exact", device="cpu")
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(idx, ex, strict=True)])
    assert recall >= 0.95
    assert (idx != np.arange(3000)[:, None]).all()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exact", "nndescent"])
def test_knn_and_query_equals_the_two_searches(method):
    # one pynndescent index serves X's own graph and the query; the result is that of two
    # separate searches with the same seed (each builds the same index)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 12)).astype(np.float32)
    Q = rng.normal(size=(300, 12)).astype(np.float32)
    (si, sd), (qi, qd) = knn_and_query(X, 7, Q, method=method, device="cpu", seed=3)
    ei, ed = knn(X, 7, method=method, device="cpu", seed=3)
    fi, fd = knn(X, 7, query=Q, method=method, device="cpu", seed=3)
    assert np.array_equal(si.numpy(), ei) and np.array_equal(qi.numpy(), fi)
    np.testing.assert_allclose(sd.numpy(), ed, rtol=1e-6)
    np.testing.assert_allclose(qd.numpy(), fd, rtol=1e-6)
    assert (si.numpy() != np.arange(2000)[:, None]).all()
    # and bavr_complex built from it is the one it builds itself
    a = bavr_complex(X, X[:50] + 0.01, k=7, method=method, device="cpu", seed=3,
                     x_knn=(si, sd))
    b = bavr_complex(X, X[:50] + 0.01, k=7, method=method, device="cpu", seed=3)
    assert np.array_equal(a.head, b.head) and np.array_equal(a.tail, b.tail)
    np.testing.assert_allclose(a.weight, b.weight, rtol=1e-6)
    with pytest.raises(ValueError, match="x_knn must be two"):
        bavr_complex(X, None, k=7, x_knn=(si[:, :5], sd[:, :5]))


def test_auto_chooses_exact_by_the_work_not_the_rows():
    # 10,000 rows against 10,000 in 512-D or 20,000 in 128-D: exact; a 60,000 × 6,000 search
    # in 512-D (the X→B relation of a 60k run) goes to pynndescent, as does 30,000 × 30,000
    assert _exact_is_cheap(10_000, 10_000, 512) and _exact_is_cheap(20_000, 20_000, 64)
    assert not _exact_is_cheap(60_000, 6_000, 512) and not _exact_is_cheap(30_000, 30_000, 16)


def test_knn_bad_input(data):
    with pytest.raises(ValueError, match="at least 11 points"):
        knn(data[:10], 10, device="cpu")
    bad = data.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        knn(bad, 5, device="cpu")
    with pytest.raises(ValueError, match="method"):
        knn(data, 5, method="kd-tree")
    with pytest.raises(ValueError, match="2-D"):
        knn(data[0], 5)


@pytest.mark.parametrize("k", [5, 15])
def test_fuzzy_simplicial_set_matches_umap(data, k):
    umap_ = pytest.importorskip("umap.umap_")
    X = data.copy()
    X[11] = X[10]  # an exact duplicate: distance 0 inside the kNN (rho must skip it)
    n = len(X)
    idx, dist = knn(X, k, method="exact", device="cpu")
    rows, cols, w = fuzzy_simplicial_set(idx, dist, n)
    ours = sp.coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    # umap's convention: the kNN includes the point itself at distance 0 in column 0
    ki = np.concatenate([np.arange(n)[:, None], idx], 1)
    kd = np.concatenate([np.zeros((n, 1), np.float32), dist], 1)
    ref, _, _ = umap_.fuzzy_simplicial_set(
        np.empty((n, 1)), k + 1, None, "euclidean", knn_indices=ki, knn_dists=kd
    )
    ref = ref.tocsr()
    assert ours.nnz == ref.nnz
    assert abs(ours - ref).max() < 1e-4
    assert abs(ours - ours.T).max() == 0  # symmetric
    assert w.max() <= 1.0 and w.min() > 0


def test_bavr_edges_and_ids(data):
    X = data[:200]
    B = 0.5 * (data[200:260] + data[260:320])
    k = 6
    cx = bavr_complex(X, B, k, device="cpu")
    assert isinstance(cx, Complex) and (cx.n_x, cx.n_b) == (200, 60)
    assert cx.head.dtype == np.int64 and cx.weight.dtype == np.float32
    assert (cx.head < cx.tail).all() and cx.tail.max() < 260
    assert ((cx.weight > 0) & (cx.weight <= 1)).all()
    kinds = cx.edge_kinds()
    xx, xb, bb = (cx.head[kinds == t] * 1000 + cx.tail[kinds == t] for t in range(3))
    # (a) X-X edges: exactly the symmetrised kNN graph of X
    ix, _ = knn(X, k, method="exact", device="cpu")
    a = {(min(i, j), max(i, j)) for i, row in enumerate(ix) for j in row}
    assert set(xx.tolist()) <= {p * 1000 + q for p, q in a}
    assert len(xx) >= 0.99 * len(a)  # only near-zero weights may be dropped
    # (b) X-B edges: each x to its k nearest boundary points, B ids offset by n_x
    ib, _ = knn(B, k, query=X, method="exact", device="cpu")
    b = {i * 1000 + 200 + j for i, row in enumerate(ib) for j in row}
    assert set(xb.tolist()) <= b and len(xb) >= 0.99 * len(b)
    # (c) B-B edges only among boundary ids
    assert (cx.head[kinds == 2] >= 200).all() and len(bb) >= 60 * k / 2
    assert cx.knn_indices.shape == (200, k) and np.array_equal(cx.knn_indices, ix)
    h2, t2, w2 = cx.both_directions()
    assert len(h2) == 2 * cx.n_edges and np.array_equal(h2[: cx.n_edges], t2[cx.n_edges :])


def test_bavr_without_boundary_and_small_b(data):
    cx = bavr_complex(data[:100], None, 5, device="cpu")
    assert cx.n_b == 0 and (cx.edge_kinds() == 0).all() and cx.n_edges > 0
    cx = bavr_complex(data[:100], np.zeros((0, 24), np.float32), 5, device="cpu")
    assert cx.n_b == 0
    cx = bavr_complex(data[:100], data[100:103], 5, device="cpu")  # fewer B than k
    assert cx.n_b == 3 and set(np.unique(cx.edge_kinds())) == {0, 1, 2}


def test_bavr_bad_input(data):
    with pytest.raises(ValueError, match="lower k"):
        bavr_complex(data[:10], None, 15, device="cpu")
    bad = data[:50].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        bavr_complex(bad, None, 5, device="cpu")
    with pytest.raises(ValueError, match="features"):
        bavr_complex(data[:50], np.zeros((5, 3), np.float32), 5, device="cpu")


def test_xb_weight_scales_only_sample_boundary_edges():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    B = rng.normal(size=(30, 6)).astype(np.float32)
    full = bavr_complex(X, B, 5, device="cpu")
    light = bavr_complex(X, B, 5, device="cpu", xb_weight=0.25)
    assert np.array_equal(full.head, light.head) and np.array_equal(full.tail, light.tail)
    kinds = full.edge_kinds()
    assert np.allclose(light.weight[kinds == 1], 0.25 * full.weight[kinds == 1])
    assert np.array_equal(light.weight[kinds != 1], full.weight[kinds != 1])
    with pytest.raises(ValueError, match="xb_weight"):
        bavr_complex(X, B, 5, device="cpu", xb_weight=2.0)


def test_separate_predictions_scales_edges_across_predicted_classes():
    # samples 0,1 predicted 0; sample 2 predicted 1; boundary point 3 between classes 0 and 2
    cx = Complex(head=np.array([0, 0, 1, 2, 0]), tail=np.array([1, 2, 3, 3, 3]),
                 weight=np.ones(5, np.float32), n_x=3, n_b=1)
    out = separate_predictions(cx, np.array([0, 0, 1]), np.array([[0, 2]]), factor=0.1)
    # 0-1 same class; 0-2 crosses; 1-b and 0-b: class 0 is one of b's; 2-b: class 1 is not
    assert np.allclose(out.weight, [1.0, 0.1, 1.0, 0.1, 1.0])
    assert separate_predictions(cx, np.array([0, 0, 1]), None, factor=1.0) is cx
    with pytest.raises(ValueError, match="3 samples"):
        separate_predictions(cx, np.array([0, 1]), None, factor=0.5)


def test_separate_predictions_can_make_crossing_neighbours_repel():
    # as above: the X–X edge 0-2 crosses, the X–B edge 2-b crosses
    cx = Complex(head=np.array([0, 0, 1, 2, 0]), tail=np.array([1, 2, 3, 3, 3]),
                 weight=np.full(5, 0.8, np.float32), n_x=3, n_b=1)
    pred, pairs = np.array([0, 0, 1]), np.array([[0, 2]])
    out = separate_predictions(cx, pred, pairs, factor=0.1, repulsion=0.5)
    # a crossing X–X edge becomes repulsive (negative weight, |w| = repulsion × membership);
    # a crossing X–B edge is only weakened (the boundary point belongs between the classes)
    assert np.allclose(out.weight, [0.8, -0.4, 0.8, 0.08, 0.8])
    unscaled = separate_predictions(cx, pred, pairs, factor=1.0, repulsion=0.5)
    assert np.allclose(unscaled.weight, [0.8, -0.4, 0.8, 0.8, 0.8])
    assert np.array_equal(separate_predictions(cx, pred, pairs, factor=0.1).weight,
                          separate_predictions(cx, pred, pairs, 0.1, repulsion=0.0).weight)


def test_join_own_class_links_an_outlying_sample_to_its_own_class():
    # class 0 along x = 0..9, class 1 along x = 20..29; sample 10 (at x = 18) is predicted 0 but
    # its 3 nearest neighbours (20, 21, 22) are class 1's
    X = np.concatenate([np.arange(10), np.arange(20, 30), [18]]).astype(np.float32)[:, None]
    X = np.concatenate([X, np.zeros_like(X)], axis=1)
    pred = np.array([0] * 10 + [1] * 10 + [0])
    nbr = knn(X, 3, method="exact", device="cpu")[0]
    cx = Complex(head=np.array([0, 17]), tail=np.array([1, 20]), weight=np.full(2, 0.5, np.float32),
                 n_x=21, n_b=0)
    out, n_outlying = join_own_class(cx, X, pred, nbr, 3, device="cpu")
    assert n_outlying == 1
    # the old edges as they were, then 20–9, 20–8, 20–7 (each pair once, head < tail), weight 1
    assert np.array_equal(out.head[:2], [0, 17]) and np.allclose(out.weight[:2], 0.5)
    assert sorted(zip(out.head[2:].tolist(), out.tail[2:].tolist(), strict=True)) == [
        (7, 20), (8, 20), (9, 20)]
    assert np.allclose(out.weight[2:], 1.0)
    # an edge the complex already has is not added twice; k = 0 changes nothing
    cx2 = Complex(head=np.array([9]), tail=np.array([20]), weight=np.ones(1, np.float32),
                  n_x=21, n_b=0)
    assert len(join_own_class(cx2, X, pred, nbr, 3, device="cpu")[0].head) == 3
    assert join_own_class(cx, X, pred, nbr, 0, device="cpu")[0] is cx
    with pytest.raises(ValueError, match="one row per sample"):
        join_own_class(cx, X, pred[:-1], nbr, 3, device="cpu")


def test_join_own_class_draws_outlying_samples_beside_their_own_class():
    """Low-margin samples predicted as class 0 but lying among class 1's: with separated
    predictions alone the layout draws them inside class 1; with their own class's edges their
    2-D neighbours are mostly class 0 (where a decoder can show their prediction)."""
    from dvi_widget.engine.layout import pca_init, umap_layout
    from dvi_widget.engine.losses import find_ab_params

    rng = np.random.default_rng(0)
    a_, b_ = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) + 4.0
    stray = rng.normal(size=(6, 16)) + 3.5  # on class 1's side of the gap, spread like it
    X = np.concatenate([a_, b_, stray]).astype(np.float32)
    pred = np.array([0] * 300 + [1] * 300 + [0] * 6)
    stray_rows = np.arange(600, 606)
    a, b = find_ab_params(1.0, 0.1)

    def own_share(k_own: int) -> float:
        cx = bavr_complex(X, np.zeros((0, 16), np.float32), k=10, device="cpu")
        cx = separate_predictions(cx, pred, None, factor=0.01)
        cx, n_out = join_own_class(cx, X, pred, cx.knn_indices, k_own, device="cpu")
        assert n_out == 6  # every stray's neighbours are mostly class 1's
        y = umap_layout(torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                        torch.as_tensor(cx.weight), pca_init(torch.tensor(X)), a, b,
                        n_iter=200, generator=torch.Generator().manual_seed(0)).numpy()
        nb = knn(y, 10, method="exact", device="cpu")[0][stray_rows]
        return float((pred[nb] == 0).mean())

    without, with_edges = own_share(0), own_share(10)
    # measured: 0.5 without (the strays are among each other's neighbours) and 1.0 with
    assert with_edges > 0.8 and with_edges > without + 0.3, (without, with_edges)
