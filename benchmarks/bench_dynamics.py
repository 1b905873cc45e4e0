"""Time to compute every training-dynamics measure (dvi_widget.data.dynamics) for 60k samples
× 50 recorded epochs × 10 classes once the logits are in memory (target ≤ 2 s).

    OMP_NUM_THREADS=1 python benchmarks/bench_dynamics.py [--n 60000 --epochs 50 --classes 10]
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


if __name__ == "__main__":
    main()
