"""Importing a run from per-epoch checkpoint files (state_dicts) and the model architecture.

:func:`from_checkpoints` creates the run in a staged folder and records every checkpoint into it
(:mod:`.record`); the run appears at its path only when every checkpoint is recorded. Files are
read with ``torch.load(weights_only=True)``: a checkpoint that holds more than tensors and plain
containers is refused, naming the file and how to save one that is read.
"""

from __future__ import annotations

import copy
import glob as globlib
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..._io import staged_folder
from ..._tensor import resolve_device
from . import cut

#: how a user saves a checkpoint that is read
SAVE_HINT = "save checkpoints with torch.save(model.state_dict(), path)"

Checkpoints = str | Path | Iterable[str | Path] | Mapping[int, str | Path]


def _epoch_from_name(path: str) -> int:
    digits = re.findall(r"\d+", Path(path).stem)
    if not digits:
        raise ValueError(
            f"cannot read an epoch number from the file name {path!r}; pass checkpoints as a "
            "dict {epoch: path}"
        )
    return int(digits[-1])


def checkpoint_files(checkpoints: Checkpoints) -> dict[int, str]:
    """``{epoch: file}`` sorted by epoch, from a glob pattern, a list of files (the epoch is
    the last number in each name) or a dict; every file must exist."""
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


def load_checkpoint(file: str) -> dict[str, torch.Tensor]:
    """The state_dict in a user's checkpoint file, read without running code from it.

    torch's refusal text (which suggests ``weights_only=False``, the step that would run an
    attacker's code) is not passed on.
    """
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
    if device != "auto":
        return model.to(resolve_device(device))
    if getattr(cut.model_device(model), "type", "cpu") == "cpu":
        return model.to(resolve_device("auto"))
    return model


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
) -> object:
    """Write ``new`` (a validated :class:`.record.NewRun`) to ``path`` with one epoch per
    checkpoint in ``files``; ``record`` holds :meth:`Run.record`'s keyword arguments."""
    model = _architecture(model, device)
    with staged_folder(path) as tmp:
        run = run_class(tmp, _meta=new.write(tmp, save_inputs, dtype))
        run._live_inputs = (new.x_train, new.x_test)
        for epoch, file in tqdm(files.items(), desc="recording checkpoints", disable=quiet,
                                unit="epoch"):
            state = load_checkpoint(file)
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(
                    f"checkpoint {file} does not fit the model architecture: {err}"
                ) from None
            run.record(model, epoch, device="auto", **record)
    run.path = path
    return run
