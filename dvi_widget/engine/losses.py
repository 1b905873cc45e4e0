"""The loss terms of the visualization model (DVI Eq. 8–12), as pure torch functions.

Each function takes tensors and returns tensors (terms separately where that helps logging);
none holds state, moves data between devices, or samples anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from .boundary import boundary_gap

#: clamp inside the logarithms of the cross-entropy (UMAP uses the same order of magnitude)
EPS = 1e-4


# ---------------------------------------------------------------------------- UMAP (§5.2)
def find_ab_params(spread: float = 1.0, min_dist: float = 0.1) -> tuple[float, float]:
    """Fit ``a, b`` of the low-dimensional similarity ``1 / (1 + a d^(2b))`` (UMAP).

    The target curve is 1 for ``d < min_dist`` and ``exp(-(d - min_dist) / spread)`` beyond, on
    300 points in ``[0, 3 * spread]``; the fit is least squares (LBFGS in float64 over log a,
    log b). For ``min_dist=0.1, spread=1`` this gives ``a ≈ 1.577, b ≈ 0.895``.

    Hand-written (a dozen lines) so the engine does not import umap-learn or scipy at run time.
    """
    if spread <= 0 or min_dist < 0 or min_dist >= 3 * spread:
        raise ValueError(
            f"need spread > 0 and 0 <= min_dist < 3*spread, got spread={spread}, "
            f"min_dist={min_dist}"
        )
    d = torch.linspace(0, 3 * spread, 300, dtype=torch.float64)[1:]  # d=0 fits any a, b
    target = torch.where(d < min_dist, torch.ones_like(d), torch.exp(-(d - min_dist) / spread))
    log_ab = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_ab], lr=1.0, max_iter=500, tolerance_grad=1e-12,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        a, b = log_ab.exp()
        loss = ((1.0 / (1.0 + a * d ** (2 * b)) - target) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    a, b = log_ab.detach().exp().tolist()
    return float(a), float(b)


def low_dim_log_similarity(
    d2: torch.Tensor, a: float, b: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log q`` and ``log(1 - q)`` of ``q = 1 / (1 + a d^(2b))`` from squared distances ``d2``.

    Written in log space so that neither term underflows: ``log q = -log1p(a d^(2b))`` and
    ``log(1 - q) = log(a d^(2b)) - log1p(a d^(2b))``.
    """
    log_t = torch.log(torch.as_tensor(a, dtype=d2.dtype, device=d2.device)) + b * torch.log(
        d2.clamp_min(EPS**2)
    )
    log1p_t = torch.nn.functional.softplus(log_t)  # log(1 + a d^2b), stable for large t
    return -log1p_t, log_t - log1p_t


def umap_cross_entropy(
    d2_positive: torch.Tensor,
    d2_negative: torch.Tensor,
    a: float,
    b: float,
    repulsion_strength: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Parametric-UMAP cross-entropy over positive edges and negative samples (DVI §5.2).

    Positive edges (sampled in proportion to their membership, so their target is 1) are
    attracted with ``-log q``; negative pairs (target 0) are repelled with ``-log(1 - q)``.
    ``q`` is clamped to ``[EPS, 1 - EPS]`` as in UMAP to bound the gradients.

    Parameters
    ----------
    d2_positive : Tensor (P,)
        Squared 2-D distances of the sampled edges.
    d2_negative : Tensor (Q,)
        Squared 2-D distances of the negative pairs (``Q = negative_sample_rate * P``).
    a, b : float
        Curve parameters from :func:`find_ab_params`.
    repulsion_strength : float
        Weight of the repulsion term.

    Returns
    -------
    attraction, repulsion, total : Tensor
        Sums over the positive and negative pairs, and their mean over all ``P + Q`` pairs
        (the quantity that is minimised, as in parametric UMAP).
    """
    log_q, _ = low_dim_log_similarity(d2_positive, a, b)
    _, log_1mq = low_dim_log_similarity(d2_negative, a, b)
    log_eps, log_1meps = torch.log(torch.tensor(EPS)), torch.log1p(torch.tensor(-EPS))
    attraction = -log_q.clamp(log_eps, log_1meps).sum()
    repulsion = -repulsion_strength * log_1mq.clamp(log_eps, log_1meps).sum()
    total = (attraction + repulsion) / max(d2_positive.numel() + d2_negative.numel(), 1)
    return attraction, repulsion, total


# ---------------------------------------------------------------------- reconstruction (§5.3)
def gradient_weights(
    head: Callable[[torch.Tensor], torch.Tensor],
    representations: torch.Tensor,
    beta: float = 1.0,
    batch_size: int = 8192,
) -> torch.Tensor:
    """Per-dimension weights ``(1 + |∂g_top1/∂x| + |∂g_top2/∂x|)^β`` (DVI Eq. 8–9).

    Computed once per epoch, batched: since each sample's logits depend on that sample only
    (``head`` in eval mode), the gradient of the *sum* over a batch of top-1 logits is every
    sample's own top-1 gradient; two backward passes per batch give both terms. Works for any
    differentiable head (for a Linear head it equals ``|W[top1]| + |W[top2]|``).

    Parameters
    ----------
    head : callable
        g: ``(n, h)`` -> ``(n, C)`` logits, ``C >= 2``.
    representations : Tensor (n, h)
    beta : float
        Exponent β of Eq. 8.

    Returns
    -------
    Tensor (n, h) float32 on the device of ``representations``, no grad.
    """
    out = []
    for start in range(0, len(representations), batch_size):
        x = representations[start : start + batch_size].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = head(x)
            if logits.ndim != 2 or logits.shape[1] < 2:
                raise ValueError(f"head must return (n, C>=2) logits, got {tuple(logits.shape)}")
            top = logits.topk(2, dim=1).values
            g1 = torch.autograd.grad(top[:, 0].sum(), x, retain_graph=True)[0]
            g2 = torch.autograd.grad(top[:, 1].sum(), x)[0]
        out.append((1.0 + g1.abs() + g2.abs()).pow(beta).detach())
    return torch.cat(out)


def reconstruction_loss(
    x: torch.Tensor, x_reconstructed: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient-weighted reconstruction error (DVI Eq. 8): mean of ``w * (x - ψ(φ(x)))^2``.

    ``weights`` are the precomputed ``(1 + grad)^β`` of :func:`gradient_weights` (``None``
    means plain mean squared error).
    """
    err = (x - x_reconstructed).pow(2)
    if weights is not None:
        err = err * weights
    return err.mean()


def prediction_loss(log_p_target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL divergence from the classifier's output on ``x`` to its output on ``ψ(y)``.

    ``log_p_target`` (n, C) are ``log_softmax(g(x))``, ``logits`` are ``g(ψ(φ(x)))``; mean
    over samples. It makes ψ preserve what g predicts (the PPR of DVI §6) directly, where
    Eq. 8 does so only through the representation error.
    """
    log_q = torch.log_softmax(logits.float(), dim=1)
    return (log_p_target.exp() * (log_p_target - log_q)).sum(dim=1).mean()


def class_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``g(ψ(y))`` against the class g predicts for the sample itself.

    Where :func:`prediction_loss` matches the whole distribution, this pushes the decoded
    class to be the predicted one, which is what PPR (DVI §6) counts: a sample close to a
    decision boundary has a flat distribution whose argmax the KL term alone leaves to chance
    (measured on digits, epochs 0–3: PPR 0.92–0.97 with the KL term, 0.96–0.98 with both).
    Mean over the rows (0 for none).
    """
    if len(classes) == 0:
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits.float(), classes)


#: the boundary hinge's target, as a share of δ (see :func:`boundary_loss`)
BOUNDARY_MARGIN = 1.0


def boundary_loss(logits: torch.Tensor, delta: float) -> torch.Tensor:
    """Hinge on the decoded boundary points' normalised gap: ``mean relu(gap - δ)``.

    A boundary point b (mixup + bisection, DVI §5.1) lies on g's δ-boundary by construction;
    ψ_t should decode its 2-D position onto the boundary too, so that the landscape's white
    band is where the model's boundary is. The KL term of :func:`prediction_loss` asks this only
    through the whole distribution, which it matches to a small divergence while the top-2
    logits are still apart by more than δ; the hinge targets the gap itself and leaves points
    inside the band alone (a target of δ/2 widened the band: on digits it decoded 0.67–0.98 of
    the boundary points onto it but PPR train fell to 0.955; at δ, 0.58–0.92 with PPR ≥ 0.972).
    Mean over the rows (0 for none).
    """
    if len(logits) == 0:
        return logits.sum() * 0.0
    return torch.relu(boundary_gap(logits) - BOUNDARY_MARGIN * float(delta)).mean()


# ---------------------------------------------------------------------------- temporal (§5.4)
def semantic_similarity(previous_knn: torch.Tensor, current_knn: torch.Tensor) -> torch.Tensor:
    """``eval_sem`` (DVI Eq. 11): per-sample share of kNN indices kept between two epochs.

    Parameters
    ----------
    previous_knn, current_knn : Tensor (N, k) int
        Each sample's k nearest neighbours (indices into the same N samples) in epochs t-1, t.

    Returns
    -------
    Tensor (N,) float32 in [0, 1].
    """
    if previous_knn.shape != current_knn.shape or previous_knn.ndim != 2:
        raise ValueError(
            f"kNN index arrays must both be (N, k), got {tuple(previous_knn.shape)} and "
            f"{tuple(current_knn.shape)}"
        )
    k = previous_knn.shape[1]
    prev_sorted = previous_knn.sort(dim=1).values
    # membership of each current neighbour among the previous ones, by binary search per row
    pos = torch.searchsorted(prev_sorted, current_knn.contiguous()).clamp_max(k - 1)
    hits = prev_sorted.gather(1, pos) == current_knn
    return hits.sum(dim=1).to(torch.float32) / k


def weight_drift(
    parameters: Iterable[torch.Tensor], previous_parameters: Iterable[torch.Tensor]
) -> torch.Tensor:
    """``||W_t - W_{t-1}||^2 / ||W_{t-1}||^2`` over all parameters of φ and ψ (DVI Eq. 10).

    Eq. 10 writes the plain squared distance. Summed over the ~10^5–10^6 weights of the paper's
    autoencoder it outweighs the other terms by orders of magnitude and freezes every warm
    epoch at its initialisation (measured: nn_pv fell epoch after epoch while the data changed).
    Dividing by the previous weights' squared norm keeps Eq. 10's form and its pull towards
    ``W_{t-1}`` but makes the term independent of the model's width: 1.0 means the weights
    moved by as much as their own size.
    """
    params, prev = list(parameters), [q.detach() for q in previous_parameters]
    if len(params) != len(prev):
        raise ValueError(f"got {len(params)} parameters but {len(prev)} previous ones")
    num = torch.stack([(p - q).pow(2).sum() for p, q in zip(params, prev, strict=True)]).sum()
    den = torch.stack([q.pow(2).sum() for q in prev]).sum().clamp_min(1e-12)
    return num / den


def temporal_loss(
    parameters: Iterable[torch.Tensor],
    previous_parameters: Iterable[torch.Tensor],
    similarity: torch.Tensor | float,
) -> torch.Tensor:
    """Temporal loss (DVI Eq. 10): ``mean_i eval_sem_i * ||W_{t-1} - W_t||^2``.

    ``similarity`` is the per-sample ``eval_sem`` (Eq. 11) or its mean; only its mean matters
    because the weight drift does not depend on the sample.
    """
    sim = torch.as_tensor(similarity, dtype=torch.float32).mean()
    drift = weight_drift(parameters, previous_parameters)
    return sim.to(drift.device) * drift


def total_loss(
    umap: torch.Tensor,
    reconstruction: torch.Tensor,
    temporal: torch.Tensor | None,
    lambdas: tuple[float, float, float] = (1.0, 1.0, 0.3),
) -> torch.Tensor:
    """DVI Eq. 12: ``λ1 L_umap + λ2 L_rec + λ3 1(t>=2) L_t`` (``temporal=None`` for the first)."""
    loss = lambdas[0] * umap + lambdas[1] * reconstruction
    if temporal is not None:
        loss = loss + lambdas[2] * temporal
    return loss
