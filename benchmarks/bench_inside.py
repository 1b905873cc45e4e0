"""Inside the model (issue 22): what recording and reading the inside costs, on the CPU.

    OMP_NUM_THREADS=1 python benchmarks/bench_inside.py [--device cpu|cuda] [--skip-resnet]
        [--only-monitor]

1. GradientMonitor overhead per training step of the quickstart CNN (batch 32; target ≤ 5 %):
   two copies trained in alternating blocks, one monitored; and the time inside the monitor;
2. bytes per epoch of the inside files (inside.npz + inside.json) for the quickstart CNN and a
   ResNet-18 (built here from torch ops, 10 classes, 64x64 inputs; the bytes do not depend on
   the input size);
3. the distributions panel's payload for 50 epochs x 10 layers (reply JSON + buffer);
4. maximisation of 16 channels of the quickstart CNN's second conv (96 steps; target ≤ 5 s);
5. neural patterns over 10k samples (forward pass for the sequences + FP-growth; target ≤ 2 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dvi_widget.data.run import Run
from dvi_widget.data.run import inside as store
from dvi_widget.inside import GradientMonitor, InsideSource, maximize, mine, sequences
from dvi_widget.view.inside import InsideMixin


def small_cnn(n_classes: int = 10) -> nn.Sequential:
    """The quickstart notebook's CNN."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(),
        nn.Linear(64, n_classes),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


def resnet18(n_classes: int = 10) -> nn.Sequential:
    """ResNet-18 (He et al. 2016) as torchvision lays it out: 11.2M parameters, 62 tensors."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_classes)]
    return nn.Sequential(*layers)


def step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def monitor_overhead(device: torch.device, blocks: int = 16, steps: int = 50) -> str:
    """Two copies of the quickstart CNN trained side by side on the same batches, one with a
    GradientMonitor for the whole run (its blocks reduce when they fill, as in training),
    alternating blocks of ``steps`` steps: the monitor's overhead per step is the median over
    the block pairs of (monitored / plain) − 1."""
    import copy

    torch.manual_seed(0)
    plain_model = small_cnn().to(device)
    watched_model = copy.deepcopy(plain_model)
    opts = {id(m): torch.optim.Adam(m.parameters(), lr=1e-3)
            for m in (plain_model, watched_model)}
    x = torch.randn(steps * 32, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (steps * 32,), device=device)
    # CPU time of this thread (on a CPU): steadier than wall time on a shared machine
    clock = time.perf_counter if device.type == "cuda" else time.thread_time

    def block(model: nn.Module) -> float:
        t0 = clock()
        for i in range(steps):
            step(model, opts[id(model)], x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (clock() - t0) / steps

    monitor = GradientMonitor(watched_model)
    inside = [0.0]  # in the monitor: the end-of-backward copies and the blocks' reductions
    snap, reduce = monitor._snap, monitor._reduce

    def timed(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            before, t0 = inside[0], clock()
            fn()
            inside[0] = before + (clock() - t0)  # a reduction inside a copy counts once
        return run

    monitor._snap, monitor._reduce = timed(snap), timed(reduce)
    block(plain_model)
    block(watched_model)  # warm up
    inside[0] = 0.0
    plain, watched = [], []
    for _ in range(blocks):
        plain.append(block(plain_model))
        watched.append(block(watched_model))
    monitor.take()
    monitor.close()
    a, b = statistics.median(plain), statistics.median(watched)
    paired = statistics.median(w / p for w, p in zip(watched, plain, strict=True)) - 1
    share = inside[0] / (sum(watched) * steps)
    return (f"GradientMonitor: quickstart CNN step {a * 1e3:.2f} ms, with the monitor "
            f"{b * 1e3:.2f} ms: overhead {100 * (b - a) / a:+.1f} % (medians), "
            f"{100 * paired:+.1f} % (median of {blocks} paired blocks of {steps} steps, "
            f"{'wall' if device.type == 'cuda' else 'thread CPU'} time; target ≤ 5 %); "
            f"time inside the monitor (end-of-backward copies, blocks reduced) "
            f"{100 * share:.1f} % of the monitored steps")


def bytes_per_epoch(folder: Path, name: str, model: nn.Module, shape: tuple[int, ...],
                    n: int) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = np.arange(n) % 10
    run = Run.create(folder / name, train=(x, y), class_names=[str(c) for c in range(10)])
    monitor = GradientMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    step(model, opt, torch.tensor(x[:16]), torch.tensor(y[:16]))
    t0 = time.perf_counter()
    run.record(model, 0, gradients=monitor)
    took = time.perf_counter() - t0
    monitor.close()
    meta, _ = store.read(run, 0)
    size = store.nbytes(run, 0)
    n_params = sum(p.numel() for p in model.parameters())
    return (f"inside files of one epoch, {name}: {size / 1e3:.1f} kB ({len(meta['parameters'])} "
            f"parameter tensors, {n_params / 1e6:.2f}M parameters, {len(meta['layers'])} "
            f"recorded layers, probe {min(n, store.PROBE)}); the whole record took {took:.2f} s")


def payload(folder: Path, epochs: int = 50, n_layers: int = 10) -> str:
    torch.manual_seed(0)
    mods: list[nn.Module] = []
    for i in range(n_layers - 1):
        mods += [nn.Linear(8 if i else 6, 8), nn.ReLU()]
    model = nn.Sequential(*mods, nn.Linear(8, 3))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = np.arange(64) % 3
    run = Run.create(folder / "payload", train=(x, y))
    monitor = GradientMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for e in range(epochs):
        step(model, opt, torch.tensor(x), torch.tensor(y))
        run.record(model, e, gradients=monitor)

    class Stub(InsideMixin):
        pass

    stub = Stub()
    stub.inside_source = InsideSource(run)
    t0 = time.perf_counter()
    content, buffers = stub._on_distributions({"kind": "grad"}, [])
    took = time.perf_counter() - t0
    js = len(json.dumps(content).encode())
    return (f"distributions payload, {epochs} epochs x {content['shape'][0]} layers: "
            f"{(js + sum(len(b) for b in buffers)) / 1e3:.1f} kB ({len(buffers[0]) / 1e3:.1f} kB "
            f"float32 quantiles + {js / 1e3:.1f} kB JSON with {len(content['flags'])} flags), "
            f"answered in {took * 1e3:.0f} ms")


def maximization() -> str:
    torch.manual_seed(0)
    net = small_cnn().eval()
    kw = {"network": net, "value_range": (0.0, 1.0), "input_shape": (1, 28, 28)}
    maximize(None, 0, "3", [0], steps=1, **kw)  # imports Kornia
    t0 = time.perf_counter()
    imgs = maximize(None, 0, "3", np.arange(16), **kw)
    took = time.perf_counter() - t0
    return (f"maximize: 16 channels of the quickstart CNN's second conv, 96 steps, "
            f"{imgs.shape[-2]}x{imgs.shape[-1]}: {took:.2f} s (target ≤ 5 s)")


def patterns(folder: Path, n: int = 10_000) -> str:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = np.arange(n) % 10
    run = Run.create(folder / "patterns", train=(x, y))
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    step(model, opt, torch.tensor(x[:64]), torch.tensor(y[:64]))
    run.record(model, 0)
    t0 = time.perf_counter()
    _, seq, _ = sequences(run, 0)
    t1 = time.perf_counter()
    found = mine(seq, min_support=0.02)
    t2 = time.perf_counter()
    return (f"neural patterns over {n} samples: sequences (forward pass, 4 layers) "
            f"{t1 - t0:.2f} s + FP-growth {t2 - t1:.2f} s = {t2 - t0:.2f} s (target ≤ 2 s), "
            f"{len(found)} closed patterns at support ≥ 2 %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--only-monitor", action="store_true", help="item 1 only")
    a = ap.parse_args()
    device = torch.device(a.device)
    print(f"torch threads: {torch.get_num_threads()}, device {device}")
    print(monitor_overhead(device))
    if a.only_monitor:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        print(bytes_per_epoch(folder, "quickstart CNN", small_cnn(), (1, 28, 28), 600))
        if not a.skip_resnet:
            print(bytes_per_epoch(folder, "ResNet-18", resnet18(), (3, 64, 64), 600))
        print(payload(folder))
        print(maximization())
        print(patterns(folder))


if __name__ == "__main__":
    main()
