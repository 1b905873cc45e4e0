"""The 2-D layout of the (k)-BAVR complex (DVI §5.2), its temporal mobility (§5.4), and the
placement of new samples against a fixed layout.

Training samples and boundary points are shown where :func:`umap_layout` puts them: UMAP's
cross-entropy optimised on free 2-D positions over *all* edges of the complex (a few hundred
vectorised epochs, no network in the loop). φ_t is trained to reproduce these positions and ψ_t
to invert them (:mod:`dvi_widget.engine.train`).

Warm epochs start at the previous epoch's positions and each sample moves with a step size
scaled by its *mobility* (:func:`temporal_mobility`): 1 for a sample whose k-neighbourhood
changed (Eq. 11) or whose prediction changed, near 0 for one whose neighbourhood stayed the
same. Stochastic gradient descent on a converged layout moves every point by a random walk
(measured: ENGINE.md's departures); scaled steps leave stable samples where they
were, which is what the temporal property (Eq. 4) asks for.

Test samples and new samples (:meth:`dvi_widget.DVI.transform`) are placed by
:func:`place_points`, UMAP's ``transform``: attraction to their k nearest training samples and
boundary points (fuzzy memberships built like the complex's,
:func:`dvi_widget.engine.complex.query_memberships`) and repulsion from the layout, with the
layout held fixed.

Hand-written because umap-learn's optimiser is numba code on the CPU only (its first call
compiles for 30–40 s) and has no per-point mobility. The loop is vectorised torch on a GPU and a
small compiled loop on the CPU (:mod:`dvi_widget.engine.layout_cpu`), the same algorithm.
"""

from __future__ import annotations

import numpy as np
import torch

from .complex import cpu_threads
from .layout_cpu import compiled_threads, sgd_layout, sgd_place

#: per-coordinate clip of a pair's gradient, as in umap-learn's SGD
CLIP = 4.0
#: negatives drawn per iteration of :func:`place_points`, per unit of negative_sample_rate
NEGATIVES_PER_RATE = 5


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
    return (coef.unsqueeze(1) * diff).clamp(-CLIP, CLIP)


def temporal_mobility(
    similarity: torch.Tensor, width: float = 0.4, stable: float = 0.075, floor: float = 0.01
) -> torch.Tensor:
    """Per-sample step scale of a warm layout from ``eval_sem`` (DVI Eq. 11).

    ``floor + (1 - floor) * clamp((1 - s - stable) / width, 0, 1)``: a sample that kept at least
    ``1 - stable`` of its neighbours barely moves (``floor``), one that lost ``stable + width``
    or more moves freely. Pass ``s = 0`` for samples whose prediction changed. Measured on
    Fashion-MNIST 10k (layout alone, 10 epochs): ``stable`` 0.05 / 0.075 / 0.1 gave Eq. 4
    −0.46 / −0.52 / −0.54 and nn_pv(15) within 0.006 / 0.006 / 0.008 of UMAP's.
    """
    ramp = ((1.0 - similarity.float() - stable) / width).clamp(0.0, 1.0)
    return floor + (1.0 - floor) * ramp


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
    learning_rate: float = 1.0,
    mobility: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Optimise 2-D points ``init`` (n, 2) on the UMAP cross-entropy of a fuzzy edge list.

    Each iteration is one of umap-learn's epochs, vectorised: edge ``i`` takes part with
    probability ``weight_i / max(weight)`` (a Bernoulli draw per edge: 10x cheaper than
    ``multinomial``), with ``negative_sample_rate`` uniform negatives per edge; the clipped pair
    gradients (:func:`_pair_gradients`) are summed per point with ``index_add_`` (scaled to about
    one edge's worth per point) and every point takes one SGD step, its learning rate decaying
    linearly to 0 as in umap-learn. ``mobility`` (n,) scales each point's steps (1 where
    omitted; see :func:`temporal_mobility`). An edge of negative weight is repulsive: when
    drawn (with probability ``|weight_i| / max(weight)``) its two ends are pushed apart like
    a negative sample, and it draws no negatives of its own
    (:func:`dvi_widget.engine.complex.separate_predictions` with ``repulsion``).

    On the CPU the loop is compiled (:func:`dvi_widget.engine.layout_cpu.sgd_layout`, on as
    many threads as torch is given, deterministic in ``generator`` whatever their number);
    elsewhere it is vectorised torch.

    Returns the optimised points (n, 2), detached, on ``init``'s device.
    """
    if n_iter < 1:
        return init.detach().clone()
    threads = torch.get_num_threads()  # the compiled loop's, set before the torch ops' one
    with cpu_threads(init.device, 1), compiled_threads(threads):
        return _umap_layout(head, tail, weight, init, a, b, n_iter, negative_sample_rate,
                            learning_rate, mobility, generator)


def _umap_layout(
    head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor, init: torch.Tensor, a: float,
    b: float, n_iter: int, negative_sample_rate: int, learning_rate: float,
    mobility: torch.Tensor | None, generator: torch.Generator | None, compiled: bool = True,
) -> torch.Tensor:
    """:func:`umap_layout`'s loop: compiled on the CPU (:mod:`dvi_widget.engine.layout_cpu`
    says why), vectorised torch elsewhere (or with ``compiled=False``)."""
    dev = init.device
    y = init.detach().clone().to(torch.float32)
    n = len(y)
    rate = int(negative_sample_rate)
    # a negative weight marks a repulsive edge: its pair is pushed apart, with probability
    # |weight| / max weight per iteration like any edge
    repel = weight < 0
    prob = (weight.abs().to(torch.float32) / weight.max().clamp_min(1e-12)).clamp_max(1.0)
    any_repel = bool(repel.any())
    # per-point force of one iteration ~ one edge: an edge end is sampled 2m/n times
    scale = n / (2.0 * float(prob[~repel].sum().clamp_min(1.0)))
    step = torch.full((n, 1), float(learning_rate) * scale, device=dev)
    if mobility is not None:
        step = step * mobility.to(dev, torch.float32).reshape(n, 1)
    if dev.type == "cpu" and compiled:
        seed = int(torch.randint(2**31 - 1, (1,), device=dev, generator=generator))
        sgd_layout(y.numpy(), head.numpy().astype(np.int64, copy=False),
                   tail.numpy().astype(np.int64, copy=False), prob.numpy(), repel.numpy(),
                   step.reshape(n).contiguous().numpy(), int(n_iter), rate, float(a),
                   float(b), CLIP, float(scale), seed)
        return y
    grad = torch.empty_like(y)
    for it in range(n_iter):
        e = torch.rand(len(prob), device=dev, generator=generator) < prob
        pushed = e & repel  # repulsive edges: pushed apart, no negatives of their own
        e &= ~repel
        h, t = head[e], tail[e]
        neg = torch.randint(n, (len(h) * rate,), device=dev, generator=generator)
        grad.zero_()
        y_h = y[h]
        diff = y_h - y[t]
        g_pos = _pair_gradients(diff, diff.pow(2).sum(dim=1), a, b, attract=True)
        # the ``rate`` negatives of each sampled edge against its head, broadcast (no gather
        # of the heads repeated ``rate`` times); a head takes their sum in one index_add_
        diff_n = (y_h.unsqueeze(1) - y[neg].view(-1, rate, 2)).view(-1, 2)
        g_neg = _pair_gradients(diff_n, diff_n.pow(2).sum(dim=1), a, b, attract=False)
        grad.index_add_(0, h, g_pos + g_neg.view(-1, rate, 2).sum(dim=1))
        grad.index_add_(0, t, -g_pos)
        grad.index_add_(0, neg, -g_neg)
        if any_repel:
            hr, tr = head[pushed], tail[pushed]
            diff_r = y[hr] - y[tr]
            g_rep = _pair_gradients(diff_r, diff_r.pow(2).sum(dim=1), a, b, attract=False)
            grad.index_add_(0, hr, g_rep)
            grad.index_add_(0, tr, -g_rep)
        y.sub_((1.0 - it / n_iter) * step * grad.clamp_(-CLIP / scale, CLIP / scale))
    return y


def place_points(
    neighbours: torch.Tensor,
    memberships: torch.Tensor,
    reference: torch.Tensor,
    a: float,
    b: float,
    *,
    init: torch.Tensor | None = None,
    n_iter: int = 100,
    learning_rate: float = 0.25,
    negative_sample_rate: int = 5,
    seed: int = 0,
    mobility: torch.Tensor | None = None,
) -> torch.Tensor:
    """Place new points against a fixed layout, as UMAP's ``transform`` does.

    ``neighbours`` (m, K) index rows of ``reference`` (r, 2), the fixed layout; ``memberships``
    (m, K) in [0, 1] are the new points' fuzzy memberships to them (a negative one, in
    [-1, 0), is a neighbour the point is pushed away from, with that expected weight, as
    :func:`umap_layout` does with a negative edge weight). The start is ``init`` or
    else the membership-weighted mean of the neighbours' positions; then ``n_iter`` SGD epochs
    (learning rate decaying linearly from ``learning_rate``; umap-learn's transform uses a
    quarter of its fit's) apply the expected attraction of every edge (its membership, the
    chance umap-learn samples it) and the repulsion of ``negative_sample_rate`` negatives per
    expected edge, drawn as ``NEGATIVES_PER_RATE * negative_sample_rate`` layout points and
    weighted to the point's expected count. The negatives of an iteration are one random set
    of layout points shared by all new points and drawn from ``seed``: each point's result
    depends only on its own neighbours, not on which other points are placed with it, and the
    same point is placed at the same position whenever its neighbours did not move.
    ``mobility`` (m,) scales each point's steps, as in a warm :func:`umap_layout`, and with
    ``init`` moves its start from ``init`` towards the neighbours' mean by the same share: test
    samples start where they were at t−1 and move as much as their neighbourhood changed
    (§5.4); a point of mobility 1 starts afresh.

    On the CPU the loop is compiled (:func:`dvi_widget.engine.layout_cpu.sgd_place`, point by
    point on as many threads as torch is given; the same result on any number); elsewhere it
    is vectorised torch.

    Returns the (m, 2) positions.
    """
    threads = torch.get_num_threads()  # the compiled loop's, set before the torch ops' one
    with cpu_threads(reference.device, 1), compiled_threads(threads):
        return _place_points(neighbours, memberships, reference, a, b, init, n_iter,
                             learning_rate, negative_sample_rate, seed, mobility)


def _place_points(
    neighbours: torch.Tensor, memberships: torch.Tensor, reference: torch.Tensor, a: float,
    b: float, init: torch.Tensor | None, n_iter: int, learning_rate: float,
    negative_sample_rate: int, seed: int, mobility: torch.Tensor | None = None,
    compiled: bool = True,
) -> torch.Tensor:
    """:func:`place_points`' loop: compiled on the CPU, vectorised torch elsewhere (or with
    ``compiled=False``); both draw the same negatives from ``seed``."""
    ref = reference.to(torch.float32)
    dev = ref.device
    m = len(neighbours)
    if m == 0:
        return torch.zeros((0, 2), device=dev)
    targets = ref[neighbours]  # (m, K, 2)
    signed = memberships.to(dev, torch.float32).clamp(-1.0, 1.0)
    p, p_repel = signed.clamp_min(0.0), (-signed).clamp_min(0.0)
    repel = bool((p_repel > 0).any())
    total = p.sum(dim=1, keepdim=True)
    y = (p.unsqueeze(2) * targets).sum(dim=1) / total.clamp_min(1e-12)
    rate = torch.ones((m, 1), device=dev) if mobility is None else \
        mobility.to(dev, torch.float32).reshape(m, 1)
    if init is not None:
        # a mobile point starts afresh among its neighbours, a stable one where it was
        start = init.to(dev, torch.float32)
        y = start + rate * (y - start) if mobility is not None else start.clone()
    if n_iter < 1:
        return y
    n_neg = NEGATIVES_PER_RATE * int(negative_sample_rate)
    neg_weight = negative_sample_rate * total / n_neg  # (m, 1): expected negatives per point
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    # each iteration's negatives, one set shared by all points
    negatives = ref[torch.randint(len(ref), (n_iter, n_neg), device=dev, generator=gen)]
    if dev.type == "cpu" and compiled:
        y = y.contiguous()
        sgd_place(y.numpy(), targets.contiguous().numpy(), p.contiguous().numpy(),
                  p_repel.contiguous().numpy(), negatives.contiguous().numpy(),
                  neg_weight.reshape(m).contiguous().numpy(), rate.reshape(m).contiguous().numpy(),
                  float(learning_rate), float(a), float(b), CLIP)
        return y
    for it in range(n_iter):
        diff = y.unsqueeze(1) - targets
        pairs, d2 = diff.reshape(-1, 2), diff.pow(2).sum(dim=2).reshape(-1)
        g = _pair_gradients(pairs, d2, a, b, attract=True).reshape(m, -1, 2)
        g = (p.unsqueeze(2) * g).sum(dim=1)
        if repel:
            g_rep = _pair_gradients(pairs, d2, a, b, attract=False).reshape(m, -1, 2)
            g = g + (p_repel.unsqueeze(2) * g_rep).sum(dim=1)
        diff_n = y.unsqueeze(1) - negatives[it].unsqueeze(0)
        g_neg = _pair_gradients(diff_n.reshape(-1, 2), diff_n.pow(2).sum(dim=2).reshape(-1),
                                a, b, attract=False).reshape(m, n_neg, 2).sum(dim=1)
        y = y - (learning_rate * (1.0 - it / n_iter)) * rate * (g + neg_weight * g_neg).clamp(
            -CLIP, CLIP)
    return y
