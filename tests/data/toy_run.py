"""The small run the data tests share: 40 train and 10 test samples of 6 features, 3 classes,
and the two-layer classifier that records it (imported by the test modules beside it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6)).astype(np.float32)
Y = np.arange(40) % 3
XT = RNG.normal(size=(10, 6)).astype(np.float32)
YT = np.arange(10) % 3
REPO = Path(__file__).resolve().parents[2]


def mlp(seed: int = 0) -> nn.Sequential:
    """A 6 -> 5 -> 3 classifier with weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


class Branchy(nn.Module):
    """A model torch.export refuses (its forward branches on the data), importable from here
    (the stored architecture's import route, tests/data/test_run_architecture.py)."""

    def __init__(self, width: int = 12) -> None:
        super().__init__()
        self.body = nn.Linear(64, width)
        self.out = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.body(x.reshape(len(x), -1)))
        if h.sum() > 0:  # data-dependent control flow
            h = h * 1.0
        return self.out(h)
