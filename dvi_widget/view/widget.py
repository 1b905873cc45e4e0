"""The notebook widget: scatter of every sample over the decision landscape, epoch by epoch.

Built on :class:`~dvi_widget.contract.Visualization` only, so any arrays of the right shapes
work. The front end (``js/src``, bundled to ``dvi_widget/static/widget.js``) knows nothing but the
traits below.

Synced traits (Python -> JS unless noted)
-----------------------------------------
Binary buffers are ``{"view": memoryview, "dtype": str, "shape": list}`` (C order, little endian;
see :mod:`dvi_widget.view.serialize`); T epochs, N samples, C classes, H x W landscape pixels.

================== ============================= ================================================
trait              type / layout                 meaning
================== ============================= ================================================
``coords``         float32 (T, N, 2) buffer      positions normalised to [-1, 1] by ``extent``
                                                 (uint16 plus ``range`` above 200k samples)
``labels``         uint8|uint16 (N,) buffer      given class id
``predictions``    uint8|uint16 (T, N) buffer    predicted class id per epoch
``confidence``     uint8 (T, N) buffer           top-1 probability * 255, rounded
``split_codes``    uint8 (N,) buffer             index into ``split_names`` (0 = "train")
``landscape``      uint8 (T, H, W, 4) buffer     RGBA, row 0 = top (max y), spans the extent
``split_names``    list[str]                     "train", "test", then other categories
``epochs``         list[int]                     recorded epoch numbers
``class_names``    list[str]                     legend and hover text
``palette``        list["#rrggbb"]               colour per class id (points and landscape)
``epoch``          int, two-way                  current epoch *number* (must be in ``epochs``)
``selection``      uint32 (K,) buffer, two-way   selected sample indices (lasso/box/search)
``highlight_indices`` uint32 (K,) or None       others are dimmed
``filter_indices`` uint32 (K,) buffer or None    only these are drawn
``trail_indices``  uint32 (K,) buffer or None    draw these samples' paths over all epochs
``columns``        list of dicts (see below)     metadata columns to colour, filter, search by
``color_by``       str, two-way                  a column: "label", "prediction", "correct",
                                                 "confidence", "changed" or a ``columns`` name
``highlight_categories`` list[int], two-way      categories of ``color_by`` the legend
                                                 highlights (others dimmed); reset on change
``filter_categories`` list[int], two-way         categories of ``color_by`` drawn (empty: all)
``show``           "both"|"train"|"test", 2-way  which split is drawn
``mark_misclassified`` bool                      misclassified: darker and larger
``point_size``     float in (0, 100], two-way    point size in px
``point_opacity``  float in [0, 1], two-way      opacity of train points (test: 0.8 of it)
``landscape_opacity`` float in [0, 1], two-way   landscape washed toward white (0 hides it)
``playing``/``speed``/``loop`` two-way           playback (speed in epochs per second, (0, 60])
``transition_ms``  int in [0, 10000]             points move and the landscape cross-fades
``mouse_mode``     "pan"|"lasso"|"box", 2-way    what a drag does (shift+drag always lassos)
``height``         int in [50, 5000]             canvas height in px
``panels``         list[str]                     side panels shown, in order (JS registry)
``panel_open``     bool, two-way                 side panel area expanded
``class_labels``   bool, two-way                 each class's name at its densest region, per
                                                 epoch (moves with playback)
``density_contours`` bool, two-way               per-class density contours over the plot
``compact``        bool                          the plot alone: no toolbar, chips or search
                                                 column (the small views of ``compare``)
``review_marks``   uint8 (N,) buffer or None     review marks (0 none, 1 mislabeled, 2 correct,
                                                 3 unsure): the ``review`` column;
                                                 :mod:`dvi_widget.view.review`
``max_points``     int >= 1000                   samples drawn one by one (default 200,000);
                                                 above, a subset of at most 40,000 in view over
                                                 a per-class density raster (README "Large runs")
================== ============================= ================================================

Emphasis (the chips above the plot name each active one; ✕ removes it here too): the *dimming*
ones — ``selection``, ``highlight_categories`` and ``highlight_indices`` — are one at a time, the
latest replacing the others (:meth:`Widget._one_dimming_emphasis`); the *hiding* ones — ``show``,
``filter_indices`` and ``filter_categories`` — combine: a sample is drawn when every one keeps it.

The explore panels (click popover, selection images, confusion matrix, training curves,
sample history, training events) add ``clicked``, ``focus_sample``, ``capabilities``, ``scalars``
and ``metrics``, and answer their requests in the kernel: see :mod:`dvi_widget.view.panels`.
Images are never sent up front: thumbnails travel as PNG atlases, one per request.

A ``columns`` entry is ``{"name", "kind": "categorical", "codes": uint8|uint16|uint32 (N,)
buffer, "categories": [str], "colors": ["#rrggbb"] or None}`` (``colors`` None: too many
categories to colour, searchable only) or ``{"name", "kind": "numeric", "values": float32 (N,)
buffer (NaN = missing), "min", "max"}``; a *per-epoch* numeric column (training dynamics such as
``aum``: :mod:`dvi_widget.data.dynamics`) has ``"values"`` float32 (T, N), row t the value at
epoch position t, and ``"per_epoch": True``, its ``min``/``max`` over every epoch so that the
colour bar stays put while the slider moves. Custom messages to the front end: ``{"type":
"reset_view"}``, ``{"type": "zoom_to_selection"}``, and ``{"panel": name, ...}`` for a side panel;
a panel's requests to the kernel carry ``{"panel": name, "id": id, ...}`` and reach
``Widget.panel_handlers[name](widget, content, buffers)``, which replies once (one envelope:
:mod:`dvi_widget.view.protocol`). The Explain panel ``"explain"`` (shown when ``vis.inspector``
implements ``Explaining``) adds ``explain_path``, ``explain_robustness`` and
``explain_surrogate``: :mod:`dvi_widget.view.explain`. The CSS is one stylesheet
(``static/widget.css``, built from ``js/src/widget.css``), every rule under ``.dvi-root``.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anywidget
import numpy as np
import pandas as pd
import traitlets as t

from ..contract import Visualization, default_palette
from . import explain
from .frame import to_view
from .inside import HANDLERS as INSIDE_HANDLERS
from .inside import InsideMixin
from .panels import DEFAULT_PANELS, PANEL_HANDLERS, PanelsMixin
from .protocol import panel_handlers
from .review import ReviewMixin
from .serialize import array_serialization, coords_serialization
from .snapshot import SnapshotMixin

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

#: The bundled front end and its stylesheet, written by ``npm run build`` in ``js/``.
BUNDLE_PATH = Path(__file__).parent.parent / "static" / "widget.js"
CSS_PATH = BUNDLE_PATH.with_name("widget.css")
#: dtype of sample-index buffers (selection, highlight, filter, trails).
INDEX_DTYPE = np.uint32

_BUILD_HINT = (
    "The widget's front-end bundle {path} is missing. Build it with "
    "`cd js && npm ci && npm run build` (from the repository root), or install the package with "
    "`pip install -e .`, which runs the same build."
)


#: colour-by columns the front end derives from the other traits (in this order)
BUILT_IN_COLUMNS = ("label", "prediction", "correct", "confidence", "changed")
#: the columns every sample frame has (:meth:`Widget.samples_df`), before metadata and dynamics
FRAME_COLUMNS = ("index", "epoch", "split", "label", "class_name", "prediction",
                 "predicted_name", "correct", "confidence", "x", "y", "changed", "review")
#: a categorical column with more distinct values is searchable but not coloured
MAX_COLOR_CATEGORIES = 60
#: an integer column with at most this many distinct values is categorical (e.g. a round number)
MAX_INTEGER_CATEGORIES = 20
_BOOL_COLORS = ["#9a9a9a", "#d62728"]

#: (low, high, low inclusive, unit) of each numeric trait; values outside are refused
_RANGES = {
    "point_size": (0.0, 100.0, False, "pixels"),
    "point_opacity": (0.0, 1.0, True, ""),
    "landscape_opacity": (0.0, 1.0, True, ""),
    "speed": (0.0, 60.0, False, "epochs per second"),
    "transition_ms": (0, 10_000, True, "ms"),
    "height": (50, 5000, True, "pixels"),
}


class TraitValueError(t.TraitError, ValueError):
    """A refused trait value. A ``TraitError``, so that traitlets rolls a front-end update
    (``set_state``) back instead of keeping the bad value; also the ``ValueError`` cells catch."""


class TraitTypeError(t.TraitError, TypeError):
    """A trait value of the wrong type (see :class:`TraitValueError`)."""


def _hex(rgb: np.ndarray) -> list[str]:
    return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in np.asarray(rgb)]


def _column(name: str, values: pd.Series) -> dict:
    """One metadata column for the front end (see the module docstring for the layout)."""
    is_bool = pd.api.types.is_bool_dtype(values.dtype)
    if is_bool and not values.isna().any():
        codes = values.to_numpy(dtype=bool).astype(np.uint8)
        return {"name": name, "kind": "categorical", "codes": codes,
                "categories": ["False", "True"], "colors": list(_BOOL_COLORS)}
    if pd.api.types.is_numeric_dtype(values.dtype) and not is_bool:
        num = values.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = num[np.isfinite(num)]
        integral = finite.size == num.size and np.array_equal(finite, np.round(finite))
        if not (integral and len(np.unique(finite)) <= MAX_INTEGER_CATEGORIES):
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            return {"name": name, "kind": "numeric", "values": num.astype(np.float32),
                    "min": lo, "max": hi}
        uniq, codes = np.unique(num.astype(np.int64), return_inverse=True)
        categories = [str(v) for v in uniq]
    else:
        text = values.astype("string").fillna("")
        uniq, codes = np.unique(text.to_numpy(dtype=str), return_inverse=True)
        categories = [str(v) for v in uniq]
    k = len(categories)
    dtype = np.uint8 if k <= 256 else np.uint16 if k <= 65536 else np.uint32
    colors = _hex(default_palette(k)) if k <= MAX_COLOR_CATEGORIES else None
    return {"name": name, "kind": "categorical", "codes": codes.astype(dtype),
            "categories": categories, "colors": colors}


def _own_names(metadata: pd.DataFrame, taken: set[str]) -> pd.DataFrame:
    """``metadata`` with each column named like one of the view's own (``taken``: ``aum``,
    ``prediction``, ...) renamed ``metadata_<name>``, with a warning saying so; it was dropped
    from the samples' frames without a word."""
    clash = [c for c in metadata.columns if str(c) in taken]
    if not clash:
        return metadata
    names = {str(c) for c in metadata.columns} | taken
    renamed = {}
    for c in clash:
        new = f"metadata_{c}"
        while new in names:
            new = "metadata_" + new
        renamed[c] = new
        names.add(new)
    warnings.warn(
        "metadata columns " + ", ".join(f"{str(c)!r} -> {n!r}" for c, n in renamed.items())
        + ": their names are the view's own columns (the model's prediction, the training "
        "dynamics, ...), so they are shown renamed", UserWarning, stacklevel=3)
    return metadata.rename(columns=renamed)


def _epoch_columns(dynamics: Any, vis: Visualization) -> dict[str, np.ndarray]:  # noqa: ANN401
    """``{name: float32 (T, N)}`` aligned with ``vis.epochs`` from a Dynamics or a mapping."""
    if dynamics is None or dynamics is False:
        return {}
    if isinstance(dynamics, Mapping):
        cols = {str(k): np.asarray(a, dtype=np.float32) for k, a in dynamics.items()}
    elif callable(getattr(dynamics, "columns", None)):
        if getattr(dynamics, "n_samples", vis.n_samples) != vis.n_samples:
            raise ValueError(f"dynamics: {dynamics.n_samples} samples, the visualization has "
                             f"{vis.n_samples}; compute them over split='all'")
        cols = dynamics.columns([int(e) for e in vis.epochs])
    else:
        raise TypeError("dynamics must be a dvi_widget.data.dynamics.Dynamics, a mapping of "
                        f"(T, N) arrays, False or None; got {type(dynamics).__name__}")
    shape = (vis.n_epochs, vis.n_samples)
    for name, a in cols.items():
        if a.shape != shape:
            raise ValueError(f"dynamics column {name!r} must be (T, N) = {shape}, got {a.shape}")
        if name in BUILT_IN_COLUMNS:
            raise ValueError(f"dynamics column {name!r} shadows a built-in column; rename it")
    return cols


def _epoch_column(name: str, values: np.ndarray) -> dict:
    """A per-epoch numeric column for the front end (see the module docstring)."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return {"name": name, "kind": "numeric", "per_epoch": True,
            "values": np.ascontiguousarray(values, dtype=np.float32), "min": lo, "max": hi}


def _columns_to_json(value: list[dict] | None, widget: Any = None) -> list[dict]:  # noqa: ANN401
    out = []
    for col in value or []:
        col = dict(col)
        for key in ("codes", "values"):
            if key in col:
                col[key] = array_serialization["to_json"](col[key])
        out.append(col)
    return out


def _small_int(values: np.ndarray, top: int) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.uint8 if top < 256 else np.uint16)


def _thumbnails(images: np.ndarray | None, n: int) -> np.ndarray | None:
    """Hover thumbnails as uint8 (N, h, w) grey or (N, h, w, 3) colour, channels last."""
    if images is None:
        return None
    arr = np.asarray(images)
    if arr.ndim == 4 and (arr.shape[1] == 1 or (arr.shape[1] == 3 and arr.shape[3] not in (1, 3))):
        arr = arr.transpose(0, 2, 3, 1)  # torch layout (N, C, h, w)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (3, 4) or arr.shape[0] != n or (arr.ndim == 4 and arr.shape[3] != 3):
        raise ValueError(f"images must be (N={n}, h, w), (N, h, w, 1|3) or (N, 1|3, h, w), got "
                         f"shape {np.shape(images)}")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("images contain NaN or Inf")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:  # not in [0, 1]: rescale the whole stack to it
            arr = (arr - lo) / max(hi - lo, 1e-12)
        arr = np.round(arr * 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_visualization(vis: object) -> Visualization:
    if isinstance(vis, Visualization):
        return vis
    if hasattr(vis, "visualization"):
        out = vis.visualization()
        if isinstance(out, Visualization):
            return out
    raise TypeError(
        "Widget(vis) needs a dvi_widget.Visualization (or an object with a .visualization() "
        f"method returning one, such as a fitted DVI), got {type(vis).__name__}; build one from "
        "arrays with Visualization.from_arrays(coords=..., labels=...)"
    )


class IndexArray(t.TraitType):
    """A 1-D uint32 array of sample indices (or None); equal arrays do not re-notify."""

    info_text = "a 1-D array of sample indices"

    def validate(self, obj: Any, value: Any) -> np.ndarray | None:  # noqa: ANN401
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.dtype == np.bool_:
            raise TraitTypeError(f"{self.name}: pass a boolean mask through the widget's methods")
        if arr.size == 0:
            return np.zeros(0, INDEX_DTYPE)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise TraitTypeError(f"{self.name} must be a 1-D array of integer sample indices, "
                                 f"got dtype {arr.dtype} and shape {arr.shape}")
        n = getattr(obj, "n_samples", None)
        if arr.min() < 0 or (n is not None and arr.max() >= n):
            raise TraitValueError(f"{self.name} indices must lie in [0, {n}); got min "
                                  f"{arr.min()} and max {arr.max()}")
        return np.unique(arr).astype(INDEX_DTYPE)

    def set(self, obj: t.HasTraits, value: Any) -> None:  # noqa: ANN401
        new = self._validate(obj, value)
        old = obj._trait_values.get(self.name, None)
        same = (old is None and new is None) or (
            old is not None and new is not None and np.array_equal(old, new))
        if same:
            return
        obj._trait_values[self.name] = new
        obj._notify_trait(self.name, old, new)


def _index_trait(**tags: Any) -> IndexArray:  # noqa: ANN401
    return IndexArray(default_value=None, allow_none=True).tag(
        sync=True, **array_serialization, **tags)


def _in_range(name: str, value: float) -> float:
    lo, hi, closed, unit = _RANGES[name]
    ok = (lo <= value if closed else lo < value) and value <= hi
    if not ok:  # also refuses NaN
        interval = f"{'[' if closed else '('}{lo}, {hi}]"
        raise TraitValueError(f"Widget.{name} must be in {interval}"
                              f"{' ' + unit if unit else ''}, got {value}")
    return value


class Widget(PanelsMixin, ReviewMixin, explain.ExplainMixin, InsideMixin, SnapshotMixin,
             anywidget.AnyWidget):
    """Interactive view of a :class:`Visualization`: landscape, samples, playback, lasso.

    Parameters
    ----------
    vis : Visualization or object with ``.visualization()``
        What to show (e.g. a fitted :class:`~dvi_widget.DVI`, or ``Visualization.from_arrays``).
    epoch : int, optional
        Epoch number shown first (default: the last recorded epoch).
    point_size : float, default=4
        Point size in pixels; misclassified points are drawn 1.5x larger, test points 0.75x.
    height : int, default=520
        Canvas height in pixels.
    show : {"both", "train", "test"}, default="both"
    color_by : str, default="label"
        "label", "prediction", "correct", "confidence", "changed" (prediction changed since the
        previous epoch) or a metadata column: categorical columns get a legend, numeric ones a
        colour bar.
    transition_ms : int, default=400
        Duration of the animated move between epochs (0 = jump); the landscape cross-fades
        over the same time.
    landscape_opacity : float, default=0.45
        How strongly the landscape shows (0 hides it); lower keeps the marks, drawn in the same
        palette, easier to read.
    point_opacity : float, default=1
        Opacity of the training points (test points: 0.8 of it).
    images : array, optional
        Images shown on hover and in the selection panel, instead of ``vis.images``: (N, h, w),
        (N, h, w, 1|3) or (N, 1|3, h, w), uint8 or floats in [0, 1]. Kept in the kernel; the
        front end fetches PNG atlases of the few it shows.
    metadata : DataFrame, optional
        Extra per-sample columns (N rows, train then test) for :meth:`selection_df`; defaults to
        ``vis.metadata``.
    dynamics : Dynamics, mapping of (T, N) arrays, False or None
        Per-sample columns that change with the epoch, coloured, filtered and searched at the
        shown epoch (``color_by="aum"``, ``filter_samples("aum < 0")``): a
        :class:`~dvi_widget.data.dynamics.Dynamics` (its measures up to each shown epoch) or
        ``{name: array (T, N)}`` aligned with ``vis.epochs``. None (default): the training
        dynamics of ``vis`` when it offers them (a fitted :class:`~dvi_widget.DVI`'s
        ``dynamics()``); False: none.
    review : Review, run folder path, False or None
        Where review marks are kept (:class:`~dvi_widget.data.run.review.Review`); None: the
        run of ``vis`` when it offers one (a fitted DVI's ``review()``). Marks show as the
        column ``review``; :meth:`mark`, :meth:`review_df`, :meth:`relabels_csv`,
        :meth:`label_issues`.

    Examples
    --------
    >>> w = Widget(dvi.visualization())          # doctest: +SKIP
    >>> w                                         # doctest: +SKIP
    >>> w.selection_df()                          # after a lasso   # doctest: +SKIP
    >>> w.color_by = "noisy"                      # a metadata column   # doctest: +SKIP
    >>> w.filter_samples("noisy and not correct")  # doctest: +SKIP
    """

    coords = t.Any().tag(sync=True, **coords_serialization)
    labels = t.Any().tag(sync=True, **array_serialization)
    predictions = t.Any().tag(sync=True, **array_serialization)
    confidence = t.Any().tag(sync=True, **array_serialization)
    split_codes = t.Any().tag(sync=True, **array_serialization)
    landscape = t.Any().tag(sync=True, **array_serialization)
    split_names = t.List(t.Unicode()).tag(sync=True)
    epochs = t.List(t.Int()).tag(sync=True)
    class_names = t.List(t.Unicode()).tag(sync=True)
    palette = t.List(t.Unicode()).tag(sync=True)

    epoch = t.Int(0).tag(sync=True)
    selection = _index_trait(echo_update=False)
    highlight_indices = _index_trait()
    filter_indices = _index_trait()
    trail_indices = _index_trait()
    columns = t.List(t.Dict()).tag(sync=True, to_json=_columns_to_json)
    color_by = t.Unicode("label").tag(sync=True)
    highlight_categories = t.List(t.Int()).tag(sync=True)
    filter_categories = t.List(t.Int()).tag(sync=True)
    show = t.Enum(["both", "train", "test"], default_value="both").tag(sync=True)
    mark_misclassified = t.Bool(True).tag(sync=True)
    point_size = t.Float(4.0).tag(sync=True)
    point_opacity = t.Float(1.0).tag(sync=True)
    max_points = t.Int(200_000, min=1000).tag(sync=True)
    landscape_opacity = t.Float(0.45).tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    speed = t.Float(2.0).tag(sync=True)
    loop = t.Bool(True).tag(sync=True)
    transition_ms = t.Int(400).tag(sync=True)
    mouse_mode = t.Enum(["pan", "lasso", "box"], default_value="pan").tag(sync=True)
    height = t.Int(520).tag(sync=True)
    panels = t.List(t.Unicode(), default_value=["legend"]).tag(sync=True)
    panel_open = t.Bool(True).tag(sync=True)
    class_labels = t.Bool(False).tag(sync=True)
    density_contours = t.Bool(False).tag(sync=True)
    #: the live view (Widget.follow): the worker's state in one line ("" when not following),
    #: and a counter the front end re-reads the data arrays on
    follow_status = t.Unicode("").tag(sync=True)
    data_version = t.Int(0).tag(sync=True)
    compact = t.Bool(False).tag(sync=True)

    #: kernel-side handlers of side-panel messages: name -> fn(widget, content, buffers)
    panel_handlers: ClassVar[dict[str, Callable[[Widget, dict, list], None]]] = {
        **PANEL_HANDLERS, **panel_handlers({"review": lambda w, r, b: w._on_review(r, b)}),
        **panel_handlers(INSIDE_HANDLERS)}

    if BUNDLE_PATH.is_file():
        _esm = BUNDLE_PATH
    if CSS_PATH.is_file():
        _css = CSS_PATH

    def __init__(self, vis: object, *, epoch: int | None = None, point_size: float = 4.0,
                 height: int = 520, show: str = "both", color_by: str = "label",
                 transition_ms: int = 400, landscape_opacity: float = 0.45,
                 point_opacity: float = 1.0, images: np.ndarray | None = None,
                 metadata: pd.DataFrame | None = None, dynamics: Any = None,  # noqa: ANN401
                 review: Any = None, **kwargs: Any) -> None:  # noqa: ANN401
        if not BUNDLE_PATH.is_file():
            raise FileNotFoundError(_BUILD_HINT.format(path=BUNDLE_PATH))
        if "_esm" not in type(self).__dict__ and not hasattr(type(self), "_esm"):
            # built after this module was imported: read it now
            self._esm = BUNDLE_PATH.read_text(encoding="utf-8")
        if "_css" not in type(self).__dict__ and not hasattr(type(self), "_css") and \
                CSS_PATH.is_file():
            self._css = CSS_PATH.read_text(encoding="utf-8")
        if dynamics is None and callable(getattr(vis, "dynamics", None)):
            dynamics = vis.dynamics()
        self.vis = _to_visualization(vis)
        v = self.vis
        #: the training dynamics shown (None: none), and their (T, N) columns by name
        self.dynamics = None if dynamics is False or isinstance(dynamics, Mapping) else dynamics
        self.epoch_columns = _epoch_columns(dynamics, v)
        self.n_samples = v.n_samples
        if metadata is None:
            metadata = v.metadata
        if metadata is not None and len(metadata) != v.n_samples:
            raise ValueError(f"metadata must have N={v.n_samples} rows, got {len(metadata)}")
        # (split, label and class_name are the run's own, repeated in its metadata: dropped)
        self.metadata = None if metadata is None else _own_names(
            metadata.reset_index(drop=True),
            set(FRAME_COLUMNS) - {"split", "label", "class_name"} | set(self.epoch_columns))
        # (the view's own names were renamed above; "label" is the run's own, repeated)
        columns = [] if self.metadata is None else [
            _column(str(name), self.metadata[name]) for name in self.metadata.columns
            if str(name) not in BUILT_IN_COLUMNS]
        columns += [_epoch_column(name, values) for name, values in self.epoch_columns.items()]
        split = np.asarray(v.split).astype(str)
        names = ["train", "test"] + sorted(set(split.tolist()) - {"train", "test"})
        codes = np.searchsorted(np.array(names[2:]), split) + 2 if len(names) > 2 else None
        split_codes = np.where(split == "train", 0, np.where(split == "test", 1, 0))
        if codes is not None:
            other = (split != "train") & (split != "test")
            split_codes = np.where(other, codes, split_codes)
        top = v.n_classes - 1
        super().__init__(
            coords=to_view(v, v.coords),
            labels=_small_int(v.labels, top),
            predictions=_small_int(v.predictions, top),
            confidence=np.round(np.clip(v.confidence, 0, 1) * 255).astype(np.uint8),
            split_codes=split_codes.astype(np.uint8),
            landscape=v.landscape,
            split_names=names,
            epochs=[int(e) for e in v.epochs],
            class_names=list(v.class_names),
            palette=["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in v.palette],
            epoch=int(v.epochs[-1]) if epoch is None else int(epoch),
            columns=columns, point_size=point_size, height=height, show=show,
            transition_ms=transition_ms, landscape_opacity=landscape_opacity,
            point_opacity=point_opacity, selection=np.zeros(0, INDEX_DTYPE),
            **self._init_panels(_thumbnails(images, v.n_samples)),
            **{"panels": list(DEFAULT_PANELS), **kwargs},
        )
        self._init_review(vis, review)
        self.color_by = color_by  # validated against the columns set above
        self.on_msg(self._on_front_end_msg)
        #: the Explain panel's last results: "path", "robustness" (DataFrames), "surrogate"
        self.explanations: dict[str, Any] = {}
        if "panels" not in kwargs and explain.available(v):  # a model to ask: the Explain panel
            self.panels = [*self.panels, explain.PANEL]
        if "panels" not in kwargs and {"variability", "mean_confidence",
                                       "correctness"} <= set(self.epoch_columns):
            self.panels = [*self.panels, "datamap"]  # training dynamics: cartography's map

    # ------------------------------------------------------------------ the live view
    @classmethod
    def follow(cls, run: Any, dvi_params: Mapping[str, Any] | None = None, *,  # noqa: ANN401
               timeout: float = 600.0, **kwargs: Any) -> Widget:  # noqa: ANN401
        """A widget over a run that is still being trained: a worker process fits each epoch
        as it is recorded (warm-started from the previous one) and the slider grows, keeping
        the selection, zoom, epoch and panels. Blocks until the first epoch is fitted (at most
        ``timeout`` seconds). ``dvi_params``: the DVI's parameters; ``kwargs``: the widget's.
        Stop the worker with :meth:`stop_following`; a crash in it is shown in the widget.
        The live widget shows what the saved visualization holds (no click probabilities or
        explanations: open ``DVI.load(run)`` for those once training is done)."""
        from .follow import Follower

        follower = Follower(getattr(run, "path", run), dict(dvi_params or {}))
        vis = follower.wait_first(timeout)
        w = cls(vis, dynamics=False, **kwargs)
        w._follower = follower
        w.follow_status = "live: waiting for the next epoch"
        follower.start(w)
        return w

    def stop_following(self) -> None:
        """Stop the live view's worker (it finishes the epoch it is fitting) and its folder."""
        follower = self.__dict__.get("_follower")
        if follower is not None:
            follower.stop()
            follower.remove()
            self._follower = None
            self.follow_status = "live view stopped"

    def replace_visualization(self, vis: Visualization) -> None:
        """Show ``vis`` (the same samples, more or refitted epochs) in place of the current
        one, keeping the selection, zoom, shown epoch (the newest when it is gone) and
        panels."""
        v = _to_visualization(vis)
        if v.n_samples != self.vis.n_samples or list(v.class_names) != list(self.vis.class_names):
            raise ValueError(f"the new visualization has {v.n_samples} samples and classes "
                             f"{list(v.class_names)}; the widget shows {self.vis.n_samples} and "
                             f"{list(self.vis.class_names)}")
        top = v.n_classes - 1
        keep = int(self.epoch)
        self.vis = v
        with self.hold_sync():
            epochs = [int(e) for e in v.epochs]
            if keep not in epochs:
                self.set_trait("epochs", sorted(set(epochs) | {keep}))  # valid while it moves
                self.epoch = epochs[-1]
            self.epochs = epochs
            self.coords = to_view(v, v.coords)
            self.predictions = _small_int(v.predictions, top)
            self.confidence = np.round(np.clip(v.confidence, 0, 1) * 255).astype(np.uint8)
            self.landscape = v.landscape
            self.data_version = self.data_version + 1

    # ------------------------------------------------------------------ validation
    @t.validate("epoch")
    def _check_epoch(self, proposal: dict) -> int:
        value = int(proposal["value"])
        if value not in self.epochs:
            raise TraitValueError(f"epoch {value} was not recorded; choose one of {self.epochs}")
        return value

    @t.validate("point_size", "point_opacity", "landscape_opacity", "speed")
    def _check_float_range(self, proposal: dict) -> float:
        return _in_range(proposal["trait"].name, float(proposal["value"]))

    @t.validate("transition_ms", "height")
    def _check_int_range(self, proposal: dict) -> int:
        return int(_in_range(proposal["trait"].name, int(proposal["value"])))

    @property
    def color_columns(self) -> list[str]:
        """Names ``color_by`` accepts: the built-in columns, then the colourable metadata ones."""
        review = ["review"] if getattr(self, "review", None) is not None else []
        return list(BUILT_IN_COLUMNS) + [c["name"] for c in self.columns
                                         if c["kind"] == "numeric" or c.get("colors")] + review

    @t.validate("color_by")
    def _check_color_by(self, proposal: dict) -> str:
        value = str(proposal["value"])
        if value not in self.color_columns:
            too_many = [c["name"] for c in self.columns if c["name"] == value]
            if too_many:
                raise TraitValueError(f"color_by: column {value!r} has more than "
                                      f"{MAX_COLOR_CATEGORIES} distinct values; it can be "
                                      "searched and filtered, not coloured")
            raise TraitValueError(f"color_by must be one of {self.color_columns}, got {value!r}")
        return value

    @t.validate("highlight_categories", "filter_categories")
    def _check_categories(self, proposal: dict) -> list[int]:
        values = sorted({int(v) for v in proposal["value"]})
        k = self._category_count()
        if values and (k is None or values[0] < 0 or values[-1] >= k):
            what = "a numeric column has no categories" if k is None else f"must lie in [0, {k})"
            raise TraitValueError(f"{proposal['trait'].name} for color_by={self.color_by!r}: "
                                  f"{what}, got {values}")
        return values

    @t.observe("selection", "highlight_indices", "highlight_categories")
    def _one_dimming_emphasis(self, change: dict) -> None:
        """One dimming emphasis at a time: a non-empty selection, highlight or legend highlight
        replaces the other two (the front end applies the same rule to its gestures). Two dimming
        layers drawn together would give a dim point two reasons no picture tells apart."""
        new = change["new"]
        if new is None or len(new) == 0:
            return
        name = change["name"]
        if name != "selection" and self.selection is not None and len(self.selection):
            self.selection = np.zeros(0, INDEX_DTYPE)
        if name != "highlight_indices" and self.highlight_indices is not None:
            self.highlight_indices = None
        if name != "highlight_categories" and self.highlight_categories:
            self.highlight_categories = []

    def emphases(self) -> pd.DataFrame:
        """The active emphases, as the chips above the plot show them: one row per emphasis with
        ``emphasis`` (its trait), ``effect`` ("dims" or "hides") and ``samples`` (how many it
        keeps; the legend's at the current epoch)."""
        rows = []
        pos = self.vis.epoch_index(self.epoch)
        if self.selection is not None and len(self.selection):
            rows.append(("selection", "dims", len(self.selection)))
        values = self._category_values(pos)
        if self.highlight_categories and values is not None:
            rows.append(("highlight_categories", "dims",
                         int(np.isin(values, self.highlight_categories).sum())))
        if self.highlight_indices is not None:
            rows.append(("highlight_indices", "dims", len(self.highlight_indices)))
        if self.show != "both":
            rows.append(("show", "hides", int((np.asarray(self.vis.split) == self.show).sum())))
        if self.filter_indices is not None:
            rows.append(("filter_indices", "hides", len(self.filter_indices)))
        if self.filter_categories and values is not None:
            rows.append(("filter_categories", "hides",
                         int(np.isin(values, self.filter_categories).sum())))
        return pd.DataFrame(rows, columns=["emphasis", "effect", "samples"])

    def _category_values(self, pos: int) -> np.ndarray | None:
        """Per-sample category codes of the ``color_by`` column at epoch position ``pos``."""
        v = self.vis
        name = self.color_by
        if name == "label":
            return np.asarray(v.labels)
        if name == "prediction":
            return np.asarray(v.predictions[pos])
        if name == "correct":
            return (v.predictions[pos] != v.labels).astype(np.int64)
        if name == "changed":
            return (v.predictions[pos] != v.predictions[max(pos - 1, 0)]).astype(np.int64)
        for c in self.columns:
            if c["name"] == name and c["kind"] == "categorical":
                return np.asarray(c["codes"]).astype(np.int64)
        if name == "review" and self.review_marks is not None:
            return np.asarray(self.review_marks).astype(np.int64)
        return None

    @t.observe("color_by")
    def _reset_legend(self, change: dict) -> None:
        self.highlight_categories = []
        self.filter_categories = []

    def _category_count(self) -> int | None:
        name = self.color_by
        if name in ("label", "prediction"):
            return self.vis.n_classes
        if name in ("correct", "changed"):
            return 2
        if name == "review" and getattr(self, "review", None) is not None:
            return 4
        for c in self.columns:
            if c["name"] == name:
                return len(c["categories"]) if c["kind"] == "categorical" else None
        return None

    # ------------------------------------------------------------------ cells -> view
    def _indices(self, which: Any, name: str) -> np.ndarray | None:  # noqa: ANN401
        """Indices from a boolean mask (length N), an index list/array/Index, a query over
        :meth:`samples_df` at the current epoch (e.g. ``"noisy and not correct"``), or None."""
        if which is None:
            return None
        if isinstance(which, str):
            try:
                mask = self.samples_df().eval(which)
            except Exception as err:
                raise ValueError(f"{name}: cannot evaluate {which!r} over the columns "
                                 f"{list(self.samples_df().columns)}: {err}") from err
            if not (isinstance(mask, pd.Series) and mask.dtype == bool):
                raise TypeError(f"{name}: {which!r} must give one True/False per sample, got "
                                f"{type(mask).__name__}")
            return np.flatnonzero(mask.to_numpy())
        arr = np.asarray(which)
        if arr.dtype == np.bool_:
            if arr.shape != (self.n_samples,):
                raise ValueError(f"{name}: a boolean mask must have N={self.n_samples} entries, "
                                 f"got shape {arr.shape}")
            return np.flatnonzero(arr)
        return np.atleast_1d(arr).astype(np.int64) if arr.size else np.zeros(0, np.int64)

    def select(self, which: Any) -> Widget:  # noqa: ANN401
        """Set the selection from a mask, indices or a query (None or [] clears); returns self."""
        idx = self._indices(which, "select")
        self.selection = np.zeros(0, INDEX_DTYPE) if idx is None else idx
        return self

    def highlight(self, which: Any = None) -> Widget:  # noqa: ANN401
        """Dim every sample except ``which`` (mask, indices or a query such as ``"noisy"``);
        ``None`` restores all; returns self.

        Examples
        --------
        >>> w.highlight("noisy")                     # doctest: +SKIP
        """
        self.set_trait("highlight_indices", self._indices(which, "highlight"))
        return self

    def filter_samples(self, which: Any = None) -> Widget:  # noqa: ANN401
        """Draw only ``which`` (mask, indices or a query such as ``"noisy and not correct"``,
        evaluated at the current epoch); ``None`` shows all again; returns self."""
        self.set_trait("filter_indices", self._indices(which, "filter_samples"))
        return self

    def trails(self, which: Any = None) -> Widget:  # noqa: ANN401
        """Draw the paths of ``which`` across all epochs; ``None`` removes them; returns self."""
        self.set_trait("trail_indices", self._indices(which, "trails"))
        return self

    def show_split(self, split: str = "both") -> Widget:
        """Show "train", "test" or "both"; returns self."""
        if split not in ("both", "train", "test"):
            raise ValueError(f"show_split: split must be 'both', 'train' or 'test', got {split!r}")
        self.show = split
        return self

    def reset_view(self) -> Widget:
        """Zoom every shown view of this widget out to the whole frame; returns self."""
        self.send({"type": "reset_view"})
        return self

    def zoom_to_selection(self) -> Widget:
        """Zoom every shown view to the selected samples; returns self."""
        self.send({"type": "zoom_to_selection"})
        return self

    def _on_front_end_msg(self, widget: Any, content: Any, buffers: list) -> None:  # noqa: ANN401
        if isinstance(content, dict) and isinstance(content.get("_buffers"), list):
            # a host that carries the page's messages as JSON text only (a served Panel app:
            # ipywidgets_bokeh) gets the buffers as base64 strings (js/src/codecs.js)
            content = dict(content)
            buffers = [base64.b64decode(b) for b in content.pop("_buffers")]
        if isinstance(content, dict) and content.get("panel") in self.panel_handlers:
            self.panel_handlers[content["panel"]](self, content, buffers)
        elif isinstance(content, dict) and content.get("type") == "snapshot":
            self._on_snapshot(content, buffers)

    # ------------------------------------------------------------------ view -> cells
    def _frame(self, idx: np.ndarray, pos: int) -> pd.DataFrame:
        v = self.vis
        labels = v.labels[idx]
        preds = v.predictions[pos, idx]
        before = v.predictions[max(pos - 1, 0), idx]
        names = np.asarray(v.class_names, dtype=object)
        df = pd.DataFrame({
            "index": idx.astype(np.int64),
            "epoch": int(v.epochs[pos]),
            "split": np.asarray(v.split)[idx],
            "label": labels,
            "class_name": names[labels],
            "prediction": preds,
            "predicted_name": names[preds],
            "correct": labels == preds,
            "confidence": v.confidence[pos, idx],
            "x": v.coords[pos, idx, 0],
            "y": v.coords[pos, idx, 1],
            "changed": preds != before,
        })
        if self.metadata is not None:
            # only the run's own split, label and class_name can be there: dropped
            extra = self.metadata.drop(columns=[c for c in self.metadata.columns
                                                if c in df.columns])
            df = pd.concat([df, extra.iloc[idx].reset_index(drop=True)], axis=1)
        for name, values in self.epoch_columns.items():
            df[name] = values[pos, idx]
        if self.review is not None:
            df["review"] = self._review_column(idx)
        return df

    def selection_df(self, epochs: str | None = None) -> pd.DataFrame:
        """The selected samples as a DataFrame (empty when nothing is selected).

        Parameters
        ----------
        epochs : None or "all"
            None: one row per sample at the current epoch, indexed by sample index.
            "all": one row per sample per epoch (its trajectory), sorted by index then epoch.

        Examples
        --------
        >>> w.selection_df().groupby("class_name").size()     # doctest: +SKIP
        """
        idx = (np.zeros(0, np.int64) if self.selection is None
               else self.selection.astype(np.int64))  # None only if a caller set it so
        if epochs is None:
            return self._frame(idx, self.vis.epoch_index(self.epoch)).set_index(
                "index", drop=False).rename_axis(None)
        if epochs != "all":
            raise ValueError(f"selection_df(epochs=...) must be None or 'all', got {epochs!r}")
        frames = [self._frame(idx, p) for p in range(self.vis.n_epochs)]
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["index", "epoch"], kind="stable").reset_index(drop=True)

    def samples_df(self, epoch: int | None = None) -> pd.DataFrame:
        """Every sample at one epoch (default: the current one), with the columns of
        :meth:`selection_df`; the frame that query strings of :meth:`filter_samples`,
        :meth:`highlight` and :meth:`select` are evaluated over.
        """
        pos = self.vis.epoch_index(self.epoch if epoch is None else epoch)
        return self._frame(np.arange(self.n_samples), pos)

    # ------------------------------------------------------------------ exports
    def figure(self, epoch: int | None = None) -> go.Figure:
        """A static plotly figure of one epoch (default: the current one) for reports."""
        from .export import build_figure

        pos = self.vis.epoch_index(self.epoch if epoch is None else epoch)
        return build_figure(self.vis, pos, point_size=self.point_size, show=self.show,
                            landscape_opacity=self.landscape_opacity)

    def save_html(self, path: str | Path, *, thumbnails: Any = None,  # noqa: ANN401
                  max_thumbnail_bytes: int | None = None, quiet: bool = False) -> Path:
        """Write a self-contained HTML page of the interactive view (works offline, no kernel).

        The page is the widget without its kernel: what needs one is left out (the Explain
        panel's controls; the panel itself when nothing was explained), what can be answered
        from saved arrays is kept: the landscape cells' class and confidence for the click
        popover, every drawn explanation, and thumbnails (sprite atlases) so that the Selection
        panel and the hover card show images: the focused, explained and selected samples
        first, then ``thumbnails``: None every sample (up to
        :data:`~.export.SAVED_THUMBNAILS`), ``"selection"`` no more, ``N`` the first N samples
        of each class, an array those samples, ``False`` none. ``max_thumbnail_bytes`` caps
        their PNG bytes (default :data:`~.export.SAVED_THUMBNAIL_BYTES`). Unless ``quiet``, one
        line reports the page's size and what the thumbnails take (also kept in
        ``self.saved_page``)."""
        from .export import page_report, saved_extras, write_html

        state = self.get_state()
        keep = {k: v for k, v in state.items() if not k.startswith("_")}
        keep["capabilities"] = {**keep.get("capabilities", {}), "kernel": False}  # no kernel
        extras = saved_extras(self, thumbnails, max_thumbnail_bytes)
        report = extras.pop("_thumbnail_report")
        keep.update(extras)
        out = write_html(path, keep, BUNDLE_PATH.read_text(encoding="utf-8"),
                         css=CSS_PATH.read_text(encoding="utf-8"))
        #: what the last save_html wrote: the page's bytes and the thumbnails' report
        self.saved_page = {"path": out, "bytes": out.stat().st_size, "thumbnails": report}
        if not quiet:
            print(page_report(out, report))
        return out
