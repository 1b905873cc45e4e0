"""Device resolution and batched application at the numpy/torch edge."""

import numpy as np
import pytest
import torch

from dvi_widget._tensor import batched, resolve_device, to_numpy, to_tensor


def test_auto_device_follows_the_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_unknown_device_name_is_a_clear_error():
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu0")


def test_batched_matches_unbatched_on_memmap(tmp_path):
    x = np.random.default_rng(0).normal(size=(1000, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    out = batched(lambda t: t * 2 + 1, mm, device=torch.device("cpu"), batch_size=128)
    np.testing.assert_allclose(to_numpy(out), x * 2 + 1, rtol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        batched(lambda t: t, x[:0])


def test_batched_slices_several_arrays_and_joins_tuples_and_dicts():
    x = torch.arange(10.0).reshape(5, 2)
    rows = np.arange(5)  # an index array stays integer (dtype=None keeps dtypes)
    total, idx = batched(lambda a, i: (a.sum(1), i * 10), x, rows, batch_size=2)
    assert idx.dtype == torch.int64 and idx.tolist() == [0, 10, 20, 30, 40]
    assert total.tolist() == [1.0, 5.0, 9.0, 13.0, 17.0]
    out = batched(lambda a: {"max": a.max(1).values}, x, batch_size=3)
    assert out["max"].tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]
    with pytest.raises(ValueError, match="different lengths"):
        batched(lambda a, b: a, x, rows[:4])


def test_to_tensor_casts_and_keeps_values():
    t = to_tensor(np.arange(6, dtype=np.float64).reshape(2, 3), torch.device("cpu"))
    assert t.dtype == torch.float32 and t.shape == (2, 3) and float(t[1, 2]) == 5.0
