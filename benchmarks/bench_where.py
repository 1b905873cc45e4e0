"""Issue 23's benchmarks: recording overhead per epoch through each training callback, a GIF of
20 epochs at 800×800, and a saved page's size with thumbnails.

    OMP_NUM_THREADS=1 python benchmarks/bench_where.py [--only callbacks|gif|html]

- callbacks: a Lightning CNN on a Fashion-MNIST subset (--fmnist 5000 train + 1000 test) and a
  tiny BERT from a config on a synthetic text task (--texts 2000 + 400) trained 3 epochs with and
  without ``RecordCallback`` (same seed); overhead = (time with - time without) / epochs, and the
  first epoch's extra (the architecture's one torch.export) separately;
- gif: ``vis.animate`` of a 20-epoch digits run fitted here (fps 12, 6 frames per epoch);
- html: ``save_html`` of that run's widget without thumbnails, with 10 per class, and with all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _lightning(tmp: Path, n_train: int, n_test: int) -> None:
    import lightning

    from dvi_widget.data.datasets import load_fashion_mnist
    from dvi_widget.data.run import Run
    from dvi_widget.integrations.lightning import RecordCallback
    from tests.integrations.test_lightning import SmallCNN

    data = load_fashion_mnist(n_train=n_train, n_test=n_test, seed=0)
    loader_data = torch.utils.data.TensorDataset(torch.as_tensor(data.x_train),
                                                 torch.as_tensor(data.y_train))

    class EpochTimes(lightning.Callback):
        def __init__(self) -> None:
            self.t: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module):  # noqa: ANN001, ANN202
            self.t.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module):  # noqa: ANN001, ANN202
            self.t.append(time.perf_counter())

    def fit(callbacks: list) -> list[float]:
        lightning.seed_everything(0, verbose=False)
        timer = EpochTimes()
        loader = torch.utils.data.DataLoader(loader_data, batch_size=128, shuffle=True)
        trainer = lightning.Trainer(max_epochs=3, accelerator="cpu", logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[timer, *callbacks])
        trainer.fit(SmallCNN(), loader)
        return list(np.diff(timer.t))

    fit([])  # warm-up (imports, first allocations)
    base = fit([])
    run = Run.create(tmp / "lightning", train=data)
    cb = _timed(RecordCallback(run), "on_train_epoch_end")
    withcb = fit([cb])
    _report("Lightning CNN", f"Fashion-MNIST {n_train}+{n_test}", base, withcb, cb.inside)


def _transformers(tmp: Path, n_train: int, n_test: int) -> None:
    import transformers

    from dvi_widget.data.run import Run
    from dvi_widget.integrations.transformers import RecordCallback
    from tests.integrations.test_transformers import Texts, text_task, tiny_bert

    ids, labels = text_task(n_train, seed=0)
    test_ids, test_labels = text_task(n_test, seed=1)

    class EpochTimes(transformers.TrainerCallback):
        def __init__(self) -> None:
            self.t: list[float] = []

        def on_epoch_begin(self, args, state, control, **kw):  # noqa: ANN001, ANN003, ANN202
            self.t.append(time.perf_counter())

        def on_train_end(self, args, state, control, **kw):  # noqa: ANN001, ANN003, ANN202
            self.t.append(time.perf_counter())

    def train(callbacks: list) -> list[float]:
        timer = EpochTimes()
        args = transformers.TrainingArguments(
            output_dir=str(tmp / "hf"), num_train_epochs=3, per_device_train_batch_size=64,
            learning_rate=2e-3, logging_steps=10, save_strategy="no", report_to=[], seed=0,
            use_cpu=True, disable_tqdm=True)
        transformers.Trainer(model=tiny_bert(), args=args, train_dataset=Texts(ids, labels),
                             callbacks=[timer, *callbacks]).train()
        return list(np.diff(timer.t))

    train([])
    base = train([])
    run = Run.create(tmp / "hf_run", train=(ids, labels), test=(test_ids, test_labels))
    cb = _timed(RecordCallback(run), "on_epoch_end")
    withcb = train([cb])
    _report("transformers tiny BERT", f"texts {n_train}+{n_test}", base, withcb, cb.inside)


def _timed(callback, hook: str):  # noqa: ANN001, ANN202 - a callback, timed inside its hook
    callback.inside = []
    inner = getattr(callback, hook)

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        inner(*args, **kwargs)
        callback.inside.append(time.perf_counter() - t0)

    setattr(callback, hook, timed)
    return callback


def _report(what: str, data: str, base: list[float], withcb: list[float],
            inside: list[float]) -> None:
    b, w, cb = np.asarray(base), np.asarray(withcb), np.asarray(inside)
    print(f"{what} ({data}): epoch {np.mean(b):.2f} s without the callback, {np.mean(w):.2f} s "
          f"with it; inside the callback: {1000 * np.mean(cb[1:]):.0f} ms per epoch "
          f"({100 * np.mean(cb[1:]) / np.mean(b):.1f} % of an epoch), the first epoch "
          f"{1000 * cb[0]:.0f} ms (it also stores the architecture: one torch.export)")


def _fitted_vis(tmp: Path, epochs: int = 20, cache: Path | None = None):  # noqa: ANN202
    import dataclasses

    from torch import nn

    from dvi_widget.contract import Visualization

    if cache is not None and (cache / "vis").is_dir():
        vis = Visualization.load(cache / "vis")
        return dataclasses.replace(vis, images=np.load(cache / "images.npy"))

    from dvi_widget import DVI
    from dvi_widget.data.datasets import load_digits
    from dvi_widget.data.run import Run

    digits = load_digits(seed=0)
    torch.manual_seed(0)
    run = Run.create(tmp / "digits20", train=digits)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    x, y = torch.as_tensor(digits.x_train), torch.as_tensor(digits.y_train)
    for epoch in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        run.record(model, epoch)
    t0 = time.perf_counter()
    dvi = DVI(hidden=32, grid_size=200, max_steps=600, warm_max_steps=300, device="cpu",
              verbose=False).fit(run)
    print(f"(fitted {epochs} digits epochs in {time.perf_counter() - t0:.0f} s)")
    images = (np.concatenate([digits.x_train, digits.x_test])[:, 0] * 255).astype(np.uint8)
    vis = dataclasses.replace(dvi.visualization(), images=images)
    if cache is not None:
        vis.save(cache / "vis")
        np.save(cache / "images.npy", images)
    return vis


def _gif(vis, tmp: Path) -> None:  # noqa: ANN001
    for dither in (True, False):
        path = tmp / f"training_{dither}.gif"
        t0 = time.perf_counter()
        vis.animate(path, fps=12, size_px=(800, 800), dither=dither)
        dt = time.perf_counter() - t0
        from PIL import Image

        with Image.open(path) as gif:
            n = gif.n_frames
        print(f"GIF of {len(vis.epochs)} epochs at 800x800, {n} frames, dither={dither}: "
              f"{dt:.1f} s, {path.stat().st_size / 2**20:.1f} MB")
    path = tmp / "training.mp4"
    t0 = time.perf_counter()
    vis.animate(path, fps=12, size_px=(800, 800))
    print(f"MP4 of the same: {time.perf_counter() - t0:.1f} s, "
          f"{path.stat().st_size / 2**20:.2f} MB")


def _html(vis, tmp: Path) -> None:  # noqa: ANN001
    from dvi_widget.view.widget import Widget

    w = Widget(vis)
    for which in (False, 10, None):
        w.save_html(tmp / "page.html", thumbnails=which, quiet=True)
        r = w.saved_page
        print(f"save_html thumbnails={which!r}: page {r['bytes'] / 2**20:.2f} MB, "
              f"{r['thumbnails']['saved']} thumbnails in {r['thumbnails']['bytes'] / 1024:.0f} kB "
              "of PNG")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["callbacks", "gif", "html"])
    ap.add_argument("--fmnist", type=int, default=5000)
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--cache", type=Path, help="keep the fitted 20-epoch run's Visualization here")
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.only in (None, "callbacks"):
            _lightning(tmp, a.fmnist, a.fmnist // 5)
            _transformers(tmp, a.texts, a.texts // 5)
        if a.only in (None, "gif", "html"):
            vis = _fitted_vis(tmp, cache=a.cache)
            if a.only in (None, "gif"):
                _gif(vis, tmp)
            if a.only in (None, "html"):
                _html(vis, tmp)


if __name__ == "__main__":
    main()
