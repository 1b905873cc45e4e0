"""The one contract between the engine and the widget: :class:`Visualization`.

The engine (:class:`dvi_widget.DVI`) produces it; the widget consumes it; a user or a test can
build one from plain arrays. Shapes and dtypes are validated once, here, so both sides can trust
them afterwards.

===============  =======================  ===================================================
field            dtype, shape             meaning
===============  =======================  ===================================================
``epochs``       int64, (T,)              epoch numbers as recorded
``coords``       float32, (T, N, 2)       every sample's 2-D position, one shared frame
``extent``       float64, (4,)            x0, x1, y0, y1 of that frame (square), all epochs
``landscape``    uint8, (T, H, W, 4)      RGBA; row 0 is the top (max y)
``labels``       int64, (N,)              given label
``predictions``  int64, (T, N)            predicted class per epoch
``confidence``   float32, (T, N)          top-1 probability per epoch
``split``        object (str), (N,)       "train" / "test" (or user categories)
``class_names``  list[str], (C,)          legend, hover, DataFrame
``palette``      uint8, (C, 3)            one color per class id (points and landscape)
``boundary``     float32, (T, B, 2)|None  synthetic boundary samples in 2-D
``metadata``     DataFrame|None, N rows   user columns (noisy, true label, ...)
``metrics``      DataFrame|None           per-epoch quality metrics
``scalars``      DataFrame|None, T rows   per-epoch training curves (index: epoch): loss and
                                          accuracy per split, user scalars
``images``       uint8 (N, H, W[, C])|None  the samples' images, indexed lazily (``images[idx]``
                                          for an index array); never sent whole
``inspector``    :class:`Inspector`|None  live queries to the fitted model (not saved)
===============  =======================  ===================================================

Without an inspector (a Visualization built from arrays, or read back from disk) the view answers
"what is here?" from the landscape's per-cell class and confidence (``landscape_classes``,
``landscape_confidence``); see :func:`landscape_cells`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

# Tableau-10 followed by further distinct hues: the palette is indexed by class id and stable
# across epochs, so a class keeps its colour even when no sample or cell predicts it.
_BASE_PALETTE = np.array(
    [
        [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
        [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
        [57, 59, 121], [173, 73, 74], [99, 121, 57], [140, 109, 49], [123, 65, 115],
        [82, 84, 163], [214, 97, 107], [181, 207, 107], [231, 186, 82], [206, 109, 189],
    ],
    dtype=np.uint8,
)


def default_palette(n_classes: int) -> np.ndarray:
    """A fixed ``(n_classes, 3)`` uint8 palette indexed by class id (never white).

    The first 20 colours are hand-picked; beyond that hues are spread evenly on a colour wheel.
    """
    if n_classes <= len(_BASE_PALETTE):
        return _BASE_PALETTE[:n_classes].copy()
    extra = n_classes - len(_BASE_PALETTE)
    hues = np.arange(extra) / extra
    # HSV -> RGB with s=0.65, v=0.8 (vectorised); never white, so the boundary stays readable.
    s, v = 0.65, 0.8
    i = np.floor(hues * 6).astype(int) % 6
    f = hues * 6 - np.floor(hues * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack(
        [
            np.choose(i, [np.full_like(f, v), q, np.full_like(f, p), np.full_like(f, p), t,
                          np.full_like(f, v)]),
            np.choose(i, [t, np.full_like(f, v), np.full_like(f, v), q, np.full_like(f, p),
                          np.full_like(f, p)]),
            np.choose(i, [np.full_like(f, p), np.full_like(f, p), t, np.full_like(f, v),
                          np.full_like(f, v), q]),
        ],
        axis=1,
    )
    return np.concatenate([_BASE_PALETTE, (table * 255).astype(np.uint8)])


def _array(name: str, value: object, dtype: type, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"Visualization.{name} must have {ndim} dimensions, got shape {arr.shape}")
    if np.issubdtype(np.dtype(dtype), np.floating) and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"Visualization.{name} contains NaN or Inf values")
    return np.ascontiguousarray(arr, dtype=dtype)


@dataclass(frozen=True)
class Visualization:
    """Everything the widget shows, for every epoch, in one validated object.

    See the module docstring for each field's dtype and shape. Build it from plain arrays
    (a fake model in a test) or get it from ``DVI(...).fit(run).visualization()``.

    Examples
    --------
    >>> vis = Visualization.from_arrays(coords=xy, labels=y, predictions=p, confidence=c,
    ...                                  landscape=img, extent=(-1, 1, -1, 1))
    """

    epochs: np.ndarray
    coords: np.ndarray
    extent: np.ndarray
    landscape: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    split: np.ndarray
    class_names: list[str]
    palette: np.ndarray
    boundary: np.ndarray | None = None
    metadata: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    landscape_classes: np.ndarray | None = field(default=None, repr=False)
    landscape_confidence: np.ndarray | None = field(default=None, repr=False)
    scalars: pd.DataFrame | None = None
    images: Any = field(default=None, repr=False, compare=False)
    inspector: Inspector | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:  # noqa: C901 - one check per field, in order
        set_ = object.__setattr__
        coords = _array("coords", self.coords, np.float32, 3)
        T, N, two = coords.shape
        if two != 2:
            raise ValueError(f"Visualization.coords must be (T, N, 2), got {coords.shape}")
        if T == 0 or N == 0:
            raise ValueError(
                f"Visualization needs at least one epoch and one sample, got {coords.shape}"
            )
        set_(self, "coords", coords)
        epochs = np.asarray(self.epochs, dtype=np.int64).reshape(-1)
        if epochs.shape != (T,):
            raise ValueError(f"Visualization.epochs must have T={T} entries, got {epochs.shape}")
        if len(np.unique(epochs)) != T:
            raise ValueError(f"Visualization.epochs must be distinct, got {epochs.tolist()}")
        set_(self, "epochs", epochs)
        extent = np.asarray(self.extent, dtype=np.float64).reshape(-1)
        if extent.shape != (4,) or not np.isfinite(extent).all():
            raise ValueError(f"Visualization.extent must be 4 finite numbers, got {self.extent!r}")
        if not (extent[1] > extent[0] and extent[3] > extent[2]):
            raise ValueError(f"Visualization.extent must satisfy x0<x1 and y0<y1, got {extent}")
        set_(self, "extent", extent)
        land = np.asarray(self.landscape)
        if land.ndim != 4 or land.shape[0] != T or land.shape[3] != 4:
            raise ValueError(f"Visualization.landscape must be (T={T}, H, W, 4), got {land.shape}")
        if land.dtype != np.uint8:
            raise ValueError(f"Visualization.landscape must be uint8 RGBA, got {land.dtype}")
        set_(self, "landscape", np.ascontiguousarray(land))
        labels = _array("labels", self.labels, np.int64, 1)
        if labels.shape != (N,):
            raise ValueError(f"Visualization.labels must be (N={N},), got {labels.shape}")
        set_(self, "labels", labels)
        preds = _array("predictions", self.predictions, np.int64, 2)
        if preds.shape != (T, N):
            raise ValueError(f"Visualization.predictions must be (T={T}, N={N}), got {preds.shape}")
        set_(self, "predictions", preds)
        conf = _array("confidence", self.confidence, np.float32, 2)
        if conf.shape != (T, N):
            raise ValueError(f"Visualization.confidence must be (T={T}, N={N}), got {conf.shape}")
        set_(self, "confidence", conf)
        split = np.asarray(self.split).astype(str).astype(object)
        if split.shape != (N,):
            raise ValueError(f"Visualization.split must be (N={N},), got {split.shape}")
        set_(self, "split", split)
        names = [str(c) for c in self.class_names]
        C = len(names)
        top = int(max(labels.max(initial=-1), preds.max(initial=-1)))
        if top >= C:
            raise ValueError(f"Visualization.class_names has {C} names but class id {top} occurs")
        if labels.min(initial=0) < 0 or preds.min(initial=0) < 0:
            raise ValueError("Visualization.labels and predictions must be non-negative class ids")
        set_(self, "class_names", names)
        palette = np.asarray(self.palette)
        if palette.shape != (C, 3):
            raise ValueError(f"Visualization.palette must be (C={C}, 3), got {palette.shape}")
        set_(self, "palette", np.ascontiguousarray(palette, dtype=np.uint8))
        if self.boundary is not None:
            b = _array("boundary", self.boundary, np.float32, 3)
            if b.shape[0] != T or b.shape[2] != 2:
                raise ValueError(f"Visualization.boundary must be (T={T}, B, 2), got {b.shape}")
            set_(self, "boundary", b)
        if self.metadata is not None:
            if not isinstance(self.metadata, pd.DataFrame) or len(self.metadata) != N:
                raise ValueError(f"Visualization.metadata must be a DataFrame with N={N} rows")
            set_(self, "metadata", self.metadata.reset_index(drop=True))
        if self.landscape_classes is not None:
            lc = np.asarray(self.landscape_classes)
            if lc.shape != land.shape[:3]:
                raise ValueError(f"landscape_classes must be {land.shape[:3]}, got {lc.shape}")
            set_(self, "landscape_classes", lc.astype(np.int16))
        if self.landscape_confidence is not None:
            lf = np.asarray(self.landscape_confidence)
            if lf.shape != land.shape[:3]:
                raise ValueError(f"landscape_confidence must be {land.shape[:3]}, got {lf.shape}")
            set_(self, "landscape_confidence", lf.astype(np.float32))
        _check_interrogation_fields(self, set_)

    # ------------------------------------------------------------------ convenience
    @property
    def n_epochs(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.coords.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def epoch_index(self, epoch: int) -> int:
        """Position of a recorded epoch number in ``epochs`` (``ValueError`` if absent)."""
        hits = np.flatnonzero(self.epochs == int(epoch))
        if hits.size == 0:
            raise ValueError(f"epoch {epoch} is not in this visualization; epochs are "
                             f"{self.epochs.tolist()}")
        return int(hits[0])

    @classmethod
    def from_arrays(
        cls,
        *,
        coords: np.ndarray,
        labels: np.ndarray,
        predictions: np.ndarray | None = None,
        confidence: np.ndarray | None = None,
        landscape: np.ndarray | None = None,
        extent: tuple[float, float, float, float] | np.ndarray | None = None,
        epochs: np.ndarray | None = None,
        split: np.ndarray | None = None,
        class_names: list[str] | None = None,
        palette: np.ndarray | None = None,
        boundary: np.ndarray | None = None,
        metadata: pd.DataFrame | None = None,
        metrics: pd.DataFrame | None = None,
        landscape_classes: np.ndarray | None = None,
        landscape_confidence: np.ndarray | None = None,
        scalars: pd.DataFrame | None = None,
        images: Any = None,  # noqa: ANN401 - an array or a lazily indexed image array
        inspector: Inspector | None = None,
    ) -> Visualization:
        """Build a Visualization from plain arrays, filling sensible defaults.

        ``coords`` may be (N, 2) for a single epoch. Missing ``predictions`` default to the labels,
        ``confidence`` to 1, ``extent`` to a square around all coordinates, ``landscape`` to a
        transparent 1x1 image per epoch, ``split`` to "train", class names to ``"0".."C-1"``.
        ``images`` may be raw inputs of any image layout ((N, H, W), (N, C, H, W), (N, H, W, C),
        float or integer): they are shown through :class:`dvi_widget.data.images.ImageArray`.
        """
        coords = np.asarray(coords, dtype=np.float32)
        if coords.ndim == 2:
            coords = coords[None]
        if coords.ndim != 3:
            raise ValueError(f"coords must be (T, N, 2) or (N, 2), got {coords.shape}")
        T, N = coords.shape[:2]
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != (N,):
            raise ValueError(f"labels must be (N={N},) to match coords, got {labels.shape}")
        if predictions is None:
            predictions = np.broadcast_to(labels, (T, N))
        predictions = np.asarray(predictions)
        if predictions.ndim == 1:
            predictions = predictions[None]
        if confidence is None:
            confidence = np.ones((T, N), dtype=np.float32)
        confidence = np.asarray(confidence)
        if confidence.ndim == 1:
            confidence = confidence[None]
        if extent is None:
            extent = square_extent(coords)
        if landscape is None:
            landscape = np.zeros((T, 1, 1, 4), dtype=np.uint8)
        landscape = np.asarray(landscape)
        if landscape.ndim == 3:
            landscape = landscape[None]
        if epochs is None:
            epochs = np.arange(T)
        if split is None:
            split = np.full(N, "train", dtype=object)
        if class_names is None:
            top = int(max(labels.max(initial=0), np.asarray(predictions).max(initial=0)))
            class_names = [str(i) for i in range(top + 1)]
        if palette is None:
            palette = default_palette(len(class_names))
        return cls(
            epochs=epochs, coords=coords, extent=extent, landscape=landscape, labels=labels,
            predictions=predictions, confidence=confidence, split=split,
            class_names=list(class_names), palette=palette, boundary=boundary,
            metadata=metadata, metrics=metrics, landscape_classes=landscape_classes,
            landscape_confidence=landscape_confidence, scalars=scalars,
            images=_as_images(images), inspector=inspector,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write to a folder (``arrays.npz`` + ``meta.json`` + optional parquet-free CSVs)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {
            k: getattr(self, k)
            for k in ("epochs", "coords", "extent", "landscape", "labels", "predictions",
                      "confidence", "palette", "boundary", "landscape_classes",
                      "landscape_confidence")
            if getattr(self, k) is not None
        }
        arrays["split"] = self.split.astype(str)
        np.savez(path / "arrays.npz", **arrays)
        (path / "meta.json").write_text(json.dumps({"class_names": self.class_names,
                                                    "format": 1}))
        if self.metadata is not None:
            self.metadata.to_pickle(path / "metadata.pkl")
        if self.metrics is not None:
            self.metrics.to_pickle(path / "metrics.pkl")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Visualization:
        """Read a folder written by :meth:`save`."""
        path = Path(path)
        if not (path / "arrays.npz").exists():
            raise FileNotFoundError(f"no saved Visualization at {path} (arrays.npz missing)")
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads((path / "meta.json").read_text())
        md = pd.read_pickle(path / "metadata.pkl") if (path / "metadata.pkl").exists() else None
        mt = pd.read_pickle(path / "metrics.pkl") if (path / "metrics.pkl").exists() else None
        return cls(class_names=meta["class_names"], metadata=md, metrics=mt, **arrays)


def square_extent(coords: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """A square ``(x0, x1, y0, y1)`` around all points of all epochs, padded by ``margin``."""
    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, 1e-6) * (1 + margin)
    return np.array([center[0] - half, center[0] + half, center[1] - half, center[1] + half])


# ---------------------------------------------------------------------- interrogating the view
@runtime_checkable
class Inspector(Protocol):
    """Live questions the widget asks about a fitted run (implemented by the engine).

    The view imports only this protocol; :meth:`dvi_widget.DVI.visualization` hands over an
    implementation (:class:`dvi_widget.engine.inspect.EngineInspector`). Epochs are recorded
    epoch numbers (as in ``Visualization.epochs``), sample indices are global (train first,
    then test). Further capabilities (explanations, what-if paths) are further protocols that
    the same object may implement; the view tests them with ``isinstance``.
    """

    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        """``(n, 2)`` points of the shared frame -> ``(n, C)`` float32 class probabilities
        ``softmax(g_t(ψ_t(points)))`` (DVI §4: the inverse projection, then the head)."""
        ...

    def neighbors(
        self, indices: np.ndarray, epoch: int, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest samples in representation space at ``epoch`` (Euclidean, among all
        N samples, each query sample excluded): ``(m, k)`` int64 indices and ``(m, k)``
        float32 distances, ascending, for ``(m,)`` int sample ``indices``."""
        ...

    def events(self, **thresholds: float) -> pd.DataFrame:
        """Per-sample, per-epoch training events (see :func:`dvi_widget.engine.events`):
        one row per event with columns ``epoch, sample, kind, size, ...``."""
        ...


def landscape_cells(
    points: np.ndarray, extent: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of the landscape cell under each 2-D point, and whether it is inside.

    ``points`` (..., 2) in the frame ``extent = (x0, x1, y0, y1)``; ``shape = (H, W)`` of the
    landscape, row 0 at the top (max y), column 0 at the left: cell ``(i, j)`` covers
    ``x in [x0 + j*w, x0 + (j+1)*w)`` and ``y in (y1 - (i+1)*h, y1 - i*h]``. Points outside
    the frame get the nearest edge cell and ``inside=False``. Returns int64 rows, int64
    columns, bool inside, each of shape ``points.shape[:-1]``.
    """
    pts = np.asarray(points, dtype=np.float64)
    x0, x1, y0, y1 = (float(v) for v in extent)
    H, W = int(shape[0]), int(shape[1])
    col_f = np.floor((pts[..., 0] - x0) / (x1 - x0) * W)
    row_f = np.floor((y1 - pts[..., 1]) / (y1 - y0) * H)
    inside = (col_f >= 0) & (col_f < W) & (row_f >= 0) & (row_f < H) & np.isfinite(pts).all(-1)
    rows = np.clip(np.nan_to_num(row_f), 0, H - 1).astype(np.int64)
    cols = np.clip(np.nan_to_num(col_f), 0, W - 1).astype(np.int64)
    return rows, cols, inside


def _as_images(images: Any) -> Any:  # noqa: ANN401 - an array or a lazily indexed image array
    """Wrap raw input arrays as uint8 images; pass image arrays through unchanged."""
    if images is None or (getattr(images, "dtype", None) == np.uint8
                          and len(getattr(images, "shape", ())) in (3, 4)
                          and (len(images.shape) == 3 or images.shape[3] in (1, 3, 4))):
        return images
    from ..data.images import ImageArray

    return ImageArray(images)


def _check_interrogation_fields(vis: Visualization, set_: Any) -> None:  # noqa: ANN401
    """Validate ``scalars``, ``images`` and ``inspector`` (called by ``__post_init__``)."""
    N = vis.n_samples
    if vis.scalars is not None:
        if not isinstance(vis.scalars, pd.DataFrame):
            raise ValueError("Visualization.scalars must be a DataFrame indexed by epoch, got "
                             f"{type(vis.scalars).__name__}")
        bad = [c for c in vis.scalars.columns
               if not pd.api.types.is_numeric_dtype(vis.scalars[c])]
        if bad:
            raise ValueError(f"Visualization.scalars columns {bad} are not numeric")
        # one row per shown epoch, in order (epochs recorded but not fitted are left out)
        scalars = vis.scalars.astype(np.float64).reindex(vis.epochs.tolist())
        scalars.index.name = "epoch"
        set_(vis, "scalars", scalars)
    if vis.images is not None:
        img = vis.images
        shape = tuple(getattr(img, "shape", ()))
        if not hasattr(img, "__getitem__") or len(shape) not in (3, 4) or shape[0] != N \
                or (len(shape) == 4 and shape[3] not in (1, 3, 4)) \
                or getattr(img, "dtype", None) != np.uint8:
            raise ValueError(
                f"Visualization.images must be uint8 (N={N}, H, W) or (N, H, W, 1|3|4) images "
                f"indexable by sample, got shape {shape} dtype {getattr(img, 'dtype', None)}; "
                "wrap raw inputs with dvi_widget.data.images.ImageArray(x)")
    if vis.inspector is not None and not isinstance(vis.inspector, Inspector):
        raise ValueError("Visualization.inspector must implement the Inspector protocol "
                         "(probabilities, neighbors, events), got "
                         f"{type(vis.inspector).__name__}")
