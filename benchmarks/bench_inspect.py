"""Kernel-side cost of the interrogation queries at 60,000 samples (issue 13), on synthetic data.

What a click, a hover, a page of thumbnails and the events table cost in Python, before any
front-end work: ψ_t + g_t at one point, the high-dimensional kNN of one sample (exact, among
60,000 x 512), one PNG atlas of 100 Fashion-MNIST-sized images read from a memmap, the events
of 10 epochs. Median of ``--repeat`` runs, in ms; timings are only meaningful on an idle
machine (check ``uptime``).

Run: .venv/bin/python benchmarks/bench_inspect.py [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dvi_widget.contract import Visualization
from dvi_widget.data.images import ImageArray
from dvi_widget.engine.events import find_events
from dvi_widget.engine.inspect import EngineInspector
from dvi_widget.engine.model import VisModel
from dvi_widget.view import explore
from dvi_widget.view.thumbnails import sprite


class _FittedStub:
    """What EngineInspector reads from a fitted DVI, over given representations."""

    def __init__(self, reps: np.ndarray) -> None:
        self.reps, self.epochs_, self.run_, self.device_ = reps, [0], None, torch.device("cpu")

    def _check_fitted(self) -> None:
        pass

    def _check_epoch(self, epoch: int) -> int:
        return int(epoch)

    def _all_representations(self, run: object, epoch: int) -> np.ndarray:
        return self.reps


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy imports)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main(N: int = 60_000, h: int = 512, C: int = 10, T: int = 10, k: int = 15,
         repeat: int = 5) -> None:
    rng = np.random.default_rng(0)
    reps = torch.as_tensor(rng.normal(size=(N, h)).astype(np.float32))
    model = VisModel(input_dim=h).eval()
    model.set_normalization(reps[:4096])
    head = torch.nn.Linear(h, C).eval()
    rows: list[tuple[str, float]] = []

    def click() -> None:
        with torch.no_grad():
            torch.softmax(head(model.decode(torch.zeros(1, 2))), 1)

    rows.append(("click: softmax(g(ψ(y))) at 1 point", _median_ms(click, repeat)))
    inspector = EngineInspector(_FittedStub(reps.numpy()))
    inspector.representations(0)  # the per-epoch cache, filled on the first question
    rows.append((f"high-dim {k}-NN of 1 sample among {N} x {h} (exact)",
                 _median_ms(lambda: inspector.neighbors(np.array([123]), 0, k), repeat)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inputs.npy"
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(N, 1, 28, 28))
        mm[:] = rng.random((N, 1, 28, 28), dtype=np.float32)
        mm.flush()
        images = ImageArray(np.load(path, mmap_mode="r"))
        page = rng.choice(N, 100, replace=False)
        rows.append(("hover: 1 thumbnail (uint8 + PNG)",
                     _median_ms(lambda: sprite(images, page[:1]).png, repeat)))
        png = sprite(images, page).png
        rows.append((f"page: 100 thumbnails as one PNG atlas ({len(png) / 1024:.0f} KiB)",
                     _median_ms(lambda: sprite(images, page).png, repeat)))
    # a training-like run: each epoch 2 % of the samples change their logits, kNN, place, cell
    logits, knns, cells = [rng.normal(size=(N, C)).astype(np.float32) * 3], [
        rng.integers(0, N, (N, k))], [rng.integers(0, C, N)]
    coords = [rng.normal(size=(N, 2)).astype(np.float32)]
    for _ in range(T - 1):
        changed = rng.random(N) < 0.02
        coords.append(np.where(changed[:, None], rng.normal(size=(N, 2)), coords[-1]))
        logits.append(np.where(changed[:, None], rng.normal(size=(N, C)) * 3,
                               logits[-1]).astype(np.float32))
        knns.append(np.where(changed[:, None], rng.integers(0, N, (N, k)), knns[-1]))
        cells.append(np.where(changed, rng.integers(0, C, N), cells[-1]))
    cells, coords = np.stack(cells), np.stack(coords).astype(np.float32)
    n_events = len(find_events(range(T), logits, coords, (-4, 4, -4, 4), cells=cells, knn=knns))
    rows.append((f"events of {T} epochs ({n_events} rows)",
                 _median_ms(lambda: find_events(range(T), logits, coords, (-4, 4, -4, 4),
                                                cells=cells, knn=knns), max(1, repeat // 2))))
    vis = Visualization.from_arrays(coords=coords, labels=rng.integers(0, C, N),
                                    predictions=rng.integers(0, C, (T, N)))
    rows.append(("confusion matrix of one epoch",
                 _median_ms(lambda: explore.confusion(vis, 3), repeat)))
    rows.append(("indices of one confusion cell",
                 _median_ms(lambda: explore.confusion_cell(vis, 1, 2, 3), repeat)))
    rows.append(("2-D: 10 nearest samples to a click",
                 _median_ms(lambda: explore.nearest_2d(vis, (0.0, 0.0), 3), repeat)))
    print(f"N={N}, h={h}, C={C}, T={T}, torch threads={torch.get_num_threads()}")
    for name, ms in rows:
        print(f"{name:<62}{ms:>9.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    main(repeat=args.repeat)
