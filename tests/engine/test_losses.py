import math

import pytest
import torch
from torch import nn

from dvi_widget.engine import losses


def test_find_ab_params_matches_umap_values():
    a, b = losses.find_ab_params(1.0, 0.1)
    assert a == pytest.approx(1.577, abs=2e-3)
    assert b == pytest.approx(0.895, abs=2e-3)


def test_find_ab_params_matches_umap_learn_elsewhere():
    umap_ = pytest.importorskip("umap.umap_")
    for spread, min_dist in [(1.0, 0.5), (2.0, 0.3)]:
        ours = losses.find_ab_params(spread, min_dist)
        ref = umap_.find_ab_params(spread, min_dist)
        assert ours == pytest.approx(tuple(float(v) for v in ref), rel=1e-3)


def test_find_ab_params_rejects_bad_values():
    with pytest.raises(ValueError, match="min_dist"):
        losses.find_ab_params(1.0, -0.1)


def test_cross_entropy_equals_the_formula():
    a, b = 1.5, 0.9
    d2p = torch.tensor([0.5, 2.0])
    d2n = torch.tensor([1.0, 9.0, 25.0])
    q = lambda d2: 1 / (1 + a * d2**b)  # noqa: E731
    attraction, repulsion, total = losses.umap_cross_entropy(d2p, d2n, a, b)
    assert float(attraction) == pytest.approx(float(-torch.log(q(d2p)).sum()), rel=1e-5)
    assert float(repulsion) == pytest.approx(float(-torch.log(1 - q(d2n)).sum()), rel=1e-5)
    assert float(total) == pytest.approx((float(attraction) + float(repulsion)) / 5, rel=1e-6)


def test_cross_entropy_pulls_edges_together_and_pushes_negatives_apart():
    d2p = torch.tensor([4.0], requires_grad=True)
    d2n = torch.tensor([0.25], requires_grad=True)
    _, _, total = losses.umap_cross_entropy(d2p, d2n, 1.577, 0.895)
    total.backward()
    assert d2p.grad.item() > 0  # lowering the positive distance lowers the loss
    assert d2n.grad.item() < 0  # raising the negative distance lowers the loss


def test_gradient_weights_of_a_linear_head():
    torch.manual_seed(0)
    head = nn.Linear(6, 4)
    x = torch.randn(30, 6)
    w = losses.gradient_weights(head, x, beta=1.0, batch_size=7)
    top = head(x).topk(2, dim=1).indices
    expected = 1 + head.weight[top[:, 0]].abs() + head.weight[top[:, 1]].abs()
    assert torch.allclose(w, expected.detach(), atol=1e-6)
    w2 = losses.gradient_weights(head, x, beta=2.0)
    assert torch.allclose(w2, expected.detach() ** 2, atol=1e-5)


def test_gradient_weights_of_a_nonlinear_head_match_per_sample_autograd():
    torch.manual_seed(1)
    head = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(10, 5)
    w = losses.gradient_weights(head, x)
    for i in range(10):
        xi = x[i : i + 1].clone().requires_grad_(True)
        out = head(xi)[0]
        t1, t2 = out.topk(2).indices
        g1 = torch.autograd.grad(out[t1], xi, retain_graph=True)[0]
        g2 = torch.autograd.grad(out[t2], xi)[0]
        assert torch.allclose(w[i], (1 + g1.abs() + g2.abs())[0], atol=1e-6)


def test_reconstruction_loss_is_weighted_mse():
    x = torch.zeros(2, 3)
    rec = torch.ones(2, 3)
    w = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    assert float(losses.reconstruction_loss(x, rec)) == pytest.approx(1.0)
    assert float(losses.reconstruction_loss(x, rec, w)) == pytest.approx(9 / 6)


def test_semantic_similarity_counts_shared_neighbours():
    prev = torch.tensor([[1, 2, 3], [0, 2, 3]])
    cur = torch.tensor([[3, 1, 0], [1, 4, 5]])
    sim = losses.semantic_similarity(prev, cur)
    assert sim.tolist() == pytest.approx([2 / 3, 0.0])
    with pytest.raises(ValueError, match="kNN"):
        losses.semantic_similarity(prev, cur[:, :2])


def test_temporal_loss_is_similarity_times_weight_drift():
    p = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    q = [torch.tensor([1.0, 0.0]), torch.tensor([[1.0]])]
    # squared distance 4 + 4 over the previous weights' squared norm 1 + 1
    assert float(losses.weight_drift(p, q)) == pytest.approx(4.0)
    assert float(losses.temporal_loss(p, q, torch.tensor([0.5, 1.0]))) == pytest.approx(3.0)
    # independent of width: the same relative move of a 100x wider model gives the same drift
    wide_p, wide_q = [x.repeat(100) for x in p[:1]], [x.repeat(100) for x in q[:1]]
    assert float(losses.weight_drift(wide_p, wide_q)) == pytest.approx(4.0)
    assert float(losses.temporal_loss(p, p, 1.0)) == 0.0


def test_total_loss_eq12():
    u, r, t = torch.tensor(2.0), torch.tensor(3.0), torch.tensor(10.0)
    assert float(losses.total_loss(u, r, None)) == pytest.approx(5.0)
    assert float(losses.total_loss(u, r, t, (1.0, 1.0, 0.3))) == pytest.approx(8.0)
    assert math.isclose(float(losses.total_loss(u, r, t, (0.5, 2.0, 0.0))), 7.0)


def test_class_loss_is_cross_entropy_to_the_given_classes():
    from dvi_widget.engine.losses import class_loss

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    classes = torch.tensor([0, 2])
    assert float(class_loss(logits, classes)) == pytest.approx(float(
        torch.nn.functional.cross_entropy(logits, classes)))
    assert float(class_loss(logits[:0], classes[:0])) == 0.0
