"""The non-parametric layout that initialises the encoder (dvi_widget.layout)."""

import numpy as np
import torch

from dvi_widget.complex import bavr_complex
from dvi_widget.layout import pca_init, umap_layout
from dvi_widget.losses import find_ab_params
from dvi_widget.metrics import nn_pv


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
    init = torch.randn(len(X), 2, generator=gen)
    y = umap_layout(torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                    torch.as_tensor(cx.weight), init, a, b, n_iter=150, generator=gen).numpy()
    # each cluster is compact relative to the distance between cluster centres
    centres = np.stack([y[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(y[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 3 * spread
    # and local neighbourhoods are far better kept than by the random start
    assert nn_pv(X, y, 10) > nn_pv(X, init.numpy(), 10) + 0.2


def test_zero_iterations_return_the_start():
    init = torch.randn(5, 2)
    out = umap_layout(torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]), init, 1.5, 0.9,
                      n_iter=0)
    assert torch.equal(out, init)
