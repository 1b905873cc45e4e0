"""The DeepView fit folder ``run.path / "deepview"``: the only module that knows its files.

::

    fit.json                 params, their hash, the fitted epochs, the π⁻¹ fit/held-out rows'
                             count, timings per epoch
    rows.npz                 fit_rows, held_rows (the 70 % / 30 % split of Q_data / Q_¬data)
    epoch_00003.npz          coords (N, 2), knn_indices / knn_dists (the DiDi graph), and each
                             π⁻¹'s arrays (``rep_*``; ``in_*`` when inputs were kept)
    epoch_00003.json         what the epoch was fitted from: the parameters' hash, the previous
                             epoch (its UMAP's start), the recording's fingerprint, its timings
                             (written after its npz, as soon as the epoch is fitted: an
                             interrupted fit keeps its finished epochs, ``fit`` reuses them)

Every file is written atomically (:mod:`dvi_widget._io`), read with ``allow_pickle=False`` and
its members checked before they are decompressed; fit.json is written last, so a folder whose
fit.json names an epoch holds that epoch's arrays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import read_npz, write_json, write_npz
from ..store import same_fingerprint

FOLDER = "deepview"
FIT = "fit.json"
ROWS = "rows.npz"


def folder(run: Any) -> Path:  # noqa: ANN401 - a Run
    return Path(run.path) / FOLDER


def epoch_file(run: Any, epoch: int) -> Path:  # noqa: ANN401 - a Run
    return folder(run) / f"epoch_{int(epoch):05d}.npz"


def epoch_info_file(run: Any, epoch: int) -> Path:  # noqa: ANN401 - a Run
    return folder(run) / f"epoch_{int(epoch):05d}.json"


def save_epoch(run: Any, epoch: int, arrays: Mapping[str, np.ndarray],  # noqa: ANN401
               info: Mapping[str, Any] | None = None) -> None:
    """Write one fitted epoch's arrays, then (last) what it was fitted from."""
    folder(run).mkdir(parents=True, exist_ok=True)
    epoch_info_file(run, epoch).unlink(missing_ok=True)  # the npz below is not that one's
    write_npz(epoch_file(run, epoch), **{k: np.asarray(v) for k, v in arrays.items()})
    if info is not None:
        write_json(epoch_info_file(run, epoch), dict(info))


def finished_epoch(run: Any, epoch: int, params_hash: str, previous: int | None,  # noqa: ANN401
                   fingerprint: list[float], previous_fit: str | None = None
                   ) -> dict[str, Any] | None:
    """The saved info of ``epoch`` when it was fitted with these parameters after ``previous``
    from the run's current recording of it (what ``fit`` reuses), else None. An info that
    records the fit of the previous epoch it followed (``previous_fit``, that epoch's
    ``fit_id``) matches only that one: an epoch that followed a since refitted one is stale."""
    path = epoch_info_file(run, epoch)
    if not (path.is_file() and epoch_file(run, epoch).is_file()):
        return None
    try:
        info = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    same = (isinstance(info, dict) and info.get("params_hash") == params_hash
            and info.get("previous_epoch") == previous
            and info.get("previous_fit", previous_fit) == previous_fit
            and same_fingerprint(info.get("fingerprint"), fingerprint))
    return info if same else None


def save_fit(run: Any, info: Mapping[str, Any], fit_rows: np.ndarray,  # noqa: ANN401
             held_rows: np.ndarray) -> None:
    """Write the rows split, then fit.json (last: it names the epochs that are complete)."""
    folder(run).mkdir(parents=True, exist_ok=True)
    write_npz(folder(run) / ROWS, fit_rows=np.asarray(fit_rows, np.int64),
              held_rows=np.asarray(held_rows, np.int64))
    write_json(folder(run) / FIT, dict(info))


def load_fit(run: Any) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:  # noqa: ANN401
    """``(info, fit_rows, held_rows)``; ``FileNotFoundError`` when the run has no DeepView fit."""
    path = folder(run) / FIT
    if not path.is_file():
        raise FileNotFoundError(f"no DeepView fit in {folder(run)}; fit one with "
                                "DeepView().fit(run)")
    info = json.loads(path.read_text("utf-8"))
    n = int(run.n_train) + int(run.n_test)

    def check(specs: Mapping[str, Any]) -> None:
        for name in ("fit_rows", "held_rows"):
            spec = specs.get(name)
            if spec is None or len(spec.shape) != 1 or spec.shape[0] > n:
                raise ValueError(f"{folder(run) / ROWS}: {name} missing or not (<= {n},)")

    rows = read_npz(folder(run) / ROWS, check)
    for name in ("fit_rows", "held_rows"):
        r = rows[name]
        if r.size and (r.min() < 0 or r.max() >= n):
            raise ValueError(f"{folder(run) / ROWS}: {name} out of range [0, {n})")
    return info, rows["fit_rows"], rows["held_rows"]


def load_epoch(run: Any, epoch: int) -> dict[str, np.ndarray]:  # noqa: ANN401 - a Run
    """One fitted epoch's arrays, their shapes checked against the run before reading."""
    n = int(run.n_train) + int(run.n_test)
    path = epoch_file(run, epoch)

    def check(specs: Mapping[str, Any]) -> None:
        if "coords" not in specs or tuple(specs["coords"].shape) != (n, 2):
            raise ValueError(f"{path}: coords missing or not ({n}, 2); refit with "
                             "DeepView().fit(run)")
        total = sum(s.nbytes for s in specs.values())
        if total > 64 * n * 4096 + (1 << 30):
            raise ValueError(f"{path}: {total:,} bytes is far more than a fit of {n} samples")

    return read_npz(path, check)
