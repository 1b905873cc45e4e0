"""A run folder a user can damage, share, kill or feed odd models: every failure names the file and
the fix, nothing is left half-written, and another user can read it without writing."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dvi_widget.data.datasets import from_arrays
from dvi_widget.data.run import Run
from tests.data.toy_run import REPO, XT, YT, X, Y, mlp


@pytest.fixture
def run(tmp_path):
    r = Run.create(tmp_path / "run", train=(X, Y), test=(XT, YT),
                   metadata={"source": np.where(np.arange(50) % 2, "web", "lab")})
    r.record(mlp(0))
    r.record(mlp(1))
    return Run.open(r.path, model=mlp())


# ------------------------------------------------------------------ damaged and missing files


def test_truncated_array_names_the_file_and_the_epoch_to_rerecord(run):
    file = run.path / "epochs" / "0001" / "train_representations.npy"
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(ValueError) as err:
        run.representations(1)
    message = str(err.value)
    assert str(file) in message and "damaged" in message
    assert "re-record epoch 1: run.record(model, 1, overwrite=True)" in message
    assert "mmap length" in message  # numpy's own words stay, after ours
    np.testing.assert_array_equal(run.representations(0).shape, (40, 5))  # epoch 0 unaffected
    run.record(mlp(1), 1, overwrite=True)  # the fix the message gives works
    assert run.representations(1).shape == (40, 5)


def test_missing_files_name_the_path_and_the_fix(run):
    logits = run.path / "epochs" / "0000" / "test_logits.npy"
    logits.unlink()
    with pytest.raises(FileNotFoundError, match=f"{logits} is missing; re-record epoch 0"):
        run.logits(0, "test")
    (run.path / "metadata" / "000.npy").unlink()
    with pytest.raises(FileNotFoundError, match="000.npy is missing; this file is written "
                                                "once by Run.create: create the run again"):
        _ = run.metadata
    (run.path / "labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match="labels.npy is missing"):
        run.labels()


def test_deleted_or_damaged_head_weights_say_so(run):
    head = run.path / "epochs" / "0001" / "head.pt"
    head.unlink()
    with pytest.raises(FileNotFoundError, match=f"{head} is missing; re-record epoch 1"):
        run.head(1)
    head.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=f"{head} is damaged .*re-record epoch 1"):
        run.head(1)
    state = run.path / "epochs" / "0000" / "state_dict.pt"
    state.unlink()
    with pytest.raises(FileNotFoundError, match=f"{state} is missing; re-record epoch 0"):
        run.feature_model(0)
    info = run.path / "epochs" / "0000" / "epoch.json"
    info.write_text("{ half")
    with pytest.raises(ValueError, match=f"{info} is damaged .*re-record epoch 0"):
        run.epoch_info(0)


# ------------------------------------------------------------------ models and labels


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16], ids=["float64", "float16"])
def test_float64_and_float16_models_record(tmp_path, dtype):
    model = mlp().to(dtype)
    r = Run.create(tmp_path / "r", train=(X, Y), test=(XT, YT))
    r.record(model)
    with torch.no_grad():
        want_rep = torch.relu(model[0](torch.as_tensor(X).to(dtype)))
        want_logits = model[2](want_rep)
    tol = 1e-6 if dtype == torch.float64 else 2e-3
    np.testing.assert_allclose(r.representations(0), want_rep.float().numpy(), atol=tol)
    np.testing.assert_allclose(r.logits(0), want_logits.float().numpy(), atol=tol)
    assert r.representations(0).dtype == np.float32
    # g and f come back as float32 modules / float32 outputs, whatever the model's dtype
    with torch.no_grad():
        logits = r.head(0)(torch.as_tensor(np.array(r.representations(0))))
        reps = r.feature_model(0)(torch.as_tensor(X))
    assert logits.dtype == reps.dtype == torch.float32
    np.testing.assert_allclose(logits.numpy(), r.logits(0), atol=10 * tol)
    np.testing.assert_allclose(reps.numpy(), r.representations(0), atol=tol)


def test_a_stray_label_needs_n_classes_and_fails_early(tmp_path):
    y = Y.copy()
    y[5] = 2_000_000
    with pytest.raises(ValueError) as err:
        Run.create(tmp_path / "r", train=(X, y))
    message = str(err.value)
    assert len(message) < 300, message
    assert "labels go up to 2000000 but only 4 distinct labels occur" in message
    assert "n_classes=2000001" in message
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="n_classes=2000001"):  # the same rule for a Dataset
        from_arrays(X, y)
    assert from_arrays(X, Y, n_classes=5).class_names == ["0", "1", "2", "3", "4"]
    # a class that no sample has yet is fine when the count is given
    r = Run.create(tmp_path / "r", train=(X, Y), n_classes=5)
    assert r.n_classes == 5 and r.class_names == ["0", "1", "2", "3", "4"]
    with pytest.raises(ValueError, match="class_names has 2 entries but n_classes=3"):
        Run.create(tmp_path / "r2", train=(X, Y), n_classes=3, class_names=["a", "b"])


# ------------------------------------------------------------------ interrupted writes


KILLED_RECORDER = """
import sys, time
from pathlib import Path
import torch
from torch import nn
from dvi_widget.data.datasets import from_arrays
from dvi_widget.data.run import Run

run = Run.open(sys.argv[1])
marker = Path(sys.argv[2])

class Stalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 5), nn.Linear(5, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 2:  # one batch is on disk, in the temporary folder: wait to be killed
            marker.write_text("ready")
            time.sleep(600)
        return self.b(torch.relu(self.a(x)))

run.record(Stalls(), 1, batch_size=16, overwrite=True)
"""


def test_kill_9_while_recording_is_cleaned_on_the_next_open(run, tmp_path):
    marker = tmp_path / "ready"
    script = tmp_path / "recorder.py"
    script.write_text(KILLED_RECORDER)
    before = np.array(run.representations(1))
    proc = subprocess.Popen([sys.executable, str(script), str(run.path), str(marker)],
                            cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the recorder died before it was killed"
            assert time.monotonic() < deadline, "the recorder never reached its second batch"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [p.name for p in (run.path / "epochs").iterdir() if p.name.startswith(".tmp-")]
    assert left and all(n.startswith(f".tmp-p{proc.pid}-0001-") for n in left), left
    reopened = Run.open(run.path)
    assert [p.name for p in (run.path / "epochs").iterdir()] == ["0000", "0001"]
    assert reopened.epochs == [0, 1]
    np.testing.assert_array_equal(reopened.representations(1), before)  # the old epoch 1 stays


def test_from_checkpoints_that_fails_leaves_nothing_and_a_retry_works(tmp_path):
    good = tmp_path / "epoch_0.pt"
    torch.save(mlp(0).state_dict(), good)
    refused = tmp_path / "epoch_1.pt"  # a pickle of more than tensors: weights_only refuses it
    torch.save({"state_dict": mlp(1).state_dict(), "note": Path("x")}, refused)
    target = tmp_path / "out" / "run"
    with pytest.raises(ValueError, match="epoch_1.pt holds more than tensors"):
        Run.from_checkpoints(target, [good, refused], mlp, train=(X, Y), quiet=True)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary folder either
    torch.save(mlp(1).state_dict(), refused)
    r = Run.from_checkpoints(target, [good, refused], mlp, train=(X, Y), quiet=True)
    assert r.path == target and Run.open(target).epochs == [0, 1]
    # a failed overwrite keeps the run that was there
    torch.save({"state_dict": mlp(1).state_dict(), "note": Path("x")}, refused)
    with pytest.raises(ValueError, match="holds more than tensors"):
        Run.from_checkpoints(target, [good, refused], mlp, train=(X, Y), quiet=True,
                             overwrite=True)
    assert Run.open(target).epochs == [0, 1]
    assert sorted(p.name for p in target.parent.iterdir()) == ["run"]


# ------------------------------------------------------------------ sharing a run


READ_AS_NOBODY = """
import os, sys
import numpy as np
import torch
from torch import nn
from dvi_widget.data.datasets import from_arrays
from dvi_widget.data.run import Run

def mlp():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))

def read(path):
    run = Run.open(path, model=mlp())
    out = {"epochs": run.epochs, "reps": np.array(run.representations(1, "all")),
           "labels": run.labels("all"), "meta": run.metadata["source"].tolist()}
    out["head"] = run.head(1)(torch.as_tensor(out["reps"])).detach().numpy()
    out["f"] = run.feature_model(0)(torch.as_tensor(run.inputs("train"))).detach().numpy()
    return run, out

read(sys.argv[1])  # as root, on a copy: loads every lazily imported module first
os.setgroups([])
os.setgid(65534)
os.setuid(65534)  # nobody: the interpreter under /root cannot be opened from here on
assert not os.access(sys.argv[2], os.W_OK)
run, out = read(sys.argv[2])
try:
    run.record(mlp(), 2)
except PermissionError as err:
    out["record_error"] = str(err)
np.savez(sys.argv[3], **{k: np.asarray(v) for k, v in out.items()})
"""


def _tree(path: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to drop to the user 'nobody' (os.setuid)")
def test_a_run_shared_read_only_opens_for_another_user():
    old_mask = os.umask(0o022)
    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="dvi-shared-"))
    try:
        os.chmod(shared, 0o755)
        r = Run.create(shared / "run", train=(X, Y), test=(XT, YT),
                       metadata={"source": np.where(np.arange(50) % 2, "web", "lab")})
        r.record(mlp(0))
        r.record(mlp(1))
        # the user's umask, not tempfile's 0700/0600
        for p in [r.path, *r.path.rglob("*")]:
            want = 0o755 if p.is_dir() else 0o644
            assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))
        stale = r.path / "epochs" / ".tmp-p999999999-0002-leftover"  # a dead writer's folder
        stale.mkdir()
        copy = shared / "copy"
        shutil.copytree(r.path, copy)
        before = _tree(r.path)
        result = shared / "result.npz"
        script = shared / "read.py"
        script.write_text(READ_AS_NOBODY)
        os.chmod(shared, 0o777)  # nobody writes its answer here, not into the run
        proc = subprocess.run([sys.executable, str(script), str(copy), str(r.path), str(result)],
                              cwd="/tmp", capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HOME": "/tmp"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = np.load(result)
        assert got["epochs"].tolist() == [0, 1]
        np.testing.assert_array_equal(got["reps"], r.representations(1, "all"))
        np.testing.assert_array_equal(got["labels"], r.labels("all"))
        np.testing.assert_allclose(got["head"], r.logits(1, "all"), atol=1e-5)
        np.testing.assert_allclose(got["f"], r.representations(0), atol=1e-5)
        assert got["meta"].tolist()[:2] == ["lab", "web"]
        assert "not writable; nothing was recorded" in str(got["record_error"])
        assert _tree(r.path) == before, "reading as another user wrote into the run"
        assert stale.exists()  # not removed: the folder is not writable for that user
        assert Run.open(r.path).epochs == [0, 1] and not stale.exists()  # the owner cleans it
    finally:
        os.umask(old_mask)
        shutil.rmtree(shared, ignore_errors=True)
