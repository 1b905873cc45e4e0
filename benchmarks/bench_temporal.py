"""The temporal trade-off of the warm layout: Eq. 4 against nn_pv(15), layout alone.

Eq. 4 (temporal_pv) asks a sample to move in the epochs where its neighbourhood changed and to
stay put where it did not; nn_pv asks every epoch's layout to keep each sample's neighbours.
The warm layout trades one for the other through each sample's mobility
(:func:`dvi_widget.engine.layout.temporal_mobility`) and its number of optimisation epochs.
This benchmark lays out a recorded run's epochs in a chain, as the fit does, with a few
mobility variants, and prints both measures for each — in seconds per variant, where a whole
fit takes minutes (at 60k samples: about 30 s a variant against 3 min a fit).

What it leaves out: V_t's training and the settling of the few samples V_t decodes as another
class (under 2 % of the positions), and the test samples. Its cold start is seeded (a rerun
prints the same figures) but is not the fit's own draw, and Eq. 4 carries the cold start's
spread: the defaults give −0.333 at 60k against the fit's −0.369, −0.469 at 10k against −0.478.
Every variant of a run starts from the same cold layout, so the differences between variants
are theirs. Measures are on a fixed random subset
of ``--rows`` training samples against all of them, with exact kNN in the representation
space: Eq. 4 per sample over all transitions, then the mean (DVI Eq. 4 with Eq. 11's eval_sem,
k = 15); nn_pv(15) (Eq. 1), the mean over the epochs.

    .venv/bin/python benchmarks/bench_temporal.py --run RUN --dataset fmnist
    .venv/bin/python benchmarks/bench_temporal.py --run RUN --dataset digits \\
        --variant defaults --variant "power=2,iters=300" --variant "stable=0.2,iters=300"

A variant is ``stable=,width=,floor=`` (the ramp of ``temporal_mobility``), ``power=`` (the
mobility raised to it), ``iters=`` (``warm_layout_iters``) and ``quantile=Q`` (``stable`` at
least the Q-quantile of the transition's own churn 1 − eval_sem: a ramp that does not depend
on how dense the samples are); ``rank=1`` (mobility 1 − the empirical CDF of eval_sem pooled
over the transitions so far: a ramp that does not depend on how much the samples churn),
``rank=2`` (the same over this transition alone), ``rank=3`` (over the sample's own eval_sem
at every transition, future ones included: the ordering Eq. 4 rewards, known in advance),
``rank=4`` (the mean of 1 and 3), ``rank=5`` (the lower of the fixed ramp and ``rank=1``),
and ``clamp=Q`` (after the layout, a sample's move is at most
its mobility times the Q-quantile of the transition's moves: mobility bounds the distance, not
only the step), with ``relax=R`` (and ``riters=``, default 30) then R more short layouts from
the bounded positions, each bounded again, so that neighbours adapt to the bound; unnamed keys
keep the fit's defaults. ``--param NAME=VALUE`` sets a DVI
parameter for every variant (e.g. the complex's ``separation``). The run is opened with
``bench_engine.make_model`` (the classifier the benchmark recorded it with; ``--model``), since
the boundary samples are mixed in input space. The prepared epochs (boundary samples, complex,
kNN) are cached in ``--cache`` (default: a folder under the system's temporary directory named
after the run), never in the run folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import _parse_param, make_model  # noqa: E402

from dvi_widget import DVI, Run  # noqa: E402
from dvi_widget.engine import layout, losses, pipeline  # noqa: E402
from dvi_widget.engine import metrics as quality  # noqa: E402
from dvi_widget.engine.complex import Complex  # noqa: E402

K = 15
DEFAULT_VARIANTS = ("defaults", "power=2", "power=2,iters=300", "stable=0.15,iters=300",
                    "stable=0.2,iters=300")


def parse_variant(text: str) -> dict[str, float]:
    """``"stable=0.2,iters=300"`` -> ``{"stable": 0.2, "iters": 300.0}``; "defaults" -> {}."""
    if text == "defaults":
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in {"stable", "width", "floor", "power", "iters", "quantile",
                                    "rank", "clamp", "relax", "riters"}:
            raise SystemExit(f"--variant: unknown part {part!r} (stable=, width=, floor=, "
                             "power=, iters=, quantile=, rank=, clamp=, relax=, riters=)")
        out[key] = float(value)
    return out


def prepare(run: Run, s: pipeline.Settings, cache: Path) -> dict[int, dict[str, np.ndarray]]:
    """Each epoch's complex edges, kNN and predictions (and the first epoch's boundary points,
    for its cold start), computed once as the fit computes them
    (:func:`dvi_widget.engine.pipeline.prepare_epoch`)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, e in enumerate(run.epochs):
        f = cache / f"epoch_{e:05d}.npz"
        if not f.exists():
            data = pipeline.EpochData.from_run(run, e, s.device, True)
            pr = pipeline.prepare_epoch(data, s, seed=s.seed(e))
            extra = {"boundary": pr.boundary.representations} if i == 0 else {}
            np.savez(f, head=pr.complex.head, tail=pr.complex.tail, weight=pr.complex.weight,
                     n_x=pr.complex.n_x, n_b=pr.complex.n_b, knn=pr.knn,
                     pred=data.logits.argmax(1), **extra)
            print(f"prepared epoch {e}", flush=True)
        out[e] = dict(np.load(f))
    return out


def exact_neighbours(run: Run, rows: np.ndarray) -> np.ndarray:
    """(T, len(rows), K): each epoch's exact K nearest training samples of ``rows``."""
    found = []
    for e in run.epochs:
        X = torch.as_tensor(np.array(run.representations(e, "train"), dtype=np.float32))
        d = torch.cdist(X[rows], X)
        d[torch.arange(len(rows)), torch.as_tensor(rows)] = float("inf")
        found.append(d.topk(K, largest=False).indices.numpy())
    return np.stack(found)


def _cdf(reference: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The empirical CDF of ``reference`` at ``x``, ties at their mid-rank."""
    ref = torch.sort(reference).values
    below = torch.searchsorted(ref, x).float()
    upto = torch.searchsorted(ref, x, right=True).float()
    return (below + upto) / (2 * len(ref))


def transition_similarity(prepared: dict[int, dict[str, np.ndarray]], a: int,
                          b: int) -> torch.Tensor:
    """eval_sem of every training sample from epoch ``a`` to ``b`` (Eq. 11), 0 where its
    predicted class changed, as the fit's mobility reads it."""
    sem = losses.semantic_similarity(torch.as_tensor(prepared[a]["knn"]),
                                     torch.as_tensor(prepared[b]["knn"])).float()
    return sem * torch.as_tensor(prepared[a]["pred"] == prepared[b]["pred"])


def own_ranks(prepared: dict[int, dict[str, np.ndarray]], epochs: list[int]) -> torch.Tensor:
    """(n, T−1): each sample's eval_sem at each transition as its CDF among the sample's own
    transitions (``rank=3``: the ordering Eq. 4 rewards, which a fit could know only by
    reading every epoch first)."""
    S = torch.stack([transition_similarity(prepared, a, b)
                     for a, b in zip(epochs[:-1], epochs[1:], strict=True)], 1)
    below = (S[:, None, :] < S[:, :, None]).float().sum(2)
    ties = (S[:, None, :] == S[:, :, None]).float().sum(2)
    return (below + ties / 2) / S.shape[1]


def sample_mobility(v: dict[str, float], sem: torch.Tensor, pooled: list[torch.Tensor],
                    own: torch.Tensor | None) -> torch.Tensor:
    """The training samples' mobility at one transition under variant ``v`` (``pooled``: the
    eval_sem of the transitions so far, this one included; ``own``: this transition's column
    of :func:`own_ranks`)."""
    floor = v.get("floor", 0.01)
    rank = v.get("rank")
    ramp = {k: v[k] for k in ("stable", "width", "floor") if k in v}
    if rank is None:
        if "quantile" in v:  # the transition's own churn: stable at least its quantile
            churn = float(torch.quantile(1.0 - sem, v["quantile"]))
            ramp["stable"] = max(v.get("stable", 0.075), churn)
        return layout.temporal_mobility(sem, **ramp) ** v.get("power", 1.0)
    if rank in (1, 5):
        free = 1 - _cdf(torch.cat(pooled), sem)
        if rank == 5:  # the lower of the fixed ramp and the pooled rank (rank=1)
            return torch.minimum(layout.temporal_mobility(sem, **ramp),
                                 floor + (1 - floor) * free) ** v.get("power", 1.0)
    elif rank == 2:
        free = 1 - _cdf(sem, sem)
    elif rank == 3:
        free = 1 - own
    else:
        free = (2 - _cdf(torch.cat(pooled), sem) - own) / 2
    return floor + (1 - floor) * free ** v.get("power", 1.0)


def chain(prepared: dict[int, dict[str, np.ndarray]], run: Run, s: pipeline.Settings,
          v: dict[str, float]) -> list[np.ndarray]:
    """Every epoch's training-sample positions: the engine's layout stage
    (:func:`dvi_widget.engine.pipeline.layout_stage`), cold for the first epoch and then warm,
    started where the previous epoch left each sample, with the variant's mobility and
    iterations."""
    s = dataclasses.replace(s, warm_layout_iters=int(v.get("iters", s.warm_layout_iters)))
    epochs, n = list(run.epochs), int(run.n_train)
    own = own_ranks(prepared, epochs) if v.get("rank", 0) >= 3 else None
    pooled: list[torch.Tensor] = []
    Y = None
    out = []
    for i, e in enumerate(epochs):
        c = prepared[e]
        cx = Complex(head=c["head"], tail=c["tail"], weight=c["weight"], n_x=int(c["n_x"]),
                     n_b=int(c["n_b"]))
        gen = torch.Generator()
        gen.manual_seed(s.seed(e))
        if i == 0:  # the cold start lays out from the PCA of X ∪ B (randomised: seeded, as
            torch.manual_seed(s.seed(e))  # the fit seeds it)
            U = torch.as_tensor(np.concatenate([
                np.asarray(run.representations(e, "train"), dtype=np.float32), c["boundary"]]))
            Yn = pipeline.layout_stage(U, cx, None, None, s, gen)
        else:
            sem = transition_similarity(prepared, epochs[i - 1], e)
            pooled.append(sem)
            mobility = torch.ones(cx.n_x + cx.n_b)
            mobility[:n] = sample_mobility(v, sem, pooled,
                                           None if own is None else own[:, i - 1])
            # boundary points start at the weighted mean of their samples, as boundary_start
            # (which places one joined to no sample by φ_{t-1}; here: at the samples' mean)
            head, tail, w = (torch.as_tensor(c[k]) for k in ("head", "tail", "weight"))
            xb = (head < cx.n_x) & (tail >= cx.n_x)
            acc = torch.zeros(cx.n_b, 2).index_add_(0, tail[xb] - cx.n_x,
                                                    Y[head[xb]] * w[xb, None])
            tot = torch.zeros(cx.n_b).index_add_(0, tail[xb] - cx.n_x, w[xb])
            start = torch.where((tot > 0)[:, None], acc / tot.clamp_min(1e-12)[:, None],
                                Y.mean(0))
            Yn = pipeline.layout_stage(torch.empty(0), cx, torch.cat([Y, start]), mobility, s,
                                       gen)
            if "clamp" in v:  # a sample moves at most its mobility times the clamp-quantile of
                step = Yn[:n] - Y  # this transition's moves
                dist = step.norm(dim=1)
                reach = mobility[:n] * torch.quantile(dist, v["clamp"])
                Yn = torch.cat([Y + (reach / dist.clamp_min(1e-12)).clamp(max=1.0)[:, None] * step,
                                Yn[n:]])
                # relax=R: R more rounds of a short layout from there, each clamped again
                # (neighbours adapt to the bound instead of the bound being applied once)
                for _ in range(int(v.get("relax", 0))):
                    s_r = dataclasses.replace(s, warm_layout_iters=int(v.get("riters", 30)))
                    Yn = pipeline.layout_stage(torch.empty(0), cx, Yn, mobility, s_r, gen)
                    step = Yn[:n] - Y
                    dist = step.norm(dim=1)
                    Yn = torch.cat([Y + (reach / dist.clamp_min(1e-12)).clamp(max=1.0)[:, None]
                                    * step, Yn[n:]])
        Y = Yn[:n]
        out.append(Y.numpy().copy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="a run recorded by bench_engine.py")
    ap.add_argument("--dataset", choices=["fmnist", "digits", "mnist"], required=True)
    ap.add_argument("--model", choices=["auto", "cnn", "mlp", "resnet"], default="auto")
    ap.add_argument("--variant", action="append", help="repeatable; see the module docstring")
    ap.add_argument("--rows", type=int, default=3000, help="training samples measured")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--param", action="append", default=[], type=_parse_param,
                    metavar="NAME=VALUE",
                    help="a DVI parameter for every variant (repeatable), e.g. separation=1; "
                         "the prepared epochs are cached per parameter set")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = Run.open(args.run, model=make_model(args.dataset, args.model))
    epochs, n = list(run.epochs), int(run.n_train)
    if len(epochs) < 3:
        raise SystemExit(f"{args.run}: Eq. 4 needs at least 3 epochs, the run has {len(epochs)}")
    params = dict(args.param)
    s = pipeline.Settings.of(DVI(**params).get_params(), torch.device("cpu"))
    tag = hashlib.sha1(str(Path(args.run).resolve()).encode()).hexdigest()[:10]
    cache = Path(args.cache or Path(tempfile.gettempdir()) / f"dvi_bench_temporal_{tag}")
    if params:  # the complex depends on them: its own cache
        cache = cache / ("params-" + hashlib.sha1(repr(sorted(params.items())).encode())
                         .hexdigest()[:10])
    prepared = prepare(run, s, cache)
    rows = np.sort(np.random.default_rng(0).choice(n, min(args.rows, n), replace=False))
    high = exact_neighbours(run, rows)
    print(f"{args.run}: {n} training samples, epochs {epochs}; {len(rows)} rows measured")
    print(f"{'variant':28s} {'Eq. 4':>7s} {'nn_pv15':>8s} {'move':>6s} {'s':>5s}")
    for text in args.variant or DEFAULT_VARIANTS:
        t0 = time.perf_counter()
        Ys = chain(prepared, run, s, parse_variant(text))
        nn = []
        for t, Y in enumerate(Ys):
            Yt = torch.as_tensor(Y)
            d = torch.cdist(Yt[rows], Yt)
            d[torch.arange(len(rows)), torch.as_tensor(rows)] = float("inf")
            nn.append(quality.overlap_rate(high[t], d.topk(K, largest=False).indices.numpy())
                      .mean())
        moves = np.stack([np.linalg.norm(Ys[t][rows] - Ys[t - 1][rows], axis=1)
                          for t in range(1, len(Ys))], 1)
        eq4 = quality.temporal_pv(None, [Y[rows] for Y in Ys], K, neighbour_sets=list(high))
        print(f"{text:28s} {eq4:7.3f} {np.mean(nn):8.4f} "
              f"{np.median(moves):6.3f} {time.perf_counter() - t0:5.0f}", flush=True)


if __name__ == "__main__":
    main()
