"""Cutting a user's classifier into ``f`` (inputs -> representation) and ``g`` (-> logits).

DeepVisualInsight (section 4) splits a classifier at a layer: ``f_t`` is everything before it,
``g_t`` is that layer and what follows. This module finds the layer, describes the head so that
it can be rebuilt without the user's code, rebuilds ``f_t`` as a module, and runs the batched
forward pass that yields representations and logits together. Recording (:mod:`.record`) writes
what it yields; rebuilding a recorded epoch's model is :mod:`.model`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..._checks import check_finite
from ..._tensor import row_batches
from ..images import image_layout

TensorFn = Callable[[torch.Tensor], torch.Tensor]

# Parameter-free modules (besides nn.Linear) that a head may contain and still be rebuilt from a
# JSON spec without the user's code: name -> constructor arguments to keep.
SPEC_MODULES: dict[str, tuple[str, ...]] = {
    "Identity": (),
    "ReLU": (),
    "LeakyReLU": ("negative_slope",),
    "GELU": ("approximate",),
    "Tanh": (),
    "Sigmoid": (),
    "SiLU": (),
    "ELU": ("alpha",),
    "Dropout": ("p",),
    "Softmax": ("dim",),
    "LogSoftmax": ("dim",),
    "Flatten": ("start_dim", "end_dim"),
}

#: modules that turn logits into (log-)probabilities; dropped from the end of a head
NORMALISERS = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)

#: how far ``head(representation)`` may stray from the model's output (relative, absolute)
HEAD_RTOL, HEAD_ATOL = 1e-3, 1e-4


class _StopForward(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a hook to end a forward pass once the representation has been captured."""


# --------------------------------------------------------------------------------- the model


def model_device(model: nn.Module | None) -> torch.device | None:
    """Where the module's parameters (else buffers) live; None for a module without any."""
    if model is None:
        return None
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return None


def model_dtype(model: object) -> torch.dtype | None:
    """The floating dtype of the module's parameters (float64, float16, ...), or None."""
    if not isinstance(model, nn.Module):
        return None
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def model_inputs(x: torch.Tensor, model: object, token_ids: bool) -> torch.Tensor:
    """``x`` as ``model`` takes it: int64 token ids, or floats of the model's dtype."""
    if token_ids:
        return x.round().long() if x.is_floating_point() else x.long()
    dtype = model_dtype(model)
    return x.to(dtype) if dtype is not None and x.is_floating_point() else x


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the module's state_dict (what is saved with ``torch.save``)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def state_dict_from_checkpoint(obj: object, source: str) -> dict[str, torch.Tensor]:
    """The state_dict inside a loaded checkpoint: the dict itself, or its ``"state_dict"`` /
    ``"model_state_dict"`` / ``"model"`` entry. ``source`` names the file in errors."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise ValueError(
        f"checkpoint {source} is neither a state_dict nor a dict with a 'state_dict' / "
        "'model_state_dict' entry; save checkpoints with torch.save(model.state_dict(), path)"
    )


class TwoClassLogits(nn.Module):
    """A sigmoid binary classifier's single logit ``z`` as two-class logits ``(0, z)``.

    ``softmax((0, z)) = (1 − σ(z), σ(z))``: the same classifier, with class 1 where ``z > 0``,
    in the ``(n, C)`` form every measure and the landscape read (a head with one output, trained
    with ``BCEWithLogitsLoss``).
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(z), z], dim=1)


def unwrap(model: nn.Module) -> tuple[nn.Module, str]:
    """The network inside training wrappers, and the prefix they put on its names.

    ``torch.compile``'s module (``_orig_mod.``), ``DataParallel`` and
    ``DistributedDataParallel`` (``module.``) compute what the network computes; recording the
    network itself keeps the run's layer names and stored weights those of the architecture, so
    that ``Run.open(path, model=Net())`` rebuilds it.
    """
    prefix = ""
    while True:
        if isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
            model, prefix = model.module, prefix + "module."
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model, prefix = model._orig_mod, prefix + "_orig_mod."
        else:
            return model, prefix


def fit_state_dict_keys(state: Mapping[str, torch.Tensor], module: nn.Module
                        ) -> dict[str, torch.Tensor]:
    """``state`` with its keys renamed to ``module``'s where they differ by a prefix
    (:func:`state_dict_prefix`); any other ``state`` comes back as it is (and
    ``load_state_dict`` names what does not fit)."""
    removed, added = state_dict_prefix(state, module)
    if not removed and not added:
        return dict(state)
    return {added + k[len(removed):]: v for k, v in state.items() if k.startswith(removed)}


def state_dict_prefix(state: Mapping[str, torch.Tensor], module: nn.Module) -> tuple[str, str]:
    """``(removed, added)``: the prefix to take off ``state``'s keys, or to put on them, so that
    they name ``module``'s parameters (``("", "")`` when they already do, or when no prefix
    does).

    A model wrapped for training saves its weights under the wrapper's name: ``module.``
    (DistributedDataParallel, DataParallel), ``_orig_mod.`` (``torch.compile``), the attribute
    of a LightningModule (``model.``, next to other entries such as a loss's weights), or
    several (``module._orig_mod.``): removed, where every key of ``module`` is present under it
    (entries outside it are dropped). The other way round, ``module`` may wrap the saved network
    (the transformers integration's ``SequenceClassifier`` holds a Trainer's model as
    ``model.``): added. Module names recorded with the weights (a layer) move the same way
    (:func:`rename_module`).
    """
    own = set(module.state_dict())
    if not own or not state or own <= set(state):
        return "", ""
    probe = min(own)
    for key in state:
        if key.endswith("." + probe):
            prefix = key[: len(key) - len(probe)]
            if own <= {k[len(prefix):] for k in state if k.startswith(prefix)}:
                return prefix, ""
    saved = min(state)
    for key in own:
        if key.endswith("." + saved):
            prefix = key[: len(key) - len(saved)]
            if own <= {prefix + k for k in state}:
                return "", prefix
    return "", ""


def rename_module(name: str, removed: str, added: str) -> str:
    """A module ``name`` of the network some weights were saved from, as the module they load
    into (:func:`state_dict_prefix`) names it."""
    if removed and name.startswith(removed):
        return added + name[len(removed):]
    return added + name if added else name


# ------------------------------------------------------------------------- layers and heads


def last_linear(model: nn.Module, n_classes: int | None = None) -> str:
    """Name of the model's last ``nn.Linear`` (the default representation layer): with
    ``n_classes``, the last one with that many outputs (or one, a sigmoid binary classifier's
    logit, on a two-class run) where there is one, so that an auxiliary output defined after
    the classifier (``self.aux = nn.Linear(h, 1)``) is not taken for it."""
    if isinstance(model, nn.Linear):  # a linear classifier: no layer inside it to cut at
        raise ValueError(
            "the model is a single nn.Linear (a linear classifier of its inputs), so it has no "
            "representation layer inside; record its inputs as the representation: "
            "run.record(model, feature_fn=lambda x: x.flatten(1), head_fn=model)")
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    names = [n for n, _ in linears]
    if n_classes is not None:
        classifiers = [n for n, m in linears if m.out_features == n_classes
                       or (n_classes == 2 and m.out_features == 1)]
        if classifiers:
            return classifiers[-1]
    if not names:
        raise ValueError(
            "the model has no nn.Linear layer, so there is no default representation layer; "
            "pass layer='<module name>' or feature_fn=/head_fn= callables. Modules: "
            + ", ".join(repr(n) for n, _ in model.named_modules() if n)
        )
    return names[-1]


def get_layer(model: nn.Module, layer: str) -> nn.Module:
    """The submodule called ``layer``; an unknown name lists the valid ones."""
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        valid = ", ".join(repr(n) for n in modules if n)
        raise ValueError(f"layer={layer!r} is not a module of this model. Valid names: {valid}")
    return modules[layer]


def head_names(model: nn.Module, layer: str) -> list[str]:
    """Module names of the head: the named layer, then what follows it inside enclosing
    ``nn.Sequential`` containers (their forward order is known; other containers' is not)."""
    names = [layer]
    parts = layer.split(".")
    while len(parts) > 1:
        parent_name, child = ".".join(parts[:-1]), parts[-1]
        parent = model.get_submodule(parent_name)
        if not isinstance(parent, nn.Sequential):
            break
        keys = list(parent._modules)
        names += [f"{parent_name}.{k}" for k in keys[keys.index(child) + 1 :]]
        parts = parts[:-1]
    if len(parts) == 1 and isinstance(model, nn.Sequential):
        keys = list(model._modules)
        names += keys[keys.index(parts[0]) + 1 :]
    return names


def flatten_sequential(modules: Iterable[nn.Module]) -> list[nn.Module]:
    """The leaves of nested ``nn.Sequential`` containers, in forward order (a network rebuilt
    from a run's stored graph marks its former containers with ``original_type``)."""
    out: list[nn.Module] = []
    for m in modules:
        if isinstance(m, nn.Sequential):
            out += flatten_sequential(m)
        elif getattr(m, "original_type", None) == "Sequential":
            out += flatten_sequential(m.children())
        else:
            out.append(m)
    return out


def head_spec(head: nn.Module) -> list[dict[str, Any]] | None:
    """A JSON description of a head made of Linear + parameter-free layers, or None."""
    spec: list[dict[str, Any]] = []
    for m in flatten_sequential([head]):
        kind = type(m).__name__
        if type(m) is nn.Linear:
            spec.append({"type": "Linear", "in_features": m.in_features,
                         "out_features": m.out_features, "bias": m.bias is not None})
        elif kind in SPEC_MODULES and type(m) is getattr(nn, kind):
            if any(True for _ in m.parameters()) or any(True for _ in m.buffers()):
                return None
            spec.append({"type": kind, **{a: getattr(m, a) for a in SPEC_MODULES[kind]}})
        else:
            return None
    return spec


def head_from_spec(spec: list[dict[str, Any]]) -> nn.Sequential:
    """Rebuild (untrained) the head that :func:`head_spec` described."""
    layers: list[nn.Module] = []
    for item in spec:
        kind = item["type"]
        args = {k: v for k, v in item.items() if k != "type"}
        if kind == "Linear":
            layers.append(nn.Linear(args["in_features"], args["out_features"], bias=args["bias"]))
        elif kind in SPEC_MODULES:
            layers.append(getattr(nn, kind)(**args))
        else:
            raise ValueError(f"unknown head module type {kind!r} in the run folder")
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------- f and g


class FeatureModel(nn.Module):
    """``f_t``: runs the model until the input of ``layer`` and returns that input (float32).

    Inputs are cast to the model's dtype (a float64 or float16 model takes float32 inputs), or
    to int64 with ``token_ids`` (a model whose first layer looks up embeddings, see
    :func:`forward`);
    the forward pass is cut short right after the capture (nothing after the layer runs).
    Gradients flow, so boundary synthesis may differentiate through it.
    """

    def __init__(self, model: nn.Module, layer: str, token_ids: bool = False) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self.token_ids = token_ids
        self._captured: torch.Tensor | None = None
        get_layer(model, layer).register_forward_pre_hook(self._capture)

    def _capture(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._captured = args[0]
        raise _StopForward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = model_inputs(x, self.model, self.token_ids)
        self._captured = None
        with contextlib.suppress(_StopForward):
            self.model(x)
        if self._captured is None:
            raise RuntimeError(f"the model's forward never called layer {self.layer!r}")
        rep, self._captured = self._captured, None
        return rep.float()


@dataclass
class Cut:
    """Where a model is cut into ``f`` and ``g`` for one recording.

    ``layer`` is the layer whose input is the representation (None with ``feature_fn``);
    ``head`` maps representations to logits; ``head_module`` is that head as a flat
    ``nn.Sequential`` when it is a module (then its weights are stored), ``head_names`` the
    model's module names it was taken from; ``verify`` asks to check ``head(rep)`` against
    the model's own output (a head found by layer, not given by the user).
    """

    model: nn.Module | None
    layer: str | None
    feature_fn: TensorFn | None
    head: TensorFn
    head_module: nn.Sequential | None
    head_names: list[str] | None
    verify: bool

    @property
    def head_kind(self) -> str:
        """``"layer"`` (cut at a layer), ``"module"`` (a head_fn module) or ``"callable"``."""
        if self.head_module is None:
            return "callable"
        return "layer" if self.head_names is not None else "module"

    def modules(self) -> list[nn.Module]:
        """Every module whose train/eval mode a recording touches."""
        return [m for root in (self.model, self.head_module) if root is not None
                for m in root.modules()]


def cut(
    model: nn.Module | None,
    layer: str | None = None,
    feature_fn: TensorFn | None = None,
    head_fn: TensorFn | None = None,
    n_classes: int | None = None,
) -> Cut:
    """Cut ``model`` at ``layer`` (default: its last ``nn.Linear``, with ``n_classes`` the last
    with as many outputs, :func:`last_linear`), or use the callables given.

    The head is the layer followed by the modules after it in enclosing ``nn.Sequential``
    containers; a ``head_fn`` replaces it, a ``feature_fn`` replaces the layer hook.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or None, got {type(model)!r}")
    if model is None and (feature_fn is None or head_fn is None):
        raise ValueError("model=None needs both feature_fn and head_fn")
    if isinstance(model, torch.jit.ScriptModule) and (feature_fn is None or head_fn is None):
        raise TypeError("a TorchScript module (torch.jit.script / trace) hides its layers, so "
                        "it cannot be cut into f and g; record the eager nn.Module it was made "
                        "from, or pass feature_fn= and head_fn=")
    layer_name = None
    if head_fn is None or feature_fn is None:
        layer_name = layer if layer is not None else last_linear(model, n_classes)
        get_layer(model, layer_name)  # clear error for unknown names
    if head_fn is None:
        names = head_names(model, layer_name)
        # a trailing Softmax / LogSoftmax / Sigmoid turns the logits into (log-)probabilities:
        # g stops before it, and the model's output is checked as that function of g's logits
        while len(names) > 1 and isinstance(model.get_submodule(names[-1]), NORMALISERS):
            names.pop()
        head_module = nn.Sequential(*flatten_sequential(model.get_submodule(n) for n in names))
        return Cut(model, layer_name, feature_fn, head_module, head_module, names, verify=True)
    head_module = (nn.Sequential(*flatten_sequential([head_fn]))  # stored flat, like a layer head
                   if isinstance(head_fn, nn.Module) else None)
    return Cut(model, layer_name if feature_fn is None else None, feature_fn, head_fn,
               head_module, None, verify=False)


class _LayerInput:
    """Collects the input of ``layer`` while :attr:`active` (during the model's own forward
    pass, not when the head runs the same module again); a copy, so that later in-place
    operations do not change it. With ``stop`` the forward pass ends right there."""

    def __init__(self, model: nn.Module, layer: str, stop: bool) -> None:
        self.tensors: list[torch.Tensor] = []
        self.active = False
        self.stop = stop
        self._hook = model.get_submodule(layer).register_forward_pre_hook(self._capture)

    def _capture(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        self.tensors.append(args[0].clone())
        if self.stop:
            raise _StopForward

    def run(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        """The model's output on ``x`` (None when the pass was stopped at the layer)."""
        self.tensors.clear()
        self.active = True
        try:
            return model(x)
        except _StopForward:
            return None
        finally:
            self.active = False

    def remove(self) -> None:
        self._hook.remove()


@dataclass
class BatchOut:
    """One batch of a recording: float32 representations and logits on the device, how far
    ``head(representations)`` was from the model's own output (0 when not verified), whether
    the inputs were fed as int64 token ids, and whether a single logit became ``(0, z)``."""

    representations: torch.Tensor
    logits: torch.Tensor
    head_error: float
    token_ids: bool = False
    single_logit: bool = False


@torch.no_grad()
def forward(
    c: Cut, x: np.ndarray, device: torch.device, batch_size: int, epoch: int,
    token_ids: bool | None = None,
) -> Iterator[BatchOut]:
    """The batched forward pass of a recording over inputs ``x`` (n, *input_shape).

    Inputs are cast to the model's dtype (float64 and float16 models record as they run);
    representations and logits come out as float32; a single logit ``z`` (a sigmoid binary
    classifier) comes out as ``(0, z)`` (``BatchOut.single_logit``). Inputs that hold whole
    numbers only, on which the model fails as floats (its first layer looks up embeddings: an
    ``nn.Embedding`` of token ids), are fed as int64 instead (``BatchOut.token_ids``), as is a
    model that says so (``takes_token_ids``, the transformers integration's wrapper); any other
    failure of the model on the first batch is re-raised in the run's terms. Non-finite
    values, a layer that runs more or less than once, wrong shapes and a head that does not
    reproduce the model's output raise ``ValueError`` naming the fix. ``epoch`` only serves
    the messages. ``token_ids``: None finds it out on the first batch; True / False as another
    split of the same recording found.
    """
    network = c.model if c.model is not None else c.feature_fn
    probe = token_ids is None
    token_ids = bool(token_ids) or bool(getattr(network, "takes_token_ids", False))
    hook = None if c.feature_fn is not None else _LayerInput(c.model, c.layer, not c.verify)
    first = True
    try:
        for _, (xb,) in row_batches(x, batch_size=batch_size, device=device):
            if first and probe and not token_ids:
                try:
                    out = _run(c, hook, model_inputs(xb, network, False))
                except (ValueError, TypeError):  # ours name their fix already
                    raise
                except Exception as as_floats:
                    if not _whole_numbers(xb):
                        raise _model_failed(as_floats, xb, epoch) from as_floats
                    try:  # whole numbers that fail as floats: token ids?
                        out = _run(c, hook, model_inputs(xb, network, True))
                    except Exception:
                        raise _model_failed(as_floats, xb, epoch) from as_floats
                    token_ids = True
            else:
                out = _run(c, hook, model_inputs(xb, network, token_ids))
            first = False
            rep, out_model = out
            batch = _check_batch(c, xb, rep, out_model, epoch)
            batch.token_ids = token_ids
            if batch.logits.shape[1] == 1:  # a sigmoid binary classifier: logits (0, z)
                batch.logits, batch.single_logit = TwoClassLogits()(batch.logits), True
            yield batch
    finally:
        if hook is not None:
            hook.remove()


def _run(c: Cut, hook: _LayerInput | None, xb: torch.Tensor) -> tuple[object, object]:
    """The representation of one batch and the model's output (None when not verified)."""
    if hook is None:
        rep = c.feature_fn(xb)
        return rep, (c.model(xb) if c.verify and c.model is not None else None)
    out_model = hook.run(c.model, xb)
    if len(hook.tensors) != 1:
        raise ValueError(
            f"layer {c.layer!r} was called {len(hook.tensors)} times in one forward pass; name "
            "a layer that runs exactly once, or pass feature_fn/head_fn"
        )
    return hook.tensors[0], out_model


def _model_failed(err: Exception, xb: torch.Tensor, epoch: int) -> RuntimeError:
    """The model's own error on the first batch, said in terms of the run's inputs."""
    shape = tuple(xb.shape[1:])
    hint = ("store them in the layout and scale the model takes (the run feeds them as "
            "stored)")
    if image_layout(shape) == "HWC":
        hint = ("they look channels-last (H, W, C): store them channels-first for a torch "
                "model, e.g. x.transpose(0, 3, 1, 2)")
    return RuntimeError(f"epoch {epoch}: the model failed on the run's inputs, each shaped "
                        f"{shape}; {hint}. The model said: {str(err).strip()[:400]}")


def _whole_numbers(x: torch.Tensor) -> bool:
    return bool(((x >= 0) & (x == x.round())).all()) if x.is_floating_point() else True


def _check_batch(
    c: Cut, xb: torch.Tensor, rep: object, out_model: object, epoch: int
) -> BatchOut:
    if not isinstance(rep, torch.Tensor):
        raise TypeError(f"the representation must be a tensor, got {type(rep)!r}")
    if rep.ndim != 2:
        raise ValueError(
            f"the representation at layer {c.layer!r} has shape {tuple(rep.shape)}; it must be "
            "(batch, features). Name a layer whose input is a flat vector (e.g. the nn.Linear "
            "after a Flatten) or pass feature_fn"
        )
    if len(rep) != len(xb):
        raise ValueError(f"feature_fn returned {len(rep)} rows for a batch of {len(xb)} inputs")
    diverged = "the model has diverged or the inputs are not finite. Nothing was written."
    check_finite(rep, f"epoch {epoch}: the batch of representations", diverged)
    logit = c.head(rep)
    if not isinstance(logit, torch.Tensor) or logit.ndim != 2:
        raise ValueError(
            "the head must return a (batch, classes) logits tensor, got "
            f"{getattr(logit, 'shape', type(logit))}"
        )
    check_finite(logit, f"epoch {epoch}: the batch of logits", diverged)
    error = 0.0
    if c.verify:
        candidates = _output_tensors(out_model)
        if not candidates:
            raise TypeError(
                f"the model returned {type(out_model).__name__} holding no tensor, not logits; "
                "pass head_fn= (representation -> logits)"
            )
        residuals = [r for r in (_residual(logit, out) for out in candidates) if r is not None]
        bound = HEAD_ATOL + HEAD_RTOL * logit.float().abs()  # as torch.allclose
        matched = [r for r in residuals if bool((r.abs() <= bound).all())]
        if not matched:
            differences = [d for d in (float(r.abs().max()) for r in residuals) if d == d]
            shapes = ", ".join(str(tuple(out.shape)) for out in candidates)
            raise ValueError(
                f"the head ({c.layer!r} and the modules after it) applied to the "
                f"representation does not reproduce the model's output (shapes "
                f"{tuple(logit.shape)} vs {shapes}, max difference "
                f"{min(differences, default=float('nan')):.3g}): the forward pass does more "
                "after that layer than the head captures. Pass head_fn= (representation -> "
                "logits) or a different layer="
            )
        error = float(matched[0].abs().max())
    return BatchOut(rep.float(), logit.float(), error)


def _output_tensors(out: object) -> list[torch.Tensor]:
    """The tensors a model's output holds that may be its logits: the output itself, a
    mapping's values (``"logits"`` first: a Hugging Face ``ModelOutput`` or a dict), a
    ``.logits`` attribute, or a tuple's / list's tensors (``(logits, features)``)."""
    if isinstance(out, torch.Tensor):
        # a sigmoid binary classifier often squeezes its one logit: (n,) is (n, 1)
        return [out[:, None] if out.ndim == 1 else out]
    if isinstance(out, Mapping):
        values = [out["logits"]] if "logits" in out else []
        values += [v for k, v in out.items() if k != "logits"]
    elif isinstance(getattr(out, "logits", None), torch.Tensor):
        values = [out.logits]
    elif isinstance(out, tuple | list):
        values = list(out)
    else:
        values = []
    return [v for v in values if isinstance(v, torch.Tensor)]


def _as_logits(logit: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out`` brought to the head's logit scale when it holds probabilities of them: rows of
    ``softmax(logit)`` (a forward ending in ``F.softmax``), or ``sigmoid(logit)`` of a single
    logit; ``out`` itself otherwise. Probabilities are compared as such (their logarithm of an
    underflowed 0 would be -inf)."""
    if out.shape != logit.shape or out.min() < 0 or out.max() > 1:
        return out
    probs = torch.sigmoid(logit) if logit.shape[1] == 1 else torch.softmax(logit, dim=1)
    if logit.shape[1] > 1 and not torch.allclose(out.sum(dim=1), torch.ones_like(out[:, 0]),
                                                 atol=1e-3):
        return out
    if torch.allclose(probs.float(), out.float(), rtol=HEAD_RTOL, atol=HEAD_ATOL):
        return logit  # the same classifier: compare as equal
    return out


def _residual(logit: torch.Tensor, out: torch.Tensor) -> torch.Tensor | None:
    """``out - head(rep)`` on the logit scale, less a shift per row; None for another shape.

    A per-row shift is the same classifier: a forward ending in ``F.log_softmax`` (the
    PyTorch MNIST example) returns ``l - logsumexp(l)``, whose softmax, argmax, margins and
    Def. 2 gap are the head's (the head's logits are the ones recorded). One logit has no
    shift to remove (sigmoid(z + c) is not sigmoid(z))."""
    if out.shape != logit.shape:
        return None
    diff = _as_logits(logit, out).float() - logit.float()
    return diff - diff.mean(dim=1, keepdim=True) if diff.shape[1] > 1 else diff
