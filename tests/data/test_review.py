"""Review marks: written atomically, read back after reopening, damaged files named with the fix,
read-only runs kept in the cache, and the marks file known as the run's own."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dvi_widget import _io
from dvi_widget.data.run import Run
from dvi_widget.data.run.folder import REVIEW
from dvi_widget.data.run.review import Review, ReviewFileError
from tests.data.toy_run import XT, YT, X, Y, mlp


@pytest.fixture
def run(tmp_path):
    r = Run.create(tmp_path / "run", train=(X, Y), test=(XT, YT))
    r.record(mlp())
    return r


def test_marks_are_written_and_read_back_after_reopening(run, tmp_path):
    rv = Review(run.path, n_samples=run.n_samples, n_classes=run.n_classes,
                cache_dir=tmp_path / "cache")
    rv.mark(3, "mislabeled", label=1)
    rv.mark(0, "correct")
    rv.mark(5, "unsure")
    rv.mark(0, "mislabeled", label=2)  # replaces the earlier mark
    assert rv.path == run.path / REVIEW
    doc = json.loads((run.path / REVIEW).read_text())
    assert doc["format"] == "dvi_widget.review" and len(doc["marks"]) == 3
    # a new process (a restarted kernel) sees the same marks
    again = Review(Run.open(run.path).path, cache_dir=tmp_path / "cache")
    df = again.marks()
    assert df["sample"].tolist() == [0, 3, 5]
    assert df["mark"].tolist() == ["mislabeled", "mislabeled", "unsure"]
    assert df["label"].tolist()[:2] == [2, 1] and df["label"].isna().tolist()[2]
    assert again.codes(8).tolist() == [1, 0, 0, 1, 0, 3, 0, 0]
    labels = run.labels("all")
    rel = again.relabels(labels)
    assert rel.to_dict("list") == {"sample": [0, 3], "given_label": [labels[0], labels[3]],
                                   "corrected_label": [2, 1]}
    again.unmark(3)
    assert Review(run.path).marks()["sample"].tolist() == [0, 5]


def test_writes_are_atomic(run, monkeypatch):
    rv = Review(run.path)
    rv.mark(1, "correct")
    before = (run.path / REVIEW).read_bytes()

    def crash(path, obj):  # the write dies after the temporary file, before the rename
        def write(p):
            p.write_text('{"format": "dvi_widget.review", "marks": [')
            raise KeyboardInterrupt
        return _io.atomic_write(path, write)

    monkeypatch.setattr("dvi_widget.data.run.review.write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        rv.mark(2, "unsure")
    assert (run.path / REVIEW).read_bytes() == before
    assert [p.name for p in run.path.iterdir() if p.name.startswith(_io.TMP_PREFIX)] == []


def test_bad_marks_and_damaged_files(run):
    rv = Review(run.path, n_samples=run.n_samples, n_classes=run.n_classes)
    with pytest.raises(ValueError, match="needs the corrected class"):
        rv.mark(1, "mislabeled")
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        rv.mark(1, "mislabeled", label=7)
    with pytest.raises(ValueError, match="mark must be one of"):
        rv.mark(1, "wrong")
    with pytest.raises(ValueError, match=rf"sample {run.n_samples} is outside"):
        rv.mark(run.n_samples, "correct")
    (run.path / REVIEW).write_text('{"format": "dvi_widget.review", "marks": [')
    with pytest.raises(ReviewFileError, match=rf"{REVIEW} cannot be read .*move .*{REVIEW} aside"):
        Review(run.path).marks()
    (run.path / REVIEW).write_text('{"format": "dvi_widget.review", "marks": '
                                   '[{"sample": 1, "mark": "bogus"}]}')
    with pytest.raises(ReviewFileError, match=r"mark #0 .* is invalid"):
        Review(run.path).marks()
    (run.path / REVIEW).write_text('[1, 2]')
    with pytest.raises(ReviewFileError, match="is not a dvi_widget review marks file"):
        Review(run.path).marks()


def test_a_read_only_run_keeps_its_marks_in_the_cache(run, tmp_path, monkeypatch):
    os.chmod(run.path, 0o555)
    real = os.access  # root may write anyway: deny the run folder as a read-only mount would
    monkeypatch.setattr("dvi_widget.data.run.review.os.access",
                        lambda p, mode: False if str(p).startswith(str(run.path)) and mode & os.W_OK
                        else real(p, mode))
    try:
        rv = Review(run.path, cache_dir=tmp_path / "cache")
        assert not rv.writable
        rv.mark(4, "unsure")
        assert not (run.path / REVIEW).exists()
        assert rv.path.parent.parent == tmp_path / "cache" and rv.path.is_file()
        assert Review(run.path, cache_dir=tmp_path / "cache").marks()["sample"].tolist() == [4]
    finally:
        os.chmod(run.path, 0o755)


def test_overwrite_knows_the_marks_file_as_the_runs_own(run):
    Review(run.path).mark(0, "correct")
    new = Run.create(run.path, train=(X, Y), test=(XT, YT), overwrite=True)
    assert not (new.path / REVIEW).exists()
    assert np.array_equal(new.labels("train"), Y)
