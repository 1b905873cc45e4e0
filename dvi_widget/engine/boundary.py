"""δ-boundary estimation by mixup and bisection (DVI 5.1, Eq 5–7, Def. 2).

Candidates (two samples of different predicted classes) are drawn per class pair with Eq 5–7,
then all candidates of a round are bisected together as one batch on ``device``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._checks import check_finite
from .._tensor import ArrayLike, DeviceLike, batched, resolve_device, to_numpy, to_tensor
from .complex import cpu_threads

_NOT_KEPT = ("accepted", "reason", "on_target")


@dataclass
class BoundarySamples:
    """Synthesised δ-boundary points of one epoch.

    Attributes
    ----------
    representations : (B, h) float32
        Representation of each boundary point: ``f(λ s_i + (1-λ) s_j)`` (input space) or
        ``λ x_i + (1-λ) x_j`` (representation space).
    pairs : (B, 2) int64
        The two classes the point lies between (its top-2 under the head): the first source's
        predicted class, then the other class (the second source's class unless retargeted).
    weights : (B,) float32
        Mixing weight λ on the first source.
    sources : (B, 2) int64
        Indices (rows of the representations given) of the first and second source.
    gaps : (B,) float32
        Min-max-normalised top-1/top-2 gap of the head's logits at the point (< δ).
    space : "input" or "representation"
    note : str
        Human-readable summary (fallbacks, shortfalls, skipped epochs).
    """

    representations: np.ndarray
    pairs: np.ndarray
    weights: np.ndarray
    sources: np.ndarray
    gaps: np.ndarray
    space: str
    note: str = ""

    def __len__(self) -> int:
        return int(self.representations.shape[0])

    @classmethod
    def empty(cls, h: int, space: str, note: str) -> BoundarySamples:
        return cls(
            representations=np.zeros((0, h), np.float32),
            pairs=np.zeros((0, 2), np.int64),
            weights=np.zeros(0, np.float32),
            sources=np.zeros((0, 2), np.int64),
            gaps=np.zeros(0, np.float32),
            space=space,
            note=note,
        )


def _rescaled(logits: torch.Tensor) -> torch.Tensor:
    """DVI Def. 2's per-row rescaling ``r``: min-max over the C logits, softmax when C = 2.

    Min-max maps any two distinct logits to 0 and 1, so with two classes every point would
    have gap 1 (no boundary point, no white band, a boundary hinge without gradient); the
    softmax keeps how close the two are: gap ``|p_1 - p_2| = tanh(|l_1 - l_2| / 2)``, so
    δ = 0.1 is the band where the top class has probability 0.45–0.55.
    """
    if logits.shape[1] == 2:
        return torch.softmax(logits, dim=1)
    lo = logits.min(dim=1, keepdim=True).values
    hi = logits.max(dim=1, keepdim=True).values
    return (logits - lo) / (hi - lo).clamp_min(1e-12)


def boundary_gap(logits: ArrayLike) -> torch.Tensor:
    """``r(g(x))_top1 - r(g(x))_top2`` with ``r`` the per-row min-max rescaling (DVI Def. 2).

    A point lies on the δ-boundary when this is ``<= δ``. Rows whose logits are all equal get 0.
    With two classes ``r`` is the softmax instead (min-max would give every point gap 1; see
    :func:`_rescaled`).
    """
    t = to_tensor(logits, None, None)
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError(f"logits must have shape (n, C) with C >= 2, got {tuple(t.shape)}.")
    top2 = torch.topk(_rescaled(t.float()), 2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def pair_probabilities(
    num: torch.Tensor, trials: torch.Tensor, successes: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Sampling distribution over class pairs, DVI Eq 5–7.

    ``Pr(p) = α·Pr(s(p)) + (1-α)·succ(p)`` with
    ``Pr(s(p)) = max(0, ρ - num(p)) / Σ max(0, ρ - num)``
    (ρ the mean count over pairs; uniform when every pair is at ρ) and
    ``succ(p) = successes / trials`` (1.0 before the first trial, i.e. optimistic). ``succ`` is
    normalised to sum to one so that the mixture is a distribution.
    """
    num = num.double()
    deficit = (num.mean() - num).clamp_min(0.0)
    n_pairs = num.shape[0]
    uniform = torch.full_like(num, 1.0 / n_pairs)
    pr_s = deficit / deficit.sum() if float(deficit.sum()) > 0 else uniform
    succ = torch.where(trials > 0, successes.double() / trials.double().clamp_min(1), 1.0)
    pr_succ = succ / succ.sum() if float(succ.sum()) > 0 else uniform
    p = alpha * pr_s + (1.0 - alpha) * pr_succ
    return p / p.sum()


class _Mixer:
    """Evaluates mixes of candidate sources: logits and representations, chunked."""

    def __init__(
        self,
        head: torch.nn.Module,
        reps: torch.Tensor,
        inputs: np.ndarray | torch.Tensor | None,
        feature_model: torch.nn.Module | None,
        device: torch.device,
        batch_size: int,
        threads: int,
        bfloat16: bool = False,
    ) -> None:
        self.head, self.reps, self.inputs = head, reps, inputs
        self.feature_model, self.device, self.batch_size = feature_model, device, batch_size
        self.input_space = inputs is not None and feature_model is not None
        self.threads = threads  # the caller's thread count, for the forward passes
        # the search passes of f through bfloat16 autocast; only worth it in input space,
        # where f dominates (the head alone is a small matmul)
        self.search_bfloat16 = bool(bfloat16) and self.input_space
        # images go through f in channels-last order on the CPU: its pooling and convolutions
        # run 1.5-3x faster so; off for good if the model cannot take it (a .view() after a conv)
        # (its 4-D weights too: a one-channel image alone does not make a conv choose it)
        self.channels_last = self.input_space and device.type == "cpu"
        if self.channels_last:
            feature_model.to(memory_format=torch.channels_last)

    def sources(self, idx: torch.Tensor) -> torch.Tensor:
        if not self.input_space:
            return self.reps[idx]
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs[idx.to(self.inputs.device)].to(self.device, torch.float32)
        rows = to_numpy(idx)
        order = np.argsort(rows, kind="stable")  # sorted reads are kinder to memmaps
        got = np.empty((len(rows), *self.inputs.shape[1:]), dtype=np.float32)
        got[order] = self.inputs[rows[order]]
        return torch.as_tensor(got, device=self.device)

    @torch.no_grad()
    def __call__(
        self, si: torch.Tensor, sj: torch.Tensor, lam: torch.Tensor, search: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and representations of the mixes ``lam · si + (1 - lam) · sj``; ``search``:
        a pass of the bisection, which may run f in bfloat16 (``search_bfloat16``)."""
        low = search and self.search_bfloat16

        def mixed(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
            w = w.view(-1, *([1] * (a.dim() - 1))).to(a.dtype)
            mix = w * a + (1.0 - w) * b
            with cpu_threads(self.device, self.threads), torch.autocast(  # all threads
                    self.device.type, dtype=torch.bfloat16, enabled=low):
                rep = self._features(mix) if self.input_space else mix
                rep = rep.reshape(rep.shape[0], -1)
                return self.head(rep).float(), rep

        return batched(mixed, si, sj, lam, batch_size=self.batch_size)

    def _features(self, mix: torch.Tensor) -> torch.Tensor:
        if self.channels_last and mix.dim() == 4:
            try:
                return self.feature_model(mix.contiguous(memory_format=torch.channels_last)).float()
            except RuntimeError:  # e.g. x.view(n, -1) on a channels-last activation
                self.channels_last = False
                self.feature_model.to(memory_format=torch.contiguous_format)
        return self.feature_model(mix).float()


def _sample_sources(
    pred: torch.Tensor,
    pref: torch.Tensor,
    first: torch.Tensor,
    second: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """For each candidate draw a sample predicted ``first`` with probability ∝ ``pref[:, second]``.

    ``pref[i, c]`` is the preference of sample i when paired against class c. Inverse-CDF over the
    samples sorted by predicted class: one ``searchsorted`` per opposite class, not per sample.
    """
    order = torch.argsort(pred, stable=True)
    cum = torch.cumsum(pref[order].double(), dim=0).T.contiguous()  # (C, N), rows monotone
    counts = torch.bincount(pred, minlength=pref.shape[1])
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    u = torch.rand(first.shape[0], generator=gen, device=pred.device, dtype=torch.float64)
    out = torch.empty_like(first)
    zero = torch.zeros(1, dtype=torch.float64, device=pred.device)
    for c in torch.unique(second).tolist():
        sel = (second == c).nonzero(as_tuple=True)[0]
        col = cum[c]
        padded = torch.cat([zero, col])
        lo_v = padded[starts[first[sel]]]
        hi_v = padded[ends[first[sel]]]
        target = lo_v + u[sel] * (hi_v - lo_v)
        pos = torch.searchsorted(col, target, right=False)
        pos = torch.minimum(torch.maximum(pos, starts[first[sel]]), ends[first[sel]] - 1)
        out[sel] = order[pos]
    return out


def synthesize_boundary(
    representations: ArrayLike,
    logits: ArrayLike,
    head: torch.nn.Module,
    n_samples: int,
    *,
    inputs: np.ndarray | torch.Tensor | None = None,
    feature_model: torch.nn.Module | None = None,
    delta: float = 0.1,
    weight_range: tuple[float, float] = (0.5, 1.0),
    steps: int = 8,
    alpha: float = 0.8,
    device: DeviceLike = "auto",
    seed: int = 0,
    max_rounds: int = 6,
    temperature: float = 0.1,
    batch_size: int = 2048,
    retarget: bool = True,
    stop_gap: float | None = None,
    bfloat16: bool = False,
) -> BoundarySamples:
    """Synthesise about ``n_samples`` δ-boundary points by mixup + bisection (DVI 5.1).

    Per round: draw candidate class pairs from Eq 5–7 (:func:`pair_probabilities`); for a pair
    ``(Ci, Cj)`` pick a sample predicted ``Ci`` and one predicted ``Cj``, each with probability
    ∝ ``exp(-gap/temperature)`` where ``gap`` is its own min-max-normalised logit gap between the
    two classes (samples already near that pair's boundary are preferred). The mix at the
    lower end of ``weight_range`` decides which source is "first" (the one whose class has
    already been left there); then λ (weight on the first source) is bisected in ``weight_range``
    for ``steps`` steps, moving toward the first source while the head still predicts its class
    and away otherwise. A candidate is accepted at the evaluated λ with the smallest gap among
    those with ``boundary_gap < delta`` and top-2 classes ``{Ci, Cj}``. Rounds repeat (pair
    counts and success rates updated) until ``n_samples`` are accepted or ``max_rounds`` ran;
    when a round yields more than needed, the most under-represented pairs are kept first.

    ``retarget=True`` (default): when a third class ``Ck`` lies between the two sources, the
    bisection converges on the ``Ci``/``Ck`` boundary; such a point (gap < δ, top-2 ``{Ci, Ck}``)
    is kept and recorded as a ``(Ci, Ck)`` point (``pairs`` holds the real top-2 classes and it
    counts toward ``num(Ci, Ck)`` in Eq 6), while Eq 7's success rate of ``(Ci, Cj)`` still counts
    it as a failure. On a partly trained model this roughly doubles the yield per forward pass;
    ``retarget=False`` keeps only on-target points.

    A candidate stops bisecting (and leaves the batch) once it has a point with gap below
    ``stop_gap`` (default ``delta / 2``); ``stop_gap=0`` always runs all ``steps``.

    Mixing happens in input space, ``head(feature_model(λ s_i + (1-λ) s_j))``, when ``inputs``
    and ``feature_model`` (in eval mode) are given, else in representation space,
    ``head(λ x_i + (1-λ) x_j)``; ``note`` says which. If the stored logits predict fewer than two
    classes no pair exists: the result is empty (B = 0) and ``note`` says so.

    Parameters
    ----------
    representations : (N, h) X of the epoch; logits : (N, C) ``g(X)``; head : g.
    n_samples : int, target number of boundary points (DVI uses 0.1·N).
    delta : acceptance threshold on :func:`boundary_gap` (Def. 2).
    weight_range : (lo, hi) with ``0 <= lo < hi <= 1``, range of λ on the first source.
    alpha : trade-off of Eq 5. seed : makes the result deterministic (torch.Generator).
    batch_size : rows per forward pass (bound memory for images).
    bfloat16 : in input space, run the bisection's passes of ``feature_model`` under bfloat16
        autocast (2x faster on CPUs with native bfloat16) and evaluate each accepted point once
        more in float32 at its λ: it is kept only if the float32 head still puts it within δ
        between the same two classes, and its representation and gap are the float32 ones.

    Returns
    -------
    BoundarySamples
    """
    threads = torch.get_num_threads()
    # bookkeeping on one thread, forward passes on the caller's threads (see cpu_threads)
    with cpu_threads(resolve_device(device), 1):
        dev = resolve_device(device)
        if not isinstance(head, torch.nn.Module) and not callable(head):
            raise TypeError(f"head must be a torch.nn.Module, got {type(head).__name__}.")
        X = to_tensor(representations, dev)
        L = to_tensor(logits, dev)
        if X.ndim != 2 or L.ndim != 2 or X.shape[0] != L.shape[0]:
            raise ValueError(
                f"representations (N, h) and logits (N, C) must share N; got {tuple(X.shape)} and "
                f"{tuple(L.shape)}."
            )
        check_finite(X, "representations", "fix (re-record) the epoch")
        check_finite(L, "logits", "fix (re-record) the epoch")
        lo_w, hi_w = (float(v) for v in weight_range)
        if not 0.0 <= lo_w < hi_w <= 1.0:
            raise ValueError(f"weight_range must satisfy 0 <= lo < hi <= 1, got {weight_range!r}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps!r}.")
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples!r}.")
        if inputs is not None and len(inputs) != X.shape[0]:
            raise ValueError(
                f"inputs has {len(inputs)} rows but representations has {X.shape[0]}; pass the "
                "inputs of the same samples."
            )
        n, h = X.shape
        n_classes = L.shape[1]
        stop_gap = delta / 2 if stop_gap is None else float(stop_gap)
        input_space = inputs is not None and feature_model is not None
        space = "input" if input_space else "representation"
        why = (
            "mixed in input space: head(feature_model(mix))"
            if input_space
            else "mixed in representation space: head(mix of representations) "
            + ("(no inputs given)" if inputs is None else "(no feature_model given)")
        )
        if n_samples == 0:
            return BoundarySamples.empty(h, space, f"n_samples=0; nothing synthesised; {why}")
        if n_classes < 2:
            return BoundarySamples.empty(
                h, space, "the head has a single output; no boundary exists"
            )
        pred = L.argmax(dim=1)
        present = torch.unique(pred)
        if present.numel() < 2:
            return BoundarySamples.empty(
                h,
                space,
                f"the model predicts only class {int(present[0])} for every sample, so no pair of "
                "differently-predicted samples exists; boundary synthesis skipped (B=0).",
            )

        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed))
        mixer = _Mixer(head, X, inputs, feature_model, dev, batch_size, threads, bfloat16)

        # preference of sample i when paired against class c: small own gap between pred_i and c
        R = _rescaled(L)
        own_gap = (R.gather(1, pred.unsqueeze(1)) - R).clamp_min(0.0)  # (N, C) in [0, 1]
        pref = torch.exp(-own_gap / max(temperature, 1e-6))

        ci, cj = torch.triu_indices(present.numel(), present.numel(), offset=1, device=dev)
        pair_a, pair_b = present[ci], present[cj]  # (P,) class ids, a < b
        n_pairs = pair_a.numel()
        pair_index = torch.full((n_classes, n_classes), -1, dtype=torch.int64, device=dev)
        pair_index[pair_a, pair_b] = torch.arange(n_pairs, device=dev)
        num = torch.zeros(n_pairs, dtype=torch.int64, device=dev)
        trials = torch.zeros(n_pairs, dtype=torch.int64, device=dev)
        successes = torch.zeros(n_pairs, dtype=torch.int64, device=dev)

        reasons = torch.zeros(4, dtype=torch.int64, device=dev)
        kept: list[dict[str, torch.Tensor]] = []
        total = 0
        rate = 0.85  # prior yield (with retargeting most candidates land), sizes the first round
        rounds_run = 0
        for _ in range(max_rounds):
            need = n_samples - total
            if need <= 0:
                break
            rounds_run += 1
            n_cand = int(min(max(math.ceil(1.1 * need / max(rate, 0.05)), 64), 20 * n_samples + 64))
            probs = pair_probabilities(num, trials, successes, alpha)
            q = torch.multinomial(probs.float(), n_cand, replacement=True, generator=gen)
            a_cls, b_cls = pair_a[q], pair_b[q]
            src_a = _sample_sources(pred, pref, a_cls, b_cls, gen)
            src_b = _sample_sources(pred, pref, b_cls, a_cls, gen)
            res = _bisect(mixer, src_a, src_b, a_cls, b_cls, lo_w=lo_w, hi_w=hi_w, steps=steps,
                          delta=delta, retarget=retarget, stop_gap=stop_gap)
            lo_c = torch.minimum(res["cls_first"], res["cls_second"])
            hi_c = torch.maximum(res["cls_first"], res["cls_second"])
            got_q = pair_index[lo_c, hi_c]  # the pair actually found (differs when retargeted)
            ok = res["accepted"] & (got_q >= 0)
            reasons += torch.bincount(res["reason"], minlength=4)
            trials += torch.bincount(q, minlength=n_pairs)
            successes += torch.bincount(q[ok & res["on_target"]], minlength=n_pairs)
            rate = max(float(ok.float().mean()), 0.02)
            if not bool(ok.any()):
                continue
            qa = got_q[ok]
            # keep the most balanced subset: rank within pair after the pair's current count
            perm = torch.randperm(qa.numel(), generator=gen, device=dev)
            qa_p = qa[perm]
            order = torch.argsort(qa_p, stable=True)
            sorted_q = qa_p[order]
            first_pos = torch.searchsorted(sorted_q, sorted_q, right=False)
            rank = torch.empty_like(order)
            rank[order] = torch.arange(order.numel(), device=dev) - first_pos
            level = num[qa_p] + rank
            take = perm[torch.argsort(level, stable=True)[:need]]
            sel = ok.nonzero(as_tuple=True)[0][take]
            kept.append({key: val[sel] for key, val in res.items() if key not in _NOT_KEPT})
            num += torch.bincount(got_q[sel], minlength=n_pairs)
            total += int(sel.numel())

        if total == 0:
            return BoundarySamples.empty(
                h,
                space,
                f"no candidate reached the δ-boundary (δ={delta}) within "
                f"weight_range={weight_range} after {rounds_run} rounds; {why}",
            )
        out = {key: torch.cat([d[key] for d in kept]) for key in kept[0]}
        success_rate = float(successes.sum()) / max(float(trials.sum()), 1.0)
        short = "" if total >= n_samples else f" (fewer than the {n_samples} asked for)"
        note = (
            f"{total} boundary points{short} over {int((num > 0).sum())}/{n_pairs} class pairs in "
            f"{rounds_run} rounds, on-target success rate {success_rate:.2f} "
            f"({_failures(reasons)}); {why}"
        )
        return BoundarySamples(
            representations=to_numpy(out["rep"]).astype(np.float32),
            pairs=to_numpy(torch.stack([out["cls_first"], out["cls_second"]], 1)).astype(np.int64),
            weights=to_numpy(out["lam"]).astype(np.float32),
            sources=to_numpy(torch.stack([out["src_first"], out["src_second"]], 1)).astype(
                np.int64
            ),
            gaps=to_numpy(out["gap"]).astype(np.float32),
            space=space,
            note=note,
        )


def _failures(reasons: torch.Tensor) -> str:
    r = reasons.tolist()
    total = max(sum(r), 1)
    return (
        f"failed: {r[1] / total:.0%} no class change in weight_range, "
        f"{r[2] / total:.0%} a third class in between (retargeted when allowed), "
        f"{r[3] / total:.0%} gap stayed >= delta"
    )


@torch.no_grad()
def _bisect(
    mixer: _Mixer,
    src_a: torch.Tensor,
    src_b: torch.Tensor,
    cls_a: torch.Tensor,
    cls_b: torch.Tensor,
    **settings: Any,  # noqa: ANN401 - lo_w, hi_w, steps, delta, retarget, stop_gap of _bisect_chunk
) -> dict[str, torch.Tensor]:
    """Bisect λ for all candidates at once (chunks of candidates bound memory for images)."""
    if src_a.numel() == 0:
        return {"accepted": torch.zeros(0, dtype=torch.bool, device=src_a.device)}
    return batched(lambda a, b, ca, cb: _bisect_chunk(mixer, a, b, ca, cb, **settings),
                   src_a, src_b, cls_a, cls_b, batch_size=max(mixer.batch_size * 4, 1))


def _bisect_chunk(
    mixer: _Mixer,
    src_a: torch.Tensor,
    src_b: torch.Tensor,
    cls_a: torch.Tensor,
    cls_b: torch.Tensor,
    lo_w: float,
    hi_w: float,
    steps: int,
    delta: float,
    retarget: bool,
    stop_gap: float,
) -> dict[str, torch.Tensor]:
    dev = src_a.device
    m = src_a.numel()
    sa, sb = mixer.sources(src_a), mixer.sources(src_b)
    lo0 = torch.full((m,), lo_w, device=dev)

    # orientation: which source has already lost its class at the low end of weight_range
    logit_a, _ = mixer(sa, sb, lo0, search=True)  # a first, weight lo_w on a
    top_a = logit_a.argmax(1)
    same_mix = abs(lo_w - 0.5) < 1e-12  # a at lo_w and b at lo_w are the same mix
    top_b = top_a if same_mix else mixer(sb, sa, lo0, search=True)[0].argmax(1)
    a_ok = top_a != cls_a  # a-first has a class change inside [lo, hi]
    b_ok = top_b != cls_b
    a_best = a_ok & ((top_a == cls_b) | ~b_ok)
    b_first = ~a_best & b_ok
    viable = a_best | b_first

    src_first = torch.where(b_first, src_b, src_a)
    src_second = torch.where(b_first, src_a, src_b)
    cls_first = torch.where(b_first, cls_b, cls_a)
    cls_second = torch.where(b_first, cls_a, cls_b)
    keep = viable.nonzero(as_tuple=True)[0]
    vshape = (-1, *([1] * (sa.dim() - 1)))
    s_first = torch.where(b_first.view(vshape), sb, sa)[keep]
    s_second = torch.where(b_first.view(vshape), sa, sb)[keep]
    del sa, sb
    cf, cs = cls_first[keep], cls_second[keep]
    k = keep.numel()
    lo = torch.full((k,), lo_w, device=dev)
    hi = torch.full((k,), hi_w, device=dev)
    best_score = torch.full((k,), float("inf"), device=dev)
    best_gap = torch.full((k,), float("inf"), device=dev)
    best_lam = torch.zeros(k, device=dev)
    best_other = cs.clone()
    best_rep: torch.Tensor | None = None
    seen_pair = torch.zeros(k, dtype=torch.bool, device=dev)
    act = torch.arange(k, device=dev)  # candidates still bisecting
    for _ in range(steps):
        if act.numel() == 0:
            break
        lam = (lo[act] + hi[act]) / 2
        logit, rep = mixer(s_first[act], s_second[act], lam, search=True)
        if best_rep is None:
            best_rep = torch.zeros((k, rep.shape[1]), device=dev)
        cf_a, cs_a = cf[act], cs[act]
        gap = boundary_gap(logit)
        top2 = torch.topk(logit, 2, dim=1).indices
        has_first = (top2[:, 0] == cf_a) | (top2[:, 1] == cf_a)
        other = torch.where(top2[:, 0] == cf_a, top2[:, 1], top2[:, 0])
        on_target = has_first & (other == cs_a)
        seen_pair[act] |= on_target
        usable = (on_target | (has_first & retarget)) & (gap < delta)
        score = gap + (~on_target).float()  # an on-target point beats any retargeted one
        better = usable & (score < best_score[act])
        upd = act[better]
        best_score[upd] = score[better]
        best_gap[upd] = gap[better]
        best_lam[upd] = lam[better]
        best_other[upd] = other[better]
        best_rep[upd] = rep[better]
        still_first = logit.argmax(1) == cf_a
        hi[act] = torch.where(still_first, lam, hi[act])
        lo[act] = torch.where(still_first, lo[act], lam)
        act = act[best_gap[act] >= stop_gap]  # close enough: stop refining

    if mixer.search_bfloat16 and best_rep is not None:
        # the search ran f in bfloat16: each point found is evaluated once more in float32
        found = torch.isfinite(best_gap).nonzero(as_tuple=True)[0]
        if found.numel():
            logit, rep = mixer(s_first[found], s_second[found], best_lam[found])
            gap = boundary_gap(logit)
            top2 = torch.topk(logit, 2, dim=1).indices
            same = (((top2[:, 0] == cf[found]) & (top2[:, 1] == best_other[found]))
                    | ((top2[:, 1] == cf[found]) & (top2[:, 0] == best_other[found])))
            ok = same & (gap < delta)
            best_rep[found] = rep
            best_gap[found] = torch.where(ok, gap, float("inf"))

    accepted = torch.zeros(m, dtype=torch.bool, device=dev)
    acc_k = torch.isfinite(best_gap)
    accepted[keep[acc_k]] = True
    on_target_full = torch.zeros(m, dtype=torch.bool, device=dev)
    on_target_full[keep] = acc_k & (best_score < 1.0)
    # 0 accepted, 1 no class change inside weight_range, 2 a third class in the way, 3 gap >= δ
    reason = torch.ones(m, dtype=torch.int64, device=dev)
    reason[keep] = torch.where(acc_k & (best_score < 1.0), 0, torch.where(seen_pair, 3, 2))
    cls_second = cls_second.clone()
    cls_second[keep] = best_other
    h = best_rep.shape[1] if best_rep is not None else mixer.reps.shape[1]
    rep_full = torch.zeros((m, h), device=dev)
    gap_full = torch.full((m,), float("inf"), device=dev)
    lam_full = torch.zeros(m, device=dev)
    if best_rep is not None:
        rep_full[keep] = best_rep
        gap_full[keep] = best_gap
        lam_full[keep] = best_lam
    return {
        "accepted": accepted,
        "reason": reason,
        "on_target": on_target_full,
        "rep": rep_full,
        "gap": gap_full,
        "lam": lam_full,
        "src_first": src_first,
        "src_second": src_second,
        "cls_first": cls_first,
        "cls_second": cls_second,
    }
