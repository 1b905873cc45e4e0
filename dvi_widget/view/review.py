"""The kernel side of the review queue (Selection panel): label issues ranked, marks written back.

Mixed into :class:`~dvi_widget.view.widget.Widget`. The ranking is
:func:`dvi_widget.data.issues.label_issues` over the widget's training dynamics (and the
visualization's 2-D coordinates and landscape classes, for the landscape method); the marks are
kept by the run's owner of the marks file, :class:`dvi_widget.data.run.review.Review` (atomic,
read back after a restart, a cache folder for read-only runs).

Synced trait: ``review_marks`` uint8 (N,) buffer or None (0 unmarked, 1 mislabeled, 2 correct,
3 unsure), which the front end shows as the column ``review`` (colour, filter, search) and
:meth:`samples_df` as text. Panel ``review`` requests (one envelope,
:mod:`dvi_widget.view.protocol`):

=========== ============================================ =======================================
``action``  request                                      reply
=========== ============================================ =======================================
``queue``   ``k`` (<= 500), ``epoch``                    ``samples, given, suggested, score,
                                                         marks, corrected`` lists, best first
``mark``    ``sample``, ``mark`` (mislabeled | correct   ``sample, mark, label``
            | unsure | none), ``label`` (mislabeled)
=========== ============================================ =======================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from .._io import write_bytes
from ..data.issues import label_issues
from ..data.run.review import MARKS, Review
from .serialize import array_serialization

#: the review column's categories, code 0 first
REVIEW_CATEGORIES = ("unmarked", *MARKS)
#: most issues one queue request returns
MAX_QUEUE = 500


class ReviewMixin(t.HasTraits):
    """Label issues and review marks on a widget (see the module docstring)."""

    review_marks = t.Any(None, allow_none=True).tag(sync=True, **array_serialization)

    def _init_review(self, source: Any, review: Any) -> None:  # noqa: ANN401
        """``review``: a Review, a run folder path, False, or None (``source.review()`` when
        the object shown offers one, such as a fitted DVI)."""
        if review is None and callable(getattr(source, "review", None)):
            review = source.review()
        if isinstance(review, str | Path):
            review = Review(review, n_samples=self.n_samples, n_classes=self.vis.n_classes)
        self.review = review if isinstance(review, Review) else None
        self._issues: dict[tuple, pd.DataFrame] = {}
        if self.review is not None:
            self.review_marks = self.review.codes(self.n_samples)
        if getattr(self, "dynamics", None) is not None and self.review is not None:
            self.capabilities = {**self.capabilities, "review": True}  # the queue can run

    def _need_review(self) -> Review:
        if self.review is None:
            raise ValueError("this widget has no run folder to keep review marks in: show a "
                             "fitted DVI, or pass review=<run folder> to Widget(...)")
        return self.review

    # ------------------------------------------------------------------ issues
    def label_issues(self, epoch: int | None = None, methods: Any = None) -> pd.DataFrame:  # noqa: ANN401
        """Training samples ranked by how likely their label is wrong, at ``epoch`` (default:
        the shown one; only records up to it count): see
        :func:`dvi_widget.data.issues.label_issues` for the methods and columns."""
        dyn = getattr(self, "dynamics", None)
        if dyn is None:
            raise ValueError("label issues need the run's training dynamics: show a fitted DVI "
                             "or pass dynamics=dvi_widget.data.dynamics.dynamics_from_run(run, "
                             "keep_probabilities=True)")
        e = int(self.epoch if epoch is None else epoch)
        key = (e, None if methods is None else tuple(np.atleast_1d(methods)))
        if key not in self._issues:
            v = self.vis
            rec = dyn.epochs[dyn.up_to(e)]
            land = v.landscape_classes is not None
            self._issues[key] = label_issues(
                dyn, epoch=int(rec), split=np.asarray(v.split).astype(str),
                coords=v.coords if land else None, landscape_classes=v.landscape_classes,
                extent=v.extent if land else None, view_epochs=v.epochs, methods=methods,
                class_names=v.class_names)
        return self._issues[key].copy()

    # ------------------------------------------------------------------ marks
    def mark(self, sample: int, mark: str | None, label: int | str | None = None) -> dict:
        """Mark ``sample`` as ``"mislabeled"`` (with the corrected class ``label``, an id or a
        class name), ``"correct"`` or ``"unsure"``; None removes its mark. Saved in the run
        folder before this returns; the view's ``review`` column follows."""
        rv = self._need_review()
        if isinstance(label, str):
            names = list(self.vis.class_names)
            if label not in names:
                raise ValueError(f"unknown class {label!r}; choose one of {names}")
            label = names.index(label)
        if mark == "mislabeled" and label is not None and \
                int(label) == int(self.vis.labels[int(sample)]):
            raise ValueError(f"sample {int(sample)}: the corrected class {label} is its given "
                             "label; mark it 'correct' instead")
        if mark is None or mark == "none":
            rv.unmark(int(sample))
            entry = {"sample": int(sample), "mark": None, "label": None}
        else:
            entry = rv.mark(int(sample), mark, label)
        self.review_marks = rv.codes(self.n_samples)
        return entry

    def review_df(self) -> pd.DataFrame:
        """Every mark with its sample's given label: ``sample``, ``mark``, ``given_label``,
        ``given_name``, ``corrected_label``, ``corrected_name`` (mislabeled only), ``time``."""
        df = self._need_review().marks()
        names = np.asarray(self.vis.class_names, dtype=object)
        given = np.asarray(self.vis.labels)[df["sample"].to_numpy()]
        corrected = df["label"]
        return pd.DataFrame({
            "sample": df["sample"], "mark": df["mark"], "given_label": given,
            "given_name": names[given], "corrected_label": corrected,
            "corrected_name": pd.Series([None if pd.isna(c) else names[int(c)]
                                         for c in corrected], dtype=object),
            "time": df["time"]})

    def relabels_csv(self, path: str | Path) -> Path:
        """Write the corrections (``sample,given_label,corrected_label``, one row per sample
        marked mislabeled) as CSV a training script can read back; atomic."""
        rel = self._need_review().relabels(self.vis.labels)
        return write_bytes(path, rel.to_csv(index=False).encode("utf-8"))

    def _review_column(self, idx: np.ndarray) -> np.ndarray:
        codes = self.review_marks
        if codes is None:
            return np.full(len(idx), "unmarked", dtype=object)
        return np.asarray(REVIEW_CATEGORIES, dtype=object)[np.asarray(codes)[idx]]

    # ------------------------------------------------------------------ panel
    def _on_review(self, req: dict, buffers: list) -> tuple[dict, list]:
        action = req.get("action")
        if action == "queue":
            k = int(req.get("k", 50))
            if not 0 < k <= MAX_QUEUE:
                raise ValueError(f"k must be in [1, {MAX_QUEUE}], got {k}")
            df = self.label_issues(req.get("epoch")).head(k)
            s = df["sample"].to_numpy()
            codes = (np.zeros(self.n_samples, np.uint8) if self.review_marks is None
                     else np.asarray(self.review_marks))
            marks = self._need_review().marks().set_index("sample")["label"] \
                if self.review is not None else pd.Series(dtype="Int64")
            return {"samples": s.tolist(), "given": df["given_label"].tolist(),
                    "suggested": df["suggested_label"].tolist(),
                    "score": [round(float(x), 4) for x in df["combined_score"]],
                    "marks": [REVIEW_CATEGORIES[c] for c in codes[s]],
                    "corrected": [None if i not in marks.index or pd.isna(marks[i])
                                  else int(marks[i]) for i in s],
                    "writable": self.review is not None}, []
        if action == "mark":
            label = req.get("label")
            entry = self.mark(int(req["sample"]), req.get("mark"),
                              None if label is None else int(label))
            return {"sample": entry["sample"], "mark": entry["mark"],
                    "label": entry["label"]}, []
        raise ValueError(f"review: unknown action {action!r} (queue or mark)")
