"""Benchmark ``dvi_widget.compare`` on Fashion-MNIST: every method's table at three epochs and
each method's seconds per epoch, all from one run (issue 20, closing note).

Records a Fashion-MNIST run (the small CNN of ``bench_engine.py``, 512-d representations), fits
DVI, DeepView, UMAP-T, PCA and t-SNE on the same recorded epochs through
:func:`dvi_widget._compare.fit_methods` (the fits ``compare`` shows), and prints:

- per compared epoch, the table ``Comparison.table(epoch)`` (nn_pv(15) train/test,
  boundary_pv(15), PPR, Eq. 4, Q_kNN, Q_kNN-E, Q_data, Q_¬data, fit seconds);
- seconds per epoch per method, and each method's ratio to UMAP-T's seconds on the same epoch
  (wall clock on a shared machine: read the ratios, not the absolute numbers). The first epoch
  of each method includes its cold start (DVI's first layout, numba compiles of UMAP: UMAP is
  warmed up on random data first so that its compile is not counted).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compare.py              # 10k / 2k
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compare.py --n-train 2000 --n-test 500
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import record_run  # noqa: E402

from dvi_widget._compare import DEFAULT_METHODS, fit_methods  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=6, help="epochs recorded")
    p.add_argument("--compare", type=int, nargs="*", default=None,
                   help="epochs compared (default: first, middle, last)")
    p.add_argument("--methods", nargs="*", default=list(DEFAULT_METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, default=None,
                   help="keep the run (and the DVI / DeepView fits saved in it) in this folder; "
                        "a later call with the same folder reuses it instead of training again")
    args = p.parse_args()
    # what bench_engine.record_run reads: the Fashion-MNIST CNN, recorded on the CPU
    args.dataset, args.flip, args.model, args.device = "fashion", 0.0, "auto", "cpu"
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    tmp = Path(tempfile.mkdtemp(prefix="bench_compare_"))
    path = args.keep or tmp / "run"
    try:
        if args.keep is not None and (path / "run.json").exists():
            from dvi_widget.data.run import Run

            run, train_s = Run.open(path), float("nan")
        else:
            run, train_s = record_run(args, path)
        last = args.epochs - 1
        epochs = args.compare or sorted({0, last // 2, last})
        print(f"run: {args.n_train} train / {args.n_test} test, {args.epochs} epochs recorded "
              f"({train_s:.0f} s of training); compared epochs {epochs}")
        if "umap" in args.methods or "deepview" in args.methods:
            import umap  # pay numba's compile before any timing

            rng = np.random.default_rng(0)
            X = rng.normal(size=(600, int(run.rep_dim))).astype(np.float32)
            first = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1).fit(X)
            first.transform(X[:50])
            umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1,
                      init=first.embedding_).fit(X).transform(X[:50])
        t0 = time.perf_counter()
        comparison = fit_methods(run, args.methods, epochs,
                                 dvi_params={"verbose": False, "random_state": args.seed},
                                 deepview_params={"verbose": False,
                                                  "random_state": args.seed})
        print(f"fits: {time.perf_counter() - t0:.0f} s in all")
        pd.set_option("display.width", 200)
        for e in epochs:
            print(f"\n--- epoch {e} ---")
            print(comparison.table(e).round(3).to_string())
        seconds = pd.DataFrame(comparison.seconds).T[epochs]
        seconds.index.name = "method"
        print("\nseconds per epoch (first compared epoch: the cold start)")
        print(seconds.round(1).to_string())
        if "umap" in seconds.index:
            print("\nratio to UMAP-T's seconds on the same epoch")
            print((seconds / seconds.loc["umap"]).round(2).to_string())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
