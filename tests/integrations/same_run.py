"""Comparing two run folders file by file (the integration tests' "same as run.record")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

#: what differs between two recordings of the same model state: the clock and the scalars
VOLATILE = ("recorded", "scalars")


def assert_same_epochs(got: Path, want: Path) -> None:
    """Every epoch file of ``got`` equals ``want``'s: arrays and tensors exactly, epoch.json
    but for the time it was recorded and the scalars."""
    epochs = sorted(p.name for p in (want / "epochs").iterdir())
    assert sorted(p.name for p in (got / "epochs").iterdir()) == epochs and epochs
    for name in epochs:
        a, b = got / "epochs" / name, want / "epochs" / name
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
        for file in sorted(b.iterdir()):
            other = a / file.name
            if file.suffix == ".npy":
                np.testing.assert_array_equal(np.load(other), np.load(file), err_msg=str(other))
            elif file.suffix == ".pt":
                x, y = (torch.load(f, weights_only=True) for f in (other, file))
                assert x.keys() == y.keys()
                for key in y:
                    assert torch.equal(x[key], y[key]), f"{other}: {key}"
            else:
                x, y = (json.loads(f.read_text()) for f in (other, file))
                for key in VOLATILE:
                    x.pop(key, None)
                    y.pop(key, None)
                assert x == y, other
