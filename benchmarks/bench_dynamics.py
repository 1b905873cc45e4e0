"""Time to compute every training-dynamics measure (dvi_widget.data.dynamics) for 60k samples
× 50 recorded epochs × 10 classes once the logits are in memory (target ≤ 2 s), and, with
``--issues``, the label-issue ranking (dvi_widget.data.issues) on the same records with and
without the neighbours method (512-d representations, a 10k test split; the first call reads
and searches the representations, a second call at another epoch reuses them; cleanlab's import
is timed apart).

    OMP_NUM_THREADS=1 python benchmarks/bench_dynamics.py [--n 60000 --epochs 50 --classes 10]
        [--issues --dim 512 --n-test 10000 --threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dvi_widget.data.dynamics import compute_dynamics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--issues", action="store_true", help="time label_issues too")
    ap.add_argument("--dim", type=int, default=512, help="representation width (--issues)")
    ap.add_argument("--n-test", type=int, default=10_000, help="test samples (--issues)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (--issues)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, a.classes, a.n)
    # logits that drift toward the label, as training does
    logits = rng.normal(size=(a.epochs, a.n, a.classes)).astype(np.float32)
    logits[np.arange(a.epochs)[:, None], np.arange(a.n)[None, :], labels[None, :]] += (
        np.linspace(-1, 4, a.epochs, dtype=np.float32)[:, None])
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        d = compute_dynamics(logits, labels)
        times.append(time.perf_counter() - t0)
    print(f"{a.n} samples × {a.epochs} epochs × {a.classes} classes: all measures at every "
          f"epoch in {min(times):.2f} s (best of {a.repeats}; target ≤ 2 s); "
          f"final mean AUM {float(d.aum[-1].mean()):.2f}")
    if a.issues:
        issues(a, rng)


def issues(a: argparse.Namespace, rng: np.random.Generator) -> None:
    import torch

    from dvi_widget.data.issues import label_issues

    torch.set_num_threads(a.threads)
    n = a.n + a.n_test
    labels = rng.integers(0, a.classes, n)
    # test accuracy rising to epoch epochs/2, then falling: the reference records are the first
    # half (up to 25 of 50), as on a run that memorises
    skill = 4 - 4 * np.abs(np.linspace(-1, 1, a.epochs, dtype=np.float32))
    logits = rng.normal(size=(a.epochs, n, a.classes)).astype(np.float32)
    logits[np.arange(a.epochs)[:, None], np.arange(n)[None, :], labels[None, :]] += skill[:, None]
    centres = rng.normal(size=(a.classes, a.dim)).astype(np.float32)
    noise = rng.normal(size=(n, a.dim)).astype(np.float32)

    class Record:
        """One record's (N, h) representations, made row by row when asked, as a run folder's
        memmaps are read (dvi_widget.data.dynamics.JoinedRows): class clusters, sharper with
        training, over noise that shifts by record (a fresh draw per record would time the
        draw)."""

        def __init__(self, epoch: int) -> None:
            self.epoch, self.shape, self.dtype = epoch, (n, a.dim), np.dtype(np.float32)

        def __len__(self) -> int:
            return n

        def __getitem__(self, rows: np.ndarray | slice) -> np.ndarray:
            r = np.arange(n)[rows] if isinstance(rows, slice) else np.asarray(rows)
            return (centres[labels[r]] * (0.05 + 0.02 * self.epoch)
                    + noise[(r + 7 * self.epoch) % n])

    def representations(epoch: int) -> Record:
        return Record(epoch)

    t0 = time.perf_counter()
    import cleanlab.filter  # noqa: F401  (the first ranking's import, timed apart)
    import cleanlab.rank  # noqa: F401

    print(f"importing cleanlab: {time.perf_counter() - t0:.2f} s (once per process)")

    split = np.array(["train"] * a.n + ["test"] * a.n_test)
    for with_reps in (False, True):
        dyn = compute_dynamics(logits, labels, keep_probabilities=True,
                               representations=representations if with_reps else None)
        t0 = time.perf_counter()
        df = label_issues(dyn, split=split)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        label_issues(dyn, epoch=a.epochs - 2, split=split)
        again = time.perf_counter() - t0
        print(f"label_issues at {a.n} + {a.n_test} samples × {a.epochs} epochs, "
              f"{'with' if with_reps else 'without'} the neighbours method ({a.dim}-d, "
              f"{a.threads} torch threads): {first:.2f} s, at another epoch {again:.2f} s "
              f"(methods {[c[6:] for c in df.columns if c.startswith('score_')]}; "
              f"representations read at epoch {df.attrs.get('neighbours', '-')})")


if __name__ == "__main__":
    main()
