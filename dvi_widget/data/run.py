"""Recording a training run: the folder every later step reads (this module owns its format).

A classifier is split into a feature function ``f`` (input -> representation) and a head ``g``
(representation -> logits), as in DeepVisualInsight (section 4; the cutting is
:mod:`dvi_widget.data.classifier`). :class:`Run` stores, per epoch, the representations
``f_t(x)`` of every train and test sample, the logits ``g_t(f_t(x))``, the head's weights (so
``g_t`` can be rebuilt in a new kernel) and, when the inputs are stored, the full ``state_dict``
(so ``f_t`` can be rebuilt for boundary synthesis in input space).

Layout of a run folder (format version 1)::

    run.json                      format version, sample counts, class names, input shape
    labels.npy                    int64 (N,), train samples first, then test
    metadata/                     user columns, one .npy per column (no pickles)
    inputs_train.npy              float32 (n_train, *input_shape)   (when save_inputs=True)
    inputs_test.npy               float32 (n_test, *input_shape)
    epochs/0003/epoch.json        layer, head spec, rep_dim, accuracies
    epochs/0003/train_representations.npy   float32 (n_train, h)
    epochs/0003/test_representations.npy    float32 (n_test, h)
    epochs/0003/train_logits.npy  float32 (n_train, C)
    epochs/0003/test_logits.npy   float32 (n_test, C)
    epochs/0003/head.pt           the head's state_dict (tensors only)
    epochs/0003/state_dict.pt     the whole model's state_dict (when inputs are stored)

Every array is read back lazily with ``np.load(mmap_mode="r")``; a missing or damaged file
raises an error that names it and says what to re-record. A new run and each epoch are written
into a temporary folder (:func:`dvi_widget._io.staged_folder`) and moved into place only when
complete, so an error (NaN, a full disk, a wrong shape, a killed process) never leaves a
half-written run or epoch behind nor damages one recorded earlier; what a killed process left is
removed when the run is next opened. Files and folders get the user's umask.
"""

from __future__ import annotations

import copy
import glob as globlib
import json
import os
import pickle
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .._checks import as_array, check_finite, class_ids, float_inputs, resolve_class_names
from .._columns import decode_column, encode_column
from .._io import remove_stale_temporaries, staged_folder, write_json
from .._tensor import ArrayLike, batched, resolve_device, to_numpy
from .._version import __version__
from . import classifier
from .classifier import TensorFn
from .scalars import check_scalars, scalars_table

FORMAT_NAME = "dvi_widget.run"
FORMAT_VERSION = 1

Split = tuple[ArrayLike, ArrayLike]

_EPOCH_DIR = re.compile(r"^\d+$")
#: the fix for a damaged run-level file (labels, inputs, metadata: written once by create)
_RECREATE = ("this file is written once by Run.create: create the run again "
             "(Run.create(..., overwrite=True)) and re-record its epochs")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _load_npy(path: Path, fix: str, mmap: bool = True) -> np.ndarray:
    """Read an .npy file (memory-mapped by default); a missing or damaged file raises an
    error naming it and ending with ``fix``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} is damaged ({err}); {fix}") from None


def _load_tensors(path: Path, fix: str) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of a state_dict file, with the same errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text would suggest weights_only=False: not here
        why = "not a tensors-only torch file"
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        why = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    raise ValueError(f"{path} is damaged ({why}); {fix}")


def _epoch_from_name(path: str) -> int:
    digits = re.findall(r"\d+", Path(path).stem)
    if not digits:
        raise ValueError(
            f"cannot read an epoch number from the file name {path!r}; pass checkpoints as a "
            "dict {epoch: path}"
        )
    return int(digits[-1])


def _validate_metadata(
    metadata: pd.DataFrame | Mapping[str, Any] | None, n: int
) -> pd.DataFrame | None:
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
    reserved = {"split", "label", "class_name"} & {str(c) for c in df.columns}
    if reserved:
        raise ValueError(f"metadata columns {sorted(reserved)} are reserved; rename them")
    return df.reset_index(drop=True)


def _save_metadata(folder: Path, df: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One .npy per column (plus ``NNN.<part>.npy`` for categories and missing values); the
    entries for ``run.json``. See :mod:`dvi_widget._columns`."""
    if df is None:
        return []
    folder.mkdir(exist_ok=True)
    columns = []
    for i, (name, col) in enumerate(df.items()):
        entry, arrays = encode_column(col)
        for part, values in arrays.items():
            np.save(folder / (f"{i:03d}.{part}.npy" if part else f"{i:03d}.npy"), values,
                    allow_pickle=False)
        columns.append({"name": str(name), **entry, "file": f"{i:03d}.npy",
                        "parts": sorted(p for p in arrays if p)})
    return columns


def _checkpoint_files(
    checkpoints: str | Path | Iterable[str | Path] | Mapping[int, str | Path],
) -> dict[int, str]:
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


def _check_target(path: Path, overwrite: bool) -> None:
    """Refuse to create a run where it would clobber something, before anything is written."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"run path {path} exists and is a file; choose a folder path")
    if path.is_dir() and any(path.iterdir()):
        if not (path / "run.json").exists():
            raise FileExistsError(
                f"{path} is a non-empty folder that is not a run folder; refusing to write "
                "into it. Choose a new or empty folder."
            )
        if not overwrite:
            raise FileExistsError(
                f"{path} already holds a run; reopen it with Run.open({str(path)!r}) or pass "
                "overwrite=True to replace it"
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


class _NewRun:
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
        if not isinstance(train, tuple | list) or len(train) != 2:
            raise TypeError("train must be an (x, y) pair (or a dvi_widget.Dataset)")
        self.x_train = float_inputs(train[0], "train[0] (x)")
        if len(self.x_train) == 0:
            raise ValueError("train has 0 samples; a run needs at least one training sample")
        y_train = class_ids(train[1], "train[1] (y)", len(self.x_train))
        if test is not None:
            if not isinstance(test, tuple | list) or len(test) != 2:
                raise TypeError("test must be an (x, y) pair or None")
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
        self.metadata = _validate_metadata(metadata, len(self.labels))

    def write(self, folder: Path, save_inputs: bool) -> dict[str, Any]:
        """Write the run's files into ``folder`` (a staged folder); return ``run.json``."""
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "written_by": f"dvi_widget {__version__}",
            "n_train": len(self.x_train),
            "n_test": len(self.x_test),
            "class_names": self.class_names,
            "input_shape": list(self.x_train.shape[1:]),
            "inputs_saved": bool(save_inputs),
            "metadata_columns": [],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            np.save(folder / "labels.npy", self.labels)
            meta["metadata_columns"] = _save_metadata(folder / "metadata", self.metadata)
            if save_inputs:
                np.save(folder / "inputs_train.npy", self.x_train)
                np.save(folder / "inputs_test.npy", self.x_test)
            (folder / "epochs").mkdir(exist_ok=True)
            write_json(folder / "run.json", meta)
        except OSError as err:
            raise PermissionError(f"could not write the run folder: {err}") from err
        return meta


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


class Run:
    """A recorded training run on disk: per-epoch representations, logits and heads.

    Build one with :meth:`create` (then :meth:`record` once per epoch from a training loop),
    :meth:`from_checkpoints`, or reopen one with :meth:`open`.

    Attributes
    ----------
    path : Path
    epochs : list[int]              recorded epochs, sorted (read from the folder)
    n_train, n_test, n_samples : int
    n_classes : int
    class_names : list[str]
    rep_dim : int | None            representation width (None before the first record)
    input_shape : tuple | None      shape of one input (None when inputs were not stored)
    has_model : bool                whether a model architecture is attached (feature_model)
    """

    def __init__(self, path: str | Path, *, _meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self._meta = _meta
        self._model: nn.Module | None = None
        self._live_inputs: tuple[np.ndarray, np.ndarray | None] | None = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        train: Split | Any,  # noqa: ANN401 - a (x, y) pair or a dvi_widget.Dataset
        test: Split | None = None,
        class_names: list[str] | None = None,
        n_classes: int | None = None,
        metadata: pd.DataFrame | Mapping[str, Any] | None = None,
        save_inputs: bool = True,
        overwrite: bool = False,
    ) -> Run:
        """Start a new run folder, storing labels, splits, metadata and (optionally) inputs.

        Parameters
        ----------
        path : folder to create (must not exist or be empty, unless ``overwrite=True`` and it
            is a run folder; the old run is replaced only once the new one is written).
        train, test : ``(x, y)`` pairs; x of shape (n, *input_shape), converted to float32 as
            given (this is what :meth:`record` feeds the model), y integer class ids.
            ``train`` may also be a :class:`dvi_widget.Dataset` (then ``test`` and
            ``class_names`` come from it).
        class_names : one name per class; default ``"0" .. str(n_classes - 1)``.
        n_classes : the number of classes when ``class_names`` is not given; default
            ``max(label) + 1``, which is refused when it is far above the number of distinct
            labels (a stray label would make many empty classes).
        metadata : DataFrame or dict of columns with ``n_train + n_test`` rows (train first).
        save_inputs : store the inputs (float32) so that ``f_t`` can be rebuilt for boundary
            synthesis in input space, and so that the run can be re-recorded after reopening.
        overwrite : replace an existing run folder at ``path``.
        """
        new = _NewRun(train, test, class_names, n_classes, metadata)
        path = Path(path)
        _check_target(path, overwrite)
        with staged_folder(path) as tmp:
            meta = new.write(tmp, save_inputs)
        run = cls(path, _meta=meta)
        run._live_inputs = (new.x_train, new.x_test)
        return run

    @classmethod
    def open(cls, path: str | Path, model: nn.Module | None = None) -> Run:
        """Reopen a run folder (for example in a new kernel), read-only folders included.

        ``model`` (optional) attaches the architecture: then :meth:`feature_model` can rebuild
        ``f_t`` from each epoch's stored state_dict, and :meth:`head` can rebuild heads that are
        not plain Linear/Sequential stacks. Opening and reading write nothing, except that, when
        the folder is writable, what a killed recording left behind (temporary folders of a
        process that no longer runs) is removed.
        """
        path = Path(path)
        meta_file = path / "run.json"
        if not meta_file.exists():
            raise FileNotFoundError(
                f"{path} is not a run folder (no run.json); create one with Run.create(...)"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{meta_file} is not valid JSON ({err}); {_RECREATE}") from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(f"{meta_file} does not describe a dvi_widget run folder")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"run folder {path} has format version {version!r}, but this dvi_widget reads "
                f"format version {FORMAT_VERSION}; re-record the run with this version (or "
                "install the dvi_widget version that wrote it)"
            )
        remove_stale_temporaries(path / "epochs")
        run = cls(path, _meta=meta)
        if model is not None:
            if not isinstance(model, nn.Module):
                raise TypeError(f"model must be a torch.nn.Module, got {type(model)!r}")
            run._model = model
        return run

    @classmethod
    def from_checkpoints(
        cls,
        path: str | Path,
        checkpoints: str | Iterable[str | Path] | Mapping[int, str | Path],
        model: nn.Module | Callable[[], nn.Module],
        *,
        train: Split | Any,  # noqa: ANN401 - (x, y) or a Dataset
        test: Split | None = None,
        class_names: list[str] | None = None,
        n_classes: int | None = None,
        metadata: pd.DataFrame | Mapping[str, Any] | None = None,
        layer: str | None = None,
        feature_fn: TensorFn | None = None,
        head_fn: TensorFn | None = None,
        save_inputs: bool = True,
        device: str | torch.device = "auto",
        batch_size: int = 512,
        overwrite: bool = False,
        quiet: bool = False,
    ) -> Run:
        """Build a run from per-epoch checkpoints (state_dicts) and the model architecture.

        The whole run is written into a temporary folder and moved to ``path`` only when every
        checkpoint is recorded: a failure leaves nothing behind (a retry starts afresh).

        Parameters
        ----------
        checkpoints : a glob pattern (``"ckpt/epoch_*.pt"``), a list of files, or a dict
            ``{epoch: file}``. Without a dict the epoch is the last number in each file name.
            Files are read with ``torch.load(..., weights_only=True, map_location="cpu")`` and
            may hold a state_dict or a dict with a ``"state_dict"``/``"model_state_dict"`` entry.
        model : an ``nn.Module`` of the right architecture (its weights are not modified: a
            copy is loaded with each checkpoint), or a zero-argument factory returning one.
        Other arguments as in :meth:`create` and :meth:`record`; ``quiet`` hides the progress bar.
        """
        files = _checkpoint_files(checkpoints)
        if not isinstance(model, nn.Module):
            if not callable(model):
                raise TypeError("model must be an nn.Module or a factory returning one")
            model = model()
            if not isinstance(model, nn.Module):
                raise TypeError(f"the model factory returned {type(model)!r}, not an nn.Module")
        else:
            model = copy.deepcopy(model)
        if device != "auto":
            model = model.to(resolve_device(device))
        elif getattr(classifier.model_device(model), "type", "cpu") == "cpu":
            model = model.to(resolve_device("auto"))
        new = _NewRun(train, test, class_names, n_classes, metadata)
        path = Path(path)
        _check_target(path, overwrite)
        with staged_folder(path) as tmp:
            run = cls(tmp, _meta=new.write(tmp, save_inputs))
            run._live_inputs = (new.x_train, new.x_test)
            for epoch, file in tqdm(files.items(), desc="recording checkpoints", disable=quiet,
                                    unit="epoch"):
                state = classifier.state_dict_from_checkpoint(
                    _load_checkpoint(file), str(file))
                try:
                    model.load_state_dict(state)
                except RuntimeError as err:
                    raise ValueError(
                        f"checkpoint {file} does not fit the model architecture: {err}"
                    ) from None
                run.record(model, epoch, layer=layer, feature_fn=feature_fn, head_fn=head_fn,
                           device="auto", batch_size=batch_size)
        run.path = path
        return run

    # ---------------------------------------------------------------- properties

    @property
    def n_train(self) -> int:
        return int(self._meta["n_train"])

    @property
    def n_test(self) -> int:
        return int(self._meta["n_test"])

    @property
    def n_samples(self) -> int:
        return self.n_train + self.n_test

    @property
    def class_names(self) -> list[str]:
        return list(self._meta["class_names"])

    @property
    def n_classes(self) -> int:
        return len(self._meta["class_names"])

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        if not self._meta.get("inputs_saved") and self._live_inputs is None:
            return None
        return tuple(self._meta["input_shape"])

    @property
    def has_model(self) -> bool:
        return self._model is not None

    @property
    def epochs(self) -> list[int]:
        folder = self.path / "epochs"
        if not folder.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in folder.iterdir()
            if _EPOCH_DIR.match(p.name) and (p / "epoch.json").exists()
        )

    @property
    def rep_dim(self) -> int | None:
        epochs = self.epochs
        return int(self.epoch_info(epochs[0])["rep_dim"]) if epochs else None

    def __repr__(self) -> str:
        return (
            f"Run({str(self.path)!r}, epochs={self.epochs}, n_train={self.n_train}, "
            f"n_test={self.n_test}, n_classes={self.n_classes}, rep_dim={self.rep_dim})"
        )

    # ---------------------------------------------------------------- reading

    def _epoch_dir(self, epoch: int) -> Path:
        return self.path / "epochs" / f"{int(epoch):04d}"

    @staticmethod
    def _rerecord(epoch: int) -> str:
        """The fix for a missing or damaged file of one epoch."""
        return (f"re-record epoch {epoch}: run.record(model, {epoch}, overwrite=True) (or "
                "Run.from_checkpoints with that epoch's checkpoint)")

    def _check_epoch(self, epoch: int) -> Path:
        folder = self._epoch_dir(epoch)
        if not (folder / "epoch.json").exists():
            raise KeyError(f"epoch {epoch} is not recorded in {self.path}; epochs: {self.epochs}")
        return folder

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        """The epoch's small JSON record (layer, head kind, rep_dim, accuracies, ...)."""
        file = self._check_epoch(epoch) / "epoch.json"
        try:
            return json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{file} is damaged ({err}); {self._rerecord(epoch)}") from None

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        return split

    def labels(self, split: str = "train") -> np.ndarray:
        """Integer class ids, int64; ``"all"`` is train then test."""
        labels = _load_npy(self.path / "labels.npy", _RECREATE, mmap=False)
        return {"train": labels[: self.n_train], "test": labels[self.n_train :], "all": labels}[
            self._check_split(split)
        ]

    def splits(self) -> np.ndarray:
        """``"train"`` / ``"test"`` per global sample index, shape (N,)."""
        return np.array(["train"] * self.n_train + ["test"] * self.n_test, dtype=object)

    @property
    def metadata(self) -> pd.DataFrame:
        """N rows (index = global sample index): split, label, class_name and user columns."""
        labels = self.labels("all")
        df = pd.DataFrame(
            {
                "split": pd.Categorical(self.splits(), categories=["train", "test"]),
                "label": labels,
                "class_name": np.asarray(self.class_names, dtype=object)[labels],
            }
        )
        folder = self.path / "metadata"
        for col in self._meta.get("metadata_columns", []):
            stem = col["file"].removesuffix(".npy")
            arrays = {part: _load_npy(folder / (f"{stem}.{part}.npy" if part else col["file"]),
                                      _RECREATE, mmap=False)
                      for part in ("", *col.get("parts", ()))}
            df[col["name"]] = decode_column(col, arrays)
        df.index.name = "sample"
        return df

    def _epoch_array(self, epoch: int, kind: str, split: str) -> np.ndarray:
        folder = self._check_epoch(epoch)
        split = self._check_split(split)
        parts = [_load_npy(folder / f"{s}_{kind}.npy", self._rerecord(epoch))
                 for s in (("train", "test") if split == "all" else (split,))]
        return np.concatenate(parts) if split == "all" else parts[0]

    def representations(self, epoch: int, split: str = "train") -> np.ndarray:
        """float32 (n, h) representations ``f_t(x)``; a read-only memmap for train/test,
        an in-memory copy for ``"all"``."""
        return self._epoch_array(epoch, "representations", split)

    def logits(self, epoch: int, split: str = "train") -> np.ndarray:
        """float32 (n, C) logits ``g_t(f_t(x))`` (memmap for train/test)."""
        return self._epoch_array(epoch, "logits", split)

    def scalars(self) -> pd.DataFrame:
        """Training curves, one row per epoch: loss and accuracy (train, test) computed from the
        recorded logits, and the ``scalars`` given to :meth:`record` (see
        :func:`dvi_widget.data.scalars.scalars_table`)."""
        return scalars_table(self)

    def predictions(self, epoch: int, split: str = "train") -> np.ndarray:
        """int64 (n,) predicted class ids (argmax of the logits)."""
        return np.asarray(self.logits(epoch, split).argmax(axis=1), dtype=np.int64)

    def inputs(self, split: str = "train") -> np.ndarray | None:
        """Stored inputs (float32 memmap, (n, *input_shape)), or None when not saved."""
        split = self._check_split(split)
        if not self._meta.get("inputs_saved"):
            if self._live_inputs is None:
                return None
            tr, te = self._live_inputs
        else:
            tr = _load_npy(self.path / "inputs_train.npy", _RECREATE)
            te = _load_npy(self.path / "inputs_test.npy", _RECREATE)
        if split == "all":
            return np.concatenate([tr, te])
        return tr if split == "train" else te

    def state_dict(self, epoch: int) -> dict[str, torch.Tensor] | None:
        """The model's full state_dict at ``epoch`` (CPU tensors), or None if not stored."""
        if not self.epoch_info(epoch).get("has_state_dict"):
            return None
        return _load_tensors(self._epoch_dir(epoch) / "state_dict.pt", self._rerecord(epoch))

    def head(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module:
        """``g_t`` in eval mode: (n, h) float32 representations -> (n, C) float32 logits.

        Heads made of ``nn.Linear`` and parameter-free layers (ReLU, Tanh, Dropout, Softmax,
        ...) are rebuilt from the stored JSON spec and weights, without the user's code. Other
        heads need the model architecture: ``Run.open(path, model=...)``.
        """
        head_info = self.epoch_info(epoch)["head"]
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
        weights = _load_tensors(self._epoch_dir(epoch) / "head.pt", self._rerecord(epoch))
        if head_info.get("spec") is not None:
            module = classifier.head_from_spec(head_info["spec"])
            module.load_state_dict(weights)
        elif self._model is None:
            raise ValueError(
                f"epoch {epoch}'s head ({', '.join(head_info['modules'] or [])}) contains "
                "layers other than nn.Linear and parameter-free activations, so it cannot be "
                "rebuilt from the run folder alone; reopen with Run.open(path, "
                "model=YourModel()) so that the architecture is available"
            )
        else:
            try:
                parts = [copy.deepcopy(self._model.get_submodule(n))
                         for n in head_info["modules"]]
            except AttributeError as err:
                raise ValueError(
                    f"the attached model has no module {err}; attach the architecture the run "
                    "was recorded with"
                ) from None
            module = nn.Sequential(*classifier.flatten_sequential(parts))
            try:
                module.load_state_dict(weights)
            except RuntimeError as err:
                raise ValueError(
                    f"the attached model's head does not match epoch {epoch}'s head weights "
                    f"({err}); attach the architecture the run was recorded with"
                ) from None
        return module.to(dev).float().eval()

    def feature_model(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module | None:
        """``f_t``: inputs -> float32 representations (n, h), in eval mode, or None.

        Available when a model architecture is attached (the model passed to :meth:`record` /
        :meth:`from_checkpoints` in this session, or ``Run.open(path, model=...)``), the epoch's
        state_dict is stored and the representation was taken at a named layer (not a
        ``feature_fn`` callable). Otherwise None: boundary synthesis then works in
        representation space.
        """
        info = self.epoch_info(epoch)
        if self._model is None or info.get("layer") is None or not info.get("has_state_dict"):
            return None
        state = self.state_dict(epoch)
        model = copy.deepcopy(self._model).cpu()
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(
                f"the attached model does not match epoch {epoch}'s state_dict ({err}); attach "
                "the architecture the run was recorded with"
            ) from None
        return classifier.FeatureModel(model, info["layer"]).to(resolve_device(device)).eval()

    # ---------------------------------------------------------------- recording

    def _recording_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._live_inputs is not None:
            return self._live_inputs
        if self._meta.get("inputs_saved"):
            return (_load_npy(self.path / "inputs_train.npy", _RECREATE),
                    _load_npy(self.path / "inputs_test.npy", _RECREATE))
        raise ValueError(
            f"the run {self.path} was created with save_inputs=False and this Run object does "
            "not hold the inputs; record from the Run returned by Run.create, or use "
            "record_arrays(...)"
        )

    def _next_epoch(self, epoch: int | None) -> int:
        if epoch is None:
            epochs = self.epochs
            return epochs[-1] + 1 if epochs else 0
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer or None, got {epoch!r}")
        return int(epoch)

    def _check_writable(self, epoch: int, overwrite: bool) -> None:
        if (self._epoch_dir(epoch) / "epoch.json").exists() and not overwrite:
            raise FileExistsError(
                f"epoch {epoch} is already recorded in {self.path}; pass overwrite=True to "
                "replace it (or epoch=None to record the next epoch)"
            )
        folder = self.path / "epochs"
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise PermissionError(f"the run folder {folder} is not writable; nothing was recorded")

    def _check_consistency(self, epoch: int, rep_dim: int, n_classes: int) -> None:
        if n_classes != self.n_classes:
            raise ValueError(
                f"epoch {epoch}: the logits have {n_classes} columns but the run has "
                f"{self.n_classes} classes; pass {n_classes} class_names (or "
                f"n_classes={n_classes}) to Run.create, or check the head"
            )
        others = [e for e in self.epochs if e != epoch]
        if others:
            ref = int(self.epoch_info(others[0])["rep_dim"])
            if ref != rep_dim:
                raise ValueError(
                    f"epoch {epoch}: the representation has width {rep_dim} but earlier epochs "
                    f"({others[0]}) have width {ref}; record the same layer every epoch"
                )

    def record(
        self,
        model: nn.Module | None,
        epoch: int | None = None,
        *,
        layer: str | None = None,
        feature_fn: TensorFn | None = None,
        head_fn: TensorFn | None = None,
        device: str | torch.device = "auto",
        batch_size: int = 512,
        overwrite: bool = False,
        scalars: Mapping[str, float] | None = None,
    ) -> None:
        """Record one epoch: representations, logits and the head of ``model`` on all samples.

        Parameters
        ----------
        model : the classifier (any ``nn.Module``, float32, float64 or float16); it is put in
            eval mode for one batched forward pass under ``torch.no_grad`` and its training
            mode is restored afterwards. Inputs are cast to its dtype; representations and
            logits are stored as float32.
        epoch : epoch number; default: the last recorded epoch + 1 (0 for the first).
        layer : name (as in ``model.named_modules()``) of the layer whose *input* is the
            representation; default: the last ``nn.Linear``. The head ``g`` is that layer
            followed by the modules after it in enclosing ``nn.Sequential`` containers (for a
            typical classifier: just the last Linear). ``head(representation)`` is checked
            against the model's output once per call; if they differ, a ValueError asks for
            ``head_fn`` or another ``layer``.
        feature_fn : callable inputs -> representations, used instead of the layer hook.
        head_fn : callable representations -> logits, used instead of the layer; the logits
            are then ``head_fn(representations)``. An ``nn.Linear``/``nn.Sequential`` head_fn is
            stored so that ``head(epoch)`` can rebuild it.
        device : "auto" runs where the model's parameters are (so a model trained on the GPU
            is recorded on the GPU); another device runs a copy of the model there.
        batch_size : rows per forward pass.
        overwrite : replace an epoch that is already recorded (atomically).
        scalars : numbers of this epoch to keep with it, e.g. ``{"loss": running_loss, "lr":
            lr}``; read back by :meth:`scalars`, shown as training curves.
        """
        user_scalars = check_scalars(scalars)
        epoch = self._next_epoch(epoch)
        self._check_writable(epoch, overwrite)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        c = classifier.cut(model, layer, feature_fn, head_fn)
        x_train, x_test = self._recording_inputs()
        model_dev = classifier.model_device(model)
        if model is None and isinstance(feature_fn, nn.Module):
            model_dev = classifier.model_device(feature_fn)
        dev = (model_dev or resolve_device("auto")) if device == "auto" else resolve_device(device)
        if model is not None and model_dev is not None and model_dev != dev:
            c = classifier.cut(copy.deepcopy(model).to(dev), layer, feature_fn, head_fn)
        # every submodule's own mode, so that deliberately frozen parts stay as they were
        roots = [m for m in (model, c.model, c.head_module) if m is not None]
        modes = {m: m.training for root in roots for m in root.modules()}
        try:
            for root in roots:
                root.eval()
            with staged_folder(self._epoch_dir(epoch)) as tmp:
                stats = {split: self._write_split(tmp, split, x, c, dev, batch_size, epoch)
                         for split, x in (("train", x_train), ("test", x_test))}
                rep_dim, n_cls = stats["train"]["rep_dim"], stats["train"]["n_classes"]
                self._check_consistency(epoch, rep_dim, n_cls)
                head_info: dict[str, Any] = {"kind": c.head_kind, "spec": None,
                                             "modules": c.head_names}
                if c.head_module is not None:
                    torch.save(classifier.cpu_state(c.head_module), tmp / "head.pt")
                    head_info["spec"] = classifier.head_spec(c.head_module)
                has_state = bool(self._meta.get("inputs_saved")) and model is not None
                if has_state:
                    torch.save(classifier.cpu_state(model), tmp / "state_dict.pt")
                write_json(tmp / "epoch.json", {
                    "epoch": epoch,
                    "layer": c.layer if feature_fn is None else None,
                    "feature": "layer" if feature_fn is None else "feature_fn",
                    "head": head_info,
                    "rep_dim": rep_dim,
                    "n_classes": n_cls,
                    "has_state_dict": has_state,
                    **{f"{s}_accuracy": (st["correct"] / st["n"] if st["n"] else None)
                       for s, st in stats.items()},
                    "scalars": user_scalars,
                    "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                })
        finally:
            for m, mode in modes.items():
                m.training = mode
        if model is not None:
            self._model = model  # the architecture, for feature_model / head rebuilding

    def _write_split(
        self, out: Path, split: str, x: np.ndarray, c: classifier.Cut, dev: torch.device,
        batch_size: int, epoch: int,
    ) -> dict[str, Any]:
        """Stream one split's forward pass into ``{split}_representations.npy`` and
        ``{split}_logits.npy`` in ``out`` (never the whole split in RAM)."""
        n = len(x)
        labels = self.labels(split)
        files = {kind: out / f"{split}_{kind}.npy" for kind in ("representations", "logits")}
        if n == 0:  # an empty split: widths come from the train split
            widths = {kind: int(np.load(out / f"train_{kind}.npy", mmap_mode="r").shape[1])
                      for kind in files}
            for kind, file in files.items():
                np.save(file, np.zeros((0, widths[kind]), np.float32))
            return {"n": 0, "rep_dim": widths["representations"],
                    "n_classes": widths["logits"], "correct": 0}
        stores: dict[str, np.memmap] = {}
        start = correct = 0
        for batch in classifier.forward(c, x, dev, batch_size, epoch):
            values = {"representations": batch.representations, "logits": batch.logits}
            if not stores:
                stores = {kind: np.lib.format.open_memmap(
                    files[kind], mode="w+", dtype=np.float32, shape=(n, v.shape[1]))
                    for kind, v in values.items()}
            for kind, v in values.items():
                if v.shape[1] != stores[kind].shape[1]:
                    raise ValueError(f"the {kind} width changed between batches")
                stores[kind][start : start + len(v)] = to_numpy(v)
            stop = start + len(batch.logits)
            correct += int((to_numpy(batch.logits.argmax(1)) == labels[start:stop]).sum())
            start = stop
        for store in stores.values():
            store.flush()
        return {"n": n, "rep_dim": stores["representations"].shape[1],
                "n_classes": stores["logits"].shape[1], "correct": correct}

    def record_arrays(
        self,
        epoch: int | None = None,
        *,
        representations: tuple[ArrayLike, ArrayLike | None] | ArrayLike,
        logits: tuple[ArrayLike, ArrayLike | None] | ArrayLike | None = None,
        head: nn.Module | None = None,
        overwrite: bool = False,
        device: str | torch.device = "cpu",
        batch_size: int = 4096,
        scalars: Mapping[str, float] | None = None,
    ) -> None:
        """Record an epoch from precomputed arrays (train, test) instead of a model.

        ``representations`` is ``(train (n_train, h), test (n_test, h))`` (or one array of N
        rows, train first). ``logits`` likewise, or None to compute them with ``head`` (an
        ``nn.Module``, run in batches of ``batch_size``; a Linear/Sequential head is stored and
        rebuildable by :meth:`head`). ``scalars`` as in :meth:`record`.
        """
        user_scalars = check_scalars(scalars)
        epoch = self._next_epoch(epoch)
        self._check_writable(epoch, overwrite)
        rep_tr, rep_te = self._pair(representations, "representations")
        if logits is None:
            if head is None:
                raise ValueError("pass logits=(train, test) or a head module to compute them")
            dev = resolve_device(device)
            h = copy.deepcopy(head).to(dev).float().eval()
            logits = tuple(
                to_numpy(batched(h, a, batch_size=batch_size, device=dev)) if len(a) else
                np.zeros((0, self.n_classes), np.float32) for a in (rep_tr, rep_te)
            )
        log_tr, log_te = self._pair(logits, "logits")
        for what, a in (("representations", rep_tr), ("representations", rep_te),
                        ("logits", log_tr), ("logits", log_te)):
            check_finite(a, f"epoch {epoch}: the {what}", "nothing was written")
        self._check_consistency(epoch, rep_tr.shape[1], log_tr.shape[1])
        with staged_folder(self._epoch_dir(epoch)) as tmp:
            np.save(tmp / "train_representations.npy", rep_tr)
            np.save(tmp / "test_representations.npy", rep_te)
            np.save(tmp / "train_logits.npy", log_tr)
            np.save(tmp / "test_logits.npy", log_te)
            head_info: dict[str, Any] = {"kind": "none", "spec": None, "modules": None}
            if head is not None:
                flat = nn.Sequential(*classifier.flatten_sequential([head]))
                torch.save(classifier.cpu_state(flat), tmp / "head.pt")
                head_info = {"kind": "module", "spec": classifier.head_spec(head),
                             "modules": None}
            y_tr, y_te = self.labels("train"), self.labels("test")
            write_json(tmp / "epoch.json", {
                "epoch": epoch, "layer": None, "feature": "arrays", "head": head_info,
                "rep_dim": int(rep_tr.shape[1]), "n_classes": int(log_tr.shape[1]),
                "has_state_dict": False,
                "train_accuracy": float((log_tr.argmax(1) == y_tr).mean()),
                "test_accuracy": float((log_te.argmax(1) == y_te).mean()) if len(y_te) else None,
                "scalars": user_scalars,
                "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            })

    def _pair(self, value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
        """``(train, test)`` float32 arrays of ``record_arrays``, checked against the run."""
        if isinstance(value, tuple | list):
            if len(value) != 2:
                raise ValueError(f"{what} must be a (train, test) pair")
            tr = as_array(value[0], f"{what}[0]")
            te = (as_array(value[1], f"{what}[1]") if value[1] is not None
                  else np.zeros((0, tr.shape[1] if tr.ndim == 2 else 0), np.float32))
        else:
            arr = as_array(value, what)
            tr, te = arr[: self.n_train], arr[self.n_train :]
        for name, a, n in ((f"{what} (train)", tr, self.n_train),
                           (f"{what} (test)", te, self.n_test)):
            if a.ndim != 2:
                raise ValueError(f"{name} must be 2-D (n, width), got shape {a.shape}")
            if len(a) != n:
                raise ValueError(f"{name} has {len(a)} rows but the run has {n} samples")
        if tr.shape[1] != te.shape[1] and len(te):
            raise ValueError(f"{what}: train and test widths differ")
        return tr.astype(np.float32, copy=False), te.astype(np.float32, copy=False)


def _load_checkpoint(file: str) -> object:
    """A user's checkpoint file, read without running code from it."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"checkpoint {file} holds more than tensors and plain containers, so it is not "
            f"read (that could run code from it): {err}. Save checkpoints with "
            "torch.save(model.state_dict(), path)"
        ) from None
