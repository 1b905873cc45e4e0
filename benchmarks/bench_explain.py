"""Time dvi_widget.explain on Fashion-MNIST: Grad-CAM, what-if and PGD paths, the local
surrogate and a robustness curve, each after the epoch's classifier is loaded.

Records a small CNN (the engine benchmark's: 512-d representation) for a few epochs, fits DVI on
the last one, then times (median of ``--repeat`` runs, the first call of each kind excluded as a
warm-up and reported apart):

- Grad-CAM of 100 selected 28×28 samples (target ≤ 1 s);
- a 32-step rotation what-if path, projected by φ_t (target ≤ 1 s);
- a 20-step PGD path toward another class, projected (target ≤ 1 s);
- a 500-neighbour local surrogate, neighbours projected (target ≤ 1 s);
- a robustness curve of 1,000 samples × 16 rotation strengths (target: seconds);
- the kernel side of the widget's what-if request (``Explainer.payload``).

Next to each, the *floor*: the bare torch passes the task cannot avoid (forward, or forward and
backward, of as many inputs with the user's model), timed in the same process, so that the
overhead can be read even on a loaded machine.

    .venv/bin/python benchmarks/bench_explain.py                  # 2,000/500 FMNIST, 2 threads
    .venv/bin/python benchmarks/bench_explain.py --threads 1 --device cpu

Timings are wall-clock; the 1-minute load average is printed (other jobs on the machine slow
torch down severalfold).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvi_widget import DVI  # noqa: E402
from dvi_widget.data.datasets import load_fashion_mnist  # noqa: E402
from dvi_widget.data.run import Run  # noqa: E402


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 512), nn.ReLU(), nn.Linear(512, 10),
    )


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first call's seconds, median of ``repeat`` further calls, last result)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times)), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = load_fashion_mnist(n_train=args.n_train, n_test=args.n_test, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.create(Path(tmp) / "run", train=(data.x_train, data.y_train),
                         test=(data.x_test, data.y_test), class_names=data.class_names)
        model = small_cnn()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
        t0 = time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            model.train()
            for idx in torch.randperm(len(x)).split(64):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
            run.record(model, epoch)
        last = run.epochs[-1]
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        # a short φ/ψ training: the view's quality does not change what these calls cost
        dvi = DVI(device=args.device, verbose=False, random_state=0, max_steps=300,
                  ).fit(run, epochs=[last])
        t_fit = time.perf_counter() - t0
        print(f"FMNIST {args.n_train}/{args.n_test}, {args.epochs} epochs: train+record "
              f"{t_train:.1f} s, DVI fit (epoch {last}) {t_fit:.1f} s; device "
              f"{dvi.device_}, {args.threads} thread(s), load average "
              f"{os.getloadavg()[0]:.2f}, test accuracy "
              f"{run.epoch_info(last)['test_accuracy']:.3f}")

        ex = dvi.explainer()
        t0 = time.perf_counter()
        ex.classifier(last)
        _ = ex.value_range
        print(f"load epoch {last}'s classifier (state_dict -> model): "
              f"{1000 * (time.perf_counter() - t0):.0f} ms")
        pred = run.predictions(last, "all")
        rng = np.random.default_rng(0)
        sel100 = rng.choice(run.n_samples, 100, replace=False)
        sel1000 = rng.choice(run.n_samples, 1000, replace=False)
        i = int(sel100[0])
        target = int((pred[i] + 1) % run.n_classes)
        # floors: the bare torch work each task cannot avoid, with the user's model at epoch t,
        # timed in the same process (so that a loaded machine slows both alike)
        net = small_cnn().to(ex.device)
        net.load_state_dict(run.state_dict(last))
        net.eval()
        inputs = torch.as_tensor(np.concatenate([data.x_train, data.x_test]), device=ex.device)

        def batch(n: int) -> torch.Tensor:
            return inputs[torch.arange(n, device=inputs.device) % len(inputs)]

        def forward(n: int) -> None:
            with torch.no_grad():
                net(batch(n))

        def backward(n: int, times: int = 1) -> None:
            for _ in range(times):
                xb = batch(n).requires_grad_()
                torch.autograd.grad(net(xb)[:, 0].sum(), xb)

        def chunks(n: int, size: int = 8192) -> None:
            for start in range(0, n, size):
                forward(min(size, n - start))

        floors = {
            "Grad-CAM": lambda: backward(100),
            "what-if": lambda: forward(33),
            "PGD": lambda: backward(1, 21),
            "surrogate": lambda: forward(500),
            "robustness": lambda: chunks(17 * 1000),
            "widget": lambda: forward(33),
        }
        rows = [
            ("Grad-CAM, 100 samples 28x28", 1.0,
             lambda: ex.gradcam(last, sel100)),
            ("what-if rotate, 32 steps + φ", 1.0,
             lambda: ex.what_if(i, last, "rotate")),
            ("PGD path, 20 steps + φ", 1.0,
             lambda: ex.adversarial(i, last, target, method="pgd", steps=20)),
            ("surrogate, 500 neighbours + φ", 1.0,
             lambda: ex.surrogate(i, last, n_neighbors=500)),
            ("robustness 1000 x 16 rotate", None,
             lambda: ex.robustness(sel1000, last, "rotate")),
            ("widget what-if payload (kernel)", 0.3,
             lambda: ex.payload({"what": "path", "index": i, "epoch": last,
                                 "kind": "rotate"})),
        ]
        print(f"{'task':<34}{'first':>9}{'median':>9}{'floor':>9}  target  notes")
        for name, goal, fn in rows:
            repeat = 2 if name.startswith("robustness") else args.repeat
            first, med, out = timed(fn, repeat)
            floor = timed(floors[name.split(" ")[0].split(",")[0]], repeat)[1]
            note = ""
            if name.startswith("what-if"):
                note = f"first flip {out.attrs['first_flip']}"
            elif name.startswith("PGD"):
                note = f"reached step {out.attrs['reached']}"
            elif name.startswith("surrogate"):
                note = "fidelity " + ", ".join(f"{k} {v:.3f}" for k, v in out.fidelity.items())
            elif name.startswith("robustness"):
                note = f"flipped at 180°: {out['flipped'].iloc[-1]:.2f}"
            ok = "" if goal is None else ("ok" if med <= goal else "SLOW")
            limit = f"≤ {goal:g}s" if goal else ""
            print(f"{name:<34}{first:>8.3f}s{med:>8.3f}s{floor:>8.3f}s  {limit:<7} {ok} {note}")


if __name__ == "__main__":
    main()
