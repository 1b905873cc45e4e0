"""Benchmark the DVI engine against UMAP, UMAP with warm start (UMAP-T) and PCA.

Records a run (Fashion-MNIST subset and a small CNN with a 512-d penultimate layer, or sklearn
digits and an MLP), fits :class:`dvi_widget.DVI` over all epochs and prints, per epoch, the
seconds spent in boundary synthesis, the complex, training and the landscape, the peak RSS,
and the §6 metrics next to the baselines fitted on the same train representations.

    .venv/bin/python benchmarks/bench_engine.py                       # 10k/2k FMNIST, 10 epochs
    .venv/bin/python benchmarks/bench_engine.py --n-train 2000 --n-test 500 --epochs 3
    .venv/bin/python benchmarks/bench_engine.py --dataset digits      # the 30 s digits target

Timings are wall-clock on whatever else the machine is doing; UMAP's first fit in a process
includes numba's compile (about 30-40 s here), so it is fitted once on a small array first.
"""

from __future__ import annotations

import argparse
import ast
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvi_widget.data.datasets import load_digits, load_fashion_mnist  # noqa: E402
from dvi_widget.data.run import Run  # noqa: E402
from dvi_widget.engine import metrics as quality  # noqa: E402
from dvi_widget.engine.fit import DVI  # noqa: E402


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 512), nn.ReLU(), nn.Linear(512, 10),
    )


def small_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


def _parse_param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--param needs NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def record_run(args: argparse.Namespace, path: Path) -> tuple[Run, float]:
    torch.manual_seed(args.seed)
    if args.dataset == "digits":
        ds, model = load_digits(seed=args.seed), small_mlp()
    else:
        ds = load_fashion_mnist(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
        model = small_cnn()
    run = Run.create(path, train=ds, overwrite=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = perm[i : i + 128]
            loss = nn.functional.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        run.record(model, epoch, device="cpu")
    return run, time.perf_counter() - t0


def baselines(run: Run, dvi: DVI, use_umap: bool) -> pd.DataFrame:
    """nn_pv(15), boundary_pv(15), PPR and temporal_pv(15) of UMAP, UMAP-T and PCA per epoch."""
    from sklearn.decomposition import PCA

    rows = []
    prev = {}
    if use_umap:
        import umap

        umap.UMAP(n_neighbors=15, random_state=0).fit(np.random.default_rng(0).normal(
            size=(300, 8)))  # pay numba's compile outside the timings
    for idx, e in enumerate(dvi.epochs_):
        X = np.asarray(run.representations(e, "train"), dtype=np.float32)
        B = dvi.boundary_representations_[idx]
        head = run.head(e)
        row = {"epoch": e}
        methods = {}
        pca = PCA(n_components=2, random_state=0).fit(X)
        methods["pca"] = (pca.transform(X), pca.transform(B) if len(B) else None, pca)
        if use_umap:
            t0 = time.perf_counter()
            um = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit(X)
            row["umap_s"] = time.perf_counter() - t0
            methods["umap"] = (um.embedding_, um.transform(B) if len(B) else None, None)
            init = prev.get("umapT", (None,))[0]
            umt = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0,
                            init=init if init is not None else "spectral").fit(X)
            methods["umapT"] = (umt.embedding_, umt.transform(B) if len(B) else None, None)
        for name, (Y, B2, model) in methods.items():
            row[f"{name}_nn_pv15"] = quality.nn_pv(X, Y, 15)
            if B2 is not None and len(B) >= 15:
                row[f"{name}_bnd_pv15"] = quality.boundary_pv(X, Y, B, B2, 15)
            if model is not None:  # PCA has a cheap inverse
                with torch.no_grad():
                    p = head(torch.as_tensor(X)).argmax(1).numpy()
                    rec = torch.as_tensor(model.inverse_transform(Y), dtype=torch.float32)
                    row[f"{name}_ppr"] = quality.ppr(p, head(rec).argmax(1).numpy())
            if name in prev:
                Xp, Yp = prev[name][1], prev[name][0]
                row[f"{name}_temporal15"] = quality.temporal_pv(Xp, X, Yp, Y, 15)
            prev[name] = (Y, X)
        rows.append(row)
    return pd.DataFrame(rows).set_index("epoch")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["fmnist", "digits"], default="fmnist")
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=2_000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--no-umap", action="store_true", help="skip the UMAP baselines")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a DVI parameter, e.g. --param learning_rate=0.003 (repeatable)")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    args = ap.parse_args(argv)
    args.param = dict(_parse_param(p) for p in args.param)
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="dvi-bench-"))
        args.out = tmp / "run"
    try:
        run, t_record = record_run(args, args.out)
        print(f"recorded {run!r} in {t_record:.1f}s "
              f"(test accuracy {run.epoch_info(run.epochs[-1]).get('test_accuracy')})")
        t0 = time.perf_counter()
        dvi = DVI(device=args.device, grid_size=args.grid, random_state=args.seed,
                  verbose=False, **args.param).fit(run, resume=False)
        t_fit = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tim = dvi.timings_[["boundary", "complex", "weights", "layout", "training", "metrics",
                            "landscape", "total", "steps"]]
        scores = dvi.score()
        dvi_cols = pd.DataFrame({
            "dvi_nn_pv15": scores["nn_pv_15_train"],
            "dvi_nn_pv15_test": scores.get("nn_pv_15_test"),
            "dvi_bnd_pv15": scores["boundary_pv_15_train"],
            "dvi_ppr": scores["ppr_train"], "dvi_ppr_test": scores.get("ppr_test"),
            "dvi_temporal15": scores["temporal_pv_15_train"],
        })
        base = baselines(run, dvi, use_umap=not args.no_umap)
        table = pd.concat([tim, dvi_cols, base], axis=1)
        pd.set_option("display.width", 250)
        pd.set_option("display.max_columns", 60)
        print(f"\nDVI fit: {t_fit:.1f}s for {len(dvi.epochs_)} epochs "
              f"(mean {tim['total'].mean():.1f}s/epoch + landscape; after warm-up "
              f"{tim['total'].iloc[1:].mean() if len(tim) > 1 else float('nan'):.1f}s/epoch); "
              f"peak RSS {rss:.0f} MiB; torch threads {torch.get_num_threads()}")
        print("\nper-epoch seconds, steps and metrics (train split unless marked _test):")
        print(table.round(3).T.to_string())
        mean = table.mean(numeric_only=True).round(3)
        print("\nmeans over epochs:")
        print(mean.to_frame("mean").T.to_string())
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
