"""Issue 26 on the run folder: nothing lost, nothing read or written outside the run, no bombs.

Each test reproduces one case of the second bad-input trial (the item number is in its name's
docstring) and checks that the run is refused with an error naming the file and the fix, and
that what was there before is left as it was.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dvi_widget import _io
from dvi_widget.data.datasets import from_arrays
from dvi_widget.data.run import Run
from tests.data.toy_run import REPO, XT, YT, X, Y, mlp


@pytest.fixture
def run(tmp_path):
    r = Run.create(tmp_path / "run", train=(X, Y), test=(XT, YT))
    r.record(mlp())
    return r


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


# ------------------------------------------------------------------ 1: overwrite only our own


def test_overwrite_refuses_a_folder_that_merely_holds_a_run_json(tmp_path):
    """Item 1: a folder with a run.json beside unrelated files is not the project's to delete."""
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "run.json").write_text('{"runner": "my marathon"}')
    (folder / "notes.txt").write_text("years of work")
    (folder / "data").mkdir()
    (folder / "data" / "measurements.csv").write_text("1,2,3")
    before = tree(folder)
    with pytest.raises(FileExistsError, match=r"thesis.*not written by dvi_widget"):
        Run.create(folder, train=(X, Y), overwrite=True)
    assert tree(folder) == before


def test_overwrite_refuses_a_run_with_foreign_entries(run):
    """Item 1: a real run with a user's file beside it: refused, naming the unknown entries."""
    (run.path / "notes.txt").write_text("mine")
    (run.path / "epochs" / "plots").mkdir()
    before = tree(run.path)
    with pytest.raises(FileExistsError, match=r"notes\.txt.*epochs/plots|epochs/plots.*notes"):
        Run.create(run.path, train=(X, Y), overwrite=True)
    assert tree(run.path) == before
    (run.path / "notes.txt").unlink()
    (run.path / "epochs" / "plots").rmdir()
    assert (run.path / "architecture.json").is_file()  # the stored network is the run's own
    (run.path / "dvi").mkdir()  # the engine's fit folder is the project's own
    (run.path / "dvi" / "epoch_0000.json").write_text("{}")
    new = Run.create(run.path, train=(X[:20], Y[:20]), overwrite=True)
    assert new.n_train == 20 and new.epochs == [] and not (run.path / "dvi").exists()
    assert not (run.path / "architecture.json").exists()


# ------------------------------------------------------------------ 2: a full disk


#: how a refused write names the space it needs and the space free (free space mocked to 100)
NEEDS = "it needs .* and 100 bytes are free"


def test_full_disk_on_record_names_the_file_and_the_space(run, monkeypatch):
    """Item 2 (fault injection): too little free space is an OSError before any byte is
    written, naming the file and the space needed; the run is as it was."""
    before = tree(run.path)
    monkeypatch.setattr(_io, "free_space", lambda folder: 100)
    with pytest.raises(OSError, match=rf"train_representations\.npy: {NEEDS}"):
        run.record(mlp(), overwrite=True, epoch=0)
    with pytest.raises(OSError, match=rf"train_representations\.npy: {NEEDS}"):
        run.record_arrays(1, representations=(X[:, :5], XT[:, :5]), logits=(X[:, :3], XT[:, :3]))
    with pytest.raises(OSError, match=rf"inputs_train\.npy: {NEEDS}"):
        Run.create(run.path.parent / "other", train=(X, Y))
    assert tree(run.path) == before
    assert not (run.path.parent / "other").exists()
    assert [p.name for p in run.path.parent.iterdir()] == ["run"]


def test_enospc_while_writing_is_an_error_not_a_crash(run, monkeypatch):
    """Item 2: the disk fills up during the write (the free-space check passed): an OSError
    naming the file, not a SIGBUS through a memory map; the run is as it was."""
    before = tree(run.path)
    real_write = os.write
    written: dict[str, int] = {}

    def fill_up(fd, data):  # the disk is full after the first block of the train arrays
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith("train_representations.npy"):
            written[name] = written.get(name, 0) + 1
            if written[name] > 2:
                raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", fill_up)
    with pytest.raises(OSError, match=r"disk space to write .*train_representations\.npy"):
        run.record(mlp(), epoch=0, overwrite=True, batch_size=8)
    assert tree(run.path) == before


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_real_full_disk_during_record(tmp_path):
    """Item 2 on a real 1 MiB disk (tmpfs; needs root, skipped otherwise): the recording
    process survives (no SIGBUS) and says which file did not fit."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        code = f"""
            import numpy as np, torch
            from torch import nn
            from dvi_widget import _io
            from dvi_widget.data.run import Run
            x = np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32)
            run = Run.create({str(disk / 'run')!r}, train=(x, np.arange(2000) % 3),
                             save_inputs=False)
            ballast = {str(disk / 'ballast')!r}
            free = _io.free_space({str(disk)!r})
            with open(ballast, 'wb') as fh:
                fh.write(b'0' * (free - 20_000))
            _io.free_space = lambda folder: 10**12  # let the write start, then fill the disk
            try:
                run.record(nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 3)))
            except OSError as err:
                print('REFUSED', err)
            print('EPOCHS', run.epochs)
        """
        out = run_python(code)
        assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
        assert "REFUSED" in out.stdout and "representations.npy" in out.stdout, out.stdout
        assert "EPOCHS []" in out.stdout
        leftovers = [p.name for p in (disk / "run" / "epochs").iterdir()]
        assert leftovers == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------------------------ 5: names inside the run


@pytest.mark.parametrize("name", ["/etc/other.npy", "../../other.npy", "../labels.npy",
                                  "sub/000.npy"])
def test_metadata_file_must_lie_inside_the_run(tmp_path, name):
    """Item 5: run.json's metadata_columns[].file is a name inside the run's metadata folder."""
    r = Run.create(tmp_path / "run", train=(X, Y), metadata={"noisy": np.arange(40) % 2 == 0})
    outside = tmp_path / "other.npy"
    np.save(outside, np.arange(40) * 1000)
    meta = json.loads((r.path / "run.json").read_text())
    meta["metadata_columns"][0]["file"] = str(outside) if name.startswith("/") else name
    (r.path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"run\.json.*metadata_columns\[0\].*file.*inside"):
        Run.open(r.path).metadata  # noqa: B018


def test_metadata_part_must_lie_inside_the_run(tmp_path):
    r = Run.create(tmp_path / "run", train=(X, Y),
                   metadata={"src": np.where(np.arange(40) % 2, "web", None)})
    meta = json.loads((r.path / "run.json").read_text())
    assert meta["metadata_columns"][0]["parts"] == ["missing"]
    meta["metadata_columns"][0]["parts"] = ["/../../x"]
    (r.path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"run\.json.*metadata_columns\[0\].*parts"):
        Run.open(r.path)


# ------------------------------------------------------------------ 7: a head spec bomb


def test_tampered_head_spec_is_refused_before_allocating(run):
    """Item 7: a head spec of Linear(20000, 20000) (1.6 GB) against a small head.pt is refused
    under an address-space limit far below 1.6 GB, naming the file and the shapes."""
    info_file = run.path / "epochs" / "0000" / "epoch.json"
    info = json.loads(info_file.read_text())
    info["head"]["spec"] = [{"type": "Linear", "in_features": 20000, "out_features": 20000,
                             "bias": True}]
    info_file.write_text(json.dumps(info))
    code = f"""
        import resource
        from dvi_widget.data.run import Run
        run = Run.open({str(run.path)!r})
        with open('/proc/self/status') as fh:
            vm = next(int(l.split()[1]) * 1024 for l in fh if l.startswith('VmSize'))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 600 * 2**20, resource.RLIM_INFINITY))
        try:
            run.head(0)
        except ValueError as err:
            print('REFUSED', err)
    """
    out = run_python(code, OMP_NUM_THREADS="1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "REFUSED" in out.stdout, out.stdout
    assert "head.pt" in out.stdout and "(20000, 20000)" in out.stdout


def test_head_with_unexpected_keys_names_the_file(run):
    head_file = run.path / "epochs" / "0000" / "head.pt"
    torch.save({"0.weight": torch.zeros(3, 5)}, head_file)
    with pytest.raises(ValueError, match=r"head\.pt.*re-record epoch 0"):
        run.head(0)


# ------------------------------------------------------------------ 13: silent inputs


def test_complex_inputs_are_refused(tmp_path):
    x = X.astype(np.complex64) + 1j
    with pytest.raises(TypeError, match="complex"):
        Run.create(tmp_path / "r", train=(x, Y))
    with pytest.raises(TypeError, match="complex"):
        Run.create(tmp_path / "r", train=(X, Y), test=(torch.as_tensor(XT) * 1j, YT))
    assert not (tmp_path / "r").exists()


def test_data_sets_refuse_what_runs_refuse():
    """Item 13 through a Dataset: the same checks (one place, dvi_widget._checks)."""
    with pytest.raises(TypeError, match="complex"):
        from_arrays(X * 1j, Y)
    with pytest.raises(TypeError, match="a single string"):
        from_arrays(X, Y, class_names="abc")
    with pytest.raises(ValueError, match="more than once"):
        from_arrays(X, Y, class_names=["a", "a", "b"])


def test_metadata_names_equal_as_text_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"metadata.*'1'.*more than once"):
        Run.create(tmp_path / "r", train=(X, Y), metadata={1: np.arange(40), "1": np.ones(40)})


def test_class_names_must_be_distinct_and_a_list(tmp_path):
    with pytest.raises(ValueError, match=r"class_names.*'a'.*more than once"):
        Run.create(tmp_path / "r", train=(X, Y), class_names=["a", "b", "a"])
    with pytest.raises(TypeError, match=r"class_names.*a single string"):
        Run.create(tmp_path / "r", train=(X, Y), class_names="abc")
    assert Run.create(tmp_path / "r", train=(X, Y), class_names=("x", "y", "z")).class_names \
        == ["x", "y", "z"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temporaries_of_a_killed_create_are_cleaned(tmp_path):
    """Item 13: a create killed with -9 leaves a hidden staged folder beside the run; the next
    create or open in that folder removes it, and nothing that is not the project's."""
    parent = tmp_path / "runs"
    parent.mkdir()
    stale = parent / f".tmp-p{_dead_pid()}-fmnist-abc123"
    stale.mkdir()
    (stale / "inputs_train.npy").write_bytes(b"\0" * 4096)
    live = parent / f".tmp-p{os.getppid()}-other-xyz"  # a writer that still runs
    live.mkdir()
    mine = parent / ".tmp-user-notes"  # not a name this project makes
    mine.write_text("keep me")
    Run.create(parent / "fmnist", train=(X, Y))
    assert not stale.exists() and live.exists() and mine.exists()

    stale.mkdir()
    Run.open(parent / "fmnist")
    assert not stale.exists() and live.exists() and mine.exists()


def test_killed_create_leaves_nothing_after_the_next_create(tmp_path):
    """Item 13, for real: kill -9 while Run.create writes, then create again."""
    parent = tmp_path / "runs"
    parent.mkdir()
    code = f"""
        import os, signal, numpy as np
        from dvi_widget.data.run import Run
        real = np.save
        def die(*args, **kwargs):  # the first file is written, then the process is killed
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        np.save = die
        Run.create({str(parent / 'fmnist')!r}, train=(np.ones((50, 6), 'f4'), np.arange(50) % 3))
    """
    out = run_python(code)
    assert out.returncode == -9, out.stderr[-2000:]
    assert [p.name for p in parent.iterdir() if p.name.startswith(".tmp-")], "nothing staged?"
    Run.create(parent / "fmnist", train=(X, Y))
    assert [p.name for p in parent.iterdir()] == ["fmnist"]


# ------------------------------------------------------------------ unclear errors


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("name", ["head.pt", "state_dict.pt"])
def test_tampered_pt_names_the_file_and_never_advises_weights_only_false(run, name):
    file = run.path / "epochs" / "0000" / name
    if not file.exists():
        pytest.skip(f"{name} not recorded")
    torch.save({"0.weight": _Evil()}, file)
    with pytest.raises(ValueError) as err:
        run.head(0) if name == "head.pt" else run.state_dict(0)
    text = str(err.value)
    assert name in text and "re-record epoch 0" in text
    assert "weights_only" not in text and "pwned" not in text
    assert not isinstance(err.value.__cause__, pickle.UnpicklingError)
    assert err.value.__context__ is None or err.value.__suppress_context__


def test_tampered_checkpoint_never_advises_weights_only_false(tmp_path):
    ckpt = tmp_path / "epoch_3.pt"
    torch.save({"state_dict": {"0.weight": _Evil()}}, ckpt)
    with pytest.raises(ValueError) as err:
        Run.from_checkpoints(tmp_path / "r", [ckpt], mlp(), train=(X, Y), quiet=True)
    text = str(err.value)
    assert "epoch_3.pt" in text and "state_dict()" in text
    assert "weights_only" not in text
    assert not (tmp_path / "r").exists()


def test_an_epoch_folder_under_another_spelling_is_ignored_with_a_warning(run):
    """Item 12: ``epochs/00000`` beside ``epochs/0000`` must not add an epoch "after itself"."""
    twin = run.path / "epochs" / "00000"
    shutil.copytree(run.path / "epochs" / "0000", twin)
    with pytest.warns(UserWarning, match=r"00000 is not a folder dvi_widget writes"):
        epochs = Run.open(run.path).epochs
    assert epochs == [0]


def test_inside_files_are_the_runs_own_and_a_tampered_one_is_refused(tmp_path):
    """Issue 22: an epoch recorded with gradients=GradientMonitor(model) holds inside.npz /
    inside.json; overwrite=True replaces such a run (they are the project's own files), a user
    file beside them is still foreign, and a tampered inside.npz is refused naming the file."""
    from dvi_widget.data.run import inside as store
    from dvi_widget.inside import GradientMonitor

    r = Run.create(tmp_path / "run", train=(X, Y), test=(XT, YT))
    model = mlp()
    with GradientMonitor(model) as monitor:
        torch.nn.functional.cross_entropy(model(torch.tensor(X)), torch.tensor(Y)).backward()
        r.record(model, 0, gradients=monitor)
    epoch = r.path / "epochs" / "0000"
    assert {"inside.npz", "inside.json"} <= {p.name for p in epoch.iterdir()}
    (epoch / "inside.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"epochs/0000/inside\.txt"):
        Run.create(r.path, train=(X, Y), overwrite=True)
    (epoch / "inside.txt").unlink()
    (epoch / "inside.npz").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"inside\.npz is damaged.*gradients=GradientMonitor"):
        store.read(r, 0)
    new = Run.create(r.path, train=(X[:20], Y[:20]), overwrite=True)
    assert new.epochs == [] and not epoch.exists()


def test_overwrite_replaces_a_run_holding_deepviews_fit(run):
    """DeepView writes its fit into ``run/deepview``: the project's own, replaced with the run
    (a notebook that fits DeepView can be run twice into the same folder)."""
    (run.path / "deepview").mkdir()
    (run.path / "deepview" / "deepview.json").write_text("{}")
    new = Run.create(run.path, train=(X[:20], Y[:20]), overwrite=True)
    assert new.n_train == 20 and not (run.path / "deepview").exists()


@pytest.mark.filterwarnings("error::UserWarning")
def test_arrays_read_back_are_the_callers_copy_and_the_files_stay(tmp_path):
    run = Run.create(tmp_path / "r", train=(X, Y))
    run.record(mlp(), 0)
    reps = run.representations(0, "train")
    before = np.array(reps)
    t = torch.as_tensor(reps)  # no "not writable" warning: a copy-on-write map
    t[0] = 999.0
    assert reps[0, 0] == 999.0  # the caller's copy changed
    np.testing.assert_array_equal(Run.open(tmp_path / "r").representations(0, "train"), before)
