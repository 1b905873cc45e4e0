"""DeepView's DiDi distance (Definition 1) on a toy classifier, and DeepView's Q measures
against a direct scikit-learn computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dvi_widget.engine.deepview.didi import didi, js_metric, mix, pair_terms, term_scales
from dvi_widget.engine.deepview.graph import _nearest_per_row
from dvi_widget.engine.metrics import q_data, q_knn

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: steepness of the toy classifier: p(class 1 | x) = sigmoid(STEEP * x_0)
STEEP = 4.0


def toy_proba(x: torch.Tensor) -> torch.Tensor:
    """Two classes, boundary the plane x_0 = 0 (a black box: rows in, probabilities out)."""
    logit = STEEP * x[:, 0]
    return torch.stack([torch.sigmoid(-logit), torch.sigmoid(logit)], dim=1)


def test_js_metric_is_the_jensen_shannon_metric() -> None:
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.0, 1.0], [0.5, 0.5], [0.2, 0.8]])
    got = js_metric(p, q).numpy()
    # by hand: m = (p + q) / 2, D = (KL(p‖m) + KL(q‖m)) / 2, natural log
    m = (p + q).numpy() / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        keep = a > 0
        return float((a[keep] * np.log(a[keep] / b[keep])).sum())

    want = [np.sqrt((kl(p[i].numpy(), m[i]) + kl(q[i].numpy(), m[i])) / 2) for i in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[0] == pytest.approx(np.sqrt(np.log(2)))  # disjoint: the maximum, sqrt(ln 2)
    assert got[1] == 0.0


def test_same_side_far_from_the_boundary_is_lambda_times_r() -> None:
    lam, r = 0.65, 3.0
    a = torch.tensor([[8.0, 0.0, 1.0]])
    b = a + torch.tensor([[0.0, r * 0.6, r * 0.8]])  # moves along the boundary, ‖b - a‖ = r
    d = didi(toy_proba, a, b, lam=lam, n_steps=10, device="cpu")
    assert d[0] == pytest.approx(lam * r, abs=1e-6)
    # nearer the boundary the classifier's change along the path adds to it, never subtracts
    a2 = torch.tensor([[0.3, 0.0, 0.0]])
    b2 = torch.tensor([[0.6, 0.0, 0.0]])
    d2 = didi(toy_proba, a2, b2, lam=lam, n_steps=10, device="cpu")[0]
    assert d2 > lam * 0.3 + 0.05


def test_across_the_boundary_at_least_the_js_of_the_ends() -> None:
    lam = 0.65
    a = torch.tensor([[-0.5, 0.0], [-2.0, 1.0], [-0.1, 0.0]])
    b = torch.tensor([[0.5, 0.0], [3.0, -1.0], [0.1, 0.0]])
    d = didi(toy_proba, a, b, lam=lam, n_steps=16, device="cpu")
    ends = js_metric(toy_proba(a), toy_proba(b)).numpy()
    eu = (b - a).norm(dim=1).numpy()
    assert (d >= (1 - lam) * ends - 1e-12).all()
    assert (d >= (1 - lam) * ends + lam * eu - 1e-9).all()  # both terms, triangle inequality
    # the discriminative part is what separates them: far more than λ‖b - a‖ alone
    assert d[0] - lam * eu[0] > 0.5 * (1 - lam) * np.sqrt(np.log(2))


def test_n_step_approximation_converges() -> None:
    a = torch.tensor([[-1.0, 0.0]])
    b = torch.tensor([[1.5, 0.3]])
    ref = didi(toy_proba, a, b, lam=0.3, n_steps=4096, device="cpu")[0]
    errs = [abs(didi(toy_proba, a, b, lam=0.3, n_steps=n, device="cpu")[0] - ref)
            for n in (2, 8, 32, 128)]
    assert errs == sorted(errs, reverse=True)  # monotone
    assert errs[-1] < 1e-3 * ref
    assert errs[0] > 10 * errs[-1]


def test_lambda_one_is_the_euclidean_distance_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 7, generator=g), torch.randn(50, 7, generator=g)
    d = didi(toy_proba, a, b, lam=1.0, n_steps=5, device="cpu")
    want = np.linalg.norm(b.double().numpy() - a.double().numpy(), axis=1)
    np.testing.assert_allclose(d, want, rtol=1e-6)
    # lam = 0 is the pullback's arc length alone, independent of how far apart along it
    far = didi(toy_proba, a[:1] + torch.tensor([[5.0] + [0] * 6]),
               a[:1] + torch.tensor([[5.0, 40.0] + [0] * 5]), lam=0.0, device="cpu")
    assert far[0] < 1e-6


def test_pair_terms_match_the_paired_form_and_scales_divide() -> None:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(30, 4, generator=g)
    rows, cols = np.array([0, 3, 7]), np.array([5, 9, 29])
    js, eu = pair_terms(toy_proba, X, rows, cols, 6, device="cpu")
    d = didi(toy_proba, X[rows], X[cols], lam=0.5, n_steps=6, js_scale=2.0, euclid_scale=4.0,
             device="cpu")
    np.testing.assert_allclose(d, 0.5 * js / 2.0 + 0.5 * eu / 4.0, rtol=1e-9)
    s_js, s_eu = term_scales(toy_proba, X, 6, device="cpu")  # 435 pairs: all of them
    all_js, all_eu = pair_terms(toy_proba, X, *np.triu_indices(30, 1), 6, device="cpu")
    assert s_js == pytest.approx(all_js.max()) and s_eu == pytest.approx(all_eu.max())
    assert mix(js, eu, 1.0, 1.0, 4.0) == pytest.approx(eu / 4.0)


def test_nearest_per_row_keeps_each_rows_smallest() -> None:
    rows = np.array([0, 0, 1, 2, 0])
    cols = np.array([1, 2, 2, 3, 3])
    dist = np.array([0.5, 0.2, 0.1, 0.4, 0.9])
    idx, dst = _nearest_per_row(4, rows, cols, dist, 3)
    assert idx.tolist() == [[0, 2, 1], [1, 2, 0], [2, 1, 0], [3, 2, 0]]
    np.testing.assert_allclose(dst, [[0, 0.2, 0.5], [0, 0.1, 0.5], [0, 0.1, 0.2],
                                     [0, 0.4, 0.9]], rtol=1e-6)


def test_q_measures_equal_scikit_learn_on_a_hand_made_case() -> None:
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    # three clusters of "predicted" classes with a few misplaced samples, distinct distances
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    pred = np.repeat([0, 1, 2], 12)
    coords = centres[pred] + rng.normal(scale=1.2, size=(36, 2))
    pred[[2, 15, 30]] = [1, 2, 0]  # three samples predicted as another cluster's class
    want = cross_val_score(KNeighborsClassifier(n_neighbors=5), coords, pred,
                           cv=LeaveOneOut()).mean()
    got = q_knn(coords, pred, k=5)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0.5 < got < 1.0  # the misplaced ones are misclassified: a real number, not 1
    # logits give the same as their argmax
    logits = np.eye(3)[pred] * 5.0
    assert q_knn(coords, logits, k=5) == got
    rec = pred.copy()
    rec[[0, 1, 20]] = (rec[[0, 1, 20]] + 1) % 3
    rows = np.arange(0, 36, 2)
    assert q_data(pred, rec, rows) == pytest.approx(np.mean(pred[rows] == rec[rows]))
    assert q_data(pred, rec) == pytest.approx(33 / 36)
