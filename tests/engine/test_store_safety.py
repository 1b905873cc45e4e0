"""The fit folder under bad inputs and faults (issue 26): nothing lost, nothing outside, no bombs.

Each test reproduces one case of the second bad-input trial on a copy of a small fitted run:
a refit that fails keeps the previous fit (item 3), a second fit of the same run is refused and
files of two fits never mix (item 4), a symlinked fit folder is never written (item 6), a
compressed bomb is refused before it is decompressed (item 8), swapped or edited files are
refused naming them (item 12), and every error says what is wrong and how to fix it.
"""

import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
import torch

from dvi_widget import _io
from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.engine import pipeline as fit_module  # the stages call train_vis_model
from dvi_widget.engine.fit import DVI
from dvi_widget.engine.store import FitFileError, FitFolderBusyError, FitStore
from tests.digits_runs import train_and_record

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = dict(hidden=16, grid_size=16, max_steps=60, warm_max_steps=40, layout_iters=30,
            warm_layout_iters=30, compute_metrics=False, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    """A digits run of 3 epochs (300 + 60 samples), fitted; tests work on copies of it."""
    run = train_and_record(tmp_path_factory.mktemp("safety") / "run",
                           load_digits(n_train=300, n_test=60, seed=0))
    DVI(**FAST).fit(run)
    return run


@pytest.fixture(scope="module")
def original(fitted_run):
    return DVI.load(fitted_run, device="cpu").coords_


def _copy(run, dest):
    shutil.copytree(run.path, dest)
    return Run.open(dest)


def _json(run, epoch):
    return run.path / "dvi" / f"epoch_{epoch:05d}.json"


def _unit_file(run, epoch, kind):
    """An epoch's committed model ("state") or arrays file (fixed names before units)."""
    info = json.loads(_json(run, epoch).read_text())
    if "files" not in info:
        return run.path / "dvi" / f"epoch_{epoch:05d}.{'pt' if kind == 'state' else 'npz'}"
    return run.path / "dvi" / info["files"][kind]


def _reseal(run, epoch):
    """Record the current data files' SHA-256 in the epoch's json (as a careful forger would)."""
    info = json.loads(_json(run, epoch).read_text())
    for kind, name in info.get("files", {}).items():
        info["sha256"][kind] = hashlib.sha256((run.path / "dvi" / name).read_bytes()).hexdigest()
    _json(run, epoch).write_text(json.dumps(info))


def _fit_files(run):
    return sorted(p.name for p in (run.path / "dvi").iterdir())


# ---------------------------------------------------------------- item 3: replace, never delete
def test_a_refit_that_runs_out_of_disk_keeps_the_previous_fit(fitted_run, original, tmp_path,
                                                              monkeypatch):
    run = _copy(fitted_run, tmp_path / "r")
    before = _fit_files(run)
    real_fsync = os.fsync
    flushed = []

    def disk_full_after_epoch_0(fd):  # a full disk reports itself when data is flushed
        flushed.append(fd)
        if len(flushed) > 3:  # epoch 0's model, arrays and json fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(_io.os, "fsync", disk_full_after_epoch_0)
    with pytest.raises(_io.NoSpaceError, match=r"not enough disk space to write .*epoch_00001\."
                                               r"[0-9a-f]{16}\.pt: it needs [\d.]+ KiB and "
                                               r".* are free there \(No space left on device\)"):
        DVI(**dict(FAST, random_state=1)).fit(run)
    monkeypatch.undo()
    assert np.array_equal(DVI.load(run, device="cpu").coords_, original)
    committed = [n for n in _fit_files(run) if not n.startswith("epoch_00000.")]
    assert committed == [n for n in before if not n.startswith("epoch_00000.")]


def test_a_refit_with_other_parameters_that_fails_keeps_the_previous_fit(
        fitted_run, original, tmp_path, monkeypatch):
    run = _copy(fitted_run, tmp_path / "r")
    calls = {"n": 0}
    real_train = fit_module.train_vis_model

    def fails_on_epoch_1(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train_vis_model", fails_on_epoch_1)
    with pytest.raises(RuntimeError, match="simulated"):
        DVI(**dict(FAST, random_state=1)).fit(run)
    assert np.array_equal(DVI.load(run, device="cpu").coords_, original)  # still there
    code = f"from dvi_widget.engine.store import FitStore; s = FitStore({str(run.path)!r}); " \
           "s.prepare()"
    subprocess.run([sys.executable, "-c", code], check=True)  # the failed fit freed the folder
    # the same refit again resumes from its finished epoch 0, commits, and tidies up
    refit = DVI(**dict(FAST, random_state=1)).fit(run)
    assert calls["n"] == 4  # epochs 1 and 2 only
    assert not np.allclose(refit.coords_, original, atol=1e-2)
    assert np.array_equal(DVI.load(run, device="cpu").coords_, refit.coords_)
    names = _fit_files(run)
    assert len([n for n in names if n.endswith(".pt")]) == 3, names  # the old units are gone
    assert len([n for n in names if n.startswith("landscape_")]) == 3, names


# ---------------------------------------------------------------- item 4: one fit at a time
def test_a_second_fit_of_the_same_run_is_refused_naming_the_first(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    code = ("import sys, time; from dvi_widget.engine.store import FitStore; "
            f"s = FitStore({str(run.path)!r}); s.prepare(); print('locked', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FitFolderBusyError,
                           match=rf"{run.path / 'dvi'} is being fitted by another process "
                                 rf"\(pid {holder.pid} on .*\).*fit a copy"):
            DVI(**dict(FAST, random_state=1)).fit(run)
    finally:
        holder.kill()
        holder.wait()
    DVI(**dict(FAST, random_state=1)).fit(run, epochs=[0])  # the lock went with its process


def test_one_thread_fits_a_folder_at_a_time_and_a_failed_fit_frees_it(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    first = FitStore(run.path)
    first.prepare()  # a fit that failed without releasing
    errors = []

    def other_thread():
        try:
            FitStore(run.path).prepare()
        except FitFolderBusyError as err:
            errors.append(str(err))

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert errors and "another thread of this process" in errors[0]
    FitStore(run.path).prepare()  # the same thread fits again: it takes the lock over


def test_files_of_two_fits_never_mix(fitted_run, tmp_path):
    """The json of one fit with the arrays (or model) of another is refused at load."""
    run = _copy(fitted_run, tmp_path / "r")
    other = _copy(fitted_run, tmp_path / "other")
    DVI(**dict(FAST, random_state=1)).fit(other, epochs=[0])
    shutil.copyfile(_unit_file(other, 0, "arrays"), _unit_file(run, 0, "arrays"))
    with pytest.raises(FitFileError, match=r"epoch_00000\.[0-9a-f]{16}\.npz is not the file "
                                           r"epoch_00000\.json recorded"):
        DVI.load(run, device="cpu")
    _reseal(run, 0)  # even with its checksum updated, the file names another unit
    with pytest.raises(FitFileError, match=r"holds epoch 0 of unit [0-9a-f]{16}, not epoch 0 "
                                           r"of unit [0-9a-f]{16}.*different fits were mixed"):
        DVI.load(run, device="cpu")


# ---------------------------------------------------------------- item 6: nothing outside
def test_a_symlinked_fit_folder_is_never_written(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".tmp-keep").write_text("someone else's")
    (outside / ".tmp-p999999999-x").write_text("not ours either")
    shutil.rmtree(run.path / "dvi")
    (run.path / "dvi").symlink_to(outside)
    with pytest.raises(FitFileError, match=rf"{run.path / 'dvi'}: it is a symbolic link to "
                                           rf"{outside}, outside the run"):
        DVI(**FAST).fit(run)
    assert sorted(p.name for p in outside.iterdir()) == [".tmp-keep", ".tmp-p999999999-x"]
    assert not FitStore(run.path).writable  # a load writes its frame to the cache instead
    assert _io.remove_stale_temporaries(run.path / "dvi") == []


# ---------------------------------------------------------------- item 8: no bombs
def _write_npz(path, arrays, deflated=None):
    """An .npz with ``arrays`` stored and, optionally, one all-zero member deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v)
            zf.writestr(f"{k}.npy", buf.getvalue())
        if deflated:
            name, shape, dtype = deflated
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": dtype, "fortran_order": False, "shape": shape})
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(header.getvalue())
                chunk = bytes(1 << 22)
                for start in range(0, nbytes, len(chunk)):
                    fh.write(chunk[: min(len(chunk), nbytes - start)])


def test_a_compressed_bomb_in_the_fit_is_refused_before_decompressing(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    npz = _unit_file(run, 1, "arrays")
    arrays = dict(np.load(npz))
    del arrays["knn"]
    _write_npz(npz, arrays, deflated=("knn", (300, 100_000), "<i8"))  # 229 MiB of zeros
    _reseal(run, 1)
    assert npz.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(FitFileError, match=r"epoch_00001\.[0-9a-f]{16}\.npz.*'knn' declares "
                                               r"228\.9 MiB compressed into .*refused"):
            DVI.load(run, device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30_000_000, peak


def test_fit_arrays_larger_than_the_run_allows_are_refused(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    npz = _unit_file(run, 2, "arrays")
    arrays = dict(np.load(npz))
    arrays["coords"] = np.zeros((361, 2), np.float32)  # the run has 300 + 60 samples
    _write_npz(npz, arrays)
    _reseal(run, 2)
    with pytest.raises(FitFileError, match=r"'coords' declares shape \(361, 2\); the run "
                                           r"allows \(360, 2\)"):
        DVI.load(run, device="cpu")


def test_saved_test_neighbours_are_checked_like_the_other_arrays(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    npz = _unit_file(run, 2, "arrays")
    arrays = dict(np.load(npz))
    k = arrays["knn"].shape[1]
    assert arrays["test_knn"].shape == (60, k)  # the 60 test samples' among train ∪ test
    assert arrays["test_knn"].min() >= 0 and arrays["test_knn"].max() < 360
    arrays["test_knn"] = np.zeros((61, k), np.int64)
    _write_npz(npz, arrays)
    _reseal(run, 2)
    with pytest.raises(FitFileError, match=rf"'test_knn' declares shape \(61, {k}\); the run "
                                           rf"allows \(60, {k}\)"):
        DVI.load(run, device="cpu")


# ---------------------------------------------------------------- item 12: each file its epoch
def test_swapped_epoch_files_are_refused_naming_them(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    one, two = _json(run, 1), _json(run, 2)
    one_text = one.read_text()
    one.write_text(two.read_text())
    two.write_text(one_text)
    with pytest.raises(FitFileError, match=r"epoch_00001\.json says it holds epoch 2 but is "
                                           r"named for epoch 1: fit files were renamed or "
                                           r"swapped"):
        DVI.load(run, device="cpu")


def test_swapped_model_files_are_refused_naming_them(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    pt1, pt2 = _unit_file(run, 1, "state"), _unit_file(run, 2, "state")
    data1 = pt1.read_bytes()
    pt1.write_bytes(pt2.read_bytes())
    pt2.write_bytes(data1)
    with pytest.raises(FitFileError, match=r"epoch_00001\.[0-9a-f]{16}\.pt is not the file "
                                           r"epoch_00001\.json recorded"):
        DVI.load(run, device="cpu")
    _reseal(run, 1)
    _reseal(run, 2)
    with pytest.raises(FitFileError, match=r"epoch_00001\.[0-9a-f]{16}\.pt holds the model of "
                                           r"epoch 2, not of epoch 1"):
        DVI.load(run, device="cpu")


def test_malformed_epoch_entries_raise_naming_the_file(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    info = json.loads(_json(run, 2).read_text())
    _json(run, 2).write_text(json.dumps({**info, "epoch": "abc"}))
    with pytest.raises(FitFileError, match=r"epoch_00002\.json has 'epoch': 'abc', not an "
                                           r"epoch number"):
        DVI.load(run, device="cpu")
    _json(run, 2).write_text(json.dumps(info))
    shutil.copyfile(_json(run, 1), run.path / "dvi" / "epoch_0001.json")
    with pytest.raises(FitFileError, match=r"epoch_0001\.json is not a file dvi_widget writes "
                                           r"\(its epochs are named like epoch_00001\.json\)"):
        DVI.load(run, device="cpu")


# ---------------------------------------------------------------- errors that say what is wrong
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_tampered_model_file_is_named_and_never_run(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    marker = tmp_path / "pwned"
    torch.save({"weight": _Payload(str(marker))}, _unit_file(run, 0, "state"))
    _reseal(run, 0)
    with pytest.raises(FitFileError) as err:
        DVI.load(run, device="cpu")
    message = str(err.value)
    assert "epoch_00000." in message and "refit epoch 0" in message.lower()
    assert "holds more than tensors" in message and "weights_only" not in message
    assert not marker.exists()


def test_an_unwritable_cache_says_cache_dir(fitted_run, tmp_path, monkeypatch):
    class ReadOnlyStore(FitStore):  # as root os.access ignores modes: pretend
        writable = property(lambda self: False)

    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / ".cache"))
    store = ReadOnlyStore(fitted_run.path)
    with pytest.raises(PermissionError, match=r"home-is-a-file/\.cache/dvi_widget.*read-only.*"
                                              r"DVI\.load\(run, cache_dir=\.\.\.\)"):
        store.save_frame({**store.load_frame(), "grid_size": 8})


def test_each_broken_chain_says_what_broke_it(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    info = json.loads(_json(run, 0).read_text())
    _json(run, 0).write_text(json.dumps({**info, "params_hash": "0123456789abcdef"}))
    with pytest.raises(FitFileError, match=r"epoch_00000\.json was fitted with other parameters "
                                           r"\(params_hash 0123456789abcdef\)"):
        DVI.load(run, device="cpu")
    _json(run, 0).write_text(json.dumps({**info, "previous_epoch": 7}))
    with pytest.raises(FitFileError, match=r"epoch_00000\.json was fitted after epoch 7, but it "
                                           r"is the first epoch"):
        DVI.load(run, device="cpu")
    _json(run, 0).unlink()
    with pytest.raises(FitFileError, match=r"epoch_00000\.json is missing"):
        DVI.load(run, device="cpu")


# ---------------------------------------------------------------- fits written before units
def _to_fixed_names(run):
    """Rewrite a fit as dvi_widget 0.2 laid it out: epoch_NNNNN.{json,pt,npz}, no units."""
    folder = run.path / "dvi"
    for e in run.epochs:
        info = json.loads(_json(run, e).read_text())
        state = torch.load(folder / info["files"]["state"], weights_only=True)
        state.pop("_dvi_unit_epoch")
        torch.save(state, folder / f"epoch_{e:05d}.pt")
        arrays = {k: v for k, v in np.load(folder / info["files"]["arrays"]).items()
                  if not k.startswith("_dvi_unit")}
        np.savez(folder / f"epoch_{e:05d}.npz", **arrays)
        os.replace(folder / f"landscape_{e:05d}.{info['unit']}.npz",
                   folder / f"landscape_{e:05d}.npz")
        for key in ("unit", "unit_format", "files", "sha256", "previous_unit"):
            info.pop(key)
        _json(run, e).write_text(json.dumps(info))
        for p in folder.glob(f"epoch_{e:05d}.{'[0-9a-f]' * 16}.*"):
            p.unlink()


def test_a_fit_with_fixed_file_names_still_opens_and_is_replaced_cleanly(
        fitted_run, original, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    _to_fixed_names(run)
    loaded = DVI.load(run, device="cpu")
    assert np.array_equal(loaded.coords_, original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DVI(**dict(FAST, random_state=1)).fit(run)
    names = _fit_files(run)
    assert not [n for n in names if n.count(".") == 1 and n.endswith((".pt", ".npz"))], names
    assert DVI.load(run, device="cpu").epochs_ == [0, 1, 2]
