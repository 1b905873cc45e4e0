"""Wall-clock of a DVI fit in one process against ``executor="ray"`` on a local Ray (issue 24).

    .venv/bin/python benchmarks/bench_ray.py --out RUN --reuse --epochs 3 --cpus 2

Records (or, with ``--reuse``, opens) a Fashion-MNIST CNN run as ``bench_engine.py`` does, pays
numba's compile and Ray's start-up first, then fits the same epochs alternately in this process
and with ``executor="ray"`` on ``ray.init(num_cpus=--cpus)``, ``--repeats`` times each, each on a
fresh copy of the run. Prints each fit's seconds and the ratio of the medians. Needs the
``ray`` extra. Run it on a quiet machine: the point is whether Ray's tasks, run ahead of the
sequential stages, find cores those stages leave idle.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_engine as be  # noqa: E402

from dvi_widget import DVI, Run  # noqa: E402


def _copy(src: Path, model_factory: object) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="dvi-bench-ray-")) / "run"
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("dvi"))
    return Run.open(tmp, model=model_factory())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="run folder (recorded if missing)")
    ap.add_argument("--reuse", action="store_true", help="open the run at --out if recorded")
    ap.add_argument("--dataset", choices=("fmnist", "digits"), default="fmnist")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpus", type=int, default=2, help="num_cpus of the local Ray")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of this process")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    factory = be.small_mlp if args.dataset == "digits" else be.small_cnn
    if not (args.reuse and (args.out / "run.json").exists()):
        be.record_run(argparse.Namespace(dataset=args.dataset, n_train=args.n_train,
                                         n_test=args.n_test, epochs=args.epochs,
                                         seed=args.seed, flip=0.0, model="auto",
                                         device="cpu"), args.out)
    import ray

    # numba's compile and Ray's start-up before anything is timed
    DVI(compute_metrics=False, max_steps=20, warm_max_steps=10, layout_iters=5,
        warm_layout_iters=5).fit(_copy(args.out, factory), epochs=[0, 1])
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    seconds: dict[str, list[float]] = {"one process": [], "ray": []}
    for _ in range(args.repeats):
        for mode in seconds:
            run = _copy(args.out, factory)
            epochs = run.epochs[: args.epochs]
            t0 = time.perf_counter()
            DVI(compute_metrics=False, verbose=False).fit(
                run, epochs=epochs, **({"executor": "ray"} if mode == "ray" else {}))
            seconds[mode].append(time.perf_counter() - t0)
            print(f"{mode}: {seconds[mode][-1]:.1f} s for {len(epochs)} epochs", flush=True)
    one, dist = (statistics.median(v) for v in seconds.values())
    print(f"median: one process {one:.1f} s, ray {dist:.1f} s on {args.cpus} CPUs: "
          f"speed-up {one / dist:.2f}x")


if __name__ == "__main__":
    main()
