"""The discriminative distance (DiDi) of DeepView (Schulz, Hinder & Hammer, IJCAI 2019, §4.1).

Definition 1 defines, for a metric space ``(S, d_S)`` and a classifier ``f: S -> P(C)``, the
arc length of the Jensen–Shannon pullback regularised by ``d_S``:

    L(γ) = sup Σ_i (1-λ) d_JS(f(γ(t_{i-1})), f(γ(t_i))) + λ d_S(γ(t_{i-1}), γ(t_i)),

with ``d_JS(p, q) = sqrt((KL(p‖m) + KL(q‖m)) / 2)``, ``m = (p + q) / 2`` (natural logarithm, so
``d_JS <= sqrt(ln 2)``). Following Peltonen et al. (2004) the paper approximates ``d(x, y)`` on
the straight line through ``n`` equidistant steps ``p_i = (1 - i/n) x + (i/n) y`` (the unnumbered
equation after Theorem 1):

    d(x, y) ≈ Σ_{i=1..n} (1-λ) d_JS(f(p_{i-1}), f(p_i)) + λ d_S(p_{i-1}, p_i).

On a straight line the Euclidean steps sum to ``‖x - y‖`` exactly, so the second term is
``λ ‖x - y‖``. The paper's equation mixes the two terms unscaled; the authors' code
(``DeepView.distances``) divides each term by its largest value over all pairs before mixing.
:func:`didi` computes the paper's equation, with optional ``js_scale`` / ``euclid_scale`` (both
1 by default: the equation as printed) dividing the two terms; :class:`dvi_widget.DeepView`
passes scales measured on a fixed random sample of pairs (:func:`term_scales`), the authors'
normalisation without computing every pair.

The classifier is a black box: ``proba`` maps ``(m, D)`` float32 rows to ``(m, C)`` class
probabilities, and nothing else is asked of it (no gradients), so any classifier works. All
work is batched torch on the given device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..._tensor import ArrayLike, DeviceLike, resolve_device

#: ``(m, D)`` rows -> ``(m, C)`` class probabilities
Proba = Callable[[torch.Tensor], torch.Tensor]
#: path points (pairs x (n_steps + 1) x D floats) evaluated at once
CHUNK_FLOATS = 1 << 24
#: pairs drawn by :func:`term_scales`
SCALE_PAIRS = 4096
_EPS = 1e-12


def js_metric(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The Jensen–Shannon metric ``sqrt(D_JS(p‖q))`` along the last axis (natural log; 0·log 0
    counts as 0), in ``[0, sqrt(ln 2)]``."""
    p = p.double()
    q = q.double()
    m = 0.5 * (p + q)
    log_m = torch.log(m.clamp_min(_EPS))
    kl_p = torch.where(p > 0, p * (torch.log(p.clamp_min(_EPS)) - log_m), 0.0).sum(-1)
    kl_q = torch.where(q > 0, q * (torch.log(q.clamp_min(_EPS)) - log_m), 0.0).sum(-1)
    return torch.sqrt((0.5 * (kl_p + kl_q)).clamp_min(0.0))


def _as_rows(X: ArrayLike, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, D) array, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return t.float()


@torch.no_grad()
def pair_terms(
    proba: Proba,
    X: ArrayLike,
    rows: np.ndarray,
    cols: np.ndarray,
    n_steps: int = 5,
    *,
    device: DeviceLike = "auto",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The two terms of the n-step DiDi approximation for the pairs ``(X[rows], X[cols])``.

    Returns ``(js, euclid)``, float64 ``(m,)``: ``Σ_i d_JS(f(p_{i-1}), f(p_i))`` over the
    ``n_steps`` segments of the straight line, and ``‖x - y‖``. Pairs are processed in chunks of
    about ``CHUNK_FLOATS`` path coordinates; ``X`` stays where it is and only each chunk's rows
    move to ``device``.
    """
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    Xt = _as_rows(X, "X")
    rows = np.asarray(rows, np.int64).reshape(-1)
    cols = np.asarray(cols, np.int64).reshape(-1)
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols must have the same length, got {rows.shape} and "
                         f"{cols.shape}")
    n, D = Xt.shape
    if rows.size and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= n):
        raise IndexError(f"pair indices must lie in [0, {n})")
    dev = resolve_device(device)
    Xd = Xt.to(dev) if Xt.numel() * 4 <= (1 << 31) else Xt  # keep huge inputs on the host
    t = torch.linspace(0.0, 1.0, n_steps + 1, device=dev).view(1, -1, 1)
    chunk = max(1, CHUNK_FLOATS // ((n_steps + 1) * D))
    js = np.empty(rows.size, np.float64)
    eu = np.empty(rows.size, np.float64)
    starts = range(0, rows.size, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="DiDi distances", unit="chunk", leave=False)
    for s in starts:
        r = torch.as_tensor(rows[s : s + chunk], device=Xd.device)
        c = torch.as_tensor(cols[s : s + chunk], device=Xd.device)
        a, b = Xd[r].to(dev), Xd[c].to(dev)
        diff = b - a
        path = a.unsqueeze(1) + t * diff.unsqueeze(1)  # (m, n+1, D)
        p = proba(path.reshape(-1, D)).reshape(len(a), n_steps + 1, -1)
        js[s : s + len(a)] = js_metric(p[:, 1:], p[:, :-1]).sum(1).cpu().numpy()
        eu[s : s + len(a)] = diff.double().norm(dim=1).cpu().numpy()
    return js, eu


def mix(js: np.ndarray, euclid: np.ndarray, lam: float, js_scale: float = 1.0,
        euclid_scale: float = 1.0) -> np.ndarray:
    """``(1-λ) js / js_scale + λ euclid / euclid_scale`` (λ = 1 returns ``euclid / scale``
    exactly, λ = 0 the pullback arc length alone)."""
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam!r}")
    if lam == 1.0:
        return np.asarray(euclid, np.float64) / euclid_scale
    if lam == 0.0:
        return np.asarray(js, np.float64) / js_scale
    return (1.0 - lam) * np.asarray(js, np.float64) / js_scale + lam * np.asarray(
        euclid, np.float64) / euclid_scale


def didi(
    proba: Proba,
    a: ArrayLike,
    b: ArrayLike,
    lam: float = 0.65,
    n_steps: int = 5,
    *,
    js_scale: float = 1.0,
    euclid_scale: float = 1.0,
    device: DeviceLike = "auto",
) -> np.ndarray:
    """DiDi distances (DeepView Definition 1, n-step approximation) between the paired rows of
    ``a`` and ``b`` (both ``(m, D)``): float64 ``(m,)``.

    ``proba`` is the classifier as a black box (rows -> class probabilities). With the default
    scales this is the paper's equation as printed; ``λ = 1`` gives the Euclidean distance
    exactly.

    Examples
    --------
    >>> proba = lambda x: torch.softmax(head(x), dim=1)
    >>> didi(proba, X[:10], X[10:20], lam=0.65, n_steps=10)
    """
    A, B = _as_rows(a, "a"), _as_rows(b, "b")
    if A.shape != B.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(A.shape)} and "
                         f"{tuple(B.shape)}")
    m = A.shape[0]
    js, eu = pair_terms(proba, torch.cat([A, B]), np.arange(m), np.arange(m, 2 * m), n_steps,
                        device=device)
    return mix(js, eu, lam, js_scale, euclid_scale)


def term_scales(proba: Proba, X: ArrayLike, n_steps: int = 5, *, n_pairs: int = SCALE_PAIRS,
                seed: int = 0, device: DeviceLike = "auto") -> tuple[float, float]:
    """``(js_scale, euclid_scale)``: the largest value of each DiDi term over a fixed random
    sample of ``n_pairs`` distinct pairs of ``X`` (all pairs when there are fewer), as the
    authors' code divides each term by its largest value over all pairs. A scale that comes
    out 0 (a constant classifier, identical rows) is 1."""
    n = int(np.shape(X)[0])
    if n < 2:
        return 1.0, 1.0
    total = n * (n - 1) // 2
    if total <= n_pairs:
        rows, cols = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, n, n_pairs)
        cols = (rows + rng.integers(1, n, n_pairs)) % n
    js, eu = pair_terms(proba, X, rows, cols, n_steps, device=device)
    js_max, eu_max = float(js.max()), float(eu.max())
    return (js_max if js_max > 0 else 1.0), (eu_max if eu_max > 0 else 1.0)
