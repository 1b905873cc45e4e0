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

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ._columns import decode_frame, encode_frame
from ._io import NpySpec, read_npz, staged_folder, write_json, write_npy, write_npz
from ._palette import default_palette


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
        ``images`` are uint8 pixels or any :class:`Images` (wrap raw inputs of any layout and
        value range as :class:`dvi_widget.data.images.ImageArray`).
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

    # ------------------------------------------------------------------ pictures
    def plot(self, epoch: int | None = None, ax: Any = None, **options: Any) -> Any:  # noqa: ANN401
        """A matplotlib figure of epoch ``epoch`` (default the last): the landscape as an image
        under vector points, the selection, a legend; see :func:`dvi_widget.pictures.plot`."""
        from .pictures import plot

        return plot(self, epoch, ax, **options)

    def animate(self, path: str | Path, **options: Any) -> Path:  # noqa: ANN401
        """The playback as a ``.gif`` (Pillow) or ``.mp4`` (PyAV), with eased transitions;
        see :func:`dvi_widget.pictures.animate` for ``epochs``, ``fps``, ``selection``,
        ``trails``."""
        from .pictures import animate

        return animate(self, path, **options)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write to a folder, atomically: arrays in ``arrays.npz``, the tables (``metadata``,
        ``metrics``) as columns in ``metadata.npz`` / ``metrics.npz``, the rest in ``meta.json``
        (with the format's name, version and the list of files written).

        Nothing is pickled, so :meth:`load` never runs code from the folder. The folder is
        written beside ``path`` and moved into place when complete. An existing folder is
        replaced only when it is empty or a saved Visualization holding nothing but the files
        a save writes; anything else is refused, naming the entries that would be lost.
        """
        path = Path(path)
        _check_replaceable(path)
        arrays = {k: getattr(self, k) for k in _SAVED_ARRAYS if getattr(self, k) is not None}
        arrays["split"] = self.split.astype(str)
        meta: dict[str, object] = {"format": SAVE_FORMAT, "written_by": _WRITTEN_BY,
                                   "class_names": self.class_names}
        files = ["arrays.npz", _META]
        with staged_folder(path) as tmp:
            write_npz(tmp / "arrays.npz", **arrays)
            for name in _SAVED_TABLES:
                table = getattr(self, name)
                if table is not None:
                    meta[name], columns = encode_frame(table)
                    write_npz(tmp / f"{name}.npz", **columns)
                    files.append(f"{name}.npz")
            if self.images is not None:
                write_npy(tmp / _IMAGES, _all_images(self.images))
                meta["images"] = _IMAGES
                files.append(_IMAGES)
            meta["files"] = sorted(files)
            write_json(tmp / _META, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Visualization:
        """Read a folder written by :meth:`save` (``np.load(allow_pickle=False)``, no code runs).

        A folder in the first format (tables as ``.pkl`` pickles) is refused with a
        message: a pickle can run code on load, so it is never opened.
        """
        path = Path(path)
        if not (path / "arrays.npz").exists():
            raise FileNotFoundError(f"no saved Visualization at {path} (arrays.npz missing)")
        try:
            meta = json.loads((path / _META).read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path / _META} is missing or damaged ({err}); save the "
                             "Visualization again") from None
        if meta.get("format") != SAVE_FORMAT:
            pickles = sorted(p.name for p in path.glob("*.pkl"))
            raise ValueError(
                f"{path} was saved in format {meta.get('format')!r} by an older dvi_widget"
                + (f" and keeps its tables as pickles ({', '.join(pickles)}), which are not "
                   "read because loading a pickle can run code" if pickles else "")
                + f"; this version reads format {SAVE_FORMAT}. Save it again: "
                "DVI.load(run).visualization().save(path)"
            )
        arrays = _read_npz(path / "arrays.npz", _check_saved_arrays)
        rows = 16 * max(arrays["coords"].shape[:2]) + 1024
        check_table = functools.partial(_check_table, rows=rows)
        tables = {name: decode_frame(meta[name], _read_npz(path / f"{name}.npz", check_table))
                  for name in _SAVED_TABLES if meta.get(name) is not None}
        images = None
        if meta.get("images"):
            try:
                images = np.load(path / _IMAGES, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise ValueError(f"{path / _IMAGES} is missing or damaged ({err}); save the "
                                 "Visualization again") from None
        return cls(class_names=meta["class_names"], **tables, images=images, **arrays)


#: version of the folder :meth:`Visualization.save` writes (1: tables pickled, never read)
SAVE_FORMAT = 2
_META = "meta.json"
_SAVED_ARRAYS = ("epochs", "coords", "extent", "landscape", "labels", "predictions",
                 "confidence", "palette", "boundary", "landscape_classes", "landscape_confidence")
_SAVED_TABLES = ("metadata", "metrics", "scalars")
_IMAGES = "images.npy"
#: rows of images materialised at a time when saving
_IMAGE_CHUNK = 8192


def _all_images(images: Any) -> np.ndarray:  # noqa: ANN401 - an array or an ImageArray
    """Every image as one uint8 array (read in chunks from a lazily indexed source)."""
    n = len(images)
    return np.concatenate([np.asarray(images[i : i + _IMAGE_CHUNK], dtype=np.uint8)
                           for i in range(0, n, _IMAGE_CHUNK)]) if n else np.asarray(images)


#: most classes a saved Visualization may declare (a sanity bound checked before reading)
_MAX_CLASSES = 1 << 20
#: what ``meta.json`` names as its writer (folders of format 2 saved before it had no marker)
_WRITTEN_BY = "dvi_widget.Visualization"
#: every file a save of any format has written (format 1 pickled its tables)
_KNOWN_FILES = frozenset({"arrays.npz", _META, _IMAGES, "metadata.pkl", "metrics.pkl",
                          *(f"{name}.npz" for name in _SAVED_TABLES)})


def _check_replaceable(path: Path) -> None:
    """Refuse to replace ``path`` unless it is missing, empty, or a saved Visualization that
    holds only the files a save writes (its own list in ``meta.json``)."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a saved Visualization (a file or a "
                              "symbolic link); refusing to replace it. Choose a new or empty "
                              "folder.")
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return
    try:
        meta = json.loads((path / _META).read_text())
    except (OSError, ValueError):
        meta = None
    ours = isinstance(meta, dict) and (
        meta.get("written_by") == _WRITTEN_BY
        or (meta.get("format") in (1, SAVE_FORMAT) and "class_names" in meta
            and (path / "arrays.npz").is_file()))
    if not ours:
        raise FileExistsError(
            f"{path} exists and is not a saved Visualization (its {_META} was not written by "
            f"dvi_widget); refusing to replace it and lose {', '.join(entries)}. Choose a new "
            "or empty folder.")
    listed = meta.get("files")
    allowed = set(listed) if isinstance(listed, list) and meta.get("written_by") else _KNOWN_FILES
    unknown = [name for name in entries if name not in allowed]
    if unknown:
        raise FileExistsError(
            f"{path} holds a saved Visualization but also {', '.join(unknown)}, which a save "
            "does not write; refusing to replace the folder and lose them. Move them out, or "
            "save to a new folder.")


def _read_npz(file: Path, check: Any = None) -> dict[str, np.ndarray]:  # noqa: ANN401
    try:
        return read_npz(file, check)
    except (OSError, ValueError) as err:
        raise ValueError(f"{file} is missing or damaged ({err}); save the Visualization "
                         "again") from None


def _check_saved_arrays(specs: Mapping[str, NpySpec]) -> None:
    """The shapes ``arrays.npz`` may declare, from its coords' (T, N), before decompressing."""
    coords = specs.get("coords")
    if coords is None or len(coords.shape) != 3 or coords.shape[2] != 2:
        raise ValueError("no (T, N, 2) coords")
    T, N = coords.shape[:2]
    land = specs.get("landscape")
    if land is None or len(land.shape) != 4 or land.shape[0] != T or land.shape[3] != 4:
        raise ValueError(f"no (T={T}, H, W, 4) landscape")
    H, W = land.shape[1:3]
    expected = {"epochs": (T,), "extent": (4,), "labels": (N,), "predictions": (T, N),
                "confidence": (T, N), "split": (N,), "palette": (None, 3),
                "boundary": (T, None, 2), "landscape_classes": (T, H, W),
                "landscape_confidence": (T, H, W)}
    for name, spec in specs.items():
        shape = expected.get(name)
        if shape is None:
            continue
        if len(spec.shape) != len(shape) or any(
                want is not None and got != want
                for got, want in zip(spec.shape, shape, strict=True)):
            raise ValueError(f"array {name!r} declares shape {spec.shape}, which does not fit "
                             f"coords {coords.shape} and landscape {land.shape}")
    if "palette" in specs and specs["palette"].shape[0] > _MAX_CLASSES:
        raise ValueError(f"palette declares {specs['palette'].shape[0]} colours")
    boundary = specs.get("boundary")
    if boundary is not None and boundary.shape[1] > 64 * max(N, 1):
        raise ValueError(f"boundary declares {boundary.shape[1]} points for {N} samples")
    split = specs.get("split")
    if split is not None and split.dtype.itemsize > 4 * 256:
        raise ValueError(f"split declares strings of {split.dtype.itemsize} bytes")


def _check_table(specs: Mapping[str, NpySpec], rows: int) -> None:
    """A saved table's columns are 1-D with at most ``rows`` rows (a few per sample or epoch)."""
    for name, spec in specs.items():
        if len(spec.shape) != 1 or spec.shape[0] > rows:
            raise ValueError(f"column {name!r} declares shape {spec.shape}; the saved "
                             f"Visualization has at most {rows} rows")


def square_extent(
    coords: np.ndarray, margin: float = 0.05, quantile: float = 0.0
) -> np.ndarray:
    """A square ``(x0, x1, y0, y1)`` around the points of all epochs (the one frame function).

    Per axis the ``[quantile, 1 - quantile]`` range of the finite points (``quantile=0``: min
    to max; a small quantile keeps a few far outliers from shrinking the picture), made square
    around its centre and padded by ``margin`` of its side.
    """
    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("square_extent() needs at least one finite point")
    lo, hi = np.quantile(pts, [quantile, 1 - quantile], axis=0)
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
    the same object may implement; the view tests them with ``isinstance``. An optional
    attribute ``decoder`` (a short string, e.g. ``"ψ_t → g_t"``) names the map the
    probabilities come through, for a caption (the view reads it with ``getattr``).
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


@runtime_checkable
class Landscapes(Protocol):
    """The landscape re-rendered for any part of the frame: what the widget asks for when the
    user zooms in past the stored raster's resolution. An :class:`Inspector` that can decode
    the grid itself implements it too (the engine's does); the view tests it with
    ``isinstance`` and shows the stored raster otherwise (a saved page, an inspector without
    it)."""

    def landscape(self, epoch: int, extent: Sequence[float], shape: tuple[int, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``g_t(ψ_t(y))`` over the ``shape = (H, W)`` cell centres of ``extent = (x0, x1,
        y0, y1)`` (a part of the shared frame; row 0 at the top, as ``Visualization.landscape``)
        shaded as the stored landscape is: ``(rgba uint8 (H, W, 4), classes int16 (H, W),
        confidence float32 (H, W))``."""
        ...


@runtime_checkable
class Explaining(Protocol):
    """What the view may ask about explanations, with plain arrays back (one custom message
    each). The engine's inspector (``dvi.visualization().inspector``) implements it by
    delegating to :class:`dvi_widget.explain.Explainer`.
    """

    def what_if_payload(self, index: int, epoch: int, kind: str = "rotate",
                        strengths: Any = None, target: int | None = None) -> dict[str, Any]:  # noqa: ANN401
        """A path of sample ``index`` on epoch ``epoch``'s landscape: ``kind`` a perturbation
        family or ``"fgsm"``/``"pgd"`` (toward ``target``); see
        ``dvi_widget.explain.Explainer.path_payload``."""
        ...

    def explain(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request["what"]`` one of ``path, gradcam, robustness, surrogate, kinds``; see
        ``dvi_widget.explain.Explainer.payload``."""
        ...


@runtime_checkable
class Seeing(Protocol):
    """"What the model sees here": the input the inverse gives at a spot of the view. The
    view tests it with ``isinstance`` (a click's popover, ``Widget.inspect``,
    ``Widget.inspect_line``); an inspector without it shows no such input.

    Two honest kinds, never mixed: ``"decoded"`` — an inverse into the input space gives an
    input at the spot (DeepView's π⁻¹), returned in ``inputs``; ``"nearest"`` — the inverse
    decodes into the representation space only (DVI's ψ_t), so the recorded samples whose
    representations lie nearest to the decoded point are shown (``indices``), never a blend
    of them passed off as a decoded input.
    """

    def sees(self, points: np.ndarray, epoch: int, k: int = 3) -> dict[str, Any]:
        """``(n, 2)`` frame points -> ``{"kind": "decoded" | "nearest", "label": str (what the
        inputs are, for a caption), "inputs": float32 (n, 1, *input_shape) (decoded) or None,
        "indices": int64 (n, k) recorded sample indices (nearest, ascending distance) or None,
        "distances": float32 (n, k) or None, "predictions": int64 (n, m) the model's class
        for each shown input (m = 1 decoded, k nearest), "probabilities": float32 (n, C) at
        the spot}``."""
        ...


@runtime_checkable
class Images(Protocol):
    """Displayable images the view reads a few rows at a time: uint8 ``shape`` (N, H, W) or
    (N, H, W, 1|3|4), ``images[idx]`` for an int index array (a numpy array satisfies it;
    :class:`dvi_widget.data.images.ImageArray` converts a run's raw inputs lazily)."""

    shape: tuple[int, ...]
    dtype: Any  # noqa: ANN401 - numpy's uint8

    def __getitem__(self, index: Any) -> np.ndarray:  # noqa: ANN401 - int, slice or int array
        ...

    def __len__(self) -> int:
        ...


def _displayable(images: Any) -> bool:  # noqa: ANN401
    shape = tuple(getattr(images, "shape", ()))
    return (getattr(images, "dtype", None) == np.uint8 and len(shape) in (3, 4)
            and (len(shape) == 3 or shape[3] in (1, 3, 4)))


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


def _as_images(images: Any) -> Any:  # noqa: ANN401 - None or an Images object
    """Images as given when they are displayable (:class:`Images`); raw inputs are refused with
    the fix (the contract stays plain data: converting inputs to pixels is the data layer's)."""
    if images is None or (isinstance(images, Images) and _displayable(images)):
        return images
    raise ValueError(
        f"images must be uint8 (N, H, W) or (N, H, W, 1|3|4) pixels, got "
        f"{type(images).__name__} of shape {tuple(getattr(images, 'shape', ()))} dtype "
        f"{getattr(images, 'dtype', None)}; wrap raw inputs as "
        "dvi_widget.data.images.ImageArray(x) (any layout and value range)")


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


@runtime_checkable
class Inside(Protocol):
    """What the inside panels (distributions over epochs, the network view of neural patterns)
    may ask about the network, with plain arrays and tables back. Implemented by
    :class:`dvi_widget.inside.InsideSource` on a recorded run; given to a widget with
    ``Widget.show_inside(source)``.
    """

    def bands(self, kind: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        """``(layers, epochs (T,), quantiles (L, T, Q) float32 with NaN where not recorded,
        statistic names (Q,))`` of ``kind`` (weight, bias, grad, activation)."""
        ...

    def flags(self) -> pd.DataFrame:
        """Columns ``flag, layer, epochs (list of int), detail``."""
        ...

    def patterns(self, epoch: int) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """``(layers [{"name", "units"}], patterns)`` of ``epoch``: one row per pattern, columns
        ``layers`` (positions into the first list), ``units``, ``count``, ``support``,
        ``samples`` (global indices), ``classes`` ({class id: count})."""
        ...


@runtime_checkable
class InsideFeatures(Protocol):
    """Feature visualization for the ``features`` panel (optional beside :class:`Inside`)."""

    def feature_layers(self, epoch: int) -> list[dict[str, Any]]:
        """``[{"name", "units"}]``: the layers ``features`` can maximise (``"logits"`` first)."""
        ...

    def features(self, epoch: int, layer: str, units: Sequence[int]) -> np.ndarray:
        """float32 ``(len(units), C, H, W)`` in [0, 1]: the inputs ``units`` of ``layer``
        respond to most at ``epoch``."""
        ...

    def filters(self, epoch: int) -> np.ndarray:
        """float32 ``(out_channels, in_channels, kh, kw)`` in [0, 1]: first-layer kernels."""
        ...
