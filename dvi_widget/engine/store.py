"""The fit folder ``run.path / "dvi"``: the only module that knows its paths and files.

Each fitted epoch is one *unit* of three files sharing a random token, written completely
before it counts, never overwritten::

    epoch_00003.<token>.pt    state_dict of V_t (read with ``weights_only=True``), plus its epoch
    epoch_00003.<token>.npz   coords (n_train + n_test, 2), boundary_2d, boundary_representations,
                              boundary_pairs, knn (high-dim kNN of X_t, for eval_sem of epoch t+1),
                              test_knn (the test samples' among train ∪ test, likewise),
                              whatever else the engine keeps per epoch, plus the unit's epoch
                              and token
    epoch_00003.<token>.json  params + their hash, previous epoch and the token of its unit this
                              one was warm-started from, the run's fingerprint of the
                              epoch, timings, steps, metrics; the unit's epoch, token, file names
                              and the SHA-256 of both data files (a file of another fit, another
                              epoch or an edited one is refused, naming it)
    epoch_00003.json          the *committed* unit of epoch 3 (a copy of its json)
    landscape_00003.<token>.npz  rgba, classes, confidence over the shared frame
    metrics_00003.<token>.json   the epoch's §6 scores once computed (``DVIEmbedding.score``),
                                 with the key of what they were computed on beyond the unit
    frame.json                extent, epochs and the settings the landscapes were rendered with
    .lock                     held (``flock``) by the process fitting the folder

A fit writes new units beside the committed ones and commits them only when it finishes (or is
interrupted with Ctrl-C): :meth:`FitStore.save_frame` renames each new unit's json to
``epoch_NNNNN.json`` and then removes the units nothing refers to. A fit that fails half-way
(a full disk, a crash) leaves the previous fit loadable, and a second fit of the same run waits
for nobody: it is refused while the first holds the lock. Fits written before units existed
(``epoch_00003.json`` beside ``epoch_00003.pt`` and ``.npz``) still open.

When the fit folder is read-only (a run shared with a colleague), what must be rewritten goes to
a cache folder instead (``cache_dir``, default ``$XDG_CACHE_HOME/dvi_widget``), so a fitted run
can be viewed without write access. A fit folder that is a symbolic link to somewhere outside
the run is never written.

Why one module of about 750 lines: it is the one owner of the ``dvi/`` format (every path, the
unit manifest, the lock, the commit and the clean-up must agree on names and tokens); split, two
modules would each have to know the format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import secrets
import socket
import threading
import time
import warnings
import weakref
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import (
    MAX_DEFLATE_RATIO,
    NpySpec,
    file_mode,
    read_npz,
    remove_stale_temporaries,
    write_bytes,
    write_json,
    write_npz,
)

try:  # POSIX; elsewhere only fits within one process are kept apart
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FOLDER = "dvi"
FRAME_FILE = "frame.json"
LOCK_FILE = ".lock"
#: rows of an epoch's representations read by :func:`fingerprint` (evenly spaced)
FINGERPRINT_ROWS = 2048
FINGERPRINT_VERSION = 2
#: version of a unit's json (absent: the three fixed-name files of dvi_widget <= 0.2)
UNIT_FORMAT = 3
#: most boundary samples an epoch can have per training sample (DVI's ``boundary_ratio``)
MAX_BOUNDARY_RATIO = 10
#: the state_dict key that carries a unit's epoch inside its .pt
_STATE_EPOCH = "_dvi_unit_epoch"
_ARRAYS_EPOCH, _ARRAYS_TOKEN = "_dvi_unit_epoch", "_dvi_unit_token"
_COMMITTED = re.compile(r"^epoch_(\d+)\.json$")
_UNIT = re.compile(r"^epoch_(\d+)\.([0-9a-f]{16})\.(json|pt|npz)$")
_LEGACY_DATA = re.compile(r"^epoch_(\d+)\.(pt|npz)$")
_LANDSCAPE = re.compile(r"^landscape_(\d+)(?:\.([0-9a-f]{16}))?\.npz$")
_METRICS = re.compile(r"^metrics_(\d+)\.([0-9a-f]{16})\.json$")
_REFIT = "Refit with DVI(...).fit(run)"


class FitFileError(OSError):
    """A file of the fit folder is missing or damaged; the message names it and the fix."""


class FitFolderBusyError(FitFileError):
    """Another fit (another process, or another thread) is writing the fit folder."""


def _stem(epoch: int) -> str:
    return f"epoch_{int(epoch):05d}"


def fingerprint(run: Any, epoch: int) -> list[float]:  # noqa: ANN401 - a Run
    """A cheap content checksum of one recorded epoch (detects a re-recorded epoch).

    Sums and sums of squares of ``FINGERPRINT_ROWS`` evenly spaced rows of the train
    representations and logits, plus their shapes: reading them costs a few MB at any size.
    """
    out: list[float] = []
    for arr in (run.representations(epoch, "train"), run.logits(epoch, "train")):
        arr = np.asarray(arr)
        rows = np.unique(np.linspace(0, len(arr) - 1, min(len(arr), FINGERPRINT_ROWS)).astype(int))
        part = np.asarray(arr[rows], dtype=np.float64)
        out += [float(arr.shape[0]), float(arr.shape[1]), float(part.sum()),
                float((part**2).sum())]
    return out


def _legacy_fingerprint(run: Any, epoch: int) -> list[float]:  # noqa: ANN401 - a Run
    """The checksum written by fits of dvi_widget 0.1 (read so that those fits still open)."""
    reps = np.asarray(run.representations(epoch, "train"))
    return [float(np.sum(reps, dtype=np.float64)),
            float(np.sum(reps[::7, ::3] ** 2, dtype=np.float64))]


def matches_run(info: Mapping[str, Any], run: Any) -> bool:  # noqa: ANN401 - a Run
    """Whether a fitted epoch's json still describes what ``run`` holds for that epoch."""
    epoch = int(info["epoch"])
    if epoch not in run.epochs:
        return False
    if info.get("n_train") != int(run.n_train) or info.get("n_test") != int(run.n_test):
        return False
    if info.get("fingerprint_version") == FINGERPRINT_VERSION:
        now = fingerprint(run, epoch)
        if info.get("rep_dim") not in (None, int(now[1])):
            return False
    else:
        now = _legacy_fingerprint(run, epoch)
    return same_fingerprint(info.get("fingerprint"), now)


def same_fingerprint(saved: Any, now: list[float]) -> bool:  # noqa: ANN401 - read from json
    """Whether a saved :func:`fingerprint` (as read from a json file) equals ``now``."""
    return isinstance(saved, list) and len(saved) == len(now) and bool(
        np.allclose(np.asarray(saved, dtype=np.float64), now, rtol=1e-6, atol=0))


def default_cache_dir() -> Path:
    """Where fits of read-only runs keep what they must rewrite."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dvi_widget"


#: fit folders this process holds the lock of: resolved path -> (store, thread id, descriptor)
_HELD: dict[str, tuple[weakref.ReferenceType, int, int]] = {}
_HELD_GUARD = threading.RLock()


class FitStore:
    """Read and write the fit folder of one run.

    Parameters
    ----------
    run_path : path of the run folder; the fit lives in ``run_path / "dvi"``.
    cache_dir : where to write the frame and landscapes when that folder is not writable
        (default :func:`default_cache_dir`, one sub-folder per run).

    A fit calls :meth:`prepare` (takes the folder's lock), :meth:`is_finished` or
    :meth:`save_epoch` per epoch (each chooses the unit the epoch's reads then use), and
    :meth:`save_frame` at the end (commits the chosen units, releases the lock).
    """

    def __init__(self, run_path: str | Path, cache_dir: str | Path | None = None) -> None:
        self.run_path = Path(run_path)
        self.folder = self.run_path / FOLDER
        key = hashlib.sha1(str(self.run_path.resolve()).encode()).hexdigest()[:16]
        self.cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / key
        self._chosen: dict[int, str] = {}  # epoch -> token of an uncommitted unit in use
        self._lock_fd: int | None = None
        self._lock_closer: weakref.finalize | None = None

    # ---------------------------------------------------------------- paths
    def _epoch_path(self, epoch: int, suffix: str) -> Path:
        return self.folder / f"{_stem(epoch)}{suffix}"

    def _landscape_name(self, epoch: int) -> str:
        token = self.unit_token(epoch)
        return f"landscape_{int(epoch):05d}{'.' + token if token else ''}.npz"

    def _outside_run(self) -> Path | None:
        """Where the fit folder really is when that is not inside the run (a symlink), else None."""
        if not self.folder.is_symlink():
            return None
        real = self.folder.resolve()
        return None if real.parent == self.run_path.resolve() else real

    @property
    def writable(self) -> bool:
        """Whether the fit folder can be written (created if missing); a fit folder linked to
        somewhere outside the run never is."""
        if self._outside_run() is not None:
            return False
        if self.folder.exists():
            return os.access(self.folder, os.W_OK | os.X_OK)
        return os.access(self.folder.parent, os.W_OK | os.X_OK)

    def _derived_folder(self) -> Path:
        """Where the frame and landscapes go: the fit folder, or the cache when read-only."""
        return self.folder if self.writable else self.cache

    def _derived_path(self, name: str) -> Path:
        """Read the cache's copy when there is one for a read-only fit folder."""
        cached = self.cache / name
        if not self.writable and cached.exists():
            return cached
        return self.folder / name

    def prepare(self) -> None:
        """Create the fit folder for writing, take its lock and clear what an interrupted write
        left in it.

        Raises :class:`FitFolderBusyError` naming the process that fits the run right now,
        ``FitFileError`` when the fit folder links to somewhere outside the run, and
        ``PermissionError`` when the run is read-only.
        """
        outside = self._outside_run()
        if outside is not None:
            raise FitFileError(
                f"refusing to write the fit folder {self.folder}: it is a symbolic link to "
                f"{outside}, outside the run {self.run_path}. Replace the link with a real folder "
                "(e.g. move that folder into the run) and fit again.")
        if not self.writable:
            raise PermissionError(
                f"cannot write the fit folder {self.folder}: the run is read-only. View it with "
                "DVI.load(run), or copy the run folder somewhere writable to fit it.")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock()
        remove_stale_temporaries(self.folder)

    # ---------------------------------------------------------------- the lock
    def _lock(self) -> None:
        key = str(self.folder.resolve())
        with _HELD_GUARD:
            held = _HELD.get(key)
            holder = held[0]() if held else None
            if holder is self:
                return
            if holder is not None and held[1] != threading.get_ident():
                raise FitFolderBusyError(
                    f"{self.folder} is being fitted by another thread of this process; wait for "
                    "that fit to finish.")
            if holder is not None:  # an earlier fit in this thread failed before committing
                holder.release()
            path = self.folder / LOCK_FILE
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                             file_mode())
            except OSError as err:
                raise FitFileError(f"cannot open the lock file {path} ({err}); remove it if it is "
                                   "a symbolic link, and fit again") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    owner = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise FitFolderBusyError(
                        f"{self.folder} is being fitted by another process ({owner}); two fits "
                        "of one run at once would mix their files. Wait for it to finish, or fit "
                        "a copy of the run folder.") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()}, since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
            self._lock_fd = fd
            self._lock_closer = weakref.finalize(self, _unlock, fd, key)
            _HELD[key] = (weakref.ref(self), threading.get_ident(), fd)

    def release(self) -> None:
        """Give up the fit folder's lock (a no-op when not held); :meth:`save_frame` does it
        at the end of a fit, a failed fit should do it too."""
        if self._lock_closer is not None:
            self._lock_closer()
        self._lock_fd, self._lock_closer = None, None

    # ---------------------------------------------------------------- units
    def _committed_path(self, epoch: int) -> Path:
        return self._epoch_path(epoch, ".json")

    def _unit_path(self, epoch: int, token: str, suffix: str) -> Path:
        return self._epoch_path(epoch, f".{token}{suffix}")

    def unit_token(self, epoch: int) -> str | None:
        """The token of the unit that reads of ``epoch`` use (None: none, or a fit of
        dvi_widget <= 0.2): what a later epoch warm-started from it records as its
        ``previous_unit``."""
        if int(epoch) in self._chosen:
            return self._chosen[int(epoch)]
        try:
            return self._read_info(self._committed_path(epoch), int(epoch)).get("unit")
        except (FileNotFoundError, FitFileError):
            return None

    def _read_info(self, path: Path, epoch: int, token: str | None = None) -> dict[str, Any]:
        """A unit's json, checked; ``FileNotFoundError`` when absent, ``FitFileError`` (naming
        the file and what is wrong with it) when it is not what this package writes."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise
        except OSError as err:
            raise FitFileError(f"cannot read {path} ({err})") from None
        try:
            info = json.loads(text)
        except json.JSONDecodeError as err:
            raise FitFileError(f"{path} is not valid JSON ({err}): damaged or edited. "
                               f"{_REFIT}.") from None
        problem = _info_problem(info, epoch, token)
        if problem:
            raise FitFileError(f"{path} {problem}. {_REFIT}.")
        return info

    def _unit_info(self, epoch: int) -> tuple[dict[str, Any], Path]:
        """The json of the unit reads of ``epoch`` use and its path (raises when absent)."""
        epoch = int(epoch)
        token = self._chosen.get(epoch)
        path = (self._unit_path(epoch, token, ".json") if token
                else self._committed_path(epoch))
        try:
            return self._read_info(path, epoch, token), path
        except FileNotFoundError:
            raise FitFileError(f"{path} is missing: epoch {epoch} is not fitted. "
                               f"{_REFIT}.") from None

    def _data_path(self, info: Mapping[str, Any], kind: str) -> Path:
        epoch = int(info["epoch"])
        if "unit" not in info:  # dvi_widget <= 0.2
            return self._epoch_path(epoch, {"state": ".pt", "arrays": ".npz"}[kind])
        return self.folder / info["files"][kind]

    def _checked_data(self, info: Mapping[str, Any], json_path: Path, kind: str) -> Path:
        """The path of a unit's data file after checking it is the one its json recorded."""
        epoch = int(info["epoch"])
        path = self._data_path(info, kind)
        if not path.is_file():
            raise FitFileError(f"{path} is missing (named by {json_path.name}); refit epoch "
                               f"{epoch}: DVI(...).fit(run) redoes it.")
        if "unit" in info and _sha256(path) != info["sha256"][kind]:
            raise FitFileError(
                f"{path} is not the file {json_path.name} recorded (its SHA-256 differs): it "
                f"was replaced by a file of another fit or another epoch, or edited. Refit "
                f"epoch {epoch}: DVI(...).fit(run) redoes it.")
        return path

    def save_epoch(self, epoch: int, state: Mapping[str, torch.Tensor],
                   arrays: Mapping[str, np.ndarray], info: Mapping[str, Any]) -> None:
        """Write one finished epoch as a new unit (model, arrays, then its json) and use it for
        this epoch from now on; it replaces the committed one at :meth:`save_frame`."""
        epoch = int(epoch)
        token = secrets.token_hex(8)
        cpu_state = {k: v.detach().cpu() for k, v in state.items()}
        cpu_state[_STATE_EPOCH] = torch.tensor(epoch)
        buf = io.BytesIO()
        torch.save(cpu_state, buf)
        state_bytes = buf.getvalue()
        buf = io.BytesIO()
        np.savez(buf, **arrays, **{_ARRAYS_EPOCH: np.int64(epoch), _ARRAYS_TOKEN: np.str_(token)})
        array_bytes = buf.getvalue()
        names = {"state": f"{_stem(epoch)}.{token}.pt", "arrays": f"{_stem(epoch)}.{token}.npz"}
        unit = {**info, "epoch": epoch, "unit": token, "unit_format": UNIT_FORMAT,
                "files": names, "fingerprint_version": FINGERPRINT_VERSION,
                "sha256": {"state": hashlib.sha256(state_bytes).hexdigest(),
                           "arrays": hashlib.sha256(array_bytes).hexdigest()}}
        written = []
        try:
            for data, name in ((state_bytes, names["state"]), (array_bytes, names["arrays"])):
                written.append(write_bytes(self.folder / name, data))
            written.append(write_json(self._unit_path(epoch, token, ".json"), unit))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._chosen[epoch] = token

    def info(self, epoch: int) -> dict[str, Any] | None:
        """The json of a finished epoch, or None when it is missing or unreadable."""
        try:
            return self._unit_info(epoch)[0]
        except FitFileError:
            return None

    def infos(self) -> dict[int, dict[str, Any]]:
        """Every committed epoch's json (and those of this fit's new units), by epoch.

        Raises ``FitFileError`` naming the file when one is damaged, not named as this package
        names them, or says it holds another epoch than its name (renamed or swapped files).
        """
        out = {}
        for path in sorted(self.folder.glob("epoch_*.json")):
            if _UNIT.match(path.name):
                continue  # an uncommitted unit
            found = _COMMITTED.match(path.name)
            if found is None or path.name != f"{_stem(int(found.group(1)))}.json":
                raise FitFileError(
                    f"{path} is not a file dvi_widget writes (its epochs are named like "
                    f"{_stem(int(found.group(1))) if found else 'epoch_00003'}.json): copied "
                    "in by hand? Remove it and load again.")
            epoch = int(found.group(1))
            out[epoch] = self._read_info(path, epoch)
        for epoch, token in self._chosen.items():
            out[epoch] = self._read_info(self._unit_path(epoch, token, ".json"), epoch, token)
        return out

    def _candidates(self, epoch: int) -> list[tuple[dict[str, Any], str | None]]:
        """The readable units of ``epoch``: the committed one first, then the newer
        uncommitted ones (what an interrupted fit left for a resume)."""
        out = []
        try:
            info = self._read_info(self._committed_path(epoch), epoch)
            out.append((info, None))
        except (FileNotFoundError, FitFileError):
            pass
        pending = sorted(self.folder.glob(f"{_stem(epoch)}.*.json"),
                         key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for path in pending:
            found = _UNIT.match(path.name)
            if found is None or int(found.group(1)) != epoch:
                continue
            try:
                out.append((self._read_info(path, epoch, found.group(2)), found.group(2)))
            except (FileNotFoundError, FitFileError):
                continue
        return out

    def is_finished(self, epoch: int, params_hash: str, previous_epoch: int | None,
                    run: Any, previous_unit: str | None = None) -> bool:  # noqa: ANN401 - a Run
        """Whether ``epoch`` was fitted with these parameters after ``previous_epoch`` from the
        run's current recording of it, with all its files intact (what ``fit(resume=True)``
        reuses); if so, the epoch's reads use that unit. A unit that records the unit it was
        warm-started from (``previous_unit``) matches only that one: an epoch whose previous
        epoch was refitted since (``fit(epochs=[0], resume=False)``, then a resume) is stale."""
        epoch = int(epoch)
        for info, token in self._candidates(epoch):
            if info.get("params_hash") != params_hash \
                    or info.get("previous_epoch") != previous_epoch:
                continue
            if not _follows(info, previous_unit):
                continue
            json_path = (self._unit_path(epoch, token, ".json") if token
                         else self._committed_path(epoch))
            try:
                for kind in ("state", "arrays"):
                    self._checked_data(info, json_path, kind)
            except FitFileError:
                continue
            if not matches_run(info, run):
                continue
            if token is None:
                self._chosen.pop(epoch, None)
            else:
                self._chosen[epoch] = token
            return True
        return False

    def load_arrays(self, epoch: int) -> dict[str, np.ndarray]:
        """The arrays of a finished epoch (no pickles; every array's declared shape is checked
        against the run's sizes the epoch's json records, before it is decompressed)."""
        info, json_path = self._unit_info(epoch)
        path = self._checked_data(info, json_path, "arrays")
        try:
            arrays = read_npz(path, check=lambda specs: _check_arrays(info, specs))
        except (OSError, ValueError) as err:
            detail = str(err).removeprefix(f"{path}, ").removeprefix(f"{path}: ")
            raise FitFileError(
                f"{path} is damaged or not what the run allows ({detail}); refit epoch {epoch}: "
                "DVI(...).fit(run) redoes it (resume keeps the epochs before it).") from None
        saved_epoch = arrays.pop(_ARRAYS_EPOCH, None)
        saved_token = arrays.pop(_ARRAYS_TOKEN, None)
        if "unit" in info and (saved_epoch is None or int(saved_epoch) != int(epoch)
                               or str(saved_token) != info["unit"]):
            raise FitFileError(
                f"{path} holds epoch {saved_epoch} of unit {saved_token}, not epoch {epoch} of "
                f"unit {info['unit']} that {json_path.name} names: files of different fits were "
                f"mixed. Refit epoch {epoch}: DVI(...).fit(run) redoes it.")
        return arrays

    def load_state(self, epoch: int, device: torch.device) -> dict[str, torch.Tensor]:
        """The state_dict of V_t (``weights_only=True``: nothing in the file is executed)."""
        info, json_path = self._unit_info(epoch)
        path = self._checked_data(info, json_path, "state")
        fix = f"refit epoch {epoch}: DVI(...).fit(run) redoes it."
        try:
            _check_zip_expansion(path)
            state = torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError:
            raise FitFileError(
                f"{path} holds more than tensors, so it was not loaded (nothing in it ran): it "
                f"was not written by dvi_widget, or was tampered with. Delete it and {fix}"
            ) from None
        except Exception as err:  # noqa: BLE001 - any failure of a damaged file, named
            detail = "" if "weights_only" in str(err) else f" ({type(err).__name__}: {err})"
            raise FitFileError(f"{path} is missing or damaged{detail}; {fix}") from None
        if not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise FitFileError(f"{path} is not a state_dict of tensors; {fix}")
        saved_epoch = state.pop(_STATE_EPOCH, None)
        if "unit" in info and (saved_epoch is None or int(saved_epoch) != int(epoch)):
            raise FitFileError(f"{path} holds the model of epoch "
                               f"{None if saved_epoch is None else int(saved_epoch)}, not of "
                               f"epoch {epoch}: files were swapped; {fix}")
        return state

    def chain(self, params_hash: str, epochs: Sequence[int]) -> list[int]:
        """The longest prefix of ``epochs`` fitted with ``params_hash``, each after the one
        before it (and, where it records it, warm-started from that epoch's unit as it is now):
        the epochs that make one consistent fit.

        Raises ``FitFileError`` saying why when not even the first epoch qualifies.
        """
        infos = self.infos()
        chain: list[int] = []
        prev = None
        for e in epochs:
            info = infos.get(int(e))
            stale = (info is not None and prev is not None
                     and not _follows(info, infos[prev].get("unit")))
            if info is None or info.get("params_hash") != params_hash \
                    or info.get("previous_epoch") != prev or stale:
                if not chain:
                    raise FitFileError(self._chain_problem(int(e), info, params_hash, prev))
                break
            chain.append(int(e))
            prev = int(e)
        return chain

    def _chain_problem(self, epoch: int, info: Mapping[str, Any] | None, params_hash: str,
                       prev: int | None) -> str:
        path = self._committed_path(epoch)
        if info is None:
            why = (f"{path} is missing, so the fit's first epoch ({epoch}, listed in "
                   f"{FRAME_FILE}) cannot be read")
        elif info.get("params_hash") != params_hash:
            why = (f"{path} was fitted with other parameters (params_hash "
                   f"{info.get('params_hash')}) than the fit {FRAME_FILE} describes "
                   f"({params_hash}): a fit with other parameters replaced it")
        else:
            why = (f"{path} was fitted after epoch {info.get('previous_epoch')}, but it is the "
                   "first epoch of the fit being loaded")
        return f"no consistent fit under {self.folder}: {why}. {_REFIT}."

    # ---------------------------------------------------------------- commit
    def _commit(self) -> None:
        """Make this fit's new units the committed ones, then remove the units nothing uses."""
        for epoch, token in sorted(self._chosen.items()):
            os.replace(self._unit_path(epoch, token, ".json"), self._committed_path(epoch))
        self._chosen.clear()
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Remove the units and landscapes no committed json refers to (under the lock)."""
        keep: set[str] = set()
        unreadable: set[int] = set()
        for path in self.folder.glob("epoch_*.json"):
            found = _COMMITTED.match(path.name)
            if found is None:
                continue
            epoch = int(found.group(1))
            try:
                info = self._read_info(path, epoch)
            except (FileNotFoundError, FitFileError):
                unreadable.add(epoch)
                continue
            token = info.get("unit")
            if token:
                keep.update(info["files"].values())
                keep.add(f"landscape_{epoch:05d}.{token}.npz")
                keep.add(f"metrics_{epoch:05d}.{token}.json")
            else:
                keep.update({f"{_stem(epoch)}.pt", f"{_stem(epoch)}.npz",
                             f"landscape_{epoch:05d}.npz"})
        for path in self.folder.iterdir():
            found = (_UNIT.match(path.name) or _LEGACY_DATA.match(path.name)
                     or _LANDSCAPE.match(path.name) or _METRICS.match(path.name))
            if found is None or path.name in keep or int(found.group(1)) in unreadable:
                continue
            path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- frame and landscapes
    def load_frame(self) -> dict[str, Any]:
        """The frame json ({} when there is none, or, with a warning, when it is damaged)."""
        path = self._derived_path(FRAME_FILE)
        try:
            frame = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as err:
            warnings.warn(f"{path} is damaged ({err}); ignored (the landscapes are rendered "
                          "again).", stacklevel=2)
            return {}
        epochs = frame.get("epochs", []) if isinstance(frame, dict) else None
        if not isinstance(frame, dict) or not isinstance(epochs, list) or not all(
                isinstance(e, int) and not isinstance(e, bool) for e in epochs) \
                or not isinstance(frame.get("params_hash", ""), str):
            warnings.warn(f"{path} is not a frame dvi_widget writes (epochs must be a list of "
                          "ints, params_hash a string); ignored.", stacklevel=2)
            return {}
        return frame

    def save_frame(self, frame: Mapping[str, Any]) -> None:
        """Write the frame json unless it already holds exactly this; at the end of a fit,
        commit its new units first and release the fit folder's lock."""
        try:
            if self._chosen:
                self._commit()
            if self.load_frame() != json.loads(json.dumps(frame, default=_plain)):
                self._write_derived(FRAME_FILE, lambda p: write_json(p, dict(frame)))
        finally:
            self.release()

    def load_landscape(self, epoch: int) -> dict[str, np.ndarray] | None:
        """A cached landscape (rgba, classes, confidence), or None when absent or damaged."""
        path = self._derived_path(self._landscape_name(epoch))
        if not path.exists():
            return None
        try:
            return {k: v for k, v in read_npz(path, check=_check_landscape).items()
                    if k in ("rgba", "classes", "confidence")}
        except (OSError, ValueError):
            return None

    def save_landscape(self, epoch: int, rgba: np.ndarray, classes: np.ndarray,
                       confidence: np.ndarray) -> None:
        """Cache one epoch's landscape (named after the epoch's unit)."""
        self._write_derived(self._landscape_name(epoch), lambda p: write_npz(
            p, rgba=rgba, classes=classes, confidence=confidence))

    def _metrics_name(self, epoch: int) -> str | None:
        token = self.unit_token(epoch)
        return f"metrics_{int(epoch):05d}.{token}.json" if token else None

    def load_metrics(self, epoch: int, key: str) -> dict[str, float] | None:
        """An epoch's cached scores when they were computed for ``key`` (what they depend on
        beyond the unit: the drawn positions and the scoring settings); None when absent,
        computed for another key, or damaged (they are computed again)."""
        name = self._metrics_name(epoch)
        if name is None:
            return None
        try:
            saved = json.loads(self._derived_path(name).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict):
            return None
        metrics = saved.get("metrics")
        if saved.get("key") != key or not isinstance(metrics, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in metrics.values()):
            return None
        return {str(k): float(v) for k, v in metrics.items()}

    def save_metrics(self, epoch: int, key: str, metrics: Mapping[str, float]) -> None:
        """Cache an epoch's scores (named after the epoch's unit, so a refit drops them); fits
        of dvi_widget <= 0.2 (no unit) are not cached."""
        name = self._metrics_name(epoch)
        if name is not None:
            self._write_derived(name, lambda p: write_json(
                p, {"epoch": int(epoch), "key": key,
                    "metrics": {k: float(v) for k, v in metrics.items()}}))

    def _write_derived(self, name: str, write: Any) -> None:  # noqa: ANN401 - path -> None
        folder = self._derived_folder()
        if folder == self.folder:
            write(folder / name)
            return
        try:
            write(folder / name)
        except OSError as err:
            raise PermissionError(
                f"cannot write {folder / name} ({type(err).__name__}: {err}). The fit folder "
                f"{self.folder} is read-only, so the frame and landscapes go to a cache folder; "
                "pass a writable one as DVI.load(run, cache_dir=...) (or set XDG_CACHE_HOME)."
            ) from err


def _unlock(fd: int, key: str) -> None:
    """Release a fit folder's lock (closing the descriptor drops the ``flock``)."""
    with _HELD_GUARD:
        if key in _HELD and _HELD[key][2] == fd:
            del _HELD[key]
    with contextlib.suppress(OSError):
        os.close(fd)


def _follows(info: Mapping[str, Any], previous_unit: str | None) -> bool:
    """Whether a unit was warm-started from ``previous_unit`` (a unit that does not record it,
    written before units did, is taken at its word)."""
    return info.get("previous_unit", previous_unit) == previous_unit


def _info_problem(info: object, epoch: int, token: str | None) -> str | None:
    """What is wrong with a unit's json (None when nothing)."""
    if not isinstance(info, dict):
        return f"holds a JSON {type(info).__name__}, not the object dvi_widget writes"
    saved = info.get("epoch")
    if not isinstance(saved, int) or isinstance(saved, bool):
        return f"has 'epoch': {saved!r}, not an epoch number"
    if saved != epoch:
        return (f"says it holds epoch {saved} but is named for epoch {epoch}: fit files were "
                "renamed or swapped by hand")
    prev = info.get("previous_epoch")
    if prev is not None and (not isinstance(prev, int) or isinstance(prev, bool)):
        return f"has 'previous_epoch': {prev!r}, not an epoch number or null"
    for key, kind in (("params_hash", str), ("params", dict), ("n_train", int), ("n_test", int)):
        if not isinstance(info.get(key), kind):
            return f"has {key!r}: {info.get(key)!r}, not a {kind.__name__}"
    if "unit" not in info:
        return None if token is None else "has no 'unit' though it is named for one"
    unit, files, sha = info.get("unit"), info.get("files"), info.get("sha256")
    if not (isinstance(unit, str) and re.fullmatch(r"[0-9a-f]{16}", unit)):
        return f"has 'unit': {unit!r}, not a unit token"
    if token is not None and unit != token:
        return f"names unit {unit} but the file is named for unit {token}"
    names = {"state": f"{_stem(epoch)}.{unit}.pt", "arrays": f"{_stem(epoch)}.{unit}.npz"}
    if files != names:
        return f"names the files {files!r}; a unit of epoch {epoch} has {names!r}"
    if not (isinstance(sha, dict) and all(isinstance(sha.get(k), str) for k in names)):
        return "has no SHA-256 of its files"
    return None


def _check_arrays(info: Mapping[str, Any], specs: Mapping[str, NpySpec]) -> None:
    """The shapes an epoch's arrays may have, from the run's sizes in its json (which
    :func:`matches_run` compared with the run), checked before anything is decompressed."""
    n_train, n_test = int(info["n_train"]), int(info["n_test"])
    n = n_train + n_test
    h = info.get("rep_dim")
    b = info.get("n_boundary")
    k = info["params"].get("n_neighbors")
    if b is not None and not (isinstance(b, int) and 0 <= b <= MAX_BOUNDARY_RATIO * n_train + 1):
        raise ValueError(f"its json says n_boundary={b!r}; the run allows at most "
                         f"{MAX_BOUNDARY_RATIO * n_train + 1}")
    if k is not None and not (isinstance(k, int) and 1 <= k < max(n_train, 2)):
        raise ValueError(f"its json says n_neighbors={k!r}; the run allows 2..{n_train - 1}")
    expected: dict[str, tuple[int | None, ...]] = {
        "coords": (n, 2), "knn": (n_train, k), "test_knn": (n_test, k), "boundary_2d": (b, 2),
        "boundary_representations": (b, h), "boundary_pairs": (b, 2),
        _ARRAYS_EPOCH: (), _ARRAYS_TOKEN: ()}
    for name, shape in expected.items():
        spec = specs.get(name)
        if spec is None:
            continue
        if len(spec.shape) != len(shape) or any(want is not None and got != want for got, want
                                                in zip(spec.shape, shape, strict=True)):
            raise ValueError(f"array {name!r} declares shape {spec.shape}; the run allows "
                             f"{tuple('?' if s is None else s for s in shape)}")
    # a json of dvi_widget 0.1 may lack rep_dim or n_neighbors: then the arrays' own widths
    # count (each already bounded by its stored size, see dvi_widget._io.npz_specs)
    if h is None and "boundary_representations" in specs:
        h = specs["boundary_representations"].shape[-1]
    if k is None and "knn" in specs:
        k = specs["knn"].shape[-1]
    rows = n + (b if b is not None else MAX_BOUNDARY_RATIO * n_train)
    budget = 16 * rows * ((h or 0) + 8) + 8 * n * (k or 0) + (1 << 20)
    total = sum(s.nbytes for s in specs.values())
    if total > budget:
        raise ValueError(f"its arrays declare {total} bytes; the run's sizes allow {budget}")


def _check_landscape(specs: Mapping[str, NpySpec]) -> None:
    rgba = specs.get("rgba")
    if rgba is None or len(rgba.shape) != 3 or rgba.shape[2] != 4:
        raise ValueError("no (H, W, 4) rgba")
    cells = rgba.shape[0] * rgba.shape[1]
    if any(s.nbytes > 8 * cells for s in specs.values()):
        raise ValueError("arrays larger than the landscape's grid")


def _check_zip_expansion(path: Path) -> None:
    """Refuse a .pt whose members would expand far beyond their stored size (torch writes
    them uncompressed), before torch reads any."""
    with zipfile.ZipFile(path) as zf:
        for member in zf.infolist():
            if member.compress_type != zipfile.ZIP_STORED and member.file_size > max(
                    1 << 20, MAX_DEFLATE_RATIO * member.compress_size):
                raise ValueError(f"member {member.filename} declares {member.file_size} bytes "
                                 f"compressed into {member.compress_size}: refused unread")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
