"""Recording a run from the training frameworks users already train with.

- :mod:`dvi_widget.integrations.lightning`: ``RecordCallback`` for PyTorch Lightning
  (``pip install "dvi_widget[lightning]"``);
- :mod:`dvi_widget.integrations.transformers`: ``RecordCallback`` for the Hugging Face
  ``Trainer`` (``pip install "dvi_widget[transformers]"``).

Neither framework is imported by ``import dvi_widget``: only importing the submodule does.
Both record exactly what :meth:`dvi_widget.data.run.Run.record` records (the same files, the
same representation layer rule) through :func:`record_epoch`, which leaves the training as it
was: the model's train/eval mode of every submodule and the random number generators' states
(Python, NumPy, torch CPU and CUDA) are restored after the recording pass.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["record_epoch", "rng_preserved"]


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's (CPU and every CUDA device) RNG states on exit."""
    py, npy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def due(epoch: int, every: int) -> bool:
    """Whether 0-based ``epoch`` is recorded with ``every`` (every ``every``-th epoch)."""
    return (int(epoch) + 1) % int(every) == 0


def check_every(every: int) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive integer (record every n-th epoch), "
                         f"got {every!r}")
    return every


def record_epoch(run: Any, model: nn.Module, epoch: int, *, layer: str | None = None,  # noqa: ANN401 - a Run
                 gradients: bool = False, **options: Any) -> None:  # noqa: ANN401
    """``run.record(model, epoch, layer=layer, overwrite=True, ...)`` with the RNG states kept.

    An epoch that is already recorded is replaced: after a resume from an earlier checkpoint
    the run follows the training that actually happened. ``gradients`` is passed to
    ``run.record`` only when true (recording per-sample gradients needs a ``Run.record`` that
    takes ``gradients=``).
    """
    extra = {"gradients": True} if gradients else {}
    with rng_preserved():
        run.record(model, int(epoch), layer=layer, overwrite=True, **extra, **options)
