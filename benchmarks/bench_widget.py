"""Payload sizes and kernel-side selection cost of the widget at 60,000 samples x 20 epochs.

Run: .venv/bin/python benchmarks/bench_widget.py
(browser timings: node benchmarks/bench_widget.mjs)
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from dvi_widget.contract import Visualization
from dvi_widget.view.widget import Widget


def main(N: int = 60_000, T: int = 20, grid: int = 256, C: int = 10) -> None:
    rng = np.random.default_rng(0)
    vis = Visualization.from_arrays(
        coords=rng.normal(size=(T, N, 2)).astype(np.float32),
        labels=rng.integers(0, C, N),
        predictions=rng.integers(0, C, (T, N)),
        confidence=rng.random((T, N)).astype(np.float32),
        landscape=rng.integers(0, 256, (T, grid, grid, 4), dtype=np.uint8),
        split=np.where(np.arange(N) < 50_000, "train", "test"),
        class_names=[f"class {c}" for c in range(C)],
        metadata=pd.DataFrame({"noisy": rng.random(N) < 0.1}),
        images=rng.integers(0, 256, (N, 28, 28), dtype=np.uint8),  # stay in the kernel
    )
    t0 = time.perf_counter()
    w = Widget(vis)
    state = w.get_state()
    t1 = time.perf_counter()
    total = 0
    print(f"N={N}, T={T}, landscape {grid}x{grid}; Widget() + get_state(): {t1 - t0:.2f} s")
    print(f"{'trait':<14}{'dtype':<9}{'shape':<22}{'bytes':>14}")
    for k, v in sorted(state.items()):
        if isinstance(v, dict) and "view" in v:
            nbytes = v["view"].nbytes
            total += nbytes
            print(f"{k:<14}{v['dtype']:<9}{str(v['shape']):<22}{nbytes:>14,}")
    for col in state.get("columns", []):  # metadata columns: one buffer each
        for key in ("codes", "values"):
            if key in col:
                v = col.pop(key)
                total += v["view"].nbytes
                name = f"columns[{col['name']}]"
                print(f"{name:<14}{v['dtype']:<9}{str(v['shape']):<22}{v['view'].nbytes:>14,}")
    rest = {k: v for k, v in state.items() if not (isinstance(v, dict) and "view" in v)}
    js = len(json.dumps(rest, default=str))
    print(f"{'JSON rest':<45}{js:>14,}")
    print(f"{'total':<45}{total + js:>14,}")
    print(f"images: {vis.images.nbytes:,} bytes kept in the kernel, none in the state (a hover "
          "or a page of the selection panel fetches a PNG atlas of the few it shows)")

    sel = np.flatnonzero(vis.coords[-1, :, 0] < 0).astype(np.uint32)  # ~half the points
    msg = {"selection": {"view": memoryview(sel.tobytes()), "dtype": "uint32",
                         "shape": [sel.size]}}
    times = []
    for _ in range(5):
        w.selection = None
        t0 = time.perf_counter()
        w.set_state(msg)
        df = w.selection_df()
        times.append(time.perf_counter() - t0)
    print(f"front-end selection of {sel.size:,} -> selection_df(): "
          f"median {1000 * np.median(times):.0f} ms ({len(df):,} rows)")
    t0 = time.perf_counter()
    dfa = w.selection_df(epochs="all")
    print(f"selection_df(epochs='all'): {1000 * (time.perf_counter() - t0):.0f} ms "
          f"({len(dfa):,} rows)")


if __name__ == "__main__":
    main()
