"""Review marks of a run: which samples a person judged *mislabeled* (with the corrected class),
*correct* or *unsure*. The only module that reads or writes the marks file.

The file is ``review.json`` at the top of the run folder (:data:`~.folder.REVIEW`, one of the
run's own entries, so ``Run.create(overwrite=True)`` may replace a folder holding it)::

    {"format": "dvi_widget.review", "version": 1,
     "marks": [{"sample": 12, "mark": "mislabeled", "label": 3, "time": "2026-12-03T10:01:02Z"},
               ...]}

Every change rewrites the whole file through :func:`dvi_widget._io.write_json` (a temporary
file, flushed, then renamed): a crash leaves the previous marks or the new ones, never half a
file, and a restarted kernel reads them back. A run folder that cannot be written (shared
read-only) keeps its marks in a cache folder instead (``$XDG_CACHE_HOME/dvi_widget/review/<key>``,
one per run path), read back the same way. A damaged file raises an error that names it and the
fix.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..._io import write_json
from .folder import REVIEW

FORMAT_NAME = "dvi_widget.review"
FORMAT_VERSION = 1
#: the marks a sample can get
MARKS = ("mislabeled", "correct", "unsure")
COLUMNS = ["sample", "mark", "label", "time"]


class ReviewFileError(ValueError):
    """A marks file that cannot be read; the message names it and says what to do."""


def default_cache_dir() -> Path:
    """Where the marks of read-only runs go: ``$XDG_CACHE_HOME/dvi_widget/review``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dvi_widget" / "review"


class Review:
    """The review marks of one run folder.

    Parameters
    ----------
    run_path : the run folder (``Run.path``).
    n_samples : number of samples (marks outside ``[0, n)`` are refused); None: unchecked.
    n_classes : number of classes (a corrected class outside ``[0, C)`` is refused).
    cache_dir : where a read-only run's marks go (default :func:`default_cache_dir`).

    Examples
    --------
    >>> rv = Review(run.path, n_samples=run.n_samples)        # doctest: +SKIP
    >>> rv.mark(12, "mislabeled", label=3)                     # doctest: +SKIP
    >>> rv.marks()                                             # doctest: +SKIP
    """

    def __init__(self, run_path: str | Path, *, n_samples: int | None = None,
                 n_classes: int | None = None, cache_dir: str | Path | None = None) -> None:
        self.run_path = Path(run_path)
        self.n_samples = n_samples
        self.n_classes = n_classes
        key = hashlib.sha1(str(self.run_path.resolve()).encode()).hexdigest()[:16]
        self.cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / key
        self._marks: dict[int, dict[str, Any]] | None = None

    @property
    def writable(self) -> bool:
        """Whether the marks go into the run folder (else into the cache)."""
        own = self.run_path / REVIEW
        if own.exists():
            return os.access(own, os.W_OK) and os.access(self.run_path, os.W_OK | os.X_OK)
        return os.access(self.run_path, os.W_OK | os.X_OK)

    @property
    def path(self) -> Path:
        """The marks file written: in the run folder, or in the cache for a read-only run."""
        return self.run_path / REVIEW if self.writable else self.cache / REVIEW

    def _read(self) -> dict[int, dict[str, Any]]:
        path = self.path
        if not path.exists():
            return {}
        fix = (f"move {path} aside (or delete it) to start a new review, or restore it from a "
               "backup; dvi_widget writes it atomically, so it was changed by something else")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReviewFileError(f"the review marks file {path} cannot be read ({err}); "
                                  f"{fix}") from err
        if not (isinstance(doc, dict) and doc.get("format") == FORMAT_NAME
                and isinstance(doc.get("marks"), list)):
            raise ReviewFileError(f"{path} is not a dvi_widget review marks file (no "
                                  f"'format': {FORMAT_NAME!r} and 'marks' list); {fix}")
        if int(doc.get("version", 0)) > FORMAT_VERSION:
            raise ReviewFileError(f"{path} was written by a newer dvi_widget (format version "
                                  f"{doc.get('version')}); upgrade dvi_widget to read it")
        out = {}
        for i, m in enumerate(doc["marks"]):
            try:
                entry = self._check(m["sample"], m["mark"], m.get("label"))
            except (KeyError, TypeError, ValueError) as err:
                raise ReviewFileError(f"{path}: mark #{i} ({m!r}) is invalid ({err}); "
                                      f"{fix}") from err
            entry["time"] = str(m.get("time", ""))
            out[entry["sample"]] = entry
        return out

    def _check(self, sample: Any, mark: Any, label: Any = None) -> dict[str, Any]:  # noqa: ANN401
        if isinstance(sample, bool) or not isinstance(sample, int | np.integer):
            raise TypeError(f"sample must be an integer index, got {sample!r}")
        s = int(sample)
        if s < 0 or (self.n_samples is not None and s >= self.n_samples):
            raise ValueError(f"sample {s} is outside [0, {self.n_samples})")
        if mark not in MARKS:
            raise ValueError(f"mark must be one of {list(MARKS)}, got {mark!r}")
        if mark == "mislabeled":
            if label is None or isinstance(label, bool) or not isinstance(label, int | np.integer):
                raise ValueError("a 'mislabeled' mark needs the corrected class id (label=...)")
            if label < 0 or (self.n_classes is not None and label >= self.n_classes):
                raise ValueError(f"corrected class {label} is outside [0, {self.n_classes})")
            label = int(label)
        else:
            label = None
        return {"sample": s, "mark": str(mark), "label": label}

    def _all(self) -> dict[int, dict[str, Any]]:
        if self._marks is None:
            self._marks = self._read()
        return self._marks

    def reload(self) -> Review:
        """Read the file again (another kernel may have written it); returns self."""
        self._marks = None
        self._all()
        return self

    def _write(self, marks: dict[int, dict[str, Any]]) -> None:
        doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
               "marks": [marks[k] for k in sorted(marks)]}
        write_json(self.path, doc)
        self._marks = marks

    def mark(self, sample: int, mark: str, label: int | None = None) -> dict[str, Any]:
        """Mark ``sample`` (``"mislabeled"`` with its corrected class ``label``, ``"correct"``
        or ``"unsure"``), replacing any earlier mark; written before this returns."""
        entry = self._check(sample, mark, label)
        entry["time"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        marks = dict(self._all())
        marks[entry["sample"]] = entry
        self._write(marks)
        return entry

    def unmark(self, sample: int) -> None:
        """Remove the mark of ``sample`` (none: nothing happens)."""
        marks = dict(self._all())
        if marks.pop(int(sample), None) is not None:
            self._write(marks)

    def marks(self) -> pd.DataFrame:
        """Every mark: ``sample``, ``mark``, ``label`` (corrected class, <NA> unless
        mislabeled), ``time`` (UTC), sorted by sample."""
        rows = [self._all()[k] for k in sorted(self._all())]
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["sample"] = df["sample"].astype(np.int64)
        df["label"] = df["label"].astype("Int64")
        return df

    def codes(self, n: int) -> np.ndarray:
        """uint8 (n,) per sample: 0 unmarked, then 1 + the index in :data:`MARKS`."""
        out = np.zeros(n, np.uint8)
        for s, m in self._all().items():
            if s < n:
                out[s] = 1 + MARKS.index(m["mark"])
        return out

    def relabels(self, labels: np.ndarray) -> pd.DataFrame:
        """The corrections to feed back to training: ``sample``, ``given_label``,
        ``corrected_label`` for each sample marked mislabeled."""
        df = self.marks()
        df = df[df["mark"] == "mislabeled"]
        return pd.DataFrame({"sample": df["sample"].to_numpy(),
                             "given_label": np.asarray(labels)[df["sample"].to_numpy()],
                             "corrected_label": df["label"].to_numpy(dtype=np.int64)})
