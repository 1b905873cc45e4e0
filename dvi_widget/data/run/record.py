"""Writing a run folder: a new run (:func:`create_files`) and one epoch (:func:`record`,
:func:`record_arrays`).

A new run and each epoch are written into a temporary folder (:func:`dvi_widget._io.staged_folder`)
and moved into place only when complete, so an error (NaN, a full disk, a wrong shape, a killed
process) never leaves a half-written run or epoch behind nor damages one recorded earlier. Arrays
are written with plain file writes after a free-space check (a full disk is an ``OSError`` naming
the file, never a ``SIGBUS`` through a memory map). An existing folder is replaced only when it is
a run folder exactly as the project wrote it (:func:`check_target`). Paths come from
:mod:`.folder`; the forward pass from :mod:`.cut`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import _io
from ..._checks import as_array, check_finite, class_ids, float_inputs, resolve_class_names
from ..._columns import encode_column
from ..._io import staged_folder, write_json
from ..._tensor import ArrayLike, batched, resolve_device, to_numpy
from ..._version import __version__
from ..scalars import check_scalars
from . import architecture, cut
from . import inside as _inside
from .folder import (
    EPOCH_JSON,
    EPOCHS,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEAD,
    LABELS,
    METADATA,
    REPRESENTATION_DTYPES,
    RUN_JSON,
    SPLITS,
    STATE_DICT,
    RunFolder,
    array_file,
    foreign_entries,
    inputs_file,
    is_run_meta,
    metadata_entry,
    metadata_files,
)
from .torch_data import class_names_of, is_torch_data, read_split

Split = tuple[ArrayLike, ArrayLike]


# ----------------------------------------------------------------------------- a new run


def _metadata(metadata: pd.DataFrame | Mapping[str, Any] | None, n: int) -> pd.DataFrame | None:
    if metadata is None:
        return None
    try:
        df = pd.DataFrame(metadata)
    except Exception as err:
        raise TypeError(f"metadata must be a DataFrame or a dict of columns: {err}") from err
    if len(df) != n:
        raise ValueError(
            f"metadata has {len(df)} rows but the run has n_train + n_test = {n} samples "
            "(train rows first, then test)"
        )
    names = [str(c) for c in df.columns]
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise ValueError(f"metadata columns {', '.join(map(repr, twice))} occur more than once "
                         "as text (e.g. 1 and '1'); give each column its own name")
    reserved = {"split", "label", "class_name"} & set(names)
    if reserved:
        raise ValueError(f"metadata columns {sorted(reserved)} are reserved; rename them")
    return df.reset_index(drop=True)


def _save_metadata(root: Path, df: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One .npy per column (plus ``NNN.<part>.npy`` for categories and missing values); the
    entries for ``run.json``. See :mod:`dvi_widget._columns`."""
    if df is None:
        return []
    (root / METADATA).mkdir(exist_ok=True)
    columns = []
    for i, (name, col) in enumerate(df.items()):
        entry, arrays = encode_column(col)
        column = {"name": str(name), **entry, "file": metadata_entry(i),
                  "parts": sorted(p for p in arrays if p)}
        for part, file in metadata_files(root, column).items():
            _io.save_npy(file, arrays[part])
        columns.append(column)
    return columns


def check_target(path: Path, overwrite: bool) -> None:
    """Refuse to create a run where it would clobber something, before anything is written.

    An existing folder is replaced (with ``overwrite=True``) only when its ``run.json`` carries
    the project's format marker and version and it holds nothing the project did not write.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"run path {path} exists and is a file; choose a folder path")
    if path.is_dir() and any(path.iterdir()):
        meta_file = path / RUN_JSON
        if not meta_file.exists():
            raise FileExistsError(
                f"{path} is a non-empty folder that is not a run folder; refusing to write "
                "into it. Choose a new or empty folder."
            )
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            meta = None
        if not is_run_meta(meta):
            raise FileExistsError(
                f"{path} holds a {RUN_JSON} not written by dvi_widget (no '{FORMAT_NAME}' format "
                "marker and version), so it is not replaced; choose a new or empty folder"
            )
        if not overwrite:
            raise FileExistsError(
                f"{path} already holds a run; reopen it with Run.open({str(path)!r}) or pass "
                "overwrite=True to replace it"
            )
        foreign = foreign_entries(path)
        if foreign:
            raise FileExistsError(
                f"{path} holds a run but also entries dvi_widget did not write: "
                f"{', '.join(foreign[:10])}{' ...' if len(foreign) > 10 else ''}; overwrite=True "
                "replaces only what the project wrote: move them out or choose another folder"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError) as err:
        raise NotADirectoryError(
            f"cannot create the run folder {path}: a parent is a file ({err}); choose a "
            "writable folder"
        ) from err
    except OSError as err:
        raise PermissionError(
            f"cannot create the run folder {path}: {err}; choose a writable folder"
        ) from err
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"the folder {path.parent} is not writable, so the run folder "
                              f"{path.name} cannot be created there; choose another folder")


class NewRun:
    """A new run's validated contents, before anything is written."""

    def __init__(
        self,
        train: Split | Any,  # noqa: ANN401 - a (x, y) pair or a dvi_widget.Dataset
        test: Split | None,
        class_names: list[str] | None,
        n_classes: int | None,
        metadata: pd.DataFrame | Mapping[str, Any] | None,
    ) -> None:
        if hasattr(train, "x_train") and hasattr(train, "y_train"):
            ds = train
            train = (ds.x_train, ds.y_train)
            if test is None and len(ds.y_test):
                test = (ds.x_test, ds.y_test)
            if class_names is None and n_classes is None:
                class_names = list(ds.class_names)
        if is_torch_data(train):
            if class_names is None and n_classes is None:
                class_names = class_names_of(train)
            train = read_split(train, "train")
        if test is not None and is_torch_data(test):
            test = read_split(test, "test")
        if not isinstance(train, tuple | list) or len(train) != 2:
            raise TypeError("train must be an (x, y) pair, a torch Dataset or DataLoader of "
                            f"(x, y) items, or a dvi_widget.Dataset; got {type(train).__name__}")
        self.x_train = float_inputs(train[0], "train[0] (x)")
        if len(self.x_train) == 0:
            raise ValueError("train has 0 samples; a run needs at least one training sample")
        y_train = class_ids(train[1], "train[1] (y)", len(self.x_train))
        if test is not None:
            if not isinstance(test, tuple | list) or len(test) != 2:
                raise TypeError("test must be an (x, y) pair, a torch Dataset or DataLoader "
                                f"of (x, y) items, or None; got {type(test).__name__}")
            self.x_test = float_inputs(test[0], "test[0] (x)")
            y_test = class_ids(test[1], "test[1] (y)", len(self.x_test))
            if self.x_test.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(
                    f"test inputs have shape {self.x_test.shape[1:]} per sample but train "
                    f"inputs have {self.x_train.shape[1:]}"
                )
        else:
            self.x_test = np.zeros((0, *self.x_train.shape[1:]), dtype=self.x_train.dtype)
            y_test = np.zeros(0, dtype=np.int64)
        self.labels = np.concatenate([y_train, y_test])
        self.class_names = resolve_class_names(self.labels, class_names, n_classes)
        self.metadata = _metadata(metadata, len(self.labels))

    def write(self, root: Path, save_inputs: bool, dtype: str = "float32") -> dict[str, Any]:
        """Write the run's files into ``root`` (a staged folder); return ``run.json``.
        ``dtype``: how every epoch's representations are stored (see :func:`check_dtype`)."""
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "written_by": f"dvi_widget {__version__}",
            "n_train": len(self.x_train),
            "n_test": len(self.x_test),
            "class_names": self.class_names,
            "input_shape": list(self.x_train.shape[1:]),
            "inputs_saved": bool(save_inputs),
            "representation_dtype": check_dtype(dtype),
            "metadata_columns": [],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if save_inputs:  # the largest files first: a full disk is found before the rest
            for split, x in zip(SPLITS, (self.x_train, self.x_test), strict=True):
                _io.save_npy(inputs_file(root, split), x)
        _io.save_npy(root / LABELS, self.labels)
        meta["metadata_columns"] = _save_metadata(root, self.metadata)
        (root / EPOCHS).mkdir(exist_ok=True)
        write_json(root / RUN_JSON, meta)
        return meta


def check_dtype(dtype: str) -> str:
    """The storage type of the representations: ``"float32"`` (default) or ``"float16"`` (half
    the disk and page cache; the engine computes in float32 either way). Logits stay float32:
    predictions and every measure built on them are exact."""
    name = str(np.dtype(dtype)) if isinstance(dtype, str | type | np.dtype) else repr(dtype)
    if name not in REPRESENTATION_DTYPES:
        raise ValueError(f"dtype={dtype!r}: representations are stored as one of "
                         f"{list(REPRESENTATION_DTYPES)}")
    return name


# ----------------------------------------------------------------------------- an epoch


def next_epoch(run: RunFolder, epoch: int | None) -> int:
    """``epoch`` checked, or the one after the last recorded (0 for the first)."""
    if epoch is None:
        epochs = run.epochs
        return epochs[-1] + 1 if epochs else 0
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer or None, got {epoch!r}")
    return int(epoch)


def check_writable(run: RunFolder, epoch: int, overwrite: bool) -> None:
    if (run._epoch_dir(epoch) / EPOCH_JSON).exists() and not overwrite:
        raise FileExistsError(
            f"epoch {epoch} is already recorded in {run.path}; pass overwrite=True to "
            "replace it (or epoch=None to record the next epoch)"
        )
    folder = run.path / EPOCHS
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise PermissionError(f"the run folder {folder} is not writable; nothing was recorded")


def _check_consistency(run: RunFolder, epoch: int, rep_dim: int, n_classes: int) -> None:
    if n_classes != run.n_classes:
        raise ValueError(
            f"epoch {epoch}: the logits have {n_classes} columns but the run has "
            f"{run.n_classes} classes; pass {n_classes} class_names (or "
            f"n_classes={n_classes}) to Run.create, or check the head"
        )
    others = [e for e in run.epochs if e != epoch]
    if others:
        ref = int(run.epoch_info(others[0])["rep_dim"])
        if ref != rep_dim:
            raise ValueError(
                f"epoch {epoch}: the representation has width {rep_dim} but earlier epochs "
                f"({others[0]}) have width {ref}; record the same layer every epoch"
            )


def _save_tensors(file: Path, module: nn.Module) -> None:
    """``torch.save`` of the module's CPU state_dict; a full disk names the file (torch's own
    error speaks of ``inline_container.cc``)."""
    state = cut.cpu_state(module)
    _io.check_free_space(file, sum(t.nbytes for t in state.values()) + 65536)
    try:
        torch.save(state, file)
    except (RuntimeError, OSError) as err:
        if isinstance(err, OSError):
            raise _io.no_space_error(file, err) from None
        raise OSError(f"could not write {file} ({str(err).strip().splitlines()[0][:200]}); "
                      "is the disk full? Nothing was recorded") from None


def _recorded(epoch: int, rest: dict[str, Any], user_scalars: dict[str, float]) -> dict[str, Any]:
    return {"epoch": epoch, **rest, "scalars": user_scalars,
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def record(
    run: Any,  # noqa: ANN401 - a Run
    model: nn.Module | None,
    epoch: int | None,
    *,
    layer: str | None,
    feature_fn: cut.TensorFn | None,
    head_fn: cut.TensorFn | None,
    device: str | torch.device,
    batch_size: int,
    overwrite: bool,
    scalars: Mapping[str, float] | None,
    gradients: _inside.GradientMonitor | None = None,
) -> None:
    """Record one epoch of ``model`` into ``run`` (see :meth:`dvi_widget.data.run.Run.record`)."""
    if gradients is not None and model is None:
        raise ValueError("gradients= needs the model itself (the monitor watches its parameters)")
    user_scalars = check_scalars(scalars)
    epoch = next_epoch(run, epoch)
    check_writable(run, epoch, overwrite)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    prefix = ""
    if model is not None:
        model, prefix = cut.unwrap(model)
        if prefix and layer is not None and layer.startswith(prefix):
            layer = layer[len(prefix):]
    c = cut.cut(model, layer, feature_fn, head_fn, run.n_classes)
    x_train, x_test = run._recording_inputs()
    model_dev = cut.model_device(model)
    if model is None and isinstance(feature_fn, nn.Module):
        model_dev = cut.model_device(feature_fn)
    dev = (model_dev or resolve_device("auto")) if device == "auto" else resolve_device(device)
    if model is not None and model_dev is not None and model_dev != dev:
        c = cut.cut(copy.deepcopy(model).to(dev), layer, feature_fn, head_fn, run.n_classes)
    # every submodule's own mode, so that deliberately frozen parts stay as they were
    roots = [m for m in (model, c.model, c.head_module) if m is not None]
    modes = {m: m.training for root in roots for m in root.modules()}
    try:
        for root in roots:
            root.eval()
        with staged_folder(run._epoch_dir(epoch)) as tmp:
            stats = {"train": _write_split(run, tmp, "train", x_train, c, dev, batch_size,
                                           epoch)}
            token_ids = stats["train"]["token_ids"]  # the test split is fed as the train split
            stats["test"] = _write_split(run, tmp, "test", x_test, c, dev, batch_size, epoch,
                                         token_ids)
            rep_dim, n_cls = stats["train"]["rep_dim"], stats["train"]["n_classes"]
            _check_consistency(run, epoch, rep_dim, n_cls)
            head_info: dict[str, Any] = {"kind": c.head_kind, "spec": None,
                                         "modules": c.head_names}
            if stats["train"]["single_logit"]:  # g's one logit z is recorded as (0, z)
                head_info["single_logit"] = True
            if c.head_module is not None:
                _save_tensors(tmp / HEAD, c.head_module)
                head_info["spec"] = cut.head_spec(c.head_module)
            has_state = bool(run._meta.get("inputs_saved")) and model is not None
            if has_state:
                _save_tensors(tmp / STATE_DICT, model)
            if gradients is not None:  # weights, gradients, probe activations (.inside owns them)
                _inside.write(tmp, c.model, gradients, x_train, dev, batch_size,
                              probe=_inside.run_probe(run, len(x_train)),
                              token_ids=token_ids, prefix=prefix)
            write_json(tmp / EPOCH_JSON, _recorded(epoch, {
                "layer": c.layer if feature_fn is None else None,
                "feature": "layer" if feature_fn is None else "feature_fn",
                "head": head_info,
                "rep_dim": rep_dim,
                "n_classes": n_cls,
                "has_state_dict": has_state,
                "token_ids": token_ids,
                **{f"{s}_accuracy": (st["correct"] / st["n"] if st["n"] else None)
                   for s, st in stats.items()},
            }, user_scalars))
    finally:
        for m, mode in modes.items():
            m.training = mode
    if has_state and model is not None:  # the network, once, so a reopened run explains
        architecture.save_once(run.path, model, x_train, token_ids)
    if model is not None:
        run._model = model  # the architecture, for feature_model / head rebuilding


def _write_split(
    run: RunFolder, out: Path, split: str, x: np.ndarray, c: cut.Cut, dev: torch.device,
    batch_size: int, epoch: int, token_ids: bool | None = None,
) -> dict[str, Any]:
    """Stream one split's forward pass into ``{split}_representations.npy`` and
    ``{split}_logits.npy`` in ``out`` (never the whole split in RAM); ``token_ids`` as
    :func:`cut.forward` takes it."""
    n = len(x)
    labels = run.labels(split)
    kinds = ("representations", "logits")
    files = {kind: array_file(out, split, kind) for kind in kinds}
    if n == 0:  # an empty split: widths come from the train split
        widths = {kind: int(np.load(array_file(out, "train", kind), mmap_mode="r").shape[1])
                  for kind in kinds}
        for kind, file in files.items():
            _io.save_npy(file, np.zeros((0, widths[kind]), np.float32 if kind == "logits"
                                        else run.representation_dtype))
        return {"n": 0, "rep_dim": widths["representations"],
                "n_classes": widths["logits"], "correct": 0}
    stored = {"representations": run.representation_dtype, "logits": np.float32}
    writers: dict[str, _io.NpyWriter] = {}
    start = correct = 0
    single_logit = False
    with contextlib.ExitStack() as stack:
        for batch in cut.forward(c, x, dev, batch_size, epoch, token_ids):
            token_ids, single_logit = batch.token_ids, batch.single_logit
            values = {"representations": batch.representations, "logits": batch.logits}
            if not writers:
                writers = {kind: stack.enter_context(_io.NpyWriter(
                    files[kind], (n, v.shape[1]), stored[kind])) for kind, v in values.items()}
            for kind, v in values.items():
                if v.shape[1] != writers[kind].shape[1]:
                    raise ValueError(f"the {kind} width changed between batches")
                writers[kind].write(to_numpy(v).astype(stored[kind], copy=False))
            stop = start + len(batch.logits)
            correct += int((to_numpy(batch.logits.argmax(1)) == labels[start:stop]).sum())
            start = stop
    return {"n": n, "rep_dim": writers["representations"].shape[1],
            "n_classes": writers["logits"].shape[1], "correct": correct,
            "token_ids": bool(token_ids), "single_logit": single_logit}


def record_arrays(
    run: Any,  # noqa: ANN401 - a Run
    epoch: int | None,
    *,
    representations: tuple[ArrayLike, ArrayLike | None] | ArrayLike,
    logits: tuple[ArrayLike, ArrayLike | None] | ArrayLike | None,
    head: nn.Module | None,
    overwrite: bool,
    device: str | torch.device,
    batch_size: int,
    scalars: Mapping[str, float] | None,
) -> None:
    """Record an epoch from arrays (see :meth:`dvi_widget.data.run.Run.record_arrays`)."""
    user_scalars = check_scalars(scalars)
    epoch = next_epoch(run, epoch)
    check_writable(run, epoch, overwrite)
    rep_tr, rep_te = _pair(run, representations, "representations")
    if logits is None:
        if head is None:
            raise ValueError("pass logits=(train, test) or a head module to compute them")
        dev = resolve_device(device)
        h = copy.deepcopy(head).to(dev).float().eval()
        logits = tuple(
            to_numpy(batched(h, a, batch_size=batch_size, device=dev)) if len(a) else
            np.zeros((0, run.n_classes), np.float32) for a in (rep_tr, rep_te)
        )
    logits, single_logit = _two_class_logits(run, logits)
    log_tr, log_te = _pair(run, logits, "logits")
    for what, a in (("representations", rep_tr), ("representations", rep_te),
                    ("logits", log_tr), ("logits", log_te)):
        check_finite(a, f"epoch {epoch}: the {what}", "nothing was written")
    _check_consistency(run, epoch, rep_tr.shape[1], log_tr.shape[1])
    with staged_folder(run._epoch_dir(epoch)) as tmp:
        for split, rep, log in (("train", rep_tr, log_tr), ("test", rep_te, log_te)):
            _io.save_npy(array_file(tmp, split, "representations"),
                         rep.astype(run.representation_dtype, copy=False))
            _io.save_npy(array_file(tmp, split, "logits"), log)
        head_info: dict[str, Any] = {"kind": "none", "spec": None, "modules": None}
        if head is not None:
            _save_tensors(tmp / HEAD, nn.Sequential(*cut.flatten_sequential([head])))
            head_info = {"kind": "module", "spec": cut.head_spec(head), "modules": None}
            if single_logit:  # its one logit z is recorded as (0, z)
                head_info["single_logit"] = True
        y_tr, y_te = run.labels("train"), run.labels("test")
        write_json(tmp / EPOCH_JSON, _recorded(epoch, {
            "layer": None, "feature": "arrays", "head": head_info,
            "rep_dim": int(rep_tr.shape[1]), "n_classes": int(log_tr.shape[1]),
            "has_state_dict": False,
            "train_accuracy": float((log_tr.argmax(1) == y_tr).mean()),
            "test_accuracy": float((log_te.argmax(1) == y_te).mean()) if len(y_te) else None,
        }, user_scalars))


def _two_class_logits(run: RunFolder, logits: Any) -> tuple[Any, bool]:  # noqa: ANN401
    """A sigmoid binary classifier's single logit ``z`` per sample (``(n, 1)`` or ``(n,)``, for
    the train and test splits or both in one array) on a two-class run, as the two-class logits
    ``(0, z)`` (:class:`cut.TwoClassLogits`), and whether they were; anything else as it came."""
    pair = isinstance(logits, tuple | list)
    parts = list(logits) if pair else [logits]
    arrays = [None if a is None else as_array(a, "logits") for a in parts]
    single = run.n_classes == 2 and all(
        a is None or len(a) == 0 or a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)
        for a in arrays)
    if not single:
        return logits, False
    two = [None if a is None else cut.TwoClassLogits()(
        torch.as_tensor(a.reshape(len(a), 1), dtype=torch.float32)).numpy() for a in arrays]
    return (tuple(two) if pair else two[0]), True


def _pair(run: RunFolder, value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
    """``(train, test)`` float32 arrays of ``record_arrays``, checked against the run."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{what} must be a (train, test) pair")
        tr = as_array(value[0], f"{what}[0]")
        te = (as_array(value[1], f"{what}[1]") if value[1] is not None
              else np.zeros((0, tr.shape[1] if tr.ndim == 2 else 0), np.float32))
    else:
        arr = as_array(value, what)
        tr, te = arr[: run.n_train], arr[run.n_train :]
    for name, a, n in ((f"{what} (train)", tr, run.n_train),
                       (f"{what} (test)", te, run.n_test)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, width), got shape {a.shape}")
        if len(a) != n:
            raise ValueError(f"{name} has {len(a)} rows but the run has {n} samples")
    if tr.shape[1] != te.shape[1] and len(te):
        raise ValueError(f"{what}: train and test widths differ")
    return tr.astype(np.float32, copy=False), te.astype(np.float32, copy=False)
