"""maximize() and filters() (issue 22, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.inside import filters, maximize
from tests.data.toy_run import X, Y, mlp
from tests.inside.inside_run import recorded_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H = 16


def patterns() -> np.ndarray:
    """Three known 16x16 patterns (zero mean, unit norm): vertical bars, horizontal bars and a
    diagonal edge."""
    yy, xx = np.mgrid[0:H, 0:H] / H
    p = np.stack([np.sin(2 * np.pi * 1.5 * xx), np.sin(2 * np.pi * 1.5 * yy),
                  np.sign(xx - yy)]).astype(np.float32)
    p -= p.mean(axis=(1, 2), keepdims=True)
    return p / np.linalg.norm(p.reshape(3, -1), axis=1)[:, None, None]


def matched_filters() -> nn.Module:
    """Channel k of the first layer is the matched filter of pattern k (one position)."""
    conv = nn.Conv2d(1, 3, H)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(patterns()[:, None]))
        conv.bias.zero_()
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(3, 2))


def test_gradient_ascent_finds_each_matched_filters_pattern():
    net = matched_filters()
    imgs = maximize(None, 0, "0", [0, 1, 2], network=net, value_range=(0.0, 1.0),
                    input_shape=(1, H, H))
    assert imgs.shape == (3, 1, H, H) and imgs.dtype == np.float32
    assert imgs.min() >= 0 and imgs.max() <= 1
    pats = patterns()
    corr = np.array([[np.corrcoef(imgs[k, 0].ravel(), pats[j].ravel())[0, 1] for j in range(3)]
                     for k in range(3)])
    assert (np.diag(corr) >= 0.8).all(), corr
    assert (np.abs(corr[~np.eye(3, dtype=bool)]) < 0.3).all(), corr
    # a logit: class 1 = +channel 1 - channel 2 through the head
    with torch.no_grad():
        net[3].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, -1.0]]))
        net[3].bias.zero_()
    img = maximize(None, 0, "logits", [1], network=net, value_range=(0.0, 1.0),
                   input_shape=(1, H, H))
    assert np.corrcoef(img[0, 0].ravel(), pats[1].ravel())[0, 1] >= 0.8


def test_maximize_is_reproducible_and_leaves_the_callers_random_state_alone():
    """The augmentations draw from torch's global random state: seeded inside (the same seed
    gives the same images), the caller's state restored after (a training loop around it goes
    on as it would have)."""
    net = matched_filters()
    kw = dict(network=net, value_range=(0.0, 1.0), input_shape=(1, H, H), steps=5, seed=3)
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    first = maximize(None, 0, "0", [0, 1], **kw)
    assert torch.equal(torch.rand(4), expected)
    np.testing.assert_array_equal(maximize(None, 0, "0", [0, 1], **kw), first)
    assert not np.array_equal(maximize(None, 0, "0", [0, 1], **dict(kw, seed=4)), first)


def test_maximize_on_a_recorded_run_and_its_first_layer_filters(tmp_path):
    run, model = recorded_run(tmp_path / "run", epochs=2)
    imgs = maximize(run, 1, "3", [0, 5], steps=8)
    x = run.inputs("train")
    assert imgs.shape == (2, 1, 10, 10)
    assert x.min() <= imgs.min() and imgs.max() <= x.max()
    f = filters(run, 0)
    w = run.state_dict(0)["0.weight"].numpy()
    assert f.shape == (4, 1, 3, 3)
    scaled = 0.5 * w / np.abs(w).reshape(4, -1).max(1)[:, None, None, None]
    np.testing.assert_allclose(f - 0.5, scaled, atol=1e-6)
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        maximize(run, 1, "nope", [0], steps=1)
    with pytest.raises(ValueError, match="units must be < 6"):
        maximize(run, 1, "3", [6], steps=1)


def test_an_mlp_has_no_filters_but_its_units_are_maximised(tmp_path):
    from dvi_widget.data.run import Run

    run = Run.create(tmp_path / "run", train=(X, Y))
    run.record(mlp())
    with pytest.raises(ValueError, match=r"no 2-D conv layer \(an MLP\?\)"):
        filters(run, 0)
    # units still: a vector input that raises hidden unit k (ReLU(W_k x + b_k), x in [lo, hi])
    # most puts each feature at the bound W_k's sign points to
    model = mlp()
    run.record(model, 0, overwrite=True)
    vec = maximize(Run.open(run.path, model=mlp()), 0, "0", [0, 3])
    lo, hi = float(X.min()), float(X.max())
    assert vec.shape == (2, 6)
    w = run.state_dict(0)["0.weight"].numpy()
    for row, k in zip(vec, (0, 3), strict=True):
        strong = np.abs(w[k]) > 0.1
        want = np.where(w[k] > 0, hi, lo)
        assert np.abs(row - want)[strong].max() < 0.25 * (hi - lo), (row, want)
