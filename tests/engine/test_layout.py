"""The 2-D layout of the complex, its temporal mobility and the placement of new samples."""

import numpy as np
import pytest
import torch

from dvi_widget.engine.complex import bavr_complex, query_memberships
from dvi_widget.engine.layout import pca_init, place_points, temporal_mobility, umap_layout
from dvi_widget.engine.losses import find_ab_params
from dvi_widget.engine.metrics import nn_pv


def _blobs(n=300, h=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, h))
    labels = np.arange(n) % 3
    return (centres[labels] + rng.normal(size=(n, h))).astype(np.float32), labels


def test_pca_init_spans_the_requested_range():
    X, _ = _blobs()
    y = pca_init(torch.tensor(X), scale=10.0)
    assert y.shape == (300, 2)
    assert float(y.abs().max()) == np.float32(10.0)


def test_layout_keeps_clusters_apart_and_improves_neighbours():
    X, labels = _blobs()
    cx = bavr_complex(X, np.zeros((0, X.shape[1]), np.float32), k=10)
    a, b = find_ab_params(1.0, 0.1)
    gen = torch.Generator().manual_seed(0)
    init = pca_init(torch.tensor(X))  # as DVI.fit starts a cold epoch
    y = umap_layout(torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                    torch.as_tensor(cx.weight), init, a, b, n_iter=150, generator=gen).numpy()
    # each cluster is compact relative to the distance between cluster centres
    centres = np.stack([y[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(y[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 3 * spread
    # and local neighbourhoods are far better kept than by the linear start
    assert nn_pv(X, y, 10) > nn_pv(X, init.numpy(), 10) + 0.1


def test_the_compiled_cpu_loop_lays_out_as_the_torch_loop_does():
    """The numba loop (the CPU path) and the vectorised torch loop (the GPU path, run here on
    the CPU) are the same algorithm with different random streams: layouts of equal quality,
    each deterministic in its seed."""
    from dvi_widget.engine.layout import _umap_layout

    X, labels = _blobs(n=600, seed=3)
    cx = bavr_complex(X, np.zeros((0, X.shape[1]), np.float32), k=10)
    a, b = find_ab_params(1.0, 0.1)
    edges = (torch.as_tensor(cx.head), torch.as_tensor(cx.tail), torch.as_tensor(cx.weight))
    init = pca_init(torch.tensor(X))

    def lay(compiled: bool, seed: int) -> np.ndarray:
        return _umap_layout(*edges, init, a, b, 200, 5, 1.0, None,
                            torch.Generator().manual_seed(seed), compiled=compiled).numpy()

    from dvi_widget.engine.layout_cpu import compiled_threads

    with compiled_threads(1):
        fast = lay(True, 0)
    with compiled_threads(2):  # the chunks' sum does not depend on the threads that ran them
        fast_again = lay(True, 0)
    slow = lay(False, 0)
    assert np.array_equal(fast, fast_again)
    assert not np.array_equal(fast, lay(True, 1))
    q_fast, q_slow = nn_pv(X, fast, 10), nn_pv(X, slow, 10)
    assert q_fast > nn_pv(X, init.numpy(), 10) + 0.1
    assert abs(q_fast - q_slow) < 0.03, (q_fast, q_slow)
    # the same overall scale: the mean distance to the 10th neighbour within 15 %
    def kth(y: np.ndarray) -> float:
        d = np.linalg.norm(y[:, None] - y[None], axis=2)
        return float(np.sort(d, axis=1)[:, 10].mean())
    assert abs(kth(fast) / kth(slow) - 1) < 0.15, (kth(fast), kth(slow))


@pytest.fixture(scope="module")
def fashion_frontier() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An MLP's 32-d features of 5,000 Fashion-MNIST images after two epochs (accuracy ~0.73:
    shirts, T-shirts, pullovers and coats overlap), its predictions, and 500 boundary points
    with their class pairs (§5.1, mixed in representation space)."""
    from dvi_widget.data.datasets import load_fashion_mnist
    from dvi_widget.engine.boundary import synthesize_boundary

    try:
        ds = load_fashion_mnist(n_train=5000, n_test=10, seed=0)
    except FileNotFoundError as err:  # pragma: no cover - Debian's dataset-fashion-mnist
        pytest.skip(str(err))
    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 32), torch.nn.ReLU())
    g = torch.nn.Linear(32, 10)
    x = torch.as_tensor(np.asarray(ds.x_train, np.float32))
    y = torch.as_tensor(np.asarray(ds.y_train)).long()
    opt = torch.optim.Adam([*f.parameters(), *g.parameters()], 1e-3)
    for _ in range(2):
        for rows in torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).split(128):
            loss = torch.nn.functional.cross_entropy(g(f(x[rows])), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        X = f(x).numpy()
        logits = g(torch.as_tensor(X)).numpy()
    bnd = synthesize_boundary(X, logits, g, 500, device="cpu", seed=0)
    return (X, logits.argmax(axis=1), np.asarray(bnd.representations, np.float32),
            np.asarray(bnd.pairs, np.int64))


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
def test_repelling_crossing_neighbours_sorts_the_frontier_between_predicted_classes(
        fashion_frontier, compiled):
    """Boundary points join both their classes' samples, so where two predicted classes meet
    the layout interleaves them: samples whose own neighbours are mostly their class are drawn
    among another's (where ψ cannot decode each as predicted). With crossing neighbours
    repelling (``DVI(cross_repulsion=...)``) far fewer are, at no cost in neighbour
    preservation. Both loops: the CPU's compiled one and the GPU's torch one."""
    from dvi_widget.engine.complex import knn, separate_predictions
    from dvi_widget.engine.layout import _umap_layout

    X, pred, B, pairs = fashion_frontier
    n = len(X)
    a, b = find_ab_params(1.0, 0.1)
    base = bavr_complex(X, B, k=15, device="cpu", xb_weight=0.3)
    own_hd = (pred[base.knn_indices] == pred[:, None]).mean(axis=1) >= 0.5
    init = pca_init(torch.tensor(np.concatenate([X, B])))

    def lay(repulsion: float) -> tuple[float, float]:
        cx = separate_predictions(base, pred, pairs, factor=0.01, repulsion=repulsion)
        y = _umap_layout(torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                         torch.as_tensor(cx.weight), init, a, b, 200, 5, 1.0, None,
                         torch.Generator().manual_seed(0), compiled=compiled).numpy()[:n]
        assert np.isfinite(y).all()
        nb = knn(y, 15, method="exact", device="cpu")[0]
        own_2d = (pred[nb] == pred[:, None]).mean(axis=1) >= 0.5
        return float((own_hd & ~own_2d).mean()), nn_pv(X, y, 15)

    (torn_before, q_before), (torn_after, q_after) = lay(0.0), lay(1.0)
    # measured (numba / torch): 1.38 % / 1.38 % of the samples drawn among another class,
    # 0.50 % / 0.22 % with repulsion; nn_pv(15) 0.506 → 0.504 / 0.505 → 0.500
    assert torn_before > 0.004 and torn_after < 0.6 * torn_before, (torn_before, torn_after)
    assert q_after > q_before - 0.015, (q_before, q_after)


def test_zero_iterations_return_the_start():
    init = torch.randn(5, 2)
    out = umap_layout(torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]), init, 1.5, 0.9,
                      n_iter=0)
    assert torch.equal(out, init)


def test_written_out_gradients_match_autograd_of_the_umap_loss():
    from dvi_widget.engine.layout import _pair_gradients

    a, b = find_ab_params(1.0, 0.1)
    gen = torch.Generator().manual_seed(1)
    diff = (torch.randn(200, 2, generator=gen) * 0.7).requires_grad_(True)
    d2 = diff.pow(2).sum(dim=1)
    t = a * d2.pow(b)
    # attraction -log q = log(1 + t); repulsion -log(1 - q) = log(1 + t) - log(t) (eps aside)
    (g_att,) = torch.autograd.grad(torch.log1p(t).sum(), diff, retain_graph=True)
    (g_rep,) = torch.autograd.grad((torch.log1p(t) - torch.log(t)).sum(), diff)
    mine_att = _pair_gradients(diff.detach(), d2.detach(), a, b, attract=True)
    mine_rep = _pair_gradients(diff.detach(), d2.detach(), a, b, attract=False)
    ok = g_att.abs().max(dim=1).values < 4  # below umap-learn's clip
    assert ok.sum() > 100
    assert torch.allclose(mine_att[ok], g_att[ok], rtol=1e-3, atol=1e-5)
    far = (d2 > 0.5) & (g_rep.abs().max(dim=1).values < 4)  # where eps=1e-3 is negligible
    assert far.sum() > 50
    assert torch.allclose(mine_rep[far], g_rep[far], rtol=1e-2, atol=1e-4)
    assert mine_rep.abs().max() <= 4 and mine_att.abs().max() <= 4


def test_mobility_scales_each_points_steps():
    X, labels = _blobs()
    cx = bavr_complex(X, np.zeros((0, X.shape[1]), np.float32), k=10)
    a, b = find_ab_params(1.0, 0.1)
    edges = (torch.as_tensor(cx.head), torch.as_tensor(cx.tail), torch.as_tensor(cx.weight))
    start = umap_layout(*edges, pca_init(torch.tensor(X)), a, b, n_iter=100,
                        generator=torch.Generator().manual_seed(0))
    # a shuffled start: every point must travel; half of them have a low mobility
    shuffled = start[torch.randperm(len(start), generator=torch.Generator().manual_seed(1))]
    mobility = torch.ones(len(X))
    mobility[::2] = 0.05
    y = umap_layout(*edges, shuffled, a, b, n_iter=100, mobility=mobility,
                    generator=torch.Generator().manual_seed(2))
    moved = (y - shuffled).norm(dim=1)
    assert float(moved[::2].median()) < 0.2 * float(moved[1::2].median())
    # a converged layout rerun on the same complex: without mobility every point random-walks
    again = umap_layout(*edges, start, a, b, n_iter=100, generator=torch.Generator().manual_seed(3))
    still = umap_layout(*edges, start, a, b, n_iter=100, mobility=torch.full((len(X),), 0.01),
                        generator=torch.Generator().manual_seed(3))
    assert float((still - start).norm(dim=1).median()) < 0.15 * float(
        (again - start).norm(dim=1).median())


def test_new_samples_are_pushed_from_neighbours_of_another_class():
    """With ``repulsion``, a new sample's neighbours of another predicted class get negative
    memberships and push it away; one whose neighbours are all of another class (nothing
    left to pull it) keeps the separated weights."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 5)).astype(np.float32)
    cls = (train[:, 0] > 0).astype(np.int64)
    new = np.zeros((2, 5), np.float32)  # on the plane between the classes
    new[1, 0] = 3.0  # deep in class 1's side ...
    pred = np.array([0, 0])  # ... but both predicted as class 0
    idx, w_sep = query_memberships(new, pred, train, cls, k=10, separation=0.01)
    idx_r, w_rep = query_memberships(new, pred, train, cls, k=10, separation=0.01,
                                     repulsion=0.5)
    assert torch.equal(idx, idx_r)
    crossing = torch.as_tensor(cls)[idx] != 0
    assert bool(crossing[0].any()) and bool(crossing[1].all())
    assert torch.allclose(w_rep[0][crossing[0]], -50.0 * w_sep[0][crossing[0]])
    assert torch.equal(w_rep[0][~crossing[0]], w_sep[0][~crossing[0]])
    assert torch.equal(w_rep[1], w_sep[1])  # all its neighbours cross: separated, not pushed
    # placed on a fixed layout (the training samples themselves, by their first coordinates)
    layout = torch.as_tensor(np.stack([train[:, 0], train[:, 1]], 1))
    a, b = find_ab_params(1.0, 0.1)
    pulled = place_points(idx[:1], w_sep[:1], layout, a, b, seed=0)
    pushed = place_points(idx[:1], w_rep[:1], layout, a, b, seed=0)
    # pushed away from class 1 (x > 0): further to class 0's side than the separated placement
    assert float(pushed[0, 0]) < float(pulled[0, 0]) - 0.05, (pulled, pushed)


def test_temporal_mobility_is_low_for_kept_neighbourhoods():
    s = torch.tensor([1.0, 0.925, 0.9, 0.7, 0.5, 0.0])
    m = temporal_mobility(s)
    assert m.tolist() == pytest.approx([0.01, 0.01, 0.0719, 0.5669, 1.0, 1.0], abs=1e-4)


def test_place_points_lands_new_samples_among_their_neighbours():
    X, labels = _blobs(n=330)
    train, new = X[:300], X[300:]
    cx = bavr_complex(train, np.zeros((0, X.shape[1]), np.float32), k=10)
    a, b = find_ab_params(1.0, 0.1)
    layout = umap_layout(torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                         torch.as_tensor(cx.weight), pca_init(torch.tensor(train)), a, b,
                         n_iter=150, generator=torch.Generator().manual_seed(0))
    cls = labels[:300]
    idx, w = query_memberships(new, labels[300:], train, cls, k=10)
    y = place_points(idx, w, layout, a, b, seed=0)
    assert y.shape == (30, 2)
    # each new sample sits in its own blob: its nearest laid-out training sample is of its blob
    nearest = torch.cdist(y, layout).argmin(dim=1).numpy()
    assert (cls[nearest] == labels[300:]).all()
    # and its place does not depend on which other samples are placed with it
    alone = place_points(idx[:1], w[:1], layout, a, b, seed=0)
    assert torch.allclose(alone, y[:1], atol=1e-5)
    # a start a few units off (as φ's guess may be) is pulled in by the refinement
    off = place_points(idx, w, layout, a, b, n_iter=0)
    off = off + 3.0 * torch.randn(off.shape, generator=torch.Generator().manual_seed(4))
    refined = place_points(idx, w, layout, a, b, seed=0, init=off)
    err = lambda p: (p - y).norm(dim=1).median()  # noqa: E731
    assert float(err(refined)) < 0.3 * float(err(off))


def test_the_compiled_placement_places_as_the_torch_loop_does():
    """The numba placement (the CPU path) and the torch loop (the GPU path, run here on the
    CPU) draw the same negatives and take the same steps: equal positions up to float32
    rounding (which a few points' SGD amplifies), with attracting and repelling edges, a
    warm start and mobility; and the same result on one thread or two."""
    from dvi_widget.engine.layout import _place_points
    from dvi_widget.engine.layout_cpu import compiled_threads

    a, b = find_ab_params(1.0, 0.1)
    gen = torch.Generator().manual_seed(0)
    layout = torch.randn(2000, 2, generator=gen) * 5
    nbr = torch.randint(2000, (500, 15), generator=gen)
    w = torch.rand(500, 15, generator=gen)
    w[:, -3:] *= -0.5  # repelling neighbours of another predicted class
    init, mobility = torch.randn(500, 2, generator=gen) * 5, torch.rand(500, generator=gen)
    for warm in ({}, {"init": init, "mobility": mobility}):
        args = (warm.get("init"), 100, 0.25, 5, 3, warm.get("mobility"))
        torch_loop = _place_points(nbr, w, layout, a, b, *args, compiled=False)
        with compiled_threads(1):
            one = _place_points(nbr, w, layout, a, b, *args)
        with compiled_threads(2):
            two = _place_points(nbr, w, layout, a, b, *args)
        assert torch.equal(one, two)
        gap = (one - torch_loop).norm(dim=1)
        assert float(gap.quantile(0.99)) < 1e-3 and float(gap.median()) < 1e-5, gap.max()
        start = _place_points(nbr, w, layout, a, b, *((args[0], 0) + args[2:]))
        assert float((one - start).norm(dim=1).median()) > 0.1  # it did move


def test_test_neighbours_from_one_search_of_x_equal_the_joint_search():
    """fit_epoch searches X once for the test samples and merges a search among the test
    samples: the same neighbours among train ∪ test as joint_neighbours' search of both."""
    from dvi_widget import DVI
    from dvi_widget.engine.complex import knn
    from dvi_widget.engine.metrics import joint_neighbours
    from dvi_widget.engine.pipeline import EpochData, Settings, test_neighbours

    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 12)).astype(np.float32)
    T = (X[:120] + rng.normal(scale=0.5, size=(120, 12))).astype(np.float32)
    data = EpochData(X=X, logits=np.zeros((500, 3), np.float32), head=torch.nn.Identity(),
                     test=T, test_logits=np.zeros((120, 3), np.float32))
    s = Settings.of(DVI().get_params(), torch.device("cpu"))
    x_knn = knn(X, 15, query=T, method="exact", device="cpu", return_tensors=True)
    mine = test_neighbours(data, x_knn, s)
    theirs = joint_neighbours(X, T, 15, method="exact", device="cpu")
    assert mine.shape == (120, 15)
    assert (mine >= 500).any()  # some neighbours are test samples
    same = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(mine, theirs, strict=True)])
    assert same > 0.999, same
