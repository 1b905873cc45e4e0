"""The cold start's step budget: epoch 0 of recorded runs fitted cold with each budget asked.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_cold_budget.py --threads 2 \\
        --run RUN:DATASET:MODEL [--run ...] [--steps 300 400]

Each ``--run`` is a run folder recorded by ``benchmarks/bench_engine.py --out RUN`` with its
dataset (``digits`` / ``fmnist``) and model (``auto`` / ``cnn`` / ``mlp``), so that the classifier
can be rebuilt for the boundary search. For every budget (``DVI(max_steps=...)``; a budget that
ends short of ``pipeline.PPR_GOAL`` trains on, up to twice) it prints the steps taken, the
seconds of V_0's training and of the whole epoch, PPR train / test (``DVI.score()``, at most
1,000 rows per split), nn_pv(15) and boundary_pv(15) train (the layout's: the same for every
budget) and the share of boundary points decoded onto g's δ-boundary (DVI Def. 2). The fit
goes to a temporary cache folder; the run is not written to. Timings need a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import decoded_on_boundary, make_model  # noqa: E402

from dvi_widget import DVI, Run  # noqa: E402


def cold_epoch(run: Run, steps: int, device: str) -> dict[str, float]:
    """Epoch 0 of ``run`` fitted cold with a budget of ``steps``: steps, seconds, measures."""
    with tempfile.TemporaryDirectory(prefix="dvi-cold-") as cache:
        dvi = DVI(max_steps=steps, device=device, verbose=False)
        dvi.fit(run, epochs=[run.epochs[0]], resume=False, cache_dir=cache)
        timing = dvi.timings_.iloc[0]
        score = dvi.score().iloc[0]
        epoch = dvi.epochs_[0]
        decoded = decoded_on_boundary(run.head(epoch), dvi.inverse_transform(dvi.boundary_[0],
                                                                             epoch), dvi.delta)
    return {"steps": int(timing["steps"]), "training s": float(timing["training"]),
            "epoch s": float(timing["total"]), "PPR train": float(score["ppr_train"]),
            "PPR test": float(score["ppr_test"]), "nn_pv15": float(score["nn_pv_15_train"]),
            "boundary_pv15": float(score["boundary_pv_15_train"]),
            "decoded boundary": decoded}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, metavar="RUN:DATASET:MODEL",
                    help="a run folder recorded by bench_engine.py, its dataset and model")
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 400])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for spec in args.run:
        path, sep, rest = spec.partition(":")
        dataset, _, kind = rest.partition(":")
        if not sep or dataset not in ("digits", "fmnist"):
            raise SystemExit(f"--run needs RUN:DATASET[:MODEL] with DATASET digits or fmnist, "
                             f"got {spec!r}")
        run = Run.open(path, model=make_model(dataset, kind or "auto"))
        for steps in args.steps:
            row = {"run": Path(path).name, "budget": steps, **cold_epoch(run, steps, args.device)}
            print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in row.items()), flush=True)
            rows.append(row)
    pd.set_option("display.width", 200)
    print()
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
