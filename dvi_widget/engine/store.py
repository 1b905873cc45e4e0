"""The fit folder ``run.path / "dvi"``: the only module that knows its paths and files.

One set of files per finished epoch, written atomically (the json last, so an epoch whose json
exists is complete)::

    epoch_00003.json    params + their hash, previous epoch, the run's fingerprint of the epoch,
                        timings, steps, metrics
    epoch_00003.pt      state_dict of V_t (read with ``weights_only=True``)
    epoch_00003.npz     coords (n_train + n_test, 2), boundary_2d, boundary_representations,
                        boundary_pairs, knn (high-dim kNN of X_t, for eval_sem of epoch t+1), and
                        whatever else the engine keeps per epoch
    landscape_00003.npz rgba, classes, confidence over the shared frame
    frame.json          extent, epochs and the settings the landscapes were rendered with

The frame and the landscapes depend on all epochs; they are rewritten only when they changed.
When the fit folder is read-only (a run shared with a colleague), what must be rewritten goes to
a cache folder instead (``cache_dir``, default ``$XDG_CACHE_HOME/dvi_widget``), so a fitted run
can be viewed without write access.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write, remove_stale_temporaries, write_json, write_npz

FOLDER = "dvi"
FRAME_FILE = "frame.json"
#: rows of an epoch's representations read by :func:`fingerprint` (evenly spaced)
FINGERPRINT_ROWS = 2048
FINGERPRINT_VERSION = 2


class FitFileError(OSError):
    """A file of the fit folder is missing or damaged; the message names it and the fix."""


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
    else:
        now = _legacy_fingerprint(run, epoch)
    saved = info.get("fingerprint")
    return saved is not None and len(saved) == len(now) and bool(
        np.allclose(saved, now, rtol=1e-6, atol=0))


def default_cache_dir() -> Path:
    """Where fits of read-only runs keep what they must rewrite."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dvi_widget"


class FitStore:
    """Read and write the fit folder of one run.

    Parameters
    ----------
    run_path : path of the run folder; the fit lives in ``run_path / "dvi"``.
    cache_dir : where to write the frame and landscapes when that folder is not writable
        (default :func:`default_cache_dir`, one sub-folder per run).
    """

    def __init__(self, run_path: str | Path, cache_dir: str | Path | None = None) -> None:
        self.folder = Path(run_path) / FOLDER
        key = hashlib.sha1(str(Path(run_path).resolve()).encode()).hexdigest()[:16]
        self.cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / key

    # ---------------------------------------------------------------- paths
    def _epoch_path(self, epoch: int, suffix: str) -> Path:
        return self.folder / f"{_stem(epoch)}{suffix}"

    def _landscape_name(self, epoch: int) -> str:
        return f"landscape_{int(epoch):05d}.npz"

    @property
    def writable(self) -> bool:
        """Whether the fit folder can be written (created if missing)."""
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
        """Create the fit folder for writing and clear what an interrupted write left in it."""
        if not self.writable:
            raise PermissionError(
                f"cannot write the fit folder {self.folder}: the run is read-only. View it with "
                "DVI.load(run), or copy the run folder somewhere writable to fit it.")
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)

    # ---------------------------------------------------------------- epochs
    def save_epoch(self, epoch: int, state: Mapping[str, torch.Tensor],
                   arrays: Mapping[str, np.ndarray], info: Mapping[str, Any]) -> None:
        """Write one finished epoch: model, arrays, then the json that marks it finished."""
        self._epoch_path(epoch, ".json").unlink(missing_ok=True)
        cpu_state = {k: v.detach().cpu() for k, v in state.items()}
        atomic_write(self._epoch_path(epoch, ".pt"), lambda p: torch.save(cpu_state, p))
        write_npz(self._epoch_path(epoch, ".npz"), **arrays)
        write_json(self._epoch_path(epoch, ".json"),
                   {**info, "fingerprint_version": FINGERPRINT_VERSION})

    def info(self, epoch: int) -> dict[str, Any] | None:
        """The json of a finished epoch, or None when it is missing or unreadable."""
        path = self._epoch_path(epoch, ".json")
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def infos(self) -> dict[int, dict[str, Any]]:
        """Every readable epoch json of the folder, by epoch."""
        out = {}
        for path in sorted(self.folder.glob("epoch_*.json")):
            try:
                info = json.loads(path.read_text())
                out[int(info["epoch"])] = info
            except (OSError, json.JSONDecodeError, KeyError, ValueError):
                continue
        return out

    def is_finished(self, epoch: int, params_hash: str, previous_epoch: int | None,
                    run: Any) -> bool:  # noqa: ANN401 - a Run
        """Whether ``epoch`` was fitted with these parameters after ``previous_epoch`` from the
        run's current recording of it, with all its files present (what ``fit(resume=True)``
        reuses)."""
        info = self.info(epoch)
        return (
            info is not None
            and info.get("params_hash") == params_hash
            and info.get("previous_epoch") == previous_epoch
            and self._epoch_path(epoch, ".pt").exists()
            and self._epoch_path(epoch, ".npz").exists()
            and matches_run(info, run)
        )

    def load_arrays(self, epoch: int) -> dict[str, np.ndarray]:
        """The arrays of a finished epoch (no pickles)."""
        path = self._epoch_path(epoch, ".npz")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise FitFileError(
                f"{path} is missing or damaged ({err}); refit epoch {epoch}: "
                "DVI(...).fit(run) redoes it (resume keeps the epochs before it).") from None

    def load_state(self, epoch: int, device: torch.device) -> dict[str, torch.Tensor]:
        """The state_dict of V_t (``weights_only=True``: nothing in the file is executed)."""
        path = self._epoch_path(epoch, ".pt")
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            raise FitFileError(
                f"{path} is missing or damaged ({type(err).__name__}: {err}); refit epoch "
                f"{epoch}: DVI(...).fit(run) redoes it.") from None

    def chain(self, params_hash: str, epochs: Sequence[int]) -> list[int]:
        """The longest prefix of ``epochs`` fitted with ``params_hash``, each after the one
        before it (the epochs that make one consistent fit)."""
        infos = self.infos()
        chain: list[int] = []
        prev = None
        for e in epochs:
            info = infos.get(int(e))
            if info is None or info.get("params_hash") != params_hash \
                    or info.get("previous_epoch") != prev:
                break
            chain.append(int(e))
            prev = int(e)
        return chain

    # ---------------------------------------------------------------- frame and landscapes
    def load_frame(self) -> dict[str, Any]:
        """The frame json ({} when there is none or it is unreadable)."""
        try:
            return json.loads(self._derived_path(FRAME_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def save_frame(self, frame: Mapping[str, Any]) -> None:
        """Write the frame json unless it already holds exactly this."""
        if self.load_frame() == json.loads(json.dumps(frame, default=_plain)):
            return
        write_json(self._derived_folder() / FRAME_FILE, dict(frame))

    def load_landscape(self, epoch: int) -> dict[str, np.ndarray] | None:
        """A cached landscape (rgba, classes, confidence), or None when absent or damaged."""
        path = self._derived_path(self._landscape_name(epoch))
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in ("rgba", "classes", "confidence")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def save_landscape(self, epoch: int, rgba: np.ndarray, classes: np.ndarray,
                       confidence: np.ndarray) -> None:
        """Cache one epoch's landscape."""
        write_npz(self._derived_folder() / self._landscape_name(epoch), rgba=rgba,
                  classes=classes, confidence=confidence)


def _plain(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
