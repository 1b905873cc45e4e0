"""Importing a run from per-epoch checkpoint files (state_dicts) and the model architecture.

:func:`from_checkpoints` creates the run in a staged folder and records every checkpoint into it
(:mod:`.record`); the run appears at its path only when every checkpoint is recorded. Files are
read with ``torch.load(weights_only=True)``: a checkpoint that holds more than tensors and plain
containers is refused, naming the file and how to save one that is read.

With ``executor="ray"`` the first checkpoint is recorded here (it fixes the representation
layer, the widths and the architecture file) and the others as Ray tasks, one epoch each, on the
workers' CPUs: each task writes its own epoch folder atomically into the same staged run folder,
so the folder must be on a path every worker sees (local disk on one node; a shared filesystem
on a cluster). The result equals the sequential recording (same files, same values).
"""

from __future__ import annotations

import copy
import glob as globlib
import json
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..._executors import check_executor, import_ray
from ..._io import staged_folder
from ..._tensor import resolve_device
from . import cut
from .folder import read_meta

#: how a user saves a checkpoint that is read
SAVE_HINT = "save checkpoints with torch.save(model.state_dict(), path)"

Checkpoints = str | Path | Iterable[str | Path] | Mapping[int, str | Path]


#: "epoch=3", "epoch_3", "Epoch-3", "epoch3" in a file name: Lightning's default
#: ("epoch=3-step=480.ckpt") names the step last
EPOCH_IN_NAME = re.compile(r"epoch[=_\-]?(\d+)", re.IGNORECASE)


#: a folder named for its checkpoint: the Hugging Face Trainer's "checkpoint-500" (a step)
FOLDER_NUMBER = re.compile(r"^(?:checkpoint|epoch|step)[=_\-]?(\d+)$", re.IGNORECASE)


def _trainer_epoch(state_file: Path) -> int | None:
    """The 0-based epoch that ended at a Hugging Face Trainer's checkpoint (its
    ``trainer_state.json`` "epoch", 1.0 after the first: 0, as the transformers integration's
    callback numbers it), or None: no such file, or saved mid-epoch (a fraction)."""
    try:
        epoch = json.loads(state_file.read_text()).get("epoch")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(epoch, int | float) or epoch < 1 or epoch != round(epoch):
        return None
    return round(epoch) - 1


def _epoch_from_name(path: str) -> int:
    """The number after "epoch" in the file's name; else, in a Hugging Face Trainer's
    checkpoint folder saved at the end of an epoch, that epoch (0-based, :func:`_trainer_epoch`);
    else the file name's last number, else the number of a folder named for its checkpoint
    (``checkpoint-500/model.safetensors``, a step)."""
    stem = Path(path).stem
    named = EPOCH_IN_NAME.search(stem)
    if named:
        return int(named.group(1))
    trainer = _trainer_epoch(Path(path).parent / "trainer_state.json")
    if trainer is not None:
        return trainer
    digits = re.findall(r"\d+", stem) or FOLDER_NUMBER.findall(Path(path).parent.name)
    if not digits:
        raise ValueError(
            f"cannot read an epoch number from the file name {path!r}; pass checkpoints as a "
            "dict {epoch: path}"
        )
    return int(digits[-1])


def checkpoint_files(checkpoints: Checkpoints) -> dict[int, str]:
    """``{epoch: file}`` sorted by epoch, from a glob pattern, a list of files (the epoch is
    read from each name, :func:`_epoch_from_name`) or a dict; every file must exist."""
    if isinstance(checkpoints, str | Path):
        pattern = str(checkpoints)
        matches = sorted(globlib.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"no checkpoint file matches {pattern!r}")
        checkpoints = matches
    if isinstance(checkpoints, Mapping):
        files = {int(e): str(f) for e, f in checkpoints.items()}
    else:
        files = {}
        for f in checkpoints:
            e = _epoch_from_name(str(f))
            if e in files:
                raise ValueError(
                    f"checkpoints {files[e]!r} and {str(f)!r} both give epoch {e}; pass a "
                    "dict {epoch: path}"
                )
            files[e] = str(f)
    if not files:
        raise ValueError("checkpoints is empty")
    for f in files.values():
        if not Path(f).is_file():
            raise FileNotFoundError(f"checkpoint file {f} does not exist")
    return dict(sorted(files.items()))


def _load_safetensors(file: str) -> dict[str, torch.Tensor]:
    """A ``.safetensors`` file's tensors (the Hugging Face Trainer's ``model.safetensors``): a
    format of tensors only, read without running anything."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise ImportError(f"checkpoint {file} is a .safetensors file, which needs the "
                          "safetensors package: pip install safetensors") from None
    try:
        return cut.state_dict_from_checkpoint(load_file(file, device="cpu"), str(file))
    except (SafetensorError, OSError) as err:
        why = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {file} cannot be read ({why}); {SAVE_HINT}") from None


def load_checkpoint(file: str) -> dict[str, torch.Tensor]:
    """The state_dict in a user's checkpoint file, read without running code from it.

    torch's refusal text (which suggests ``weights_only=False``, the step that would run an
    attacker's code) is not passed on.
    """
    if Path(file).suffix == ".safetensors":
        return _load_safetensors(file)
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"checkpoint {file} holds more than tensors and plain containers, so it is not "
            f"read (that could run code from it); {SAVE_HINT}"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        why = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {file} cannot be read ({why}); {SAVE_HINT}") from None
    return cut.state_dict_from_checkpoint(obj, str(file))


def _architecture(model: nn.Module | Callable[[], nn.Module], device: str | torch.device
                  ) -> nn.Module:
    """A private copy of ``model`` (or what the factory returns) on the recording device."""
    if not isinstance(model, nn.Module):
        if not callable(model):
            raise TypeError("model must be an nn.Module or a factory returning one")
        model = model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model factory returned {type(model)!r}, not an nn.Module")
    else:
        model = copy.deepcopy(model)
    model = cut.unwrap(model)[0]  # checkpoints hold the network's weights, whatever its wrapper
    if device != "auto":
        return model.to(resolve_device(device))
    if getattr(cut.model_device(model), "type", "cpu") == "cpu":
        return model.to(resolve_device("auto"))
    return model


def _record_checkpoint(run: object, model: nn.Module, epoch: int, file: str,
                       record: dict[str, object], device: str | torch.device = "auto") -> None:
    """Load checkpoint ``file`` into ``model`` and record it as ``epoch`` of ``run``."""
    state = cut.fit_state_dict_keys(load_checkpoint(file), model)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {file} does not fit the model architecture: {err}") from None
    run.record(model, epoch, device=device, **record)  # type: ignore[attr-defined]


def _record_task(run_class: type, folder: str, inputs: tuple[object, object] | None,
                 model: nn.Module | Callable[[], nn.Module], epoch: int, file: str,
                 record: dict[str, object]) -> int:
    """One Ray task: record checkpoint ``file`` as ``epoch`` of the run being built at
    ``folder``, on the worker's CPU with one torch thread (Ray gives a task one CPU)."""
    torch.set_num_threads(1)
    # not Run.open: that clears stale temporaries, and the other tasks' epochs are being staged
    run = run_class(Path(folder), _meta=read_meta(Path(folder)))
    run._live_inputs = inputs  # None when the run keeps them (read from the folder)
    _record_checkpoint(run, _architecture(model, "cpu"), epoch, file, record, device="cpu")
    return epoch


#: how long a failed Ray recording waits for its cancelled tasks to end (seconds)
CANCEL_WAIT_S = 60.0


def _record_on_ray(run_class: type, folder: Path, inputs: tuple[object, object] | None,
                   model: nn.Module | Callable[[], nn.Module], files: dict[int, str],
                   record: dict[str, object], quiet: bool) -> None:
    """Record ``files`` as Ray tasks (see the module doc); the first failure is raised naming
    its epoch and file, after the other tasks are cancelled."""
    ray = import_ray()
    task = ray.remote(num_cpus=1, max_retries=0)(_record_task)
    shared = ray.put(inputs), ray.put(model)
    pending = {task.remote(run_class, str(folder), shared[0], shared[1], e, f, record): e
               for e, f in files.items()}
    with tqdm(total=len(pending), desc="recording checkpoints (Ray)", disable=quiet,
              unit="epoch") as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            epoch = pending.pop(done[0])
            try:
                ray.get(done[0])
            except Exception as err:
                for ref in pending:
                    ray.cancel(ref)
                # the cancelled tasks end before the staged folder is removed: one still
                # running could otherwise write into it afterwards and leave it behind
                if pending:
                    ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_WAIT_S)
                cause = getattr(err, "cause", None) or err
                raise RuntimeError(f"epoch {epoch}: the Ray task recording {files[epoch]} failed: "
                                   f"{type(cause).__name__}: {cause}") from cause
            bar.update(1)


def from_checkpoints(
    run_class: type,
    path: Path,
    files: dict[int, str],
    model: nn.Module | Callable[[], nn.Module],
    new: object,
    *,
    save_inputs: bool,
    record: dict[str, object],
    device: str | torch.device,
    quiet: bool,
    dtype: str = "float32",
    executor: str | None = None,
) -> object:
    """Write ``new`` (a validated :class:`.record.NewRun`) to ``path`` with one epoch per
    checkpoint in ``files``; ``record`` holds :meth:`Run.record`'s keyword arguments;
    ``executor="ray"`` records all but the first as Ray tasks (see the module doc)."""
    executor = check_executor(executor, "each checkpoint recorded by a Ray task")
    factory = model
    model = _architecture(model, device)
    here = dict(list(files.items())[:1]) if executor == "ray" else files
    with staged_folder(path) as tmp:
        run = run_class(tmp, _meta=new.write(tmp, save_inputs, dtype))
        run._live_inputs = (new.x_train, new.x_test)
        for epoch, file in tqdm(here.items(), desc="recording checkpoints", disable=quiet,
                                unit="epoch"):
            _record_checkpoint(run, model, epoch, file, record)
        rest = {e: f for e, f in files.items() if e not in here}
        if rest:
            # the inputs travel to the workers only when the run does not keep them
            inputs = None if save_inputs else (new.x_train, new.x_test)
            _record_on_ray(run_class, tmp, inputs, factory, rest, record, quiet)
    run.path = path
    return run
