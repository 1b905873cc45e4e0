"""DVI.fit(run, executor="ray"): the per-epoch stages as Ray tasks on a local 2-CPU Ray."""

import shutil
import sys

import numpy as np
import pytest

from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.engine.fit import DVI
from tests.digits_runs import train_and_record

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PARAMS = dict(hidden=32, grid_size=32, max_steps=80, warm_max_steps=40, device="cpu",
              verbose=False, random_state=3)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    ds = load_digits(n_train=600, n_test=100, seed=0)
    return train_and_record(tmp_path_factory.mktemp("ray") / "run", ds, hidden=(64, 32),
                            epochs=3, lr=2e-3, batch=64, passes=2, seed=0)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed")
    # a busy 2-core machine starts a raylet slowly: give it longer than Ray's 30-s default
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_raylet_start_wait_time_s", "180")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _copy(run, dest):
    shutil.copytree(run.path, dest, ignore=shutil.ignore_patterns("dvi"))
    return Run.open(dest)


def test_the_ray_fit_equals_the_single_process_fit(digits_run, local_ray, tmp_path):
    """Same seeds, same result: the boundary samples and complexes computed in Ray workers are
    the ones this process computes, so coordinates and landscapes are bit-identical."""
    here = DVI(**PARAMS).fit(_copy(digits_run, tmp_path / "a"))
    there = DVI(**PARAMS).fit(_copy(digits_run, tmp_path / "b"), executor="ray")
    a, b = here.visualization(), there.visualization()
    assert a.epochs.tolist() == b.epochs.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.landscape, b.landscape)
    for i, e in enumerate(a.epochs):  # the prepared arrays themselves
        np.testing.assert_array_equal(here.boundary_representations_[i],
                                      there.boundary_representations_[i], err_msg=f"epoch {e}")
        np.testing.assert_array_equal(here.knn_[e], there.knn_[e], err_msg=f"epoch {e}")


def test_a_failing_ray_task_names_its_epoch_and_leaves_no_partial_epoch(digits_run, local_ray,
                                                                          tmp_path):
    run = _copy(digits_run, tmp_path / "c")
    reps = run.path / "epochs" / "0001" / "train_representations.npy"
    arr = np.load(reps)
    arr[5, 3] = np.nan  # a diverged epoch: the task reading it fails in a Ray worker
    reps.chmod(0o644)
    np.save(reps, arr)
    with pytest.raises(RuntimeError, match="epoch 1: the Ray task") as err:
        DVI(**PARAMS).fit(Run.open(run.path), executor="ray")
    assert "NaN" in str(err.value) or "nan" in str(err.value).lower()
    saved = {p.name[:11] for p in (run.path / "dvi").glob("epoch_*")}
    assert saved == {"epoch_00000"}  # epoch 0 finished and kept; nothing of epoch 1


def test_ray_missing_or_a_wrong_executor_says_what_to_do(digits_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"dvi_widget\[ray\]"):
        DVI(**PARAMS).fit(_copy(digits_run, tmp_path / "d"), executor="ray")
    with pytest.raises(ValueError, match="executor='dask'"):
        DVI(**PARAMS).fit(digits_run, executor="dask")


def _mlp():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _checkpoints(folder, epochs=4):
    """A small digits MLP trained a few steps per epoch, one state_dict file per epoch."""
    import torch

    ds = load_digits(n_train=300, n_test=60, seed=1)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    folder.mkdir()
    for e in range(epochs):
        for b in torch.arange(len(x)).split(50):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        torch.save(model.state_dict(), folder / f"epoch_{e:02d}.pt")
    return ds


def test_checkpoints_recorded_by_ray_tasks_equal_the_sequential_recording(local_ray, tmp_path):
    """Run.from_checkpoints(..., executor="ray"): the first epoch here, the others as Ray tasks
    into the same staged folder; every epoch's arrays and head equal a sequential recording, with
    and without the inputs kept (the tasks get them from the driver); a bad checkpoint fails
    naming its epoch and file, and leaves no run behind."""
    ds = _checkpoints(tmp_path / "ckpt")
    pattern = str(tmp_path / "ckpt" / "epoch_*.pt")
    kw = dict(train=(ds.x_train, ds.y_train), test=(ds.x_test, ds.y_test), quiet=True,
              device="cpu")
    seq = Run.from_checkpoints(tmp_path / "seq", pattern, _mlp, **kw)
    # a module instance (the workers rebuild it from the pickled object; a factory function of
    # this test module would be pickled by reference, and the workers cannot import tests/)
    for keep in (True, False):
        par = Run.from_checkpoints(tmp_path / f"ray_{keep}", pattern, _mlp(), executor="ray",
                                   save_inputs=keep, **kw)
        assert par.epochs == seq.epochs == [0, 1, 2, 3]
        for e in seq.epochs:
            for split in ("train", "test"):
                np.testing.assert_allclose(par.representations(e, split),
                                           seq.representations(e, split), rtol=0, atol=1e-6)
                np.testing.assert_allclose(par.logits(e, split), seq.logits(e, split),
                                           rtol=0, atol=1e-6)
            assert par.epoch_info(e)["train_accuracy"] == seq.epoch_info(e)["train_accuracy"]
    (tmp_path / "ckpt" / "epoch_02.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=r"epoch 2: the Ray task recording .*epoch_02\.pt "
                                           r"failed: ValueError: checkpoint .*epoch_02\.pt"):
        Run.from_checkpoints(tmp_path / "bad", pattern, _mlp(), executor="ray", **kw)
    assert not (tmp_path / "bad").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged folder
    with pytest.raises(ValueError, match="executor='dask'"):
        Run.from_checkpoints(tmp_path / "dask", pattern, _mlp, executor="dask", **kw)
