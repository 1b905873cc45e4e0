"""Peak memory of a DVI fit of a large run (issue 24): a synthetic run of ``--n`` training +
``--n-test`` test samples × ``--epochs`` epochs, recorded from arrays, fitted in this process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory.py --n 60000 --epochs 20

The representations are class centres plus noise that shrinks over the epochs (a classifier
getting sharper), ``--dim`` wide, with a linear head; the fit uses small step budgets (the
point is memory, not quality: what the fit holds per epoch does not depend on the budgets).
Epochs are read memory-mapped one or two at a time; the peak RSS must stay under 4 GiB
(``tests/engine/test_memory.py`` runs this with ``DVI_TEST_MEMORY=1``). Prints the seconds of
each stage per epoch and the process's peak RSS (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvi_widget import DVI, Run  # noqa: E402


def peak_rss_mib() -> float:
    """This process's peak resident set size, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_run(path: Path, n: int, n_test: int, epochs: int, dim: int, classes: int = 10,
                  seed: int = 0) -> Run:
    """A run recorded from arrays: no inputs kept, representations ``dim`` wide."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32) * 2
    y = rng.integers(0, classes, n + n_test)
    run = Run.create(path, train=(np.zeros((n, 1, 1), np.float32), y[:n]),
                     test=(np.zeros((n_test, 1, 1), np.float32), y[n:]), save_inputs=False)
    head = nn.Linear(dim, classes)
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(centres))
        head.bias.zero_()
    for e in range(epochs):
        noise = 2.0 - e / max(1, epochs)
        reps = centres[y] + rng.normal(size=(n + n_test, dim)).astype(np.float32) * noise
        run.record_arrays(e, representations=(reps[:n], reps[n:]), head=head)
    return run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--warm-max-steps", type=int, default=10)
    ap.add_argument("--layout-iters", type=int, default=30)
    ap.add_argument("--warm-layout-iters", type=int, default=10)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = synthetic_run(Path(tmp) / "run", a.n, a.n_test, a.epochs, a.dim)
        print(f"recorded {a.n} + {a.n_test} samples x {a.epochs} epochs x {a.dim} dims in "
              f"{time.perf_counter() - t0:.1f} s; peak RSS {peak_rss_mib():.0f} MiB", flush=True)
        t0 = time.perf_counter()
        dvi = DVI(hidden=32, grid_size=64, max_steps=a.max_steps,
                  warm_max_steps=a.warm_max_steps, layout_iters=a.layout_iters,
                  warm_layout_iters=a.warm_layout_iters, device="cpu", verbose=False).fit(run)
        print(f"fitted {len(dvi.epochs_)} epochs in {time.perf_counter() - t0:.1f} s")
        print(dvi.timings_.round(2).to_string())
        vis = dvi.visualization()
        print(f"visualization: coords {vis.coords.shape}, landscape {vis.landscape.shape}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
