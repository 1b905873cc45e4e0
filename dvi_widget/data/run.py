"""Recording a training run: the folder every later step reads.

A classifier is split into a feature function ``f`` (input -> representation) and a head ``g``
(representation -> logits), as in DeepVisualInsight (section 4). :class:`Run` stores, per epoch,
the representations ``f_t(x)`` of every train and test sample, the logits ``g_t(f_t(x))``, the
head's weights (so ``g_t`` can be rebuilt in a new kernel) and, when the inputs are stored, the
full ``state_dict`` (so ``f_t`` can be rebuilt for boundary synthesis in input space).

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

Every array is read back lazily with ``np.load(mmap_mode="r")``. An epoch is written into a
temporary folder and renamed into place only when complete, so an error (NaN, a full disk, a
wrong shape) never leaves a half-written epoch behind nor damages one recorded earlier.
"""

from __future__ import annotations

import contextlib
import copy
import glob as globlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .._checks import class_ids
from .._tensor import resolve_device, to_numpy
from .._version import __version__
from .scalars import check_scalars, scalars_table

FORMAT_NAME = "dvi_widget.run"
FORMAT_VERSION = 1

ArrayLike = np.ndarray | torch.Tensor
Split = tuple[ArrayLike, ArrayLike]
TensorFn = Callable[[torch.Tensor], torch.Tensor]

# Parameter-free modules (besides nn.Linear) that a head may contain and still be rebuilt from a
# JSON spec without the user's code: name -> constructor arguments to keep.
_SPEC_MODULES: dict[str, tuple[str, ...]] = {
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

_EPOCH_DIR = re.compile(r"^\d+$")


class _StopForward(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a hook to end a forward pass once the representation has been captured."""


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _as_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x)!r}") from err


def _inputs_array(x: ArrayLike, name: str) -> np.ndarray:
    arr = _as_numpy(x, name)
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, *input_shape) with at least 2 dimensions, "
            f"got shape {arr.shape}"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    # stored and fed to the model as float32 exactly as given (no rescaling)
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf values; clean the inputs first")
    return arr


def _labels_array(y: ArrayLike, name: str, n: int) -> np.ndarray:
    return class_ids(_as_numpy(y, name), name, n)


def _load_npy(path: Path) -> np.ndarray:
    """Memory-map an .npy file (zero-size arrays cannot be mapped, so they are read)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the run folder is incomplete")
    arr = np.load(path, mmap_mode="r")
    return arr


def _write_json(path: Path, obj: Any) -> None:  # noqa: ANN401 - any JSON value
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _check_finite(arr: torch.Tensor, what: str, epoch: int) -> None:
    if not torch.isfinite(arr).all():
        n_bad = int((~torch.isfinite(arr)).any(dim=1).sum()) if arr.ndim > 1 else -1
        raise ValueError(
            f"epoch {epoch}: the {what} contain NaN or Inf values ({n_bad} samples in this "
            "batch); the model has diverged or the inputs are not finite. Nothing was written."
        )


def _last_linear(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(
            "the model has no nn.Linear layer, so there is no default representation layer; "
            "pass layer='<module name>' or feature_fn=/head_fn= callables. Modules: "
            + ", ".join(repr(n) for n, _ in model.named_modules() if n)
        )
    return names[-1]


def _get_layer(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        valid = ", ".join(repr(n) for n in modules if n)
        raise ValueError(f"layer={layer!r} is not a module of this model. Valid names: {valid}")
    return modules[layer]


def _head_names(model: nn.Module, layer: str) -> list[str]:
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


def _flatten_sequential(modules: Iterable[nn.Module]) -> list[nn.Module]:
    out: list[nn.Module] = []
    for m in modules:
        if isinstance(m, nn.Sequential):
            out += _flatten_sequential(m)
        else:
            out.append(m)
    return out


def _head_spec(head: nn.Module) -> list[dict[str, Any]] | None:
    """A JSON description of a head made of Linear + parameter-free layers, or None."""
    modules = _flatten_sequential([head])
    spec: list[dict[str, Any]] = []
    for m in modules:
        kind = type(m).__name__
        if type(m) is nn.Linear:
            spec.append({"type": "Linear", "in_features": m.in_features,
                         "out_features": m.out_features, "bias": m.bias is not None})
        elif kind in _SPEC_MODULES and type(m) is getattr(nn, kind):
            if any(True for _ in m.parameters()) or any(True for _ in m.buffers()):
                return None
            spec.append({"type": kind, **{a: getattr(m, a) for a in _SPEC_MODULES[kind]}})
        else:
            return None
    return spec


def _head_from_spec(spec: list[dict[str, Any]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for item in spec:
        kind = item["type"]
        args = {k: v for k, v in item.items() if k != "type"}
        if kind == "Linear":
            layers.append(nn.Linear(args["in_features"], args["out_features"], bias=args["bias"]))
        elif kind in _SPEC_MODULES:
            layers.append(getattr(nn, kind)(**args))
        else:
            raise ValueError(f"unknown head module type {kind!r} in the run folder")
    return nn.Sequential(*layers)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _model_device(model: nn.Module | None) -> torch.device | None:
    if model is None:
        return None
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


def _state_dict_from_checkpoint(obj: Any, source: str) -> dict[str, torch.Tensor]:  # noqa: ANN401
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


def _epoch_from_name(path: str) -> int:
    digits = re.findall(r"\d+", Path(path).stem)
    if not digits:
        raise ValueError(
            f"cannot read an epoch number from the file name {path!r}; pass checkpoints as a "
            "dict {epoch: path}"
        )
    return int(digits[-1])


class _FeatureModel(nn.Module):
    """``f_t``: runs the model until the input of ``layer`` and returns that input.

    The forward pass is cut short right after the capture (nothing after the layer runs);
    gradients flow, so boundary synthesis may differentiate through it.
    """

    def __init__(self, model: nn.Module, layer: str) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self._captured: torch.Tensor | None = None
        _get_layer(model, layer).register_forward_pre_hook(self._capture)

    def _capture(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._captured = args[0]
        raise _StopForward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._captured = None
        with contextlib.suppress(_StopForward):
            self.model(x)
        if self._captured is None:
            raise RuntimeError(f"the model's forward never called layer {self.layer!r}")
        rep, self._captured = self._captured, None
        return rep


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
        metadata: pd.DataFrame | Mapping[str, Any] | None = None,
        save_inputs: bool = True,
        overwrite: bool = False,
    ) -> Run:
        """Start a new run folder, storing labels, splits, metadata and (optionally) inputs.

        Parameters
        ----------
        path : folder to create (must not exist or be empty, unless ``overwrite=True`` and it
            is a run folder).
        train, test : ``(x, y)`` pairs; x of shape (n, *input_shape), converted to float32 as
            given (this is what :meth:`record` feeds the model), y integer class ids.
            ``train`` may also be a :class:`dvi_widget.Dataset` (then ``test`` and
            ``class_names`` come from it).
        class_names : one name per class; default ``"0" .. str(max label)``.
        metadata : DataFrame or dict of columns with ``n_train + n_test`` rows (train first).
        save_inputs : store the inputs (float32) so that ``f_t`` can be rebuilt for boundary
            synthesis in input space, and so that the run can be re-recorded after reopening.
        overwrite : replace an existing run folder at ``path``.
        """
        if hasattr(train, "x_train") and hasattr(train, "y_train"):
            ds = train
            train = (ds.x_train, ds.y_train)
            if test is None and len(ds.y_test):
                test = (ds.x_test, ds.y_test)
            class_names = class_names if class_names is not None else list(ds.class_names)
        if not isinstance(train, tuple | list) or len(train) != 2:
            raise TypeError("train must be an (x, y) pair (or a dvi_widget.Dataset)")
        x_train = _inputs_array(train[0], "train[0] (x)")
        if len(x_train) == 0:
            raise ValueError("train has 0 samples; a run needs at least one training sample")
        y_train = _labels_array(train[1], "train[1] (y)", len(x_train))
        if test is not None:
            if not isinstance(test, tuple | list) or len(test) != 2:
                raise TypeError("test must be an (x, y) pair or None")
            x_test = _inputs_array(test[0], "test[0] (x)")
            y_test = _labels_array(test[1], "test[1] (y)", len(x_test))
            if x_test.shape[1:] != x_train.shape[1:]:
                raise ValueError(
                    f"test inputs have shape {x_test.shape[1:]} per sample but train inputs "
                    f"have {x_train.shape[1:]}"
                )
        else:
            x_test = np.zeros((0, *x_train.shape[1:]), dtype=x_train.dtype)
            y_test = np.zeros(0, dtype=np.int64)
        labels = np.concatenate([y_train, y_test])
        if class_names is None:
            class_names = [str(i) for i in range(int(labels.max()) + 1)]
        class_names = [str(c) for c in class_names]
        if len(class_names) == 0:
            raise ValueError("class_names is empty")
        if int(labels.max()) >= len(class_names):
            raise ValueError(
                f"labels go up to {int(labels.max())} but class_names has only "
                f"{len(class_names)} entries (class ids must be 0..{len(class_names) - 1})"
            )
        n_train, n_test = len(y_train), len(y_test)
        meta_df = cls._validate_metadata(metadata, n_train + n_test)

        path = Path(path)
        cls._prepare_folder(path, overwrite)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "written_by": f"dvi_widget {__version__}",
            "n_train": n_train,
            "n_test": n_test,
            "class_names": class_names,
            "input_shape": list(x_train.shape[1:]),
            "inputs_saved": bool(save_inputs),
            "metadata_columns": [],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            np.save(path / "labels.npy", labels)
            meta["metadata_columns"] = cls._save_metadata(path / "metadata", meta_df)
            if save_inputs:
                np.save(path / "inputs_train.npy", x_train)
                np.save(path / "inputs_test.npy", x_test)
            (path / "epochs").mkdir(exist_ok=True)
            _write_json(path / "run.json", meta)  # written last: marks the folder complete
        except OSError as err:
            raise PermissionError(f"could not write the run folder {path}: {err}") from err
        run = cls(path, _meta=meta)
        run._live_inputs = (x_train, x_test)
        return run

    @staticmethod
    def _prepare_folder(path: Path, overwrite: bool) -> None:
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
            shutil.rmtree(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError) as err:
            raise NotADirectoryError(
                f"cannot create the run folder {path}: a parent is a file ({err}); choose a "
                "writable folder"
            ) from err
        except OSError as err:
            raise PermissionError(
                f"cannot create the run folder {path}: {err}; choose a writable folder"
            ) from err
        if not os.access(path, os.W_OK):
            raise PermissionError(f"the run folder {path} is not writable; choose another folder")

    @staticmethod
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

    @staticmethod
    def _save_metadata(folder: Path, df: pd.DataFrame | None) -> list[dict[str, str]]:
        """One .npy per column: numbers and booleans as they are, anything else as strings."""
        if df is None:
            return []
        folder.mkdir(exist_ok=True)
        columns = []
        for i, (name, col) in enumerate(df.items()):
            values = col.to_numpy()
            if col.dtype == object or not (
                np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_
            ):
                kind, values = "str", col.astype(str).to_numpy().astype(str)
            else:
                kind = "array"
            np.save(folder / f"{i:03d}.npy", values, allow_pickle=False)
            columns.append({"name": str(name), "kind": kind, "file": f"{i:03d}.npy"})
        return columns

    @classmethod
    def open(cls, path: str | Path, model: nn.Module | None = None) -> Run:
        """Reopen a run folder (for example in a new kernel).

        ``model`` (optional) attaches the architecture: then :meth:`feature_model` can rebuild
        ``f_t`` from each epoch's stored state_dict, and :meth:`head` can rebuild heads that are
        not plain Linear/Sequential stacks.
        """
        path = Path(path)
        meta_file = path / "run.json"
        if not meta_file.exists():
            raise FileNotFoundError(
                f"{path} is not a run folder (no run.json); create one with Run.create(...)"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_file} is not valid JSON: {err}") from err
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(f"{meta_file} does not describe a dvi_widget run folder")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"run folder {path} has format version {version!r}, but this dvi_widget reads "
                f"format version {FORMAT_VERSION}; re-record the run with this version (or "
                "install the dvi_widget version that wrote it)"
            )
        run = cls(path, _meta=meta)
        if model is not None:
            if not isinstance(model, nn.Module):
                raise TypeError(f"model must be a torch.nn.Module, got {type(model)!r}")
            run._model = model
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

    def _check_epoch(self, epoch: int) -> Path:
        folder = self._epoch_dir(epoch)
        if not (folder / "epoch.json").exists():
            raise KeyError(f"epoch {epoch} is not recorded in {self.path}; epochs: {self.epochs}")
        return folder

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        """The epoch's small JSON record (layer, head kind, rep_dim, accuracies, ...)."""
        return json.loads((self._check_epoch(epoch) / "epoch.json").read_text())

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        return split

    def labels(self, split: str = "train") -> np.ndarray:
        """Integer class ids, int64; ``"all"`` is train then test."""
        labels = np.load(self.path / "labels.npy")
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
        for col in self._meta.get("metadata_columns", []):
            values = np.load(self.path / "metadata" / col["file"], allow_pickle=False)
            df[col["name"]] = values.astype(object) if col["kind"] == "str" else values
        df.index.name = "sample"
        return df

    def _epoch_array(self, epoch: int, kind: str, split: str) -> np.ndarray:
        folder = self._check_epoch(epoch)
        split = self._check_split(split)
        if split == "all":
            return np.concatenate(
                [_load_npy(folder / f"train_{kind}.npy"), _load_npy(folder / f"test_{kind}.npy")]
            )
        return _load_npy(folder / f"{split}_{kind}.npy")

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
            tr = _load_npy(self.path / "inputs_train.npy")
            te = _load_npy(self.path / "inputs_test.npy")
        if split == "all":
            return np.concatenate([tr, te])
        return tr if split == "train" else te

    def state_dict(self, epoch: int) -> dict[str, torch.Tensor] | None:
        """The model's full state_dict at ``epoch`` (CPU tensors), or None if not stored."""
        file = self._check_epoch(epoch) / "state_dict.pt"
        if not file.exists():
            return None
        return torch.load(file, map_location="cpu", weights_only=True)

    def head(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module:
        """``g_t`` in eval mode: (n, h) float32 representations -> (n, C) logits.

        Heads made of ``nn.Linear`` and parameter-free layers (ReLU, Tanh, Dropout, Softmax,
        ...) are rebuilt from the stored JSON spec and weights, without the user's code. Other
        heads need the model architecture: ``Run.open(path, model=...)``.
        """
        info = self.epoch_info(epoch)
        head_info = info["head"]
        dev = resolve_device(device)
        weights = torch.load(
            self._epoch_dir(epoch) / "head.pt", map_location="cpu", weights_only=True
        ) if (self._epoch_dir(epoch) / "head.pt").exists() else None
        if head_info.get("spec") is not None and weights is not None:
            module = _head_from_spec(head_info["spec"])
            module.load_state_dict(weights)
        elif head_info.get("modules") and weights is not None and self._model is not None:
            source = self._model
            try:
                parts = [copy.deepcopy(source.get_submodule(n)) for n in head_info["modules"]]
            except AttributeError as err:
                raise ValueError(
                    f"the attached model has no module {err}; attach the architecture the run "
                    "was recorded with"
                ) from None
            module = nn.Sequential(*_flatten_sequential(parts))
            try:
                module.load_state_dict(weights)
            except RuntimeError as err:
                raise ValueError(
                    f"the attached model's head does not match epoch {epoch}'s head weights "
                    f"({err}); attach the architecture the run was recorded with"
                ) from None
        elif head_info.get("modules") and weights is not None:
            raise ValueError(
                f"epoch {epoch}'s head ({', '.join(head_info['modules'])}) contains layers "
                "other than nn.Linear and parameter-free activations, so it cannot be rebuilt "
                "from the run folder alone; reopen with Run.open(path, model=YourModel()) so "
                "that the architecture is available"
            )
        else:
            raise ValueError(
                f"epoch {epoch}'s head came from head_fn and cannot be rebuilt: only an "
                "nn.Linear / nn.Sequential of Linear and parameter-free layers (ReLU, Tanh, "
                "Dropout, Softmax, ...) is stored. Pass such a head_fn, or a layer= instead"
            )
        return module.to(dev).eval()

    def feature_model(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module | None:
        """``f_t``: inputs -> representations (n, h), in eval mode, or None.

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
        if state is None:
            return None
        model = copy.deepcopy(self._model).cpu()
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(
                f"the attached model does not match epoch {epoch}'s state_dict ({err}); attach "
                "the architecture the run was recorded with"
            ) from None
        return _FeatureModel(model, info["layer"]).to(resolve_device(device)).eval()

    # ---------------------------------------------------------------- recording

    def _recording_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._live_inputs is not None:
            return self._live_inputs
        if self._meta.get("inputs_saved"):
            return (_load_npy(self.path / "inputs_train.npy"),
                    _load_npy(self.path / "inputs_test.npy"))
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
        model : the classifier (any ``nn.Module``); it is put in eval mode for one batched
            forward pass under ``torch.no_grad`` and its training mode is restored afterwards.
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
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module or None, got {type(model)!r}")
        if model is None and (feature_fn is None or head_fn is None):
            raise ValueError("model=None needs both feature_fn and head_fn")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x_train, x_test = self._recording_inputs()

        model_dev = _model_device(model)
        if model is None and isinstance(feature_fn, nn.Module):
            model_dev = _model_device(feature_fn)
        dev = (model_dev or resolve_device("auto")) if device == "auto" else resolve_device(device)
        run_model = model
        if model is not None and model_dev is not None and model_dev != dev:
            run_model = copy.deepcopy(model).to(dev)

        layer_name: str | None = None
        head_module: nn.Module | None = None
        head_names: list[str] | None = None
        if head_fn is None or feature_fn is None:
            assert run_model is not None
            layer_name = layer if layer is not None else _last_linear(run_model)
            _get_layer(run_model, layer_name)  # clear error for unknown names
        if head_fn is None:
            assert run_model is not None and layer_name is not None
            head_names = _head_names(run_model, layer_name)
            head_module = nn.Sequential(
                *_flatten_sequential(run_model.get_submodule(n) for n in head_names)
            )
            head = head_module
        else:
            head = head_fn
            if isinstance(head_fn, nn.Module):  # stored flat, like a layer head
                head_module = nn.Sequential(*_flatten_sequential([head_fn]))

        # every submodule's own mode, so that deliberately frozen parts stay as they were
        modes = {
            m: m.training
            for root in (model, run_model, head_module) if root is not None
            for m in root.modules()
        }
        try:
            with self._staged_epoch(epoch) as tmp:
                if run_model is not None:
                    run_model.eval()
                if head_module is not None:
                    head_module.eval()
                stats = {}
                with torch.no_grad():
                    for split, x in (("train", x_train), ("test", x_test)):
                        stats[split] = self._forward_split(
                            split, x, run_model, layer_name, feature_fn, head, head_fn is None,
                            dev, batch_size, epoch, tmp,
                        )
                rep_dim = stats["train"]["rep_dim"]
                n_cls = stats["train"]["n_classes"]
                self._check_consistency(epoch, rep_dim, n_cls, overwrite)
                head_info: dict[str, Any] = {"kind": "callable", "spec": None, "modules": None}
                if head_module is not None:
                    torch.save(_cpu_state(head_module), tmp / "head.pt")
                    head_info = {
                        "kind": "layer" if head_fn is None else "module",
                        "spec": _head_spec(head_module),
                        "modules": head_names,
                    }
                has_state = bool(self._meta.get("inputs_saved")) and model is not None
                if has_state:
                    torch.save(_cpu_state(model), tmp / "state_dict.pt")
                acc = {
                    f"{s}_accuracy": (float(stats[s]["correct"] / n) if n else None)
                    for s, n in (("train", self.n_train), ("test", self.n_test))
                }
                for s in ("train", "test"):
                    n = self.n_train if s == "train" else self.n_test
                    if stats[s]["n"] != n:
                        raise ValueError(
                            f"epoch {epoch}: got {stats[s]['n']} {s} representations "
                            f"for {n} samples"
                        )
                info = {
                    "epoch": epoch,
                    "layer": layer_name if feature_fn is None else None,
                    "feature": "layer" if feature_fn is None else "feature_fn",
                    "head": head_info,
                    "rep_dim": rep_dim,
                    "n_classes": n_cls,
                    "has_state_dict": has_state,
                    **acc,
                    "scalars": user_scalars,
                    "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                _write_json(tmp / "epoch.json", info)
        finally:
            for m, mode in modes.items():
                m.training = mode
        if model is not None:
            self._model = model  # the architecture, for feature_model / head rebuilding

    def _forward_split(
        self,
        split: str,
        x: np.ndarray,
        model: nn.Module | None,
        layer_name: str | None,
        feature_fn: TensorFn | None,
        head: TensorFn,
        verify: bool,
        dev: torch.device,
        batch_size: int,
        epoch: int,
        out: Path,
    ) -> dict[str, Any]:
        """One batched pass over ``x``; writes (n, h) representations and (n, C) logits
        straight into .npy files in ``out`` (never the whole split in RAM)."""
        n = len(x)
        labels = self.labels(split)
        captured: list[torch.Tensor] = []
        active = [False]  # the hook only captures during the model's own forward pass
        hook = None
        if feature_fn is None:
            assert model is not None and layer_name is not None
            stop_early = not verify  # head_fn given: nothing after the layer is needed

            def capture(module: nn.Module, args: tuple[Any, ...]) -> None:
                if not active[0]:
                    return
                captured.append(args[0].clone())  # later in-place ops must not change it
                if stop_early:
                    raise _StopForward

            hook = model.get_submodule(layer_name).register_forward_pre_hook(capture)
        reps = logits = None
        correct = 0
        worst = 0.0
        try:
            for start in range(0, n, batch_size):
                batch = np.array(x[start : start + batch_size])  # a copy: memmaps are read-only
                xb = torch.as_tensor(batch, device=dev)
                captured.clear()
                if feature_fn is not None:
                    rep = feature_fn(xb)
                    out_model = model(xb) if verify and model is not None else None
                else:
                    active[0] = True
                    try:
                        out_model = model(xb)
                    except _StopForward:
                        out_model = None
                    finally:
                        active[0] = False
                    if len(captured) != 1:
                        raise ValueError(
                            f"layer {layer_name!r} was called {len(captured)} times in one "
                            "forward pass; name a layer that runs exactly once, or pass "
                            "feature_fn/head_fn"
                        )
                    rep = captured[0]
                if not isinstance(rep, torch.Tensor):
                    raise TypeError(f"the representation must be a tensor, got {type(rep)!r}")
                if rep.ndim != 2:
                    raise ValueError(
                        f"the representation at layer {layer_name!r} has shape "
                        f"{tuple(rep.shape)}; it must be (batch, features). Name a layer whose "
                        "input is a flat vector (e.g. the nn.Linear after a Flatten) or pass "
                        "feature_fn"
                    )
                rep = rep.float()
                _check_finite(rep, "representations", epoch)
                logit = head(rep)
                if isinstance(logit, torch.Tensor):
                    _check_finite(logit, "logits", epoch)
                if verify:
                    if not isinstance(out_model, torch.Tensor):
                        raise TypeError(
                            f"the model returned {type(out_model).__name__}, not a logits tensor;"
                            " pass head_fn= (representation -> logits)"
                        )
                    if out_model.shape != logit.shape or not torch.allclose(
                        logit.float(), out_model.float(), rtol=1e-3, atol=1e-4
                    ):
                        diff = (
                            float((logit.float() - out_model.float()).abs().max())
                            if out_model.shape == logit.shape else float("nan")
                        )
                        raise ValueError(
                            f"the head ({layer_name!r} and the modules after it) applied to the "
                            f"representation does not reproduce the model's output (shapes "
                            f"{tuple(logit.shape)} vs {tuple(out_model.shape)}, max difference "
                            f"{diff:.3g}): the forward pass does more after that layer than "
                            "the head captures. Pass head_fn= (representation -> logits) or a "
                            "different layer="
                        )
                    worst = max(worst, float((logit.float() - out_model.float()).abs().max()))
                if not isinstance(logit, torch.Tensor) or logit.ndim != 2:
                    raise ValueError(
                        "the head must return a (batch, classes) logits tensor, got "
                        f"{getattr(logit, 'shape', type(logit))}"
                    )
                if reps is None:
                    reps = np.lib.format.open_memmap(
                        out / f"{split}_representations.npy", mode="w+", dtype=np.float32,
                        shape=(n, rep.shape[1]),
                    )
                    logits = np.lib.format.open_memmap(
                        out / f"{split}_logits.npy", mode="w+", dtype=np.float32,
                        shape=(n, logit.shape[1]),
                    )
                if rep.shape[1] != reps.shape[1] or logit.shape[1] != logits.shape[1]:
                    raise ValueError("the representation width changed between batches")
                stop = start + len(rep)
                if len(rep) != len(xb):
                    raise ValueError(
                        f"feature_fn returned {len(rep)} rows for a batch of {len(xb)} inputs"
                    )
                reps[start:stop] = to_numpy(rep)
                logits[start:stop] = to_numpy(logit.float())
                correct += int(
                    (logit.argmax(1).cpu().numpy() == labels[start:stop]).sum()
                )
        finally:
            if hook is not None:
                hook.remove()
        if reps is None:  # empty split: shapes come from the train split (or 0 wide)
            rep_dim = self._peek_dim(out, "representations")
            n_cls = self._peek_dim(out, "logits")
            np.save(out / f"{split}_representations.npy", np.zeros((0, rep_dim), np.float32))
            np.save(out / f"{split}_logits.npy", np.zeros((0, n_cls), np.float32))
            return {"n": 0, "rep_dim": rep_dim, "n_classes": n_cls, "correct": 0}
        reps.flush()
        logits.flush()
        result = {"n": n, "rep_dim": reps.shape[1], "n_classes": logits.shape[1],
                  "correct": correct, "max_head_error": worst}
        del reps, logits
        return result

    @staticmethod
    def _peek_dim(folder: Path, kind: str) -> int:
        file = folder / f"train_{kind}.npy"
        return int(np.load(file, mmap_mode="r").shape[1]) if file.exists() else 0

    def _check_consistency(self, epoch: int, rep_dim: int, n_classes: int, overwrite: bool) -> None:
        if n_classes != self.n_classes:
            raise ValueError(
                f"epoch {epoch}: the logits have {n_classes} columns but the run has "
                f"{self.n_classes} classes ({self.class_names}); pass class_names with "
                f"{n_classes} entries to Run.create, or check the head"
            )
        others = [e for e in self.epochs if e != epoch]
        if others:
            ref = int(self.epoch_info(others[0])["rep_dim"])
            if ref != rep_dim:
                raise ValueError(
                    f"epoch {epoch}: the representation has width {rep_dim} but earlier epochs "
                    f"({others[0]}) have width {ref}; record the same layer every epoch"
                )

    @contextlib.contextmanager
    def _staged_epoch(self, epoch: int) -> Iterator[Path]:
        """A temporary folder for one epoch's files: moved into place (:meth:`_commit`) when the
        block finishes, removed when it raises, so an epoch is on disk whole or not at all."""
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{epoch:04d}-", dir=self.path / "epochs"))
        try:
            yield tmp
            self._commit(tmp, epoch)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _commit(self, tmp: Path, epoch: int) -> None:
        """Move a complete epoch folder into place; an old one is removed only afterwards."""
        target = self._epoch_dir(epoch)
        old = None
        if target.exists():
            old = target.with_name(f".old-{target.name}-{os.getpid()}-{time.time_ns()}")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def record_arrays(
        self,
        epoch: int | None = None,
        *,
        representations: tuple[ArrayLike, ArrayLike | None] | ArrayLike,
        logits: tuple[ArrayLike, ArrayLike | None] | ArrayLike | None = None,
        head: nn.Module | None = None,
        overwrite: bool = False,
        device: str | torch.device = "cpu",
        scalars: Mapping[str, float] | None = None,
    ) -> None:
        """Record an epoch from precomputed arrays (train, test) instead of a model.

        ``representations`` is ``(train (n_train, h), test (n_test, h))`` (or one array of N
        rows, train first). ``logits`` likewise, or None to compute them with ``head`` (an
        ``nn.Module``; a Linear/Sequential head is stored and rebuildable by :meth:`head`).
        ``scalars`` as in :meth:`record`.
        """
        user_scalars = check_scalars(scalars)
        epoch = self._next_epoch(epoch)
        self._check_writable(epoch, overwrite)

        def pair(value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
            if isinstance(value, tuple | list):
                if len(value) != 2:
                    raise ValueError(f"{what} must be a (train, test) pair")
                tr = _as_numpy(value[0], f"{what}[0]")
                te = (_as_numpy(value[1], f"{what}[1]") if value[1] is not None
                      else np.zeros((0, tr.shape[1] if tr.ndim == 2 else 0), np.float32))
            else:
                arr = _as_numpy(value, what)
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

        rep_tr, rep_te = pair(representations, "representations")
        if logits is None:
            if head is None:
                raise ValueError("pass logits=(train, test) or a head module to compute them")
            dev = resolve_device(device)
            with torch.no_grad():
                h = copy.deepcopy(head).to(dev).eval()
                logits = tuple(
                    to_numpy(h(torch.as_tensor(a, device=dev))) if len(a) else
                    np.zeros((0, self.n_classes), np.float32) for a in (rep_tr, rep_te)
                )
        log_tr, log_te = pair(logits, "logits")
        for what, a in (("representations", rep_tr), ("representations", rep_te),
                        ("logits", log_tr), ("logits", log_te)):
            if not np.isfinite(a).all():
                raise ValueError(
                    f"epoch {epoch}: the {what} contain NaN or Inf values; nothing was written"
                )
        self._check_consistency(epoch, rep_tr.shape[1], log_tr.shape[1], overwrite)
        with self._staged_epoch(epoch) as tmp:
            np.save(tmp / "train_representations.npy", rep_tr)
            np.save(tmp / "test_representations.npy", rep_te)
            np.save(tmp / "train_logits.npy", log_tr)
            np.save(tmp / "test_logits.npy", log_te)
            head_info: dict[str, Any] = {"kind": "none", "spec": None, "modules": None}
            if head is not None:
                torch.save(_cpu_state(nn.Sequential(*_flatten_sequential([head]))),
                           tmp / "head.pt")
                head_info = {"kind": "module", "spec": _head_spec(head), "modules": None}
            y_tr, y_te = self.labels("train"), self.labels("test")
            info = {
                "epoch": epoch, "layer": None, "feature": "arrays", "head": head_info,
                "rep_dim": int(rep_tr.shape[1]), "n_classes": int(log_tr.shape[1]),
                "has_state_dict": False,
                "train_accuracy": float((log_tr.argmax(1) == y_tr).mean()),
                "test_accuracy": float((log_te.argmax(1) == y_te).mean()) if len(y_te) else None,
                "scalars": user_scalars,
                "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _write_json(tmp / "epoch.json", info)

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
        files = cls._checkpoint_files(checkpoints)
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
        elif _model_device(model) is None or _model_device(model).type == "cpu":
            model = model.to(resolve_device("auto"))
        run = cls.create(path, train=train, test=test, class_names=class_names,
                         metadata=metadata, save_inputs=save_inputs, overwrite=overwrite)
        for epoch, file in tqdm(files.items(), desc="recording checkpoints", disable=quiet,
                                unit="epoch"):
            obj = torch.load(file, map_location="cpu", weights_only=True)
            state = _state_dict_from_checkpoint(obj, str(file))
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(
                    f"checkpoint {file} does not fit the model architecture: {err}"
                ) from None
            run.record(model, epoch, layer=layer, feature_fn=feature_fn, head_fn=head_fn,
                       device="auto", batch_size=batch_size)
        return run

    @staticmethod
    def _checkpoint_files(
        checkpoints: str | Iterable[str | Path] | Mapping[int, str | Path],
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
