"""The live view (Widget.follow): a worker process fits each epoch as a training loop in another
process records it; the widget's epochs grow, the user's selection and epoch stay; a killed
worker leaves no partial epoch and the next one resumes; a crash is shown in the widget."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dvi_widget.contract import Visualization
from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.view.follow import Follower
from dvi_widget.view.widget import Widget

ROOT = Path(__file__).resolve().parents[2]
PARAMS = dict(hidden=16, grid_size=24, max_steps=60, warm_max_steps=30, device="cpu",
              boundary_ratio=0.1, random_state=0)

TRAIN = textwrap.dedent("""
    import sys, time
    import torch
    from torch import nn
    torch.set_num_threads(1)
    from dvi_widget.data.datasets import load_digits
    from dvi_widget.data.run import Run
    run = Run.open(sys.argv[1])
    d = load_digits(n_train=300, n_test=60, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.as_tensor(d.x_train), torch.as_tensor(d.y_train)
    for epoch in range(int(sys.argv[2])):
        for idx in torch.randperm(len(x)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        run.record(model, epoch)
        time.sleep(float(sys.argv[3]))
""")


def _new_run(path):
    d = load_digits(n_train=300, n_test=60, seed=0)
    return Run.create(path, train=(d.x_train, d.y_train), test=(d.x_test, d.y_test),
                      class_names=d.class_names)


def _train(run, epochs, pause):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(run.path), str(epochs),
                             str(pause)], env=env)


def _until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_the_widget_follows_a_run_being_trained_in_another_process(tmp_path):
    run = _new_run(tmp_path / "run")
    trainer = _train(run, 5, 0.3)
    try:
        w = Widget.follow(run, PARAMS, timeout=300)
        first = list(w.epochs)
        assert first and first[0] == 0
        w.epoch = first[0]
        w.selection = np.array([3, 5, 8])
        _until(lambda: list(w.epochs) == [0, 1, 2, 3, 4], 300, "five fitted epochs")
        assert trainer.wait(60) == 0
        # grown without a refresh: the arrays are the five-epoch visualization's
        assert w.vis.coords.shape == (5, 360, 2) and np.shape(w.coords) == (5, 360, 2)
        assert np.shape(w.landscape)[0] == 5 and w.data_version >= 1
        # the user's choices stayed
        assert w.epoch == first[0] and w.selection.tolist() == [3, 5, 8]
        assert w.follow_status.startswith("live:")
        # each epoch was published as it was fitted, one fit per epoch, in order
        fits = [json.loads(line) for line in
                (w._follower.out / "fits.jsonl").read_text().splitlines()]
        assert [f["epochs"][-1] for f in fits] == sorted({f["epochs"][-1] for f in fits})
        assert fits[-1]["epochs"] == [0, 1, 2, 3, 4]
        assert all(f["start"] <= f["fitted"] <= f["published"] for f in fits)
        # the worker yields to the training process: Linux's idle class (it runs on cores
        # nothing else wants), elsewhere a lower priority than the kernel's
        pid = w._follower.proc.pid
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        else:
            assert (os.getpriority(os.PRIO_PROCESS, pid)
                    >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))
    finally:
        trainer.kill()
        w.stop_following()
    assert w._follower is None and w.follow_status == "live view stopped"


@pytest.mark.slow
def test_a_killed_worker_leaves_no_partial_epoch_and_the_next_resumes(tmp_path):
    run = _new_run(tmp_path / "run")
    assert _train(run, 3, 0.0).wait(120) == 0
    first = Follower(run.path, PARAMS)
    _until(lambda: first.status().get("state") == "fitting"
           and any((run.path / "dvi").glob("epoch_00000.*.pt")), 300, "a finished epoch")
    os.kill(first.proc.pid, signal.SIGKILL)  # mid-fit: epoch 1 or 2 is being fitted
    first.proc.wait()
    first.remove()
    finished = {p.name[:11] for p in (run.path / "dvi").glob("epoch_*.json")}
    assert "epoch_00000" in finished
    for name in finished:  # every epoch written is whole: its model and arrays are there
        assert list((run.path / "dvi").glob(f"{name}.*.pt")), name
    second = Follower(run.path, PARAMS)
    try:
        second.wait_first(300)
        _until(lambda: second.status().get("epochs") == [0, 1, 2], 300, "all three epochs")
        assert Visualization.load(second.latest()).epochs.tolist() == [0, 1, 2]
    finally:
        second.stop()
        second.remove()


@pytest.mark.slow
def test_a_crash_in_the_worker_is_shown_in_the_widget(tmp_path):
    run = _new_run(tmp_path / "run")
    assert _train(run, 1, 0.0).wait(120) == 0
    w = Widget.follow(run, PARAMS, timeout=300)
    # epoch 1 lands whole (renamed into place, as Run.record does) but holds a NaN: its fit
    # fails in the worker
    staged = tmp_path / "staged-0001"
    shutil.copytree(run.path / "epochs" / "0000", staged)
    arr = np.load(staged / "train_representations.npy")
    arr[0, 0] = np.nan
    np.save(staged / "train_representations.npy", arr)
    info = json.loads((staged / "epoch.json").read_text())
    info["epoch"] = 1
    (staged / "epoch.json").write_text(json.dumps(info))
    os.rename(staged, run.path / "epochs" / "0001")
    try:
        _until(lambda: w.follow_status.startswith("live view stopped:"), 300, "the crash")
        assert "NaN" in w.follow_status or "nan" in w.follow_status.lower()
    finally:
        w.stop_following()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle scheduling class")
def test_the_worker_computes_only_on_cores_the_training_leaves_free():
    """The worker's process takes Linux's SCHED_IDLE (a niceness still preempts a CPU-bound
    training loop) and sets numba's thread count before numba is imported; its threads (numba's
    pool, started later) inherit the class."""
    code = textwrap.dedent("""
        import os, sys
        os.environ.pop("NUMBA_NUM_THREADS", None)
        from dvi_widget.engine.follow import _leave_a_core, _lower_priority
        assert "numba" not in sys.modules
        print(_lower_priority())
        _leave_a_core()
        import numba
        from threading import Thread
        seen = []
        t = Thread(target=lambda: seen.append(os.sched_getscheduler(0)))
        t.start(); t.join()
        print(os.sched_getscheduler(0) == os.SCHED_IDLE, seen[0] == os.SCHED_IDLE,
              numba.config.NUMBA_NUM_THREADS, max(1, (os.cpu_count() or 2) - 1))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"})
    policy, flags = out.stdout.split("\n")[:2]
    main_idle, thread_idle, numba_threads, spare = flags.split()
    assert policy == "idle"
    assert main_idle == "True" and thread_idle == "True"
    assert numba_threads == spare
