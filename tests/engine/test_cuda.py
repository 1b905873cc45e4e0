"""The engine on a CUDA GPU: the same fit as on the CPU, where the GPU path differs.

On a GPU the kNN is the exact batched search (never pynndescent), the layout is the vectorised
torch loop instead of the compiled CPU one, and φ/ψ train on the device. These tests run only
where CUDA is available (CI has none; the ``device`` machine runs them); the CPU suite covers
the rest.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.engine.complex import knn
from dvi_widget.engine.fit import DVI
from dvi_widget.engine.metrics import neighbours, overlap_rate
from tests.digits_runs import train_and_record

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FAST = dict(hidden=32, grid_size=32, max_steps=500, warm_max_steps=100, verbose=False)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return train_and_record(tmp_path_factory.mktemp("cuda") / "run", load_digits(seed=0),
                            hidden=(64, 32), epochs=3, lr=2e-3, batch=64, passes=2)


@pytest.fixture(scope="module")
def fits(digits_run, tmp_path_factory):
    gpu = DVI(**FAST, device="cuda").fit(digits_run)
    # the CPU fit in a copy of the run: in the same folder it would resume the GPU's epochs
    # (the device is not one of the fit's hashed parameters)
    copy = tmp_path_factory.mktemp("cpu") / "run"
    shutil.copytree(digits_run.path, copy, ignore=shutil.ignore_patterns("dvi"))
    cpu = DVI(**FAST, device="cpu").fit(Run.open(copy))
    return gpu, cpu


def test_exact_knn_on_the_gpu_equals_the_cpu_search():
    x = np.random.default_rng(0).normal(size=(3000, 64)).astype(np.float32)
    i_gpu, d_gpu = knn(x, 15, method="exact", device="cuda")
    i_cpu, d_cpu = knn(x, 15, method="exact", device="cpu")
    # ties and float rounding may swap a neighbour at the k-th place, nothing more
    assert overlap_rate(i_gpu, i_cpu).mean() > 0.999
    np.testing.assert_allclose(d_gpu, d_cpu, rtol=1e-3, atol=1e-3)
    # "auto" on a GPU searches exactly, whatever the size
    i_auto, _ = knn(x, 15, device="cuda")
    assert overlap_rate(i_auto, i_cpu).mean() > 0.999


def test_a_gpu_fit_is_as_good_as_the_cpu_fit(fits, digits_run):
    gpu, cpu = fits
    assert gpu.epochs_ == cpu.epochs_ == [0, 1, 2]
    assert np.isfinite(gpu.coords_).all()
    s_gpu, s_cpu = gpu.score(), cpu.score()
    # the CPU fit's figures are test_fit's (PPR train ≥ 0.95, test ≥ 0.9, nn_pv > 0.45); the
    # GPU's layout draws other random numbers, so it is held to the same bars, not to equality
    for s in (s_gpu, s_cpu):
        assert s.loc[2, "ppr_train"] >= 0.95
        assert s.loc[2, "ppr_test"] >= 0.9
        assert s.loc[2, "nn_pv_15_train"] > 0.45
        assert s.loc[2, "boundary_pv_15_train"] > 0.45
    assert abs(s_gpu.loc[2, "nn_pv_15_train"] - s_cpu.loc[2, "nn_pv_15_train"]) < 0.05


def test_a_gpu_fit_places_training_samples_where_they_are_drawn(fits, digits_run):
    gpu, _ = fits
    X = np.asarray(digits_run.representations(2, "train"), dtype=np.float32)
    drawn = gpu.coords_[2][: len(X)]
    placed = gpu.transform(X, 2)
    extent = gpu.extent_[1] - gpu.extent_[0]
    # the one map returns a training sample's drawn position (issue 18's tolerance)
    assert np.median(np.linalg.norm(placed - drawn, axis=1)) < 0.01 * extent


def test_a_gpu_fit_loads_on_the_cpu(fits, digits_run):
    gpu, _ = fits
    back = DVI.load(digits_run, device="cpu")
    np.testing.assert_array_equal(back.coords_, gpu.coords_)
    X = np.asarray(digits_run.representations(2, "train"), dtype=np.float32)
    np.testing.assert_allclose(back.encode(X, 2), gpu.encode(X, 2), atol=1e-4)
    # neighbourhoods of the reloaded map's encoding are the GPU's
    assert overlap_rate(neighbours(back.encode(X, 2), 15),
                        neighbours(gpu.encode(X, 2), 15)).mean() > 0.99


def test_a_gpu_fit_leaves_the_callers_random_state_alone(digits_run, tmp_path):
    """The fit seeds torch's global random state (the CPU's and the GPUs') and gives the
    caller's back: the training that follows draws what it would have drawn without it."""
    copy = tmp_path / "run"
    shutil.copytree(digits_run.path, copy, ignore=shutil.ignore_patterns("dvi"))
    torch.manual_seed(1234)
    want_cpu, want_gpu = torch.rand(4), torch.rand(4, device="cuda")
    torch.manual_seed(1234)
    DVI(**dict(FAST, max_steps=60, warm_max_steps=20), device="cuda").fit(Run.open(copy),
                                                                         epochs=[0, 1])
    assert torch.equal(torch.rand(4), want_cpu)
    assert torch.equal(torch.rand(4, device="cuda"), want_gpu)
