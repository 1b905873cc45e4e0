"""Boundary synthesis (DVI 5.1): real gaps under the head, pair balance, fallbacks, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dvi_widget.engine.boundary import (
    BoundarySamples,
    boundary_gap,
    pair_probabilities,
    synthesize_boundary,
)
from dvi_widget.engine.complex import cpu_threads


def _toy(n_per_class=(300, 300, 300, 300), h_in=6, seed=0):
    """4 separable Gaussian blobs, a small MLP feature function f and a linear head g."""
    g_ = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(n_per_class), h_in)) * 4.0
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    s = (centers[y] + rng.normal(size=(len(y), h_in))).astype(np.float32)
    f = torch.nn.Sequential(torch.nn.Linear(h_in, 12), torch.nn.Tanh())
    g = torch.nn.Linear(12, len(n_per_class))
    for p in [*f.parameters(), *g.parameters()]:
        torch.nn.init.normal_(p, std=0.5, generator=g_)
    opt = torch.optim.Adam([*f.parameters(), *g.parameters()], lr=0.03)
    st, yt = torch.from_numpy(s), torch.from_numpy(y)
    with cpu_threads(torch.device("cpu"), 1):  # tiny ops: one thread is fastest
        for _ in range(100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(g(f(st)), yt).backward()
            opt.step()
    f.eval()
    g.eval()
    with torch.no_grad():
        x = f(st).numpy()
        logits = g(f(st)).numpy()
    assert (logits.argmax(1) == y).mean() > 0.95
    return s, y, x, logits, f, g


@pytest.fixture(scope="module")
def toy():
    return _toy()


def test_boundary_gap_matches_definition():
    logits = torch.tensor([[2.0, 1.0, 0.0], [5.0, 5.0, -5.0], [1.0, 1.0, 1.0], [0.0, 3.0, 2.5]])
    # min-max rescale per row, then top1 - top2
    assert torch.allclose(boundary_gap(logits), torch.tensor([0.5, 0.0, 0.0, 0.5 / 3.0]))
    with pytest.raises(ValueError, match="C >= 2"):
        boundary_gap(torch.zeros(3, 1))


def test_boundary_gap_of_two_classes_is_their_probability_gap():
    # min-max would map any two distinct logits to (1, 0): gap 1, no boundary anywhere
    logits = torch.tensor([[0.0, 0.1], [0.0, 5.0], [3.0, 3.0], [-2.0, 2.0]])
    expected = torch.tanh(torch.tensor([0.05, 2.5, 0.0, 2.0]))  # |p1 - p2| = tanh(|Δ| / 2)
    assert torch.allclose(boundary_gap(logits), expected, atol=1e-6)
    assert (boundary_gap(logits) <= 0.1).tolist() == [True, False, True, False]


def test_a_binary_classifier_gets_boundary_points_on_its_boundary():
    s, y, x, logits, f, g = _toy(n_per_class=(300, 300))
    bs = synthesize_boundary(x, logits, g, 60, inputs=s, feature_model=f, device="cpu", seed=0)
    assert len(bs) == 60, bs.note
    lam = torch.from_numpy(bs.weights)[:, None]
    src = torch.from_numpy(s)[torch.from_numpy(bs.sources)]  # (B, 2, h_in)
    with torch.no_grad():
        out = g(f(lam * src[:, 0] + (1 - lam) * src[:, 1]))
    p = torch.softmax(out, dim=1)
    # on the δ-boundary: the two probabilities within 0.1 of each other (0.45-0.55)
    assert (p.max(1).values <= 0.55 + 1e-5).all()
    np.testing.assert_allclose(bs.gaps, (p[:, 0] - p[:, 1]).abs().numpy(), atol=1e-5)


def test_pair_probabilities_eq5_to_7():
    num = torch.tensor([0, 10, 20])  # rho = 10 -> deficits (10, 0, 0)
    trials = torch.tensor([10, 10, 0])
    succ = torch.tensor([5, 10, 0])  # succ = 0.5, 1.0, 1.0 (untried = optimistic)
    p = pair_probabilities(num, trials, succ, alpha=0.8)
    expected = 0.8 * torch.tensor([1.0, 0, 0]) + 0.2 * torch.tensor([0.5, 1.0, 1.0]) / 2.5
    assert torch.allclose(p, expected.double())
    # all pairs at rho: uniform abundance term
    p0 = pair_probabilities(torch.zeros(4), torch.zeros(4), torch.zeros(4), alpha=1.0)
    assert torch.allclose(p0, torch.full((4,), 0.25, dtype=torch.float64))


@pytest.mark.parametrize("space", ["input", "representation", "input, bfloat16 search"])
def test_boundary_points_really_lie_on_the_boundary(toy, space):
    s, _, x, logits, f, g = toy
    kw = {"inputs": s, "feature_model": f} if space != "representation" else {}
    # bfloat16: the search runs f in bfloat16, every point kept is the float32 one
    bs = synthesize_boundary(x, logits, g, 120, device="cpu", seed=1,
                             bfloat16="bfloat16" in space, **kw)
    space = space.split(",")[0]
    assert isinstance(bs, BoundarySamples)
    assert bs.space == space
    assert 100 <= len(bs) <= 120
    assert bs.representations.dtype == np.float32 and bs.representations.shape == (len(bs), 12)
    # independent recomputation: rebuild the mixes from the sources and weights
    lam = torch.from_numpy(bs.weights).unsqueeze(1)
    src = torch.from_numpy(bs.sources)
    base = torch.from_numpy(s if space == "input" else x)
    mix = lam * base[src[:, 0]] + (1 - lam) * base[src[:, 1]]
    with torch.no_grad():
        rep = f(mix) if space == "input" else mix
        out = g(rep)
    np.testing.assert_allclose(rep.numpy(), bs.representations, atol=1e-5)
    r = (out - out.min(1, keepdim=True).values) / (
        out.max(1, keepdim=True).values - out.min(1, keepdim=True).values
    )
    top = torch.topk(r, 2, dim=1)
    gap = (top.values[:, 0] - top.values[:, 1]).numpy()
    assert gap.max() < 0.1
    np.testing.assert_allclose(gap, bs.gaps, atol=1e-5)
    # the top-2 classes are the recorded pair; the first source's predicted class is pairs[:, 0]
    assert np.array_equal(np.sort(top.indices.numpy(), 1), np.sort(bs.pairs, 1))
    assert np.array_equal(logits.argmax(1)[bs.sources[:, 0]], bs.pairs[:, 0])
    assert (bs.pairs[:, 0] != bs.pairs[:, 1]).all()
    assert ((bs.weights >= 0.5) & (bs.weights <= 1.0)).all()


def test_pairs_balanced_despite_imbalanced_classes():
    # class 0 has 8x the samples of the others: picking random sample pairs would put most points
    # on class-0 boundaries; Eq 5-7 draws class *pairs*, so the 6 pairs get similar counts
    s, y, x, logits, f, g = _toy(n_per_class=(800, 100, 100, 100), seed=3)
    bs = synthesize_boundary(x, logits, g, 240, inputs=s, feature_model=f, device="cpu")
    assert len(bs) == 240
    pairs, counts = np.unique(np.sort(bs.pairs, 1), axis=0, return_counts=True)
    assert len(pairs) == 6, bs.note
    assert counts.min() >= 30 and counts.max() <= 50, counts


def test_deterministic_given_seed(toy):
    s, _, x, logits, f, g = toy
    threads = torch.get_num_threads()
    a = synthesize_boundary(x, logits, g, 60, inputs=s, feature_model=f, device="cpu", seed=7)
    b = synthesize_boundary(x, logits, g, 60, inputs=s, feature_model=f, device="cpu", seed=7)
    c = synthesize_boundary(x, logits, g, 60, inputs=s, feature_model=f, device="cpu", seed=8)
    assert np.array_equal(a.representations, b.representations)
    assert np.array_equal(a.sources, b.sources)
    assert not np.array_equal(a.sources, c.sources)
    assert torch.get_num_threads() == threads  # the one-thread bookkeeping is undone


def test_single_predicted_class_does_not_crash(toy):
    _, _, x, _, _, _ = toy
    head = torch.nn.Linear(12, 4)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([3.0, 0.0, 0.0, 0.0]))
        logits = head(torch.from_numpy(x)).numpy()
    bs = synthesize_boundary(x, logits, head, 50, device="cpu")
    assert len(bs) == 0
    assert bs.representations.shape == (0, 12)
    assert "only class 0" in bs.note and "skipped" in bs.note


def test_representation_space_fallback_is_reported(toy):
    s, _, x, logits, f, g = toy
    bs = synthesize_boundary(x, logits, g, 30, inputs=s, device="cpu")  # no feature_model
    assert bs.space == "representation"
    assert "no feature_model" in bs.note
    bs = synthesize_boundary(x, logits, g, 30, device="cpu")
    assert "no inputs" in bs.note


def test_retarget_off_keeps_only_on_target_points():
    # classes on a line 0 - 1 - 2: mixing a 0 and a 2 crosses class 1 first
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    x = np.stack([y * 4.0 + rng.normal(size=600), rng.normal(size=600)], 1).astype(np.float32)
    head = torch.nn.Linear(2, 3)
    with torch.no_grad():  # logits -(x - 4c)^2 / 2 expanded: linear in x for fixed class c
        c = torch.tensor([0.0, 4.0, 8.0])
        head.weight.copy_(torch.stack([c, torch.zeros(3)], 1))
        head.bias.copy_(-(c**2) / 2)
        logits = head(torch.from_numpy(x)).numpy()
    strict = synthesize_boundary(x, logits, head, 90, device="cpu", retarget=False)
    assert len(strict) > 0
    assert not ((np.sort(strict.pairs, 1) == [0, 2]).all(1)).any()  # no 0|2 boundary exists
    loose = synthesize_boundary(x, logits, head, 90, device="cpu")
    assert len(loose) == 90


def test_bad_input_raises(toy):
    _, _, x, logits, _, g = toy
    with pytest.raises(ValueError, match="share N"):
        synthesize_boundary(x[:10], logits, g, 5, device="cpu")
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        synthesize_boundary(bad, logits, g, 5, device="cpu")
    with pytest.raises(ValueError, match="weight_range"):
        synthesize_boundary(x, logits, g, 5, weight_range=(0.8, 0.2), device="cpu")
    with pytest.raises(ValueError, match="inputs has"):
        synthesize_boundary(x, logits, g, 5, inputs=x[:3], feature_model=g, device="cpu")
    assert len(synthesize_boundary(x, logits, g, 0, device="cpu")) == 0


class _ViewCNN(torch.nn.Module):
    """A feature function that flattens with ``.view``, which a channels-last activation
    refuses: the boundary search must fall back to the default memory format."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.conv(x)))
        return h.view(h.size(0), -1)


@pytest.mark.parametrize("flatten", ["view", "nn.Flatten"])
def test_image_inputs_through_a_cnn_in_either_memory_format(flatten):
    torch.manual_seed(0)
    f = _ViewCNN() if flatten == "view" else torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten())
    g = torch.nn.Linear(4 * 4 * 4, 3)
    images = torch.rand(300, 1, 8, 8)
    images[:100, :, :4] += 1.0  # three kinds of image, told apart by where they are bright
    images[100:200, :, 4:] += 1.0
    f.eval()
    with torch.no_grad():
        x = f(images)
        logits = g(x)
    assert len(np.unique(logits.argmax(1).numpy())) >= 2
    bs = synthesize_boundary(x.numpy(), logits.numpy(), g, 40, inputs=images.numpy(),
                             feature_model=f, device="cpu", seed=0)
    assert len(bs) >= 20 and bs.space == "input", bs.note
    lam = torch.from_numpy(bs.weights).view(-1, 1, 1, 1)
    src = torch.from_numpy(bs.sources)
    with torch.no_grad():
        rep = f(lam * images[src[:, 0]] + (1 - lam) * images[src[:, 1]])
        gap = boundary_gap(g(rep)).numpy()
    np.testing.assert_allclose(rep.numpy(), bs.representations, atol=1e-5)
    assert gap.max() < 0.1
    # the model is left usable in the default memory format
    assert f(images[:2]).shape == (2, 64)
