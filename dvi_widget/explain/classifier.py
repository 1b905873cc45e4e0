"""The classifier of epoch t, rebuilt from a run: ``g_t ∘ f_t`` on inputs, for explanations.

A :class:`~dvi_widget.data.run.Run` keeps each epoch's full ``state_dict`` when it was recorded
with a model and its inputs, and the model's architecture when one is attached
(``run.record(model, ...)`` in this session, or ``Run.open(path, model=...)``). From these,
:func:`epoch_classifier` rebuilds ``f_t`` (inputs -> representations, :meth:`Run.feature_model`)
and ``g_t`` (representations -> logits, :meth:`Run.head`) and composes them, so that every
explanation sees exactly the logits the run recorded and the representations DVI projects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._tensor import DeviceLike, resolve_device

RECORD_HINT = (
    "Record the run with the model and its inputs: Run.create(path, train=(x, y), "
    "save_inputs=True), then run.record(model, epoch) once per epoch (or "
    "Run.from_checkpoints(...)); in a new kernel reopen it with Run.open(path, model=YourModel())"
)


class EpochClassifier(nn.Module):
    """``g_t ∘ f_t``: inputs ``(n, *input_shape)`` -> logits ``(n, C)`` of one recorded epoch.

    Attributes
    ----------
    features : nn.Module
        ``f_t`` (inputs -> representations ``(n, h)``), cut at the recorded layer.
    head : nn.Module
        ``g_t`` (representations -> logits), as stored in the run.
    network : nn.Module
        The user's architecture carrying epoch t's weights (its modules are what
        :func:`dvi_widget.explain.gradcam` names layers by).
    epoch : int
    representation_layer : str
        Name of the layer whose input is the representation.
    """

    def __init__(self, features: nn.Module, head: nn.Module, network: nn.Module, epoch: int,
                 representation_layer: str) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.network = network
        self.epoch = int(epoch)
        self.representation_layer = representation_layer
        for p in self.parameters():  # explanations differentiate w.r.t. inputs only
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(representations (n, h), logits (n, C))`` in one pass."""
        reps = self.features(x)
        return reps, self.head(reps)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")


def epoch_classifier(run: Any, epoch: int, device: DeviceLike = "auto") -> EpochClassifier:  # noqa: ANN401 - a Run
    """Rebuild epoch ``epoch``'s classifier from ``run`` on ``device`` (eval mode, frozen).

    Raises ``ValueError`` saying what is missing (no architecture attached, no stored weights,
    a ``feature_fn`` representation, an unrecorded epoch) and how to record the run instead.
    """
    if int(epoch) not in run.epochs:
        raise ValueError(f"epoch={epoch!r} is not recorded in {run.path}; epochs: {run.epochs}")
    info = run.epoch_info(int(epoch))
    if info.get("feature") == "arrays":
        raise ValueError(
            f"epoch {epoch} of {run.path} was recorded from arrays (record_arrays), so there is no "
            f"model to explain: perturbed inputs cannot be classified or projected. {RECORD_HINT}"
        )
    if not info.get("has_state_dict"):
        raise ValueError(
            f"epoch {epoch} of {run.path} was recorded without the model's weights (the run was "
            f"created with save_inputs=False, or recorded without a model). {RECORD_HINT}"
        )
    if info.get("layer") is None:
        raise ValueError(
            f"epoch {epoch} of {run.path} took its representation from a feature_fn callable, "
            "which cannot be rebuilt from the run folder; record with layer='<module name>'"
        )
    if not run.has_model:
        raise ValueError(
            f"no model architecture is attached to the run {run.path}, so epoch {epoch}'s "
            "classifier cannot be rebuilt from its stored weights; reopen it with "
            "Run.open(path, model=YourModel()) (the architecture it was recorded with)"
        )
    dev = resolve_device(device)
    features = run.feature_model(int(epoch), device=dev)
    network = getattr(features, "model", None)
    if features is None or network is None:  # pragma: no cover - guarded by the checks above
        raise ValueError(f"epoch {epoch}'s feature model cannot be rebuilt. {RECORD_HINT}")
    head = run.head(int(epoch), device=dev)
    return EpochClassifier(features, head, network, int(epoch), str(info["layer"]))


# ------------------------------------------------------------------------------ inputs
def inputs_at(run: Any, indices: Sequence[int] | np.ndarray) -> np.ndarray:  # noqa: ANN401 - a Run
    """Stored inputs of global sample ``indices`` (train first, then test) as float32.

    Reads only the requested rows of the train and test memmaps.
    """
    idx = check_indices(indices, int(run.n_samples))
    train, test = run.inputs("train"), run.inputs("test")
    if train is None:
        raise ValueError(
            f"the run {run.path} does not store its inputs (created with save_inputs=False); pass "
            "the input array itself instead of a sample index"
        )
    n_train = int(run.n_train)
    out = np.empty((len(idx), *train.shape[1:]), dtype=np.float32)
    in_train = idx < n_train
    if in_train.any():
        out[in_train] = train[idx[in_train]]
    if (~in_train).any():
        out[~in_train] = test[idx[~in_train] - n_train]
    return out


def check_indices(indices: Sequence[int] | np.ndarray, n: int, name: str = "indices") -> np.ndarray:
    """``indices`` as an int64 array of global sample indices in ``[0, n)``; a boolean mask of
    length ``n`` is accepted too."""
    arr = np.asarray(indices)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise ValueError(f"{name}: a boolean mask must have {n} entries, got shape {arr.shape}")
        arr = np.flatnonzero(arr)
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be integer sample indices (or a boolean mask), got "
                         f"dtype {arr.dtype} and shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; select at least one sample")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} must lie in [0, {n}) (train samples first, then test); got "
                         f"values from {int(arr.min())} to {int(arr.max())}")
    return arr.astype(np.int64)
