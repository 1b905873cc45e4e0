"""The live view (issue 23): lag from an epoch landing to the widget showing it, and how much
the live view's worker slows the training loop.

    OMP_NUM_THREADS=1 python benchmarks/bench_live.py [--epochs 10] [--n-train 2000]

The quickstart's setting: its CNN trained on 2,000 + 500 Fashion-MNIST images, one
``run.record`` per epoch, in a subprocess (the training process), the DVI with the quickstart's
default parameters. Three phases, one after the other on the same machine:

1. the training loop alone (no live view): seconds per epoch of training (the record excluded);
2. the same loop (same seed) while ``Widget.follow(run)`` runs in this process: each epoch's
   lag = the moment the widget got the visualization holding it − the moment ``run.record``
   returned; the worker's own fit seconds per epoch (``fits.jsonl``); the training seconds per
   epoch again (the slowdown);
3. for reference, one warm epoch fitted alone (``DVI.fit`` of the last epoch, the others done).

Target: lag ≤ one warm fit + 1 s (when the worker is idle as the epoch lands), slowdown < 5 %.
Epochs that land while the worker is still fitting an earlier one wait for it (the table says
which); ``--pause`` spaces the epochs as a real training run's would be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN = textwrap.dedent("""
    import json, sys, time
    import torch
    from torch import nn
    torch.set_num_threads(1)
    from dvi_widget.data.datasets import load_fashion_mnist
    from dvi_widget.data.run import Run
    run_path, epochs, n_train, n_test, log, pause, passes = sys.argv[1:8]
    run = Run.open(run_path)
    d = load_fashion_mnist(n_train=int(n_train), n_test=int(n_test), seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.as_tensor(d.x_train), torch.as_tensor(d.y_train)
    with open(log, "a") as out:
        for epoch in range(int(epochs)):
            t0 = time.time()
            model.train()
            for _ in range(int(passes)):
                for idx in torch.randperm(len(x), generator=gen).split(32):
                    opt.zero_grad()
                    nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                    opt.step()
            model.eval()
            t1 = time.time()
            run.record(model, epoch)
            t2 = time.time()
            out.write(json.dumps({"epoch": epoch, "train_s": t1 - t0, "record_s": t2 - t1,
                                  "landed": t2}) + "\\n")
            out.flush()
            time.sleep(float(pause))
""")


def _new_run(path: Path, n_train: int, n_test: int) -> object:
    from dvi_widget.data.datasets import load_fashion_mnist
    from dvi_widget.data.run import Run

    d = load_fashion_mnist(n_train=n_train, n_test=n_test, seed=0)
    return Run.create(path, train=(d.x_train, d.y_train), test=(d.x_test, d.y_test),
                      class_names=d.class_names, overwrite=True)


def _train(run_path: Path, a: argparse.Namespace, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(run_path), str(a.epochs),
                             str(a.n_train), str(a.n_test), str(log), str(a.pause), str(a.passes)],
                            env=env)


def _lines(path: Path) -> list[dict]:
    return [json.loads(s) for s in path.read_text().splitlines() if s.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--pause", type=float, default=6.0,
                    help="seconds the training loop sleeps after each record (a real epoch takes "
                         "longer than its fit; the quickstart's CNN trains one in ~0.5 s)")
    ap.add_argument("--passes", type=int, default=1,
                    help="passes over the recorded samples per epoch: with --passes 8 --pause 0 an "
                         "epoch's training (~3 s) overlaps the worker's fit of the previous one, "
                         "which is what the slowdown must be measured on (with the defaults the "
                         "worker is idle while the training runs)")
    a = ap.parse_args()

    from dvi_widget.view.widget import Widget

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    # 1. the training loop alone
    alone_log = tmp / "alone.jsonl"
    _new_run(tmp / "alone", a.n_train, a.n_test)
    _train(tmp / "alone", a, alone_log).wait()
    alone = _lines(alone_log)

    # 2. the same loop beside the live view
    run = _new_run(tmp / "live", a.n_train, a.n_test)
    live_log = tmp / "live.jsonl"
    trainer = _train(tmp / "live", a, live_log)
    shown: dict[int, float] = {}
    t_start = time.time()
    w = Widget.follow(run, {"random_state": 0}, timeout=1800)
    replace = w.replace_visualization

    def timed(vis: object) -> None:
        replace(vis)
        now = time.time()
        for e in w.epochs:
            shown.setdefault(int(e), now)

    w.replace_visualization = timed  # type: ignore[method-assign]
    for e in w.epochs:
        shown.setdefault(int(e), time.time())
    trainer.wait()
    deadline = time.time() + 1800
    while len(shown) < a.epochs and time.time() < deadline:
        time.sleep(0.2)
    fits = _lines(w._follower.out / "fits.jsonl")
    w.stop_following()
    live = _lines(live_log)
    landed = {r["epoch"]: r["landed"] for r in live}

    # 3. one warm epoch alone, for reference: the training-alone run (no fit yet) fitted up to
    # its second-to-last epoch, then its last epoch warm-started
    from dvi_widget import DVI
    from dvi_widget.data.run import Run

    ref = Run.open(tmp / "alone")
    t0 = time.perf_counter()
    DVI(random_state=0, verbose=False).fit(ref, epochs=ref.epochs[:-1])
    first_fits = time.perf_counter() - t0
    t0 = time.perf_counter()
    DVI(random_state=0, verbose=False).fit(ref)
    warm_alone = time.perf_counter() - t0

    print(f"quickstart setting: {a.n_train} + {a.n_test} Fashion-MNIST images, CNN, "
          f"{a.epochs} epochs of {a.passes} pass(es), pause {a.pause} s after each record; "
          f"started {t_start:.0f}")
    print("\nepoch  train s alone  train s live  record s | lag s = wait + fit + publish + show"
          " | worker idle when it landed")
    fit_of = {}
    for f in fits:
        fit_of.setdefault(f["epochs"][-1], f)
    lags, idle_lags = [], []
    busy_until = 0.0
    for r0, r1 in zip(alone, live, strict=True):
        e = r1["epoch"]
        lag = shown[e] - landed[e] if e in shown else float("nan")
        lags.append(lag)
        f = fit_of.get(e)
        idle = busy_until <= landed[e]
        if f:
            parts = (f"{f['start'] - landed[e]:5.2f} + {f['fitted'] - f['start']:5.2f} + "
                     f"{f['published'] - f['fitted']:4.2f} + {shown[e] - f['published']:4.2f}")
            busy_until = f["published"]
        else:
            parts = "-"
        if idle and e > 0:
            idle_lags.append((lag, f["fitted"] - f["start"] if f else float("nan")))
        print(f"{e:5d}  {r0['train_s']:13.3f}  {r1['train_s']:12.3f}  {r1['record_s']:8.3f} |"
              f" {lag:5.2f} = {parts} | {'yes' if idle else 'no'}")
    tr0 = statistics.median(r["train_s"] for r in alone)
    tr1 = statistics.median(r["train_s"] for r in live)
    print(f"\ntraining seconds per epoch (median): alone {tr0:.3f}, beside the live view "
          f"{tr1:.3f}: slowdown {100 * (tr1 / tr0 - 1):+.1f} % (target < 5 %)")
    print(f"lag per epoch (median over epochs 1..): {statistics.median(lags[1:]):.2f} s, "
          f"max {max(lags[1:]):.2f} s")
    if idle_lags:
        over = [lag - fit for lag, fit in idle_lags]
        print(f"epochs 1.. that landed while the worker was idle ({len(idle_lags)}): lag median "
              f"{statistics.median(lag for lag, _ in idle_lags):.2f} s, max "
              f"{max(lag for lag, _ in idle_lags):.2f} s; lag minus the worker's fit of that "
              f"epoch: median {statistics.median(over):.2f} s, max {max(over):.2f} s")
    print(f"a warm epoch fitted alone (DVI.fit of the last epoch, {len(ref.epochs) - 1} "
          f"earlier ones reused): {warm_alone:.2f} s (the others: {first_fits:.1f} s); "
          f"target lag ≤ {warm_alone + 1:.2f} s")


if __name__ == "__main__":
    main()
