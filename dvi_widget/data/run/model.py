"""Rebuilding a recorded epoch's model: ``g_t`` (the head), ``f_t`` and ``g_t ∘ f_t``.

A run keeps each epoch's head weights, and its full ``state_dict`` when it was recorded with a
model and its inputs; the architecture comes from the user (``run.record(model, ...)`` in this
session, or ``Run.open(path, model=...)``). From these this module rebuilds the head
(:func:`head`, from its JSON spec alone when it is Linear + parameter-free layers), ``f_t``
(:func:`feature_model`, the input of the recorded layer) and their composition
(:class:`EpochClassifier`, :func:`epoch_classifier`), so that boundary synthesis and
explanations see exactly the logits the run recorded and the representations DVI projects.

Nothing is allocated from a spec before the stored tensors' shapes are checked against it (a
tampered ``epoch.json`` cannot make a 10 GB head).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn

from ..._tensor import DeviceLike, resolve_device
from . import cut
from .folder import HEAD, RunFolder, epoch_dir, rerecord

RECORD_HINT = (
    "Record the run with the model and its inputs: Run.create(path, train=(x, y), "
    "save_inputs=True), then run.record(model, epoch) once per epoch (or "
    "Run.from_checkpoints(...)); in a new kernel reopen it with Run.open(path, model=YourModel())"
)


def _load_checked(module: nn.Module, weights: dict[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(weights)`` with a ``ValueError`` ending in ``what`` (the file
    and the fix) for missing or unexpected keys and mismatched shapes."""
    try:
        module.load_state_dict(cut.fit_state_dict_keys(weights, module))
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ValueError(f"{' '.join(first[:3])[:400]}; {what}") from None


def _head_from_spec(spec: list[dict[str, Any]], weights: dict[str, torch.Tensor],
                    source: str) -> nn.Sequential:
    """The head a spec describes carrying ``weights``; the spec is built on the ``meta`` device
    (no memory) and its shapes compared with the stored tensors before anything is allocated."""
    try:
        with torch.device("meta"):
            skeleton = cut.head_from_spec(spec)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"the head spec of {source} is damaged ({err})") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != stored:
        wrong = sorted(k for k in expected.keys() | stored.keys()
                       if expected.get(k) != stored.get(k))
        detail = ", ".join(f"{k}: spec {expected.get(k)} vs stored {stored.get(k)}"
                           for k in wrong[:4])
        raise ValueError(f"the head spec in epoch.json does not match {source} ({detail})")
    module = skeleton.to_empty(device="cpu")
    module.load_state_dict(weights)
    return module


def head(run: RunFolder, epoch: int, model: nn.Module | None,
         device: DeviceLike = "cpu") -> nn.Module:
    """``g_t`` in eval mode: (n, h) float32 representations -> (n, C) float32 logits.

    Heads made of ``nn.Linear`` and parameter-free layers are rebuilt from the stored JSON spec
    and weights, without the user's code; other heads need ``model`` (the architecture).
    """
    head_info = run.epoch_info(epoch)["head"]
    dev = resolve_device(device)
    kind = head_info.get("kind")
    if kind == "callable" or (kind == "module" and head_info.get("spec") is None):
        raise ValueError(
            f"epoch {epoch}'s head came from head_fn and cannot be rebuilt: only "
            "an nn.Linear / nn.Sequential of Linear and parameter-free layers (ReLU, Tanh, "
            "Dropout, Softmax, ...) is stored. Pass such a head_fn, or a layer= instead"
        )
    if kind == "none":
        raise ValueError(
            f"epoch {epoch} was recorded with record_arrays(...) without a head; record it "
            f"again with head=<module> (run.record_arrays({epoch}, ..., head=..., "
            "overwrite=True))"
        )
    weights = run.head_weights(epoch)
    source = str(epoch_dir(run.path, epoch) / HEAD)
    if head_info.get("spec") is not None:
        try:
            module = _head_from_spec(head_info["spec"], weights, source)
        except ValueError as err:
            raise ValueError(f"{err}; {rerecord(epoch)}") from None
    elif model is None:
        raise ValueError(
            f"epoch {epoch}'s head ({', '.join(head_info['modules'] or [])}) contains "
            "layers other than nn.Linear and parameter-free activations, so it cannot be "
            "rebuilt from the run folder alone; reopen with Run.open(path, "
            "model=YourModel()) so that the architecture is available"
        )
    else:
        names = head_info["modules"]
        if run.epoch_info(epoch).get("has_state_dict"):  # names recorded through a wrapper
            moved = cut.state_dict_prefix(run.state_dict(epoch), model)
            names = [cut.rename_module(n, *moved) for n in names]
        try:
            parts = [copy.deepcopy(model.get_submodule(n)) for n in names]
        except AttributeError as err:
            raise ValueError(
                f"the attached model has no module {err}; attach the architecture the run "
                "was recorded with"
            ) from None
        module = nn.Sequential(*cut.flatten_sequential(parts))
        _load_checked(module, weights, f"the attached model's head does not match {source}; "
                      "attach the architecture the run was recorded with")
    if head_info.get("single_logit"):  # a sigmoid binary head: its logit z as (0, z)
        module = nn.Sequential(*module, cut.TwoClassLogits())
    return module.to(dev).float().eval()


def feature_model(run: RunFolder, epoch: int, model: nn.Module | None,
                  device: DeviceLike = "cpu") -> nn.Module | None:
    """``f_t``: inputs -> float32 representations (n, h), in eval mode, or None when there is
    no architecture, no stored state_dict or the representation came from a ``feature_fn``."""
    info = run.epoch_info(epoch)
    if model is None or info.get("layer") is None or not info.get("has_state_dict"):
        return None
    state = run.state_dict(epoch)
    with warnings.catch_warnings():  # torch's pytree deprecation, on a rebuilt graph
        warnings.simplefilter("ignore", FutureWarning)
        network = copy.deepcopy(model).cpu()
    _load_checked(network, state, f"the attached model does not match epoch {epoch}'s "
                  "state_dict; attach the architecture the run was recorded with")
    # recorded through a wrapper (a LightningModule's model.fc), opened with the network (fc)
    layer = cut.rename_module(info["layer"], *cut.state_dict_prefix(state, network))
    return cut.FeatureModel(network, layer, run.recorded_from_token_ids(epoch)).to(
        resolve_device(device)).eval()


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


def check_recorded_with_model(run: Any, epoch: int) -> None:  # noqa: ANN401 - a Run
    """Raise ``ValueError`` saying why epoch ``epoch``'s classifier cannot be rebuilt from what
    was recorded (from arrays, without the weights, through a ``feature_fn``): the checks of
    :func:`epoch_classifier` that read the epoch's record only, not the architecture."""
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


def epoch_classifier(run: Any, epoch: int, device: DeviceLike = "auto") -> EpochClassifier:  # noqa: ANN401 - a Run
    """Rebuild epoch ``epoch``'s classifier from ``run`` on ``device`` (eval mode, frozen).

    Raises ``ValueError`` saying what is missing (no architecture attached, no stored weights,
    a ``feature_fn`` representation, an unrecorded epoch) and how to record the run instead.
    """
    check_recorded_with_model(run, epoch)
    if not run.has_model:
        why = getattr(run, "_stored_error", None)
        if why:  # the architecture stored with the run is missing or unusable: say why
            raise ValueError(
                f"no model architecture is attached to the run {run.path}, so epoch {epoch}'s "
                f"classifier cannot be rebuilt from its stored weights: {why}")
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
    return EpochClassifier(features, run.head(int(epoch), device=dev), network, int(epoch),
                           str(features.layer))
