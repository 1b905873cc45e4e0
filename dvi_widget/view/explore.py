"""Questions to a :class:`Visualization`, answered from Python: what is predicted here, what is in
this confusion-matrix cell, what happened to this sample, who are its neighbours.

Every function takes the contract only. Where the fitted model is needed it goes through
``vis.inspector`` (:class:`~dvi_widget.contract.Inspector`); a Visualization without
one (built from arrays, read from disk) is answered from its arrays, e.g. the landscape's
per-cell class and confidence instead of ψ_t's probabilities. The widget's panels call these
same functions, so a cell and a click give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..contract import Visualization, landscape_cells

#: a representation-space neighbour is flagged (⚠, ``separated``) when the 2-D view puts it more
#: than this many times farther from the sample than the sample's own k-th nearest 2-D neighbour:
#: not merely outside the k nearest (in a dense map nearly every high-dimensional neighbour is),
#: but far beyond the sample's 2-D neighbourhood.
SEPARATED_FACTOR = 3.0

#: sources of :func:`inspect`'s answer ("outside": the spot lies outside the view's extent)
SOURCES = ("model", "landscape", "none", "outside")


def _epoch(vis: Visualization, epoch: int | None) -> tuple[int, int]:
    """(epoch number, its index); None is the last epoch."""
    t = vis.n_epochs - 1 if epoch is None else vis.epoch_index(epoch)
    return int(vis.epochs[t]), t


def _class_id(vis: Visualization, value: int | str, name: str) -> int:
    if isinstance(value, str):
        if value not in vis.class_names:
            raise ValueError(f"{name}={value!r} is not a class name; names: {vis.class_names}")
        return vis.class_names.index(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) \
            or not 0 <= int(value) < vis.n_classes:
        raise ValueError(f"{name} must be a class id in [0, {vis.n_classes}) or a class name, "
                         f"got {value!r}")
    return int(value)


def _split_mask(vis: Visualization, split: str | Sequence[str]) -> np.ndarray:
    if isinstance(split, str):
        if split == "all":
            return np.ones(vis.n_samples, bool)
        split = [split]
    known = sorted(set(vis.split.tolist()))
    unknown = [s for s in split if s not in known]
    if unknown:
        raise ValueError(f"split {unknown} does not occur; splits are {known} (or 'all')")
    return np.isin(vis.split, list(split))


def _inside(vis: Visualization, pts: np.ndarray) -> np.ndarray:
    """Which finite points ``(n, 2)`` lie in the view's extent (edges included)."""
    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    return (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)


def _outside_note(vis: Visualization, x: float, y: float) -> str:
    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    return (f"({x:.6g}, {y:.6g}) lies outside the view's extent x in [{x0}, {x1}], y in "
            f"[{y0}, {y1}]: the view shows no landscape there, so it predicts nothing")


def inspect_points(
    vis: Visualization, points: np.ndarray, epoch: int | None = None
) -> pd.DataFrame:
    """What the view predicts at many 2-D points of one epoch, as a DataFrame.

    Columns ``x, y, prediction, confidence`` and, when ``vis.inspector`` is present, one
    probability column per class, named by class name (``p0, p1, ...`` when names repeat or
    clash with those four; ``df.attrs["probability_columns"]``), holding
    ``softmax(g_t(ψ_t(y)))`` (DVI §4). Without an
    inspector, prediction and confidence are those of the landscape cell under each point
    (``landscape_classes``/``landscape_confidence``; -1 and NaN when the landscape has no
    per-cell classes). Points outside the view's extent get -1 and NaN (and NaN
    probabilities) either way: the model is asked only about points the view shows (ψ_t
    extrapolates far outside, e.g. 100 % of one class at (999, 999)).
    ``df.attrs["source"]`` is one of :data:`SOURCES`.
    """
    e, t = _epoch(vis, epoch)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"points must be a non-empty finite (n, 2) array, got shape {pts.shape}")
    df = pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1]})
    inside = _inside(vis, pts)
    if vis.inspector is not None:
        probs = np.full((len(pts), vis.n_classes), np.nan, np.float32)
        if inside.any():
            got = np.asarray(vis.inspector.probabilities(pts[inside].astype(np.float32), e),
                             np.float32)
            if got.shape != (int(inside.sum()), vis.n_classes):
                raise ValueError(f"the inspector returned probabilities of shape {got.shape}; "
                                 f"expected ({int(inside.sum())}, {vis.n_classes})")
            probs[inside] = got
        pred = np.full(len(pts), -1, np.int64)
        conf = np.full(len(pts), np.nan, np.float32)
        pred[inside] = probs[inside].argmax(axis=1)
        conf[inside] = probs[inside].max(axis=1)
        df["prediction"], df["confidence"] = pred, conf
        df = pd.concat([df, pd.DataFrame(probs, columns=_probability_columns(vis))], axis=1)
        source = "model"
    elif vis.landscape_classes is not None:
        rows, cols, cell = landscape_cells(pts, vis.extent, vis.landscape_classes.shape[1:3])
        inside &= cell
        cls = vis.landscape_classes[t, rows, cols].astype(np.int64)
        conf = (vis.landscape_confidence[t, rows, cols] if vis.landscape_confidence is not None
                else np.full(len(pts), np.nan, np.float32))
        df["prediction"] = np.where(inside, cls, -1)
        df["confidence"] = np.where(inside, conf, np.nan).astype(np.float32)
        source = "landscape"
    else:
        df["prediction"] = np.full(len(pts), -1, np.int64)
        df["confidence"] = np.full(len(pts), np.nan, np.float32)
        source = "none"
    df.attrs.update(epoch=e, source=source,
                    probability_columns=_probability_columns(vis) if source == "model" else [])
    return df


def _probability_columns(vis: Visualization) -> list[str]:
    """The class names, or ``p0 .. p{C-1}`` when a name repeats or is a base column."""
    names = vis.class_names
    if len(set(names)) < len(names) or {"x", "y", "prediction", "confidence"} & set(names):
        return [f"p{i}" for i in range(len(names))]
    return list(names)


def nearest_2d(vis: Visualization, point: Sequence[float], epoch: int | None = None,
               k: int = 10) -> pd.DataFrame:
    """The ``k`` samples nearest to a 2-D point in the view at ``epoch`` (ascending distance).

    Columns ``sample, distance, split, label, prediction, confidence``.
    """
    _, t = _epoch(vis, epoch)
    if not (isinstance(k, int | np.integer) and k >= 1):
        raise ValueError(f"k must be a positive int, got {k!r}")
    # float64: a far-away point (1e30) would overflow float32 squares
    d = np.linalg.norm(vis.coords[t].astype(np.float64)
                       - np.asarray(point, np.float64).reshape(1, 2), axis=1)
    k = min(int(k), vis.n_samples)
    idx = np.argpartition(d, k - 1)[:k]
    idx = idx[np.lexsort((idx, d[idx]))]
    return pd.DataFrame({"sample": idx, "distance": d[idx].astype(np.float32),
                         "split": vis.split[idx],
                         "label": vis.labels[idx], "prediction": vis.predictions[t, idx],
                         "confidence": vis.confidence[t, idx]})


def inspect(vis: Visualization, x: float, y: float, epoch: int | None = None, k: int = 10,
            top: int = 3) -> dict[str, Any]:
    """Everything the view can say about the spot ``(x, y)`` at ``epoch`` (a click).

    Returns a dict: ``epoch``, ``x``, ``y``, ``source`` (:data:`SOURCES`), ``prediction``
    (class id, -1 when unknown), ``prediction_name``, ``confidence``, ``probabilities`` (a
    Series over class names, or None without an inspector), ``top`` (the ``top`` most probable
    classes: DataFrame ``class, name, probability``; from the landscape cell alone without an
    inspector), ``neighbors`` (:func:`nearest_2d`, the ``k`` nearest samples in 2-D) and
    ``note``: None, or for a spot outside the view's extent (``source="outside"``: no
    prediction, confidence NaN) the sentence saying so.

    Examples
    --------
    >>> inspect(vis, 0.3, -1.2, epoch=3)["top"]
    """
    df = inspect_points(vis, np.array([[x, y]], np.float64), epoch)
    row = df.iloc[0]
    pred, conf = int(row["prediction"]), float(row["confidence"])
    probs = None
    outside = not bool(_inside(vis, df[["x", "y"]].to_numpy())[0])
    source = "outside" if outside else df.attrs["source"]
    if source == "model":
        probs = pd.Series(row[df.attrs["probability_columns"]].to_numpy(np.float32),
                          index=vis.class_names, name="probability")
        best = np.argsort(-probs.to_numpy(), kind="stable")[: max(int(top), 0)]
        top_df = pd.DataFrame({"class": best, "name": [vis.class_names[i] for i in best],
                               "probability": probs.to_numpy()[best]})
    elif pred >= 0 and not outside:
        top_df = pd.DataFrame({"class": [pred], "name": [vis.class_names[pred]],
                               "probability": [conf]})
    else:
        top_df = pd.DataFrame({"class": pd.Series(dtype=np.int64),
                               "name": pd.Series(dtype=object),
                               "probability": pd.Series(dtype=np.float32)})
    return {
        "epoch": df.attrs["epoch"], "x": float(x), "y": float(y), "source": source,
        "prediction": pred, "prediction_name": vis.class_names[pred] if pred >= 0 else None,
        "confidence": conf, "probabilities": probs, "top": top_df,
        "neighbors": nearest_2d(vis, (x, y), df.attrs["epoch"], k),
        "note": _outside_note(vis, float(x), float(y)) if outside else None,
    }


def confusion(vis: Visualization, epoch: int | None = None,
              split: str | Sequence[str] = "all") -> pd.DataFrame:
    """The confusion matrix of ``epoch`` over the samples of ``split``: counts, int64 (C, C).

    Rows are the given labels (index named ``label``), columns the predictions (named
    ``prediction``), both by class name. ``split``: "all", a split name, or a list of them.
    """
    _, t = _epoch(vis, epoch)
    mask = _split_mask(vis, split)
    C = vis.n_classes
    flat = vis.labels[mask] * C + vis.predictions[t, mask]
    counts = np.bincount(flat, minlength=C * C).reshape(C, C)
    return pd.DataFrame(counts, index=pd.Index(vis.class_names, name="label"),
                        columns=pd.Index(vis.class_names, name="prediction"))


def confusion_cell(vis: Visualization, label: int | str, prediction: int | str,
                   epoch: int | None = None, split: str | Sequence[str] = "all") -> np.ndarray:
    """Indices (int64, ascending) of the samples in one confusion-matrix cell: given ``label``,
    predicted ``prediction`` at ``epoch``, in ``split``. Class ids or names."""
    _, t = _epoch(vis, epoch)
    a, b = _class_id(vis, label, "label"), _class_id(vis, prediction, "prediction")
    mask = _split_mask(vis, split) & (vis.labels == a) & (vis.predictions[t] == b)
    return np.flatnonzero(mask).astype(np.int64)


def history(vis: Visualization, sample: int) -> pd.DataFrame:
    """One sample over all epochs (index: epoch): ``x, y, prediction, prediction_name,
    confidence, correct`` and ``cell`` (the landscape class under it; -1 outside the frame or
    when unknown)."""
    i = _sample(vis, sample)
    pred = vis.predictions[:, i]
    cell = np.full(vis.n_epochs, -1, np.int64)
    if vis.landscape_classes is not None:
        rows, cols, inside = landscape_cells(vis.coords[:, i], vis.extent,
                                             vis.landscape_classes.shape[1:3])
        got = vis.landscape_classes[np.arange(vis.n_epochs), rows, cols]
        cell = np.where(inside, got, -1).astype(np.int64)
    return pd.DataFrame({
        "x": vis.coords[:, i, 0], "y": vis.coords[:, i, 1], "prediction": pred,
        "prediction_name": np.asarray(vis.class_names, dtype=object)[pred],
        "confidence": vis.confidence[:, i], "correct": pred == vis.labels[i], "cell": cell,
    }, index=pd.Index(vis.epochs, name="epoch"))


def _sample(vis: Visualization, sample: int) -> int:
    if isinstance(sample, bool) or not isinstance(sample, int | np.integer) \
            or not 0 <= int(sample) < vis.n_samples:
        raise ValueError(f"sample must be an index in [0, {vis.n_samples}), got {sample!r}")
    return int(sample)


def neighbors(vis: Visualization, sample: int, epoch: int | None = None,
              k: int = 10) -> pd.DataFrame:
    """A sample's ``k`` nearest samples in the 2-D view and, with an inspector, in
    representation space at ``epoch`` (like the embedding projector's neighbour list).

    Columns: ``space`` ("2d" or "high"), ``rank`` (1 = nearest), ``sample``, ``distance`` (in
    that space), ``split, label, prediction, confidence``, ``rank_2d`` (the neighbour's rank by
    2-D distance from the sample, among all samples), ``spread_2d`` (its 2-D distance from the
    sample over the distance to the sample's k-th nearest 2-D neighbour), ``separated``: for a
    "high" row, the view puts this high-dimensional neighbour far beyond the sample's 2-D
    neighbourhood (``spread_2d > SEPARATED_FACTOR``); for a "2d" row, the sample's k nearest in
    representation space do not include it (NA without an inspector).
    """
    e, t = _epoch(vis, epoch)
    i = _sample(vis, sample)
    if not (isinstance(k, int | np.integer) and 1 <= k < vis.n_samples):
        raise ValueError(f"k must be an int in [1, {vis.n_samples - 1}], got {k!r}")
    d2 = np.linalg.norm(vis.coords[t] - vis.coords[t, i], axis=1)
    d2[i] = np.inf
    order = np.lexsort((np.arange(vis.n_samples), d2))  # rank by 2-D distance, ties by index
    rank_2d = np.empty(vis.n_samples, np.int64)
    rank_2d[order] = np.arange(1, vis.n_samples + 1)
    near_2d = order[:k]
    radius = max(float(d2[order[k - 1]]), 1e-12)  # the sample's 2-D neighbourhood
    parts = {"2d": (near_2d, d2[near_2d])}
    if vis.inspector is not None:
        idx, dist = vis.inspector.neighbors(np.array([i]), e, int(k))
        parts["high"] = (np.asarray(idx).reshape(-1), np.asarray(dist).reshape(-1))
    frames = []
    for space, (idx, dist) in parts.items():
        if space == "high":
            separated = pd.array(d2[idx] / radius > SEPARATED_FACTOR, dtype="boolean")
        elif "high" in parts:
            separated = pd.array(~np.isin(idx, parts["high"][0]), dtype="boolean")
        else:
            separated = pd.array([pd.NA] * len(idx), dtype="boolean")
        frames.append(pd.DataFrame({
            "space": space, "rank": np.arange(1, len(idx) + 1), "sample": idx,
            "distance": np.asarray(dist, np.float64), "split": vis.split[idx],
            "label": vis.labels[idx], "prediction": vis.predictions[t, idx],
            "confidence": vis.confidence[t, idx], "rank_2d": rank_2d[idx],
            "spread_2d": d2[idx] / radius, "separated": separated,
        }))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(epoch=e, sample=i)
    return out


def composition(vis: Visualization, indices: Sequence[int] | np.ndarray,
                epoch: int | None = None) -> pd.DataFrame:
    """Class composition of a selection at ``epoch``: per class name, how many of the samples
    carry it as ``label`` and as ``prediction``, and how many are ``correct``ly predicted."""
    _, t = _epoch(vis, epoch)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= vis.n_samples):
        raise ValueError(f"indices must lie in [0, {vis.n_samples})")
    C = vis.n_classes
    lab, pred = vis.labels[idx], vis.predictions[t, idx]
    return pd.DataFrame({
        "label": np.bincount(lab, minlength=C), "prediction": np.bincount(pred, minlength=C),
        "correct": np.bincount(lab[lab == pred], minlength=C),
    }, index=pd.Index(vis.class_names, name="class"))


def events(vis: Visualization, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401
    """The training events of the fitted run behind ``vis`` (``DVI.events``, see
    :mod:`dvi_widget.engine.events`). Needs the inspector that ``DVI.visualization()`` hands
    over."""
    if vis.inspector is None:
        raise ValueError("training events need the fitted model: build the Visualization with "
                         "DVI(...).fit(run).visualization() (or DVI.load(run).visualization())")
    return vis.inspector.events(**thresholds)


# ---------------------------------------------------------------------- what the model sees here
def _pixels(vis: Visualization, inputs: np.ndarray) -> np.ndarray | None:
    """Decoded inputs ``(m, *input_shape)`` as uint8 images, scaled and laid out as the run's
    own images are (``vis.images``' value range and layout); None when they are not images."""
    from ..data.images import ImageArray, image_layout

    arr = np.asarray(inputs, np.float32)
    images = vis.images
    layout = getattr(images, "layout", None) or image_layout(arr.shape[1:])
    if layout is None:
        return None
    vr = getattr(images, "value_range", None)
    return np.asarray(ImageArray(arr, value_range=vr, layout=layout)[np.arange(len(arr))])


def sees(vis: Visualization, points: np.ndarray, epoch: int | None = None,
         k: int = 3) -> dict[str, Any] | None:
    """"What the model sees" at ``(n, 2)`` frame points (``vis.inspector``'s
    :class:`~dvi_widget.contract.Seeing`; None without it).

    Returns the inspector's answer (``kind``, ``label``, ``indices``, ``distances``,
    ``predictions``, ``probabilities``) plus ``images``: uint8 ``(n, m, H, W[, C])`` — the
    decoded inputs as images (``kind="decoded"``, m = 1) or the recorded samples' own images
    (``kind="nearest"``, m = k) — or None when the run has no images; and ``epoch``.
    """
    from ..contract import Seeing

    if not isinstance(vis.inspector, Seeing):
        return None
    e, _ = _epoch(vis, epoch)
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    out = dict(vis.inspector.sees(pts, e, k=k))
    images = None
    if out["kind"] == "nearest" and vis.images is not None:
        idx = np.asarray(out["indices"], np.int64)
        flat = np.asarray(vis.images[idx.reshape(-1)], np.uint8)
        images = flat.reshape(*idx.shape, *flat.shape[1:])
    elif out["kind"] == "decoded" and out.get("inputs") is not None:
        inputs = np.asarray(out["inputs"], np.float32)
        flat = _pixels(vis, inputs.reshape(-1, *inputs.shape[2:]))
        images = None if flat is None else flat.reshape(*inputs.shape[:2], *flat.shape[1:])
    out["images"] = images
    out["epoch"] = e
    return out


def sees_line(vis: Visualization, start: Sequence[float], end: Sequence[float], n: int = 8,
              epoch: int | None = None) -> dict[str, Any] | None:
    """What the model sees at ``n`` evenly spaced spots of the segment ``start`` -> ``end``
    (frame coordinates, both ends included): DeepView's Fig. 4 as a strip across a boundary.

    Returns None without a :class:`~dvi_widget.contract.Seeing` inspector, else ``points``
    (DataFrame ``x, y, prediction, confidence`` at each spot, from the model at the spot;
    ``sample`` and ``sample_prediction`` for ``kind="nearest"``: the nearest recorded sample to
    the decoded point and the model's class for it, else -1 / the decoded input's class),
    ``images`` uint8 ``(n, H, W[, C])`` or None, ``kind``, ``label``, ``epoch``.
    """
    if not (isinstance(n, int | np.integer) and 2 <= n <= 64):
        raise ValueError(f"n must be an int in [2, 64], got {n!r}")
    a, b = np.asarray(start, np.float64).reshape(2), np.asarray(end, np.float64).reshape(2)
    pts = a + np.linspace(0.0, 1.0, int(n))[:, None] * (b - a)
    inside = _inside(vis, pts)
    if not inside.all():
        raise ValueError("the line leaves the view's extent: "
                         + _outside_note(vis, *pts[~inside][0]))
    got = sees(vis, pts, epoch, k=1)
    if got is None:
        return None
    probs = np.asarray(got["probabilities"], np.float32)
    df = pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "prediction": probs.argmax(1),
                       "confidence": probs.max(1)})
    if got["kind"] == "nearest":
        df["sample"] = np.asarray(got["indices"])[:, 0]
    else:
        df["sample"] = -1
    df["sample_prediction"] = np.asarray(got["predictions"])[:, 0]
    images = got["images"]
    return {"points": df, "images": None if images is None else images[:, 0],
            "kind": got["kind"], "label": got["label"], "epoch": got["epoch"]}
