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
