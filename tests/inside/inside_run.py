"""A small recorded CNN run with a GradientMonitor that the inside tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from dvi_widget.data.run import Run
from dvi_widget.inside import GradientMonitor


def cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 8), nn.ReLU(),
                         nn.Linear(8, 3))


def data(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 10x10 images: a bright left half, top half or centre, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(scale=0.3, size=(n, 1, 10, 10)).astype(np.float32)
    x[y == 0, :, :, :5] += 1
    x[y == 1, :, :5, :] += 1
    x[y == 2, :, 3:7, 3:7] += 1.5
    return x, y


def recorded_run(folder: Path, epochs: int = 3) -> tuple[Run, nn.Module]:
    x, y = data()
    run = Run.create(folder, train=(x[:72], y[:72]), test=(x[72:], y[72:]),
                     class_names=["left", "top", "centre"])
    model = cnn()
    monitor = GradientMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.tensor(x[:72]), torch.tensor(y[:72])
    for epoch in range(epochs):
        model.train()
        for i in range(0, 72, 24):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i:i + 24]), yt[i:i + 24]).backward()
            opt.step()
        run.record(model, epoch, gradients=monitor)
    monitor.close()
    return run, model
