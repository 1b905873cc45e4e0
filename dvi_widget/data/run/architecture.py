"""The run's architecture, stored once so that a reopened run explains without ``model=``.

A run keeps each epoch's ``state_dict``; this module keeps the network those weights belong to,
in ``architecture.json`` (and ``architecture.pt`` for tensor constants of the graph), written
once, at the first :meth:`~dvi_widget.data.run.Run.record` with a model. Two routes, tried in
this order:

``"torch.export"``
    The model (in eval mode, batch dimension dynamic) exported with :func:`torch.export.export`
    and its graph written in torch's own JSON schema (``torch._export.serde``) *without* its
    weights. Reopening rebuilds the :class:`~torch.export.ExportedProgram` from that JSON,
    unflattens it (:func:`torch.export.unflatten`: the original module names, so layers, heads
    and Grad-CAM find the modules they name) and loads each epoch's stored ``state_dict`` into it.

    Why not :func:`torch.export.save` / :func:`torch.export.load`: in torch 2.13,
    ``torch.export.load`` reads the ``.pt2`` archive's weights and constants with
    ``torch.load(weights_only=False)`` and ``pickle.loads`` (``torch/export/pt2_archive/
    _package.py``: ``_load_state_dict``, ``_load_constants``) and its docstring warns "uses
    pickle under the hood ... never load data from an untrusted source": a crafted file would
    run code. And torch's JSON deserializer itself is not safe on any input: symbolic shape
    expressions go through ``sympy.sympify`` (an ``eval``), and a node's target is resolved by
    ``getattr`` along any ``torch.…`` path (``torch.os.system`` resolves). So here the JSON is
    checked before torch sees it (:func:`_check_program`): every node target is an ATen
    operator (``torch.ops.aten.<op>.<overload>``) or ``_operator.getitem``, every expression is
    made only of shape symbols, integers, arithmetic and sympy's ``Symbol``/``Integer`` with
    their assumptions, and no extension operator or custom object appears. Weights come from
    the epoch's ``state_dict.pt`` and constants from ``architecture.pt``, both read with
    ``torch.load(weights_only=True)``. Nothing from the file is unpickled or executed.

``"import"``
    When export fails (data-dependent control flow, an unsupported operator), the class's
    import path and its constructor arguments, where they are known: a class constructed
    without arguments, a Lightning module's ``hparams``, or a Hugging Face model's ``config``.
    Policy: reopening never imports a module because a file names it. The class is used only
    when its module is *already imported* in the kernel (``import mypackage`` first: running
    your own installed package is your decision) and it is an ``nn.Module`` subclass; its
    constructor then gets the stored JSON arguments.

When neither works the file says why (``"kind": "none"``), and the error of a panel that
needs the model names what is missing and how to attach it (``Run.open(path, model=...)``,
which always takes precedence over the stored architecture).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import io
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import _io
from .folder import ARCHITECTURE, load_tensors

#: the architecture's description, and the tensor constants of the exported graph (a
#: state_dict of tensors; absent when there are none); the run folder knows both as its own
ARCH_JSON, ARCH_CONSTANTS = ARCHITECTURE
FORMAT = "dvi_widget.architecture"
VERSION = 1

_TARGET = re.compile(r"^(torch\.ops\.aten\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+|_operator\.getitem)$")
#: names an expression may use: shape symbols, sympy's constructors and assumptions
_EXPR_NAMES = frozenset({"Symbol", "Integer", "Rational", "Mul", "Add", "Pow", "Max", "Min",
                         "FloorDiv", "CeilDiv", "Mod", "PythonMod", "True", "False", "positive",
                         "integer", "real", "finite", "nonnegative", "negative", "oo"})
_EXPR_TOKEN = re.compile(r"\s+|\d+(\.\d+)?|'[su]\d+'|[A-Za-z_][A-Za-z0-9_]*|[-+*/(),=]")


def _expr_ok(text: str) -> bool:
    """Whether a sympy expression string holds only harmless tokens (it is ``eval``-ed)."""
    pos = 0
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if m is None:
            return False
        token = m.group(0)
        if (token[0].isalpha() or token[0] == "_") and token not in _EXPR_NAMES \
                and not re.fullmatch(r"[su]\d+", token):
            return False
        pos = m.end()
    return "__" not in text


def _check_program(program: Any, source: str) -> None:  # noqa: ANN401 - parsed JSON
    """Refuse a program whose JSON could make torch's deserializer run anything but ATen ops."""
    def walk(obj: Any, path: str) -> None:  # noqa: ANN401
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "target" and isinstance(value, str) and not _TARGET.match(value):
                    raise ValueError(f"{source}: the graph calls {value[:80]!r}, not an ATen "
                                     "operator; it is not loaded")
                if key == "expr_str" and (not isinstance(value, str) or not _expr_ok(value)):
                    raise ValueError(f"{source}: a shape expression {str(value)[:80]!r} is not "
                                     "plain arithmetic on shape symbols; it is not loaded")
                if key in ("as_custom_obj", "as_graph", "custom_obj_info") and value:
                    raise ValueError(f"{source}: the graph holds a {key}; it is not loaded")
                walk(value, f"{path}.{key}")
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                walk(value, f"{path}[{i}]")

    if not isinstance(program, dict) or "graph_module" not in program:
        raise ValueError(f"{source}: no exported graph")
    for name in program.get("range_constraints", {}) or {}:
        if not re.fullmatch(r"[su]\d+", str(name)):
            raise ValueError(f"{source}: a range constraint names {str(name)[:40]!r}")
    walk(program, "program")


# ----------------------------------------------------------------------------- writing


def _export(model: nn.Module, example: torch.Tensor) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's graph as JSON and its tensor constants; raises when it cannot be exported."""
    from torch._export.serde import serialize as serde
    from torch.export import Dim

    dynamic = ({0: Dim.DYNAMIC},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (example,), dynamic_shapes=dynamic, strict=False)
        artifact = serde.serialize(program)
    constants = dict(program.constants)
    if not all(isinstance(v, torch.Tensor) for v in constants.values()):
        raise ValueError("the graph holds non-tensor constants (script objects)")
    graph = json.loads(artifact.exported_program.decode("utf-8"))
    _check_program(graph, "the exported graph")  # what would be refused on reading
    return graph, {k: v.detach().cpu().clone() for k, v in constants.items()}


def _constructor(model: nn.Module) -> tuple[dict[str, Any], str] | None:
    """JSON constructor arguments of ``model``'s class where they are known, and their source."""
    cls = type(model)
    hparams = getattr(model, "hparams", None)
    if hparams is not None and hasattr(hparams, "items") and len(hparams):
        kwargs = dict(hparams.items())
        with contextlib.suppress(TypeError, ValueError):
            if json.loads(json.dumps(kwargs)) == kwargs:
                return kwargs, "hparams"
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict") and hasattr(cls, "config_class"):
        with contextlib.suppress(TypeError, ValueError):
            return {"config": json.loads(json.dumps(config.to_dict()))}, "config"
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
           for p in params):
        return {}, "no arguments"
    return None


def describe(model: nn.Module, example: torch.Tensor) -> tuple[dict[str, Any], dict[str, Any]]:
    """What :func:`save` writes for ``model`` (eval mode, ``example`` a batch of >= 2 inputs):
    the JSON record and the tensor constants."""
    cls = type(model)
    base = {"format": FORMAT, "format_version": VERSION, "torch_version": torch.__version__,
            "class": f"{cls.__module__}.{cls.__qualname__}"}
    try:
        graph, constants = _export(model, example)
    except Exception as err:  # noqa: BLE001 - any export failure falls back to the import path
        first = (str(err).strip().splitlines() or [""])[0][:200]
        why = f"torch.export failed: {type(err).__name__}: {first}"
    else:
        return {**base, "kind": "torch.export", "program": graph,
                "constants": sorted(constants)}, constants
    known = _constructor(model)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        why += f"; the class {cls.__qualname__} is defined in a notebook or script, not importable"
    elif known is None:
        why += f"; the constructor arguments of {cls.__qualname__} are not known"
    else:
        return {**base, "kind": "import", "module": cls.__module__, "qualname": cls.__qualname__,
                "kwargs": known[0], "kwargs_from": known[1], "export_error": why}, {}
    return {**base, "kind": "none", "reason": why}, {}


def stored(root: Path) -> bool:
    return (root / ARCH_JSON).is_file()


def save(root: Path, model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    """Write the architecture of ``model`` into the run folder ``root`` (atomically)."""
    record, constants = describe(model, example)
    if constants:
        buffer = io.BytesIO()
        torch.save(constants, buffer)
        _io.write_bytes(root / ARCH_CONSTANTS, buffer.getvalue())
    _io.write_json(root / ARCH_JSON, record)
    return record


def save_once(root: Path, model: nn.Module, inputs: Any,  # noqa: ANN401 - array
              token_ids: bool = False) -> None:
    """:func:`save` unless the run already stores an architecture; ``inputs`` are the run's
    (float32) inputs, two of which make the example batch (int64 with ``token_ids``)."""
    if stored(root) or len(inputs) == 0:
        return
    from .cut import model_device, model_inputs

    network = model
    if model_device(model) not in (None, torch.device("cpu")):
        network = copy.deepcopy(model).cpu()
    rows = [inputs[i % len(inputs)] for i in range(2)]
    example = model_inputs(torch.as_tensor(__import__("numpy").stack(rows)), network, token_ids)
    modes = {m: m.training for m in network.modules()}
    try:
        network.eval()
        save(root, network, example)
    finally:
        for m, mode in modes.items():
            m.training = mode


# ----------------------------------------------------------------------------- reading


def read(root: Path) -> dict[str, Any] | None:
    """The stored record (checked for its format marker), or None when none is stored."""
    file = root / ARCH_JSON
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{file} is damaged ({err}); reopen with Run.open(path, "
                         "model=YourModel())") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{file} was not written by dvi_widget; reopen with Run.open(path, "
                         "model=YourModel())")
    return record


def _tag_types(network: nn.Module, program: Any) -> None:  # noqa: ANN401 - ExportedProgram
    """Give each unflattened submodule the class name of the module it came from
    (``original_type``, e.g. ``"Conv2d"``), read from the graph's ``nn_module_stack``."""
    names: dict[str, str] = {}
    for node in program.graph.nodes:
        for fqn, kind in (node.meta.get("nn_module_stack") or {}).values():
            text = kind if isinstance(kind, str) else getattr(kind, "__qualname__", str(kind))
            names[str(fqn).replace("L['self'].", "").replace("L__self___", "")] = \
                text.rsplit(".", 1)[-1].strip("'>")
    for name, module in network.named_modules():
        if name in names:
            module.original_type = names[name]


def _from_export(root: Path, record: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    from torch._export.serde import schema
    from torch._export.serde import serialize as serde

    source = str(root / ARCH_JSON)
    program = record.get("program")
    _check_program(program, source)
    constants: dict[str, torch.Tensor] = {}
    if record.get("constants"):
        constants = load_tensors(root / ARCH_CONSTANTS, "reopen with Run.open(path, "
                                 "model=YourModel())")
        if sorted(constants) != sorted(record["constants"]):
            raise ValueError(f"{root / ARCH_CONSTANTS} does not hold the graph's constants")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = serde._dict_to_dataclass(schema.ExportedProgram, program)
        params = {spec.parameter.parameter_name
                  for spec in parsed.graph_module.signature.input_specs
                  if spec.type == "parameter"}
        weights = {k: nn.Parameter(v, requires_grad=v.is_floating_point()) if k in params else v
                   for k, v in state.items()}
        exported = serde.ExportedProgramDeserializer().deserialize(
            parsed, weights, constants, None)
        network = torch.export.unflatten(exported)
    _tag_types(network, exported)
    for module in network.modules():  # fake tensors in the graphs' metadata: not copyable
        graph = getattr(module, "graph", None)
        if isinstance(graph, torch.fx.Graph):
            for node in graph.nodes:
                node.meta.clear()
    return network


def _from_import(record: dict[str, Any]) -> nn.Module:
    module_name, qualname = str(record.get("module")), str(record.get("qualname"))
    if module_name not in sys.modules:
        raise ValueError(
            f"the run names the class {qualname} of the module {module_name}, which is not "
            f"imported in this kernel; nothing is imported because a file says so: run "
            f"`import {module_name.split('.')[0]}` first (or pass model=)")
    target: Any = importlib.import_module(module_name)  # already imported: no code runs
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise ValueError(f"{module_name}.{qualname} is not a torch.nn.Module class")
    kwargs = dict(record.get("kwargs") or {})
    if record.get("kwargs_from") == "config":
        kwargs["config"] = target.config_class(**kwargs["config"])
    return target(**kwargs)


def load(root: Path, state: dict[str, torch.Tensor]) -> nn.Module:
    """The stored architecture as a module carrying ``state`` (eval mode); ``ValueError``
    naming what is missing when there is none or it cannot be rebuilt."""
    record = read(root)
    if record is None:
        raise ValueError(
            f"the run {root} stores no architecture (recorded before dvi_widget stored one, or "
            "recorded without its inputs); reopen it with Run.open(path, model=YourModel())")
    kind = record.get("kind")
    fallback = "reopen it with Run.open(path, model=YourModel())"
    if kind in ("torch.export", "import"):
        try:
            network = (_from_export(root, record, state) if kind == "torch.export"
                       else _from_import(record))
        except ValueError as err:
            text = str(err)
            raise ValueError(text if "model=" in text else f"{text}; {fallback}") from None
    else:
        raise ValueError(
            f"the run {root} could not store its architecture when it was recorded "
            f"({record.get('reason', 'no reason given')}); reopen it with Run.open(path, "
            "model=YourModel())")
    network.load_state_dict(state)
    return network.eval()
