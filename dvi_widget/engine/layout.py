"""A non-parametric UMAP layout of the (k)-BAVR complex, used to initialise the encoder φ.

Parametric UMAP converges slowly from a random network: each step only sees a batch of edges,
and φ must discover the global arrangement of the clusters by itself. Optimising free 2-D
coordinates with the same cross-entropy (DVI §5.2) over *all* edges at once is cheap — a few
hundred vectorised steps on the 2-D points, no network in the loop — and gives that global
arrangement; φ is then regressed onto it before the DVI losses (Eq. 12) take over. This is an
initialisation only: the trained φ, ψ are what the visualization shows.

Hand-written because umap-learn's optimiser is numba code on the CPU (its first call compiles
for 30–40 s) and cannot run on the training device.
"""

from __future__ import annotations

import torch


def pca_init(U: torch.Tensor, scale: float = 10.0) -> torch.Tensor:
    """First two principal components of ``U`` (n, h), scaled so the largest coordinate is
    ``scale`` (UMAP's spectral initialisation uses the same range)."""
    centred = U - U.mean(dim=0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False, niter=4)
    y = centred @ v[:, :2]
    return y * (scale / y.abs().max().clamp_min(1e-12))


def _pair_gradients(
    diff: torch.Tensor, d2: torch.Tensor, a: float, b: float, attract: bool
) -> torch.Tensor:
    """d(loss)/d(y_head) of UMAP's cross-entropy for pairs with ``diff = y_head - y_tail``.

    Attraction: ``-log q`` with ``q = 1/(1 + a d^2b)`` -> ``2ab d^(2b-2) / (1 + a d^2b) * diff``;
    repulsion: ``-log(1 - q)`` -> ``-2b / ((eps + d^2)(1 + a d^2b)) * diff``. Each coordinate
    is clipped to [-4, 4] as in umap-learn's SGD.
    """
    t = a * d2.clamp_min(1e-12).pow(b)
    if attract:
        coef = 2.0 * b * t / (d2.clamp_min(1e-12) * (1.0 + t))
    else:
        coef = -2.0 * b / ((1e-3 + d2) * (1.0 + t))
    return (coef.unsqueeze(1) * diff).clamp(-4.0, 4.0)


def umap_layout(
    head: torch.Tensor,
    tail: torch.Tensor,
    weight: torch.Tensor,
    init: torch.Tensor,
    a: float,
    b: float,
    *,
    n_iter: int = 200,
    negative_sample_rate: int = 5,
    learning_rate: float = 0.3,
    anchor: torch.Tensor | None = None,
    anchor_weight: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Optimise 2-D points ``init`` (n, 2) on the UMAP cross-entropy of a fuzzy edge list.

    Each iteration is one of umap-learn's epochs: edge ``i`` takes part with probability
    ``weight_i / max(weight)`` (a Bernoulli draw per edge: 10x cheaper than ``multinomial``),
    with ``negative_sample_rate`` uniform negatives per edge, and all points take one Adam step;
    the learning rate decays linearly to 0 as in UMAP's SGD. Gradients are written out
    (:func:`_pair_gradients`) and scattered with ``index_add_`` instead of autograd through the
    gathers.

    ``anchor`` (n, 2) and ``anchor_weight`` (n,) add ``sum_i w_i ||y_i - anchor_i||^2`` (the
    temporal term of the time-travelling layout: points whose neighbourhood did not change
    stay where they were). The UMAP part is scaled to about one edge's worth of force per
    vertex, so ``w_i = 1`` pulls as hard as one neighbour at distance 1.

    Returns the optimised points (n, 2), detached, on ``init``'s device.
    """
    if n_iter < 1:
        return init.detach().clone()
    dev = init.device
    y = init.detach().clone().to(torch.float32)
    n = len(y)
    rate = int(negative_sample_rate)
    prob = weight.to(torch.float32) / weight.max().clamp_min(1e-12)
    # per-vertex force of one iteration ~ one edge: an edge end is sampled 2m/n times
    scale = n / (2.0 * float(prob.sum().clamp_min(1.0)))
    if anchor is not None:
        anchor = anchor.to(dev, torch.float32)
        aw = (torch.ones(n, device=dev) if anchor_weight is None
              else anchor_weight.to(dev, torch.float32)).unsqueeze(1)
    y.grad = torch.zeros_like(y)
    opt = torch.optim.Adam([y], lr=learning_rate)
    for it in range(n_iter):
        e = torch.rand(len(prob), device=dev, generator=generator) < prob
        h, t = head[e], tail[e]
        neg = torch.randint(n, (len(h) * rate,), device=dev, generator=generator)
        grad = torch.zeros_like(y)
        diff = y[h] - y[t]
        g_pos = _pair_gradients(diff, diff.pow(2).sum(dim=1), a, b, attract=True)
        h_rep = h.repeat_interleave(rate)
        diff_n = y[h_rep] - y[neg]
        g_neg = _pair_gradients(diff_n, diff_n.pow(2).sum(dim=1), a, b, attract=False)
        grad.index_add_(0, h, g_pos)
        grad.index_add_(0, t, -g_pos)
        grad.index_add_(0, h_rep, g_neg)
        grad.index_add_(0, neg, -g_neg)
        grad.mul_(scale)
        if anchor is not None:
            grad.add_((2.0 * (1.0 - it / n_iter)) * aw * (y - anchor))
        y.grad.copy_(grad)
        opt.step()
        for group in opt.param_groups:
            group["lr"] = learning_rate * (1.0 - (it + 1) / n_iter)
    return y.detach()
