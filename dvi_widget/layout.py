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

from .losses import umap_cross_entropy


def pca_init(U: torch.Tensor, scale: float = 10.0) -> torch.Tensor:
    """First two principal components of ``U`` (n, h), scaled so the largest coordinate is
    ``scale`` (UMAP's spectral initialisation uses the same range)."""
    centred = U - U.mean(dim=0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False, niter=4)
    y = centred @ v[:, :2]
    return y * (scale / y.abs().max().clamp_min(1e-12))


def umap_layout(
    head: torch.Tensor,
    tail: torch.Tensor,
    weight: torch.Tensor,
    init: torch.Tensor,
    a: float,
    b: float,
    *,
    n_iter: int = 200,
    edge_fraction: float = 0.5,
    negative_sample_rate: int = 5,
    learning_rate: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Optimise 2-D points ``init`` (n, 2) on the UMAP cross-entropy of a fuzzy edge list.

    Each iteration samples ``edge_fraction * E`` edges in proportion to their membership
    ``weight`` and ``negative_sample_rate`` uniform negatives per edge, and takes one Adam step
    on all points; the learning rate decays linearly to 0 as in UMAP's SGD.

    Returns the optimised points (n, 2), detached, on ``init``'s device.
    """
    if n_iter < 1:
        return init.detach().clone()
    dev = init.device
    y = init.detach().clone().requires_grad_(True)
    n = len(y)
    m = max(1, int(edge_fraction * len(head)))
    opt = torch.optim.Adam([y], lr=learning_rate)
    for it in range(n_iter):
        e = torch.multinomial(weight, m, replacement=True, generator=generator)
        h, t = head[e], tail[e]
        neg = torch.randint(n, (m * negative_sample_rate,), device=dev, generator=generator)
        y_h = y[h]
        d2_pos = (y_h - y[t]).pow(2).sum(dim=1)
        d2_neg = (y_h.repeat_interleave(negative_sample_rate, dim=0) - y[neg]).pow(2).sum(dim=1)
        _, _, loss = umap_cross_entropy(d2_pos, d2_neg, a, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] = learning_rate * (1.0 - (it + 1) / n_iter)
    return y.detach()
