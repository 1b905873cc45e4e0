"""Small recorded runs the engine and store tests share: an MLP on scikit-learn's digits,
trained with Adam and recorded every epoch (seeded, so each run is reproducible)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from dvi_widget.data.datasets import Dataset
from dvi_widget.data.run import Run


def digits_mlp(hidden: Sequence[int] = (32,), n_inputs: int = 64, n_classes: int = 10
               ) -> nn.Sequential:
    """An MLP for scikit-learn's 8×8 digits: Flatten, then Linear + ReLU per hidden width."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


def train_and_record(path: Path, data: Dataset, *, hidden: Sequence[int] = (32,),
                     epochs: int = 3, lr: float = 3e-3, batch: int = 32, passes: int = 1,
                     shuffle: bool = False, seed: int = 0, n_classes: int = 10) -> Run:
    """Train :func:`digits_mlp` on ``data`` with Adam and record every epoch in a new run at
    ``path`` (the loop the engine and store tests share; seeded, so a run is reproducible)."""
    torch.manual_seed(seed)
    model = digits_mlp(hidden, n_classes=n_classes)
    run = Run.create(path, train=data)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    for epoch in range(epochs):
        for _ in range(passes):
            order = torch.randperm(len(x)) if shuffle else torch.arange(len(x))
            for i in range(0, len(x), batch):
                b = order[i : i + batch]
                loss = nn.functional.cross_entropy(model(x[b]), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        run.record(model, epoch, device="cpu")
    return run
