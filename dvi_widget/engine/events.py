"""Training events: which samples changed, how, and when (after the time-travelling visualizer).

Between each pair of consecutive fitted epochs (t-1, t) a sample has an event of kind

``flip``          its predicted class changed; size: the total-variation distance between its
                  class probabilities at t-1 and t, ``0.5 * sum |p_t - p_{t-1}|`` in [0, 1]
``confidence``    its top-1 probability changed by at least ``confidence_jump``; size: the
                  signed change ``conf_t - conf_{t-1}``
``move``          it moved at least ``move`` in the view; size: ``|y_t - y_{t-1}|`` as a share
                  of the side of the shared frame
``neighborhood``  at least ``neighborhood_change`` of its k nearest training neighbours in
                  representation space were replaced; size: ``1 - eval_sem`` (DVI Eq. 11);
                  training samples only (the fit keeps their kNN)
``boundary``      the landscape class under it changed (it crossed a decision boundary, or a
                  boundary crossed it); size: the distance it moved, as for ``move`` (0 when
                  only the boundary moved)

Everything is computed with whole-array numpy/torch operations per epoch pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from .losses import semantic_similarity

KINDS = ("flip", "confidence", "move", "neighborhood", "boundary")
#: a top-1 probability change this large is an event
CONFIDENCE_JUMP = 0.3
#: a move this large (share of the frame's side) is an event
MOVE = 0.1
#: replacing this share of the k nearest neighbours is an event
NEIGHBORHOOD_CHANGE = 0.5
COLUMNS = ("epoch", "previous_epoch", "sample", "kind", "size", "split", "label",
           "prediction_before", "prediction", "confidence_before", "confidence",
           "cell_before", "cell")


def find_events(
    epochs: Sequence[int],
    logits: Sequence[np.ndarray],
    coords: np.ndarray,
    extent: Sequence[float],
    *,
    labels: np.ndarray | None = None,
    split: np.ndarray | None = None,
    cells: np.ndarray | None = None,
    knn: Sequence[np.ndarray | None] | None = None,
    confidence_jump: float = CONFIDENCE_JUMP,
    move: float = MOVE,
    neighborhood_change: float = NEIGHBORHOOD_CHANGE,
    kinds: Sequence[str] = KINDS,
) -> pd.DataFrame:
    """Events of every sample between consecutive epochs, as one DataFrame (see module doc).

    Parameters
    ----------
    epochs : (T,) epoch numbers, in order.
    logits : T arrays (N, C) of the recorded logits (memmaps are fine), train then test.
    coords : float (T, N, 2) positions in the shared frame.
    extent : (x0, x1, y0, y1) of the frame; ``move`` is a share of its side ``x1 - x0``.
    labels, split : (N,) given labels and split names, copied into the table (optional).
    cells : int (T, N) landscape class under each sample, -1 outside the frame (optional;
        without it there are no ``boundary`` events).
    knn : T arrays (n_train, k) of each epoch's kNN indices among the training samples, the
        first n_train samples (optional; None entries and a changed shape skip that pair).
    confidence_jump, move, neighborhood_change : thresholds (see module doc).
    kinds : which kinds to report.

    Returns
    -------
    DataFrame with columns :data:`COLUMNS`, one row per (epoch, sample, kind), sorted by
    epoch, kind and decreasing absolute size. ``epoch`` is the later epoch of the pair.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown event kinds {unknown}; choose from {KINDS}")
    for name, value in (("confidence_jump", confidence_jump), ("move", move),
                        ("neighborhood_change", neighborhood_change)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    epochs = [int(e) for e in epochs]
    coords = np.asarray(coords, dtype=np.float32)
    T, N = coords.shape[:2]
    if len(epochs) != T or len(logits) != T:
        raise ValueError(f"epochs ({len(epochs)}), logits ({len(logits)}) and coords ({T}) must "
                         "cover the same epochs")
    side = float(extent[1]) - float(extent[0])
    labels = np.full(N, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    split = np.full(N, "", object) if split is None else np.asarray(split, object)
    cells = np.full((T, N), -1, np.int64) if cells is None else np.asarray(cells, np.int64)
    has_cells = bool((cells >= 0).any())
    pred = np.empty((T, N), np.int64)
    conf = np.empty((T, N), np.float32)
    # found events as parallel arrays: epoch position, sample, kind code, size
    at, who, what, size = [], [], [], []

    def add(t: int, kind: str, mask: np.ndarray, values: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        at.append(np.full(len(idx), t, np.int64))
        who.append(idx)
        what.append(np.full(len(idx), KINDS.index(kind), np.int8))
        size.append(np.asarray(values, np.float64)[idx])

    prob_prev = None
    for t in range(T):  # one whole-array pass per epoch pair
        prob = softmax(np.asarray(logits[t], dtype=np.float32), axis=1)
        if prob.shape[0] != N or (prob_prev is not None and prob.shape != prob_prev.shape):
            raise ValueError(f"logits of epoch {epochs[t]} are {prob.shape}; expected (N={N}, C)")
        pred[t], conf[t] = prob.argmax(axis=1), prob.max(axis=1)
        if t == 0:
            prob_prev = prob
            continue
        dist = np.linalg.norm(coords[t] - coords[t - 1], axis=1) / side
        if "flip" in kinds:
            add(t, "flip", pred[t] != pred[t - 1], 0.5 * np.abs(prob - prob_prev).sum(axis=1))
        if "confidence" in kinds:
            jump = conf[t] - conf[t - 1]
            add(t, "confidence", np.abs(jump) >= confidence_jump, jump)
        if "move" in kinds:
            add(t, "move", dist >= move, dist)
        if "neighborhood" in kinds and knn is not None:
            a, b = knn[t - 1], knn[t]
            if a is not None and b is not None and np.shape(a) == np.shape(b):
                change = np.zeros(N, np.float32)
                change[: len(a)] = 1.0 - semantic_similarity(
                    torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))).numpy()
                mask = np.zeros(N, bool)
                mask[: len(a)] = change[: len(a)] >= neighborhood_change
                add(t, "neighborhood", mask, change)
        if "boundary" in kinds and has_cells:
            c0, c1 = cells[t - 1], cells[t]
            add(t, "boundary", (c0 != c1) & (c0 >= 0) & (c1 >= 0), dist)
        prob_prev = prob
    at_, who_, what_, size_ = (np.concatenate(x) if x else np.zeros(0, dt) for x, dt in (
        (at, np.int64), (who, np.int64), (what, np.int8), (size, np.float64)))
    order = np.lexsort((who_, -np.abs(size_), what_, at_))  # epoch, kind, |size| desc, sample
    t, i = at_[order], who_[order]
    ep = np.asarray(epochs, np.int64)
    splits = pd.Categorical(split[i], categories=sorted(set(split.tolist())))
    return pd.DataFrame({
        "epoch": ep[t], "previous_epoch": ep[np.maximum(t - 1, 0)], "sample": i,
        "kind": pd.Categorical.from_codes(what_[order], categories=list(KINDS)),
        "size": size_[order], "split": splits, "label": labels[i],
        "prediction_before": pred[t - 1, i], "prediction": pred[t, i],
        "confidence_before": conf[t - 1, i], "confidence": conf[t, i],
        "cell_before": cells[t - 1, i], "cell": cells[t, i],
    }, columns=list(COLUMNS))


def dvi_events(fitted: Any, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401 - DVIEmbedding
    """:func:`find_events` for a fitted DVI's state (what ``DVI.events`` returns).

    Reads each fitted epoch's logits from the run; the kNN of the training samples and the
    landscape class under every sample come from the fit
    (:class:`dvi_widget.engine.embedding.DVIEmbedding`).
    """
    from ..contract import landscape_cells

    run = fitted.run_
    logits = []
    for e in fitted.epochs_:
        parts = [run.logits(e, "train")] + ([run.logits(e, "test")] if int(run.n_test) else [])
        logits.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
    cells = None
    land = getattr(fitted, "landscape_classes_", None)
    if land is not None:
        rows, cols, inside = landscape_cells(fitted.coords_, fitted.extent_, land.shape[1:3])
        t = np.arange(len(fitted.epochs_))[:, None]
        cells = np.where(inside, land[t, rows, cols], -1)
    knn = [fitted.knn_.get(e) for e in fitted.epochs_]
    return find_events(fitted.epochs_, logits, fitted.coords_, fitted.extent_,
                       labels=np.asarray(run.labels("all")), split=np.asarray(run.splits()),
                       cells=cells, knn=knn, **thresholds)
