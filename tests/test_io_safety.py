"""The package's writer and npz reader under faults: a full disk is named, a bomb refused."""

from __future__ import annotations

import errno
import io
import shutil
import zipfile

import numpy as np
import pytest

from dvi_widget import _io


def test_a_full_disk_names_the_file_and_the_space_needed(tmp_path, monkeypatch):
    target = tmp_path / "arrays.npz"
    _io.write_npz(target, a=np.arange(10))
    monkeypatch.setattr(_io.shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(_io.NoSpaceError, match=rf"write {target}: it needs [\d.]+ MiB and 100 "
                                               r"bytes are free there.*unchanged"):
        _io.write_npz(target, a=np.zeros(1 << 20))
    assert np.load(target)["a"].tolist() == list(range(10))  # the old file is intact


def test_a_disk_that_fills_during_the_write_is_named_too(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"

    def fills_up(path):
        path.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(_io.NoSpaceError, match=rf"write {target}: it needs more.*No space left"):
        _io.atomic_write(target, fills_up)
    assert list(tmp_path.iterdir()) == []  # no temporary left behind
    assert isinstance(_io.NoSpaceError(errno.ENOSPC, "x"), OSError)


def test_a_folder_or_an_unwritable_place_is_named_as_the_user_gave_it(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=r"out is a folder; give a file name in it"):
        _io.write_bytes(tmp_path / "out", b"x")
    # a file where a folder should be: the error names the target the user gave
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(NotADirectoryError,
                       match=r"cannot write .*notes\.txt/view\.html: .*notes\.txt is a file"):
        _io.write_bytes(tmp_path / "notes.txt" / "view.html", b"x")
    assert list((tmp_path / "out").iterdir()) == []
    # a staged folder (a run, a fit) whose place cannot be made names its target too
    with pytest.raises(OSError, match=r"cannot write .*notes\.txt/run: ") as info, \
            _io.staged_folder(tmp_path / "notes.txt" / "run"):
        pass
    assert ".tmp-" not in str(info.value)


def test_read_npz_checks_every_member_before_reading(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(6).reshape(2, 3), s=np.array("text"))
    assert _io.npz_specs(path)["x"] == _io.NpySpec((2, 3), np.dtype("int64"), 48)
    seen = {}
    out = _io.read_npz(path, check=lambda specs: seen.update(specs))
    assert out["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and str(out["s"]) == "text"
    assert set(seen) == {"x", "s"}
    with pytest.raises(ValueError, match="too big"):
        _io.read_npz(path, check=lambda specs: (_ for _ in ()).throw(ValueError("too big")))
    np.savez(path, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"'o' holds Python objects \(a pickle\)"):
        _io.read_npz(path)
    with zipfile.ZipFile(path, "w") as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
        zf.writestr("big.npy", header.getvalue() + bytes(64))
    with pytest.raises(ValueError, match=r"'big' declares shape \(1000000000,\) float64 "
                                         r"\(7\.5 GiB\) but holds 64 bytes"):
        _io.read_npz(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        _io.read_npz(path)
