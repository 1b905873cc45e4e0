"""The run folder's format: its paths, ``run.json`` and reading it back (format version 1).

The only module that spells a run folder's file names; recording (:mod:`.record`), importing
(:mod:`.checkpoints`) and rebuilding models (:mod:`.model`) ask it for paths. Layout::

    run.json                      format name and version, sample counts, class names, input shape
    labels.npy                    int64 (N,), train samples first, then test
    metadata/                     user columns, one .npy per column (no pickles)
    inputs_train.npy              float32 (n_train, *input_shape)   (when save_inputs=True)
    inputs_test.npy               float32 (n_test, *input_shape)
    epochs/0003/epoch.json        layer, head spec, rep_dim, accuracies
    epochs/0003/train_representations.npy   float32 (n_train, h), or float16 when run.json's
    epochs/0003/test_representations.npy    "representation_dtype" says so (n_test, h)
    epochs/0003/train_logits.npy  float32 (n_train, C)
    epochs/0003/test_logits.npy   float32 (n_test, C)
    epochs/0003/head.pt           the head's state_dict (tensors only)
    epochs/0003/state_dict.pt     the whole model's state_dict (when inputs are stored)
    epochs/0003/inside.npz, .json weights, gradients, activations (owned by :mod:`.inside`)
    dvi/                          a fit of the run (owned by :mod:`dvi_widget.engine.store`)
    review.json                   review marks (owned by :mod:`dvi_widget.data.run.review`)
    architecture.json             the network, stored once (owned by :mod:`.architecture`)
    architecture.pt               its graph's tensor constants (when it has any)

Every array is read back lazily with ``np.load(mmap_mode="c", allow_pickle=False)`` (copy on
write: a caller may change its copy, e.g. through ``torch.as_tensor``, the file never) and tensors
with ``torch.load(weights_only=True)``; a missing or damaged file raises an error that names it
and says what to re-record. Every name ``run.json`` stores resolves inside the folder.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..._columns import decode_column
from ..._io import TMP_PREFIX
from ..scalars import scalars_table

FORMAT_NAME = "dvi_widget.run"
FORMAT_VERSION = 1

RUN_JSON = "run.json"
LABELS = "labels.npy"
METADATA = "metadata"
EPOCHS = "epochs"
EPOCH_JSON = "epoch.json"
HEAD = "head.pt"
STATE_DICT = "state_dict.pt"
#: weights, gradients and activations of an epoch (owned by :mod:`.inside`)
INSIDE_JSON = "inside.json"
INSIDE_NPZ = "inside.npz"
#: the fit of a run, written by the engine into the run folder
FIT = "dvi"
#: the review marks (mislabeled / correct / unsure), written by :mod:`.review`
REVIEW = "review.json"
#: the architecture (owned by :mod:`.architecture`; spelt here so that overwrite knows it)
ARCHITECTURE = ("architecture.json", "architecture.pt")
#: DeepView's fit of a run (``dvi_widget.engine.deepview.store``)
DEEPVIEW_FIT = "deepview"
#: what the project writes at the top of a run folder (temporaries aside)
RUN_ENTRIES = frozenset({RUN_JSON, LABELS, METADATA, EPOCHS, FIT, REVIEW, DEEPVIEW_FIT,
                         "inputs_train.npy", "inputs_test.npy", *ARCHITECTURE})

_EPOCH_DIR = re.compile(r"^\d+$")
_METADATA_FILE = re.compile(r"^\d{3}(\.[a-z]+)?\.npy$")
_EPOCH_FILE = re.compile(r"^(epoch\.json|head\.pt|state_dict\.pt|inside\.json|inside\.npz|"
                         r"(train|test)_(representations|logits)\.npy)$")
SPLITS = ("train", "test")
#: how representations may be stored (run.json's "representation_dtype"; default float32)
REPRESENTATION_DTYPES = ("float32", "float16")

#: the fix for a damaged run-level file (labels, inputs, metadata: written once by create)
RECREATE = ("this file is written once by Run.create: create the run again "
            "(Run.create(..., overwrite=True)) and re-record its epochs")


def rerecord(epoch: int) -> str:
    """The fix for a missing or damaged file of one epoch."""
    return (f"re-record epoch {epoch}: run.record(model, {epoch}, overwrite=True) (or "
            "Run.from_checkpoints with that epoch's checkpoint)")


# ------------------------------------------------------------------------------- paths


def inputs_file(root: Path, split: str) -> Path:
    return root / f"inputs_{split}.npy"


def epoch_dir(root: Path, epoch: int) -> Path:
    return root / EPOCHS / f"{int(epoch):04d}"


def array_file(folder: Path, split: str, kind: str) -> Path:
    """``{split}_{kind}.npy`` in an epoch folder (kind: representations or logits)."""
    return folder / f"{split}_{kind}.npy"


def metadata_files(root: Path, column: dict[str, Any]) -> dict[str, Path]:
    """The files of one ``metadata_columns`` entry, keyed by part (``""`` is the values)."""
    stem = column["file"].removesuffix(".npy")
    return {part: root / METADATA / (f"{stem}.{part}.npy" if part else column["file"])
            for part in ("", *column.get("parts", ()))}


def metadata_entry(index: int) -> str:
    """The file name of the ``index``-th metadata column (its parts add ``.<part>``)."""
    return f"{index:03d}.npy"


def foreign_entries(root: Path) -> list[str]:
    """Entries of an existing run folder that the project did not write (``epochs/plots``,
    ``notes.txt``): a run folder holding them is not replaced."""
    def ours(name: str) -> bool:
        return name.startswith(TMP_PREFIX)

    found = [p.name for p in root.iterdir() if p.name not in RUN_ENTRIES and not ours(p.name)]
    if (root / EPOCHS).is_dir():
        found += [f"{EPOCHS}/{p.name}" for p in (root / EPOCHS).iterdir()
                  if not ((_EPOCH_DIR.match(p.name) and p.is_dir()) or ours(p.name))]
        found += [f"{EPOCHS}/{d.name}/{p.name}" for d in (root / EPOCHS).iterdir()
                  if _EPOCH_DIR.match(d.name) and d.is_dir() for p in d.iterdir()
                  if not _EPOCH_FILE.match(p.name)]
    if (root / METADATA).is_dir():
        found += [f"{METADATA}/{p.name}" for p in (root / METADATA).iterdir()
                  if not _METADATA_FILE.match(p.name)]
    return sorted(found)


# ------------------------------------------------------------------------------- reading


def load_npy(path: Path, fix: str, mmap: bool = True) -> np.ndarray:
    """Read an .npy file (memory-mapped by default); a missing or damaged file raises an
    error naming it and ending with ``fix``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        return np.load(path, mmap_mode="c" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} is damaged ({err}); {fix}") from None


def load_tensors(path: Path, fix: str) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of a state_dict file. A missing, damaged or refused
    file (one holding more than tensors) raises ``ValueError`` naming it and ending with
    ``fix``; torch's own advice to retry with ``weights_only=False`` (which would run code
    from the file) is never passed on."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        why = "it holds more than tensors, so it is not read: that could run code from it"
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        why = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    else:
        if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
            return state
        why = f"a {type(state).__name__}, not a state_dict of tensors"
    raise ValueError(f"{path} is damaged ({why}); {fix}")


def _inside(name: object) -> bool:
    """Whether ``name`` is a plain file name (no folder, no ``..``, not absolute)."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\0" not in name)


def read_meta(root: Path) -> dict[str, Any]:
    """``run.json`` of the run folder ``root``, checked: the format name and version, and
    every file name it stores resolving inside the folder."""
    file = root / RUN_JSON
    if not file.exists():
        raise FileNotFoundError(
            f"{root} is not a run folder (no {RUN_JSON}); create one with Run.create(...)")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}); {RECREATE}") from None
    if not is_run_meta(meta):
        raise ValueError(f"{file} does not describe a dvi_widget run folder")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"run folder {root} has format version {version!r}, but this dvi_widget reads "
            f"format version {FORMAT_VERSION}; re-record the run with this version (or "
            "install the dvi_widget version that wrote it)"
        )
    check_names(meta, file)
    return meta


def is_run_meta(meta: object) -> bool:
    """Whether a parsed ``run.json`` carries the project's format marker and a version."""
    return (isinstance(meta, dict) and meta.get("format") == FORMAT_NAME
            and isinstance(meta.get("format_version"), int))


def check_names(meta: dict[str, Any], file: Path) -> None:
    """Refuse a ``run.json`` (``file``) whose stored file names would leave the run folder."""
    columns = meta.get("metadata_columns", [])
    if not isinstance(columns, list):
        raise ValueError(f"{file}: metadata_columns must be a list; {RECREATE}")
    for i, col in enumerate(columns):
        where = f"{file}: metadata_columns[{i}]"
        if not isinstance(col, dict) or not _inside(col.get("file")) \
                or not str(col["file"]).endswith(".npy"):
            raise ValueError(f"{where}.file = {col.get('file') if isinstance(col, dict) else col!r}"
                             f" is not a .npy file name inside the run's {METADATA} folder; "
                             f"{RECREATE}")
        parts = col.get("parts", [])
        if not isinstance(parts, list) or not all(
                isinstance(p, str) and re.fullmatch(r"[a-z]+", p) for p in parts):
            raise ValueError(f"{where}.parts = {parts!r} names files outside the run's "
                             f"{METADATA} folder; {RECREATE}")


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


class RunFolder:
    """Reading a run folder: samples, metadata, and each epoch's arrays and weights.

    :class:`~dvi_widget.data.run.Run` adds writing and rebuilding models on top of this.
    ``_live_inputs`` holds the inputs of a run created in this session without storing them.
    """

    def __init__(self, path: str | Path, *, _meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self._meta = _meta
        self._live_inputs: tuple[np.ndarray, np.ndarray] | None = None

    # ---------------------------------------------------------------- samples

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

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        return split

    def labels(self, split: str = "train") -> np.ndarray:
        """Integer class ids, int64; ``"all"`` is train then test."""
        labels = load_npy(self.path / LABELS, RECREATE, mmap=False)
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
        check_names(self._meta, self.path / RUN_JSON)
        for col in self._meta.get("metadata_columns", []):
            arrays = {part: load_npy(file, RECREATE, mmap=False)
                      for part, file in metadata_files(self.path, col).items()}
            df[col["name"]] = decode_column(col, arrays)
        df.index.name = "sample"
        return df

    def inputs(self, split: str = "train") -> np.ndarray | None:
        """Stored inputs (float32 memmap, (n, *input_shape)), or None when not saved."""
        split = self._check_split(split)
        if not self._meta.get("inputs_saved"):
            if self._live_inputs is None:
                return None
            tr, te = self._live_inputs
        else:
            tr, te = (load_npy(inputs_file(self.path, s), RECREATE) for s in SPLITS)
        if split == "all":
            return np.concatenate([tr, te])
        return tr if split == "train" else te

    def inputs_at(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Stored inputs of global sample ``indices`` (train first, then test) as float32;
        reads only those rows of the train and test memmaps."""
        idx = check_indices(indices, self.n_samples)
        train, test = self.inputs("train"), self.inputs("test")
        if train is None:
            raise ValueError(
                f"the run {self.path} does not store its inputs (created with "
                "save_inputs=False); pass the input array itself instead of a sample index"
            )
        out = np.empty((len(idx), *train.shape[1:]), dtype=np.float32)
        in_train = idx < self.n_train
        if in_train.any():
            out[in_train] = train[idx[in_train]]
        if (~in_train).any():
            out[~in_train] = test[idx[~in_train] - self.n_train]
        return out

    # ---------------------------------------------------------------- epochs

    @property
    def epochs(self) -> list[int]:
        folder = self.path / EPOCHS
        if not folder.is_dir():
            return []
        found = []
        for p in folder.iterdir():
            if not (_EPOCH_DIR.match(p.name) and (p / EPOCH_JSON).exists()):
                continue
            if p.name != epoch_dir(self.path, int(p.name)).name:  # e.g. 00001 beside 0001
                warnings.warn(f"{p} is not a folder dvi_widget writes (epoch {int(p.name)} is "
                              f"{epoch_dir(self.path, int(p.name)).name}); it is ignored. Move "
                              "or remove it.", stacklevel=2)
                continue
            found.append(int(p.name))
        return sorted(found)

    @property
    def representation_dtype(self) -> str:
        """How representations are stored: ``"float32"`` or ``"float16"`` (``Run.create(...,
        dtype=...)``); readers get them as stored and compute in float32."""
        dtype = self._meta.get("representation_dtype", "float32")
        if dtype not in REPRESENTATION_DTYPES:
            raise ValueError(f"{self.path / RUN_JSON}: representation_dtype {dtype!r} is not one "
                             f"of {list(REPRESENTATION_DTYPES)}; re-create the run")
        return dtype

    @property
    def rep_dim(self) -> int | None:
        epochs = self.epochs
        return int(self.epoch_info(epochs[0])["rep_dim"]) if epochs else None

    def _epoch_dir(self, epoch: int) -> Path:
        return epoch_dir(self.path, epoch)

    def _check_epoch(self, epoch: int) -> Path:
        folder = self._epoch_dir(epoch)
        if not (folder / EPOCH_JSON).exists():
            raise KeyError(f"epoch {epoch} is not recorded in {self.path}; epochs: {self.epochs}")
        return folder

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        """The epoch's small JSON record (layer, head kind, rep_dim, accuracies, ...)."""
        file = self._check_epoch(epoch) / EPOCH_JSON
        try:
            return json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{file} is damaged ({err}); {rerecord(epoch)}") from None

    def recorded_from_token_ids(self, epoch: int | None = None) -> bool:
        """Whether the model was fed this run's inputs as token ids (int64, a first layer that
        looks up embeddings) at ``epoch`` (default: any recorded epoch). Such inputs have no
        value between two tokens: nothing mixes or perturbs them."""
        epochs = self.epochs if epoch is None else [int(epoch)]
        return any(self.epoch_info(e).get("token_ids") for e in epochs)

    def epoch_stamp(self, epoch: int) -> tuple[int | None, ...]:
        """Modification times of the files that define epoch ``epoch``'s model and arrays;
        a cache of anything rebuilt from the epoch is valid while this stays the same."""
        folder = self._epoch_dir(epoch)
        stamps: list[int | None] = []
        for name in (STATE_DICT, HEAD, EPOCH_JSON, array_file(folder, "train",
                                                              "representations").name):
            try:
                stamps.append((folder / name).stat().st_mtime_ns)
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def _epoch_array(self, epoch: int, kind: str, split: str) -> np.ndarray:
        folder = self._check_epoch(epoch)
        split = self._check_split(split)
        parts = [load_npy(array_file(folder, s, kind), rerecord(epoch))
                 for s in (SPLITS if split == "all" else (split,))]
        return np.concatenate(parts) if split == "all" else parts[0]

    def representations(self, epoch: int, split: str = "train") -> np.ndarray:
        """(n, h) representations ``f_t(x)`` as stored (float32, or float16 for a run created
        with ``dtype="float16"``); a read-only memmap for train/test, an in-memory copy for
        ``"all"``. Consumers cast to float32 where they compute."""
        return self._epoch_array(epoch, "representations", split)

    def logits(self, epoch: int, split: str = "train") -> np.ndarray:
        """float32 (n, C) logits ``g_t(f_t(x))`` (memmap for train/test)."""
        return self._epoch_array(epoch, "logits", split)

    def predictions(self, epoch: int, split: str = "train") -> np.ndarray:
        """int64 (n,) predicted class ids (argmax of the logits)."""
        return np.asarray(self.logits(epoch, split).argmax(axis=1), dtype=np.int64)

    def scalars(self) -> pd.DataFrame:
        """Training curves, one row per epoch: loss and accuracy (train, test) computed from the
        recorded logits, and the ``scalars`` given to ``record`` (see
        :func:`dvi_widget.data.scalars.scalars_table`)."""
        return scalars_table(self)

    def state_dict(self, epoch: int) -> dict[str, torch.Tensor] | None:
        """The model's full state_dict at ``epoch`` (CPU tensors), or None if not stored."""
        if not self.epoch_info(epoch).get("has_state_dict"):
            return None
        return load_tensors(self._epoch_dir(epoch) / STATE_DICT, rerecord(epoch))

    def head_weights(self, epoch: int) -> dict[str, torch.Tensor]:
        """The stored ``state_dict`` of epoch ``epoch``'s head (CPU tensors)."""
        return load_tensors(self._check_epoch(epoch) / HEAD, rerecord(epoch))
