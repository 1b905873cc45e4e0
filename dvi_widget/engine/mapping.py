"""One map for every input: where a representation lands on an epoch's view.

DVI's promise is a parametric map: any input, recorded or new, lands where the landscape shows
what the model predicts for it. φ_t alone does not keep it (it sits about a neighbourhood's
radius from where the layout draws the training samples, and a third of perturbed inputs land
on a cell of another class), and placing each input like UMAP's ``transform`` keeps it but jumps
whenever a neighbour changes. :class:`EpochMap` is one function of the representation that is

1. **exact on the recorded samples**: a recorded representation returns the position it is
   drawn at (its anchor), so a what-if path starts on its sample;
2. **continuous while the prediction holds**: the position is the anchors' positions
   interpolated with Franke & Little's modified Shepard weights ``w_j = ((R - d_j)_+ /
   (R d_j))²`` over the k nearest anchors *that g_t predicts as the same class as the input*,
   ``R`` the distance to the (k+1)-th, so an anchor's weight fades to zero before it leaves the
   neighbourhood (no jump when a neighbour changes). Restricting to the input's predicted class
   keeps the point among samples the model treats alike, on their side of the boundary;
3. **consistent with the landscape**: where the interpolated point still lies on a landscape
   cell of another class than g_t predicts (an average of positions can fall outside a curved
   region), it descends that class's smoothed signed distance field (from the landscape's
   class grid) until it crosses onto one of its cells (:func:`flow_to_cells`; the nearest
   cell's projection jumped where two parts of the class are equally near). A path therefore
   crosses the white band exactly when the model's prediction changes, and otherwise jumps
   only where its interpolated point crosses a ridge of that field (equally far from two
   distant parts of its class). On the what-if benchmark every step over 0.1 of the frame
   passed between two *separate* regions of the class, where a continuous map would have to
   leave it; within one region no step of a 0.5° rotation moved more than 0.09 of the frame
   (ENGINE.md, "One map for every input").

Recorded samples are never moved by it (the layout and the fit's placement are what the
metrics of §6 measure; :func:`snap_to_cells` puts the few whose cell shows another class on the
centre of the nearest one); a new input moves about the distance to the nearest cell of its
class (the descent's line, not the straight one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from .._tensor import ArrayLike, DeviceLike, resolve_device, to_numpy, to_tensor
from ..contract import landscape_cells

#: anchors weighed per input (the neighbourhood size of the paper's complex)
DEFAULT_K = 15
#: query rows per distance block (a block holds rows × anchors float32 distances)
QUERY_BLOCK = 256
#: a snapped point lies this share of a cell inside the cell's border
CELL_INSET = 0.1


def shepard_weights(distances: torch.Tensor) -> torch.Tensor:
    """Franke–Little modified Shepard weights for ``(n, k + 1)`` ascending distances.

    Returns ``(n, k)`` weights summing to one per row for the first k columns; the (k+1)-th
    distance is the radius ``R`` at which a weight reaches zero. A zero distance takes all the
    weight (exact interpolation at the anchors).
    """
    radius = distances[:, -1:].clamp_min(1e-12)
    d = distances[:, :-1]
    w = ((radius - d).clamp_min(0) / (radius * d.clamp_min(1e-12))) ** 2
    exact = d[:, :1] <= 1e-6 * radius
    w = torch.where(exact, (torch.arange(d.shape[1], device=d.device) == 0).to(w.dtype), w)
    total = w.sum(dim=1, keepdim=True)
    # all k anchors at the radius (ties): equal weights
    return torch.where(total > 0, w / total.clamp_min(1e-30), torch.full_like(w, 1 / w.shape[1]))


#: step of :func:`settle_on_prediction`, as a share of the layout's spread (mean per-axis std)
SETTLE_STEP = 0.01
#: steps of :func:`settle_on_prediction` before a point is given up (moves at most
#: ``SETTLE_STEP * SETTLE_STEPS`` = one spread)
SETTLE_STEPS = 100
#: steps without a fall of its cross-entropy after which :func:`settle_on_prediction` gives a
#: point up
SETTLE_PATIENCE = 10


def settle_on_prediction(points: torch.Tensor, predictions: torch.Tensor,
                         logits_of: Callable[[torch.Tensor], torch.Tensor],
                         spread: float, *, step: float = SETTLE_STEP,
                         max_steps: int = SETTLE_STEPS,
                         patience: int = SETTLE_PATIENCE) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk each 2-D point whose decoded class ``argmax g_t(ψ_t(y))`` (``logits_of(y)``, e.g.
    :meth:`dvi_widget.engine.model.VisModel.decoded_logits`) is not its prediction
    down the gradient of the cross-entropy of that prediction, in steps of ``step · spread``
    (normalised gradient), until it decodes to it: the shortest way onto a landscape cell of
    its class that the map itself shows, without the landscape's grid (which is rendered after
    the fit). Points that decode right do not move; a point whose cross-entropy has not fallen
    for ``patience`` steps (a local minimum on another class's cell) is given up.

    Returns the ``(n, 2)`` points and a ``(n,)`` bool mask of those that decode to their
    prediction (False: not reached within ``max_steps``; such a point is returned where it
    started, and the caller decides where it goes).
    """
    y = points.detach().float().clone()
    target = predictions.to(y.device).long()
    size = float(step) * float(spread)
    with torch.no_grad():
        done = logits_of(y).argmax(dim=1) == target
    moving = torch.nonzero(~done).flatten()
    best = torch.full((len(y),), torch.inf, device=y.device)
    stalled = torch.zeros(len(y), dtype=torch.long, device=y.device)
    for _ in range(int(max_steps)):
        if not len(moving):
            break
        ym = y[moving].requires_grad_(True)
        with torch.enable_grad():
            logits = logits_of(ym)
            loss = torch.nn.functional.cross_entropy(logits, target[moving], reduction="none")
            (grad,) = torch.autograd.grad(loss.sum(), ym)
        with torch.no_grad():
            arrived = logits.argmax(dim=1) == target[moving]
            done[moving[arrived]] = True
            better = loss < best[moving]
            best[moving] = torch.minimum(best[moving], loss)
            stalled[moving] = torch.where(better, 0, stalled[moving] + 1)
            keep = ~arrived & (stalled[moving] < patience)
            go, g = moving[keep], grad[keep]
            y[go] -= size * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
            moving = go
    if len(moving):  # the last step's points, not yet checked
        with torch.no_grad():
            done[moving] = logits_of(y[moving]).argmax(dim=1) == target[moving]
    start = points.detach().float().to(y.device)
    return torch.where(done[:, None], y, start), done


def _nearest_cells(cell_classes: np.ndarray, cls: int,
                   cache: dict[int, np.ndarray | None]) -> np.ndarray | None:
    """``(2, H, W)`` row and column of the nearest cell of class ``cls`` from every cell (None
    when the landscape has no such cell); cached in ``cache``."""
    if cls not in cache:
        mask = cell_classes == cls
        cache[cls] = (ndimage.distance_transform_edt(
            ~mask, return_distances=False, return_indices=True).astype(np.int32)
            if mask.any() else None)
    return cache[cls]


#: smoothing (cells) of a class's signed distance field, whose descent carries a new input's
#: point onto the class's cells (:func:`flow_to_cells`): notches a cell or two wide, where the
#: nearest cell switches sides, become a smooth hollow that the descent enters continuously
FLOW_SMOOTHING = 1.0
#: the descent's step (cells) near the class, and most steps per cell of the field's largest
#: distance (+ 4); farther away a step is this share of the distance to the class
FLOW_STEP, FLOW_STEPS_PER_CELL, FLOW_FAR_SHARE = 0.25, 8, 0.5
#: halvings that find where a descent step crosses into the class's cells
FLOW_BISECTIONS = 12
#: a point that arrives is carried this share of a cell past the crossing (inside the cell)
FLOW_INSET = 0.02


def _descent_field(cell_classes: np.ndarray, cls: int,
                   cache: dict) -> np.ndarray | None:
    """``(3, H, W)``: the row and column components of the descent direction toward the cells
    of class ``cls`` (minus the gradient of its signed distance field, in cells and positive
    outside, smoothed by :data:`FLOW_SMOOTHING`), and that distance itself; None without such
    cells. Cached in ``cache`` (shared with :func:`_nearest_cells`, under ("flow", cls))."""
    key = ("flow", cls)
    if key not in cache:
        mask = cell_classes == cls
        if not mask.any():
            cache[key] = None
        else:
            signed = (ndimage.distance_transform_edt(~mask)
                      - ndimage.distance_transform_edt(mask))
            smooth = ndimage.gaussian_filter(signed, FLOW_SMOOTHING, mode="nearest")
            cache[key] = np.concatenate([-np.stack(np.gradient(smooth)), signed[None]])
    return cache[key]


def _on_class(cell_classes: np.ndarray, at: np.ndarray, cls: int) -> np.ndarray:
    """Whether ``(n, 2)`` (row, column) points in cell units (cell centres at integers, outside
    points on the nearest edge cell) lie on a cell of class ``cls``."""
    H, W = cell_classes.shape
    cell = np.floor(at + 0.5).astype(int)
    return cell_classes[np.clip(cell[:, 0], 0, H - 1), np.clip(cell[:, 1], 0, W - 1)] == cls


def flow_to_cells(points: np.ndarray, predictions: np.ndarray, cell_classes: np.ndarray,
                  extent: np.ndarray, *, keep: np.ndarray | None = None,
                  cache: dict | None = None) -> np.ndarray:
    """Carry each 2-D point whose landscape cell shows another class than its prediction down
    its class's smoothed signed distance field (:func:`_descent_field`) until it crosses onto
    a cell of that class, :data:`FLOW_INSET` of a cell past the crossing (found by bisection);
    the others and rows in ``keep`` stay. A point whose descent does not arrive (a hollow of
    the smoothed field outside the class) goes to the nearest cell (:func:`snap_to_cells`).
    Returns float32 ``(n, 2)``.

    Why a descent and not the nearest point: projecting onto a region that is not convex jumps
    wherever two of its parts are equally near, and a new input's interpolated point often
    sits in a notch of another class a cell or two wide (nearest cell above, then to the
    left): a what-if path then jumped about a cell inside 0.005° of rotation. Descent lines
    of a smooth field move continuously with their start, and the crossing with them; only
    points on a ridge of the field (equally far from two distant parts of the class) may go
    either way.
    """
    cache = {} if cache is None else cache
    pts = np.array(points, dtype=np.float64)
    pred = np.asarray(predictions, dtype=np.int64)
    cell_classes = np.asarray(cell_classes)
    H, W = cell_classes.shape
    x0, x1, y0, y1 = np.asarray(extent, dtype=np.float64)
    cw, ch = (x1 - x0) / W, (y1 - y0) / H
    rows, cols, _ = landscape_cells(pts, extent, cell_classes.shape)
    wrong = cell_classes[rows, cols] != pred
    if keep is not None:
        wrong &= ~np.asarray(keep, dtype=bool)
    stuck = np.zeros(len(pts), bool)
    for cls in np.unique(pred[wrong]):
        field = _descent_field(cell_classes, int(cls), cache)
        sel = np.flatnonzero(wrong & (pred == cls))
        if field is None:
            continue  # the landscape shows no cell of this class: nothing truer to do
        # (row, column) in cell units, cell centres at integers, as the field is sampled
        rc = np.stack([(y1 - pts[sel, 1]) / ch - 0.5, (pts[sel, 0] - x0) / cw - 0.5], axis=1)
        on = np.zeros(len(sel), bool)
        # a straight descent takes 1 / FLOW_STEP steps per cell of distance: twice that
        far = ndimage.map_coordinates(field[2], rc.T, order=1, mode="nearest").max()
        steps = int(FLOW_STEPS_PER_CELL * (4 + max(float(far), 0.0)))
        for _ in range(steps):
            go = np.flatnonzero(~on)
            if not len(go):
                break
            g = np.stack([ndimage.map_coordinates(field[a], rc[go].T, order=1, mode="nearest")
                          for a in (0, 1, 2)], axis=1)
            norm = np.linalg.norm(g[:, :2], axis=1, keepdims=True)
            moving = norm[:, 0] > 1e-9
            # far from the class, half the distance to it (no step that short can reach it),
            # near it quarter cells: a point 50 cells away arrives in about 12 steps, not 200
            size = np.maximum(FLOW_STEP, FLOW_FAR_SHARE * g[:, 2:])
            nxt = rc[go] + size * g[:, :2] / np.maximum(norm, 1e-12)
            hit = moving & _on_class(cell_classes, nxt, cls)
            # where the step crosses onto the class: bisect between rc (outside) and nxt (on)
            lo, hi = rc[go[hit]], nxt[hit]
            for _ in range(FLOW_BISECTIONS):
                mid = (lo + hi) / 2
                inside = _on_class(cell_classes, mid, cls)
                hi = np.where(inside[:, None], mid, hi)
                lo = np.where(inside[:, None], lo, mid)
            direction = hi - lo
            direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
            rc[go[hit]] = hi + FLOW_INSET * direction
            on[go[hit]] = True
            rc[go[moving & ~hit]] = nxt[moving & ~hit]
            stuck_now = go[~moving]
            on[stuck_now] = True  # a flat field: left to the nearest cell below
            stuck[sel[stuck_now]] = True
        stuck[sel[~on]] = True
        pts[sel, 0] = x0 + (rc[:, 1] + 0.5) * cw
        pts[sel, 1] = y1 - (rc[:, 0] + 0.5) * ch
    # a descent that did not arrive (or a flat field): the nearest cell, from where it started
    if stuck.any():
        start = np.asarray(points, dtype=np.float64)
        pts[stuck] = snap_to_cells(start[stuck], pred[stuck], cell_classes, extent,
                                   cache=cache)
    # the crossing lies on a cell of the class; a last check in the cells' own arithmetic
    r2, c2, _ = landscape_cells(pts, extent, cell_classes.shape)
    off = wrong & ~stuck & (cell_classes[r2, c2] != pred)
    if off.any():  # rounding at a cell's edge: the nearest cell's inset box
        pts[off] = snap_to_cells(pts[off], pred[off], cell_classes, extent, cache=cache)
    return pts.astype(np.float32)


def snap_to_cells(points: np.ndarray, predictions: np.ndarray, cell_classes: np.ndarray,
                  extent: np.ndarray, *, keep: np.ndarray | None = None,
                  cache: dict | None = None,
                  inset: float = CELL_INSET) -> np.ndarray:
    """Move each 2-D point whose landscape cell shows another class than its prediction to the
    nearest point of the nearest cell of that class, ``inset`` of a cell inside its edge (0.5:
    the cell's centre, where the landscape decoded the class); the others, rows in ``keep`` and
    points of a class the landscape shows nowhere stay. Returns float32 ``(n, 2)``.

    The candidate cells are the nearest cells of the class (a distance transform of the class
    grid per class) from the point's own cell *and its eight neighbours*, and the point goes to
    the nearest of their (inset) boxes, measured from the point itself. From its cell alone the
    target stayed one cell while the point crossed a wrong cell and switched when it entered
    the next, so a path crossing another class's cells moved by jumps of a cell or more; now
    the target follows the point, continuous but where two sides of the region are equally near
    (and across the ``2 · inset`` gap between neighbouring cells' boxes)."""
    cache = {} if cache is None else cache
    pts = np.array(points, dtype=np.float64)
    pred = np.asarray(predictions, dtype=np.int64)
    cell_classes = np.asarray(cell_classes)
    rows, cols, _ = landscape_cells(pts, extent, cell_classes.shape)
    wrong = cell_classes[rows, cols] != pred
    if keep is not None:
        wrong &= ~np.asarray(keep, dtype=bool)
    x0, x1, y0, y1 = np.asarray(extent, dtype=np.float64)
    H, W = cell_classes.shape
    cw, ch = (x1 - x0) / W, (y1 - y0) / H
    step = np.array([-1, 0, 1])
    for cls in np.unique(pred[wrong]):  # one distance transform per class, cached
        near = _nearest_cells(cell_classes, int(cls), cache)
        sel = np.flatnonzero(wrong & (pred == cls))
        if near is None:
            continue  # the landscape shows no cell of this class: nothing truer to do
        # (n, 9) candidate cells: the nearest cell of the class from each of the 3 x 3 cells
        # around the point's own
        nr = np.clip(rows[sel, None] + np.repeat(step, 3)[None], 0, H - 1)
        nc = np.clip(cols[sel, None] + np.tile(step, 3)[None], 0, W - 1)
        r, c = near[0, nr, nc], near[1, nr, nc]
        left, bottom = x0 + c * cw, y1 - (r + 1) * ch
        px = np.clip(pts[sel, 0, None], left + inset * cw, left + (1 - inset) * cw)
        py = np.clip(pts[sel, 1, None], bottom + inset * ch, bottom + (1 - inset) * ch)
        best = np.argmin((px - pts[sel, 0, None]) ** 2 + (py - pts[sel, 1, None]) ** 2, axis=1)
        pts[sel, 0] = px[np.arange(len(sel)), best]
        pts[sel, 1] = py[np.arange(len(sel)), best]
    return pts.astype(np.float32)


@dataclass
class EpochMap:
    """The map of one epoch: recorded representations (anchors), where they are drawn, and the
    landscape's class per cell.

    Parameters
    ----------
    anchors : (M, h) float32, the recorded samples' representations (train and test).
    positions : (M, 2) float32, where the view draws them.
    anchor_classes : (M,) int, g_t's predicted class of each anchor (None: interpolate over all
        anchors whatever their class).
    cell_classes : (H, W) int, the landscape's class per cell (row 0 at the top).
    extent : (4,) the view's frame ``x0, x1, y0, y1``.
    k : anchors weighed per input.
    device : where the distances are computed.
    """

    anchors: ArrayLike
    positions: ArrayLike
    cell_classes: np.ndarray
    extent: np.ndarray
    anchor_classes: np.ndarray | None = None
    k: int = DEFAULT_K
    device: DeviceLike = "cpu"
    _nearest: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device)
        self.anchors = to_tensor(self.anchors, self.device).float()
        self.positions = to_tensor(self.positions, self.device).float()
        self.cell_classes = np.asarray(self.cell_classes)
        self.extent = np.asarray(self.extent, dtype=np.float64)
        if self.anchors.ndim != 2 or self.positions.shape != (len(self.anchors), 2):
            raise ValueError(f"anchors (M, h) and positions (M, 2) must match, got "
                             f"{tuple(self.anchors.shape)} and {tuple(self.positions.shape)}")
        if self.cell_classes.ndim != 2:
            raise ValueError(f"cell_classes must be (H, W), got {self.cell_classes.shape}")
        self.k = int(max(1, self.k))
        if self.anchor_classes is not None:
            self.anchor_classes = np.asarray(self.anchor_classes, dtype=np.int64)
            if self.anchor_classes.shape != (len(self.anchors),):
                raise ValueError(f"anchor_classes must be (M={len(self.anchors)},), got "
                                 f"{self.anchor_classes.shape}")

    # ------------------------------------------------------------------ interpolation
    def interpolate(self, representations: ArrayLike, predictions: ArrayLike | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Shepard-interpolated ``(n, 2)`` positions (over the anchors of each row's predicted
        class when both ``predictions`` and ``anchor_classes`` are known) and a ``(n,)`` bool
        mask of rows that coincide with an anchor (those return the anchor's position)."""
        h = to_tensor(representations, self.device).float()
        if h.ndim != 2 or h.shape[1] != self.anchors.shape[1]:
            raise ValueError(f"representations must be (n, {self.anchors.shape[1]}), got "
                             f"{tuple(h.shape)}")
        points = np.zeros((len(h), 2), np.float32)
        exact = np.zeros(len(h), bool)
        if predictions is None or self.anchor_classes is None:
            groups = [(np.arange(len(h)), np.arange(len(self.anchors)))]
        else:
            pred = np.asarray(predictions, dtype=np.int64)
            groups = []
            for cls in np.unique(pred):
                pool = np.flatnonzero(self.anchor_classes == cls)
                groups.append((np.flatnonzero(pred == cls),
                               pool if len(pool) else np.arange(len(self.anchors))))
        for rows, pool in groups:
            points[rows], exact[rows] = self._shepard(h[torch.as_tensor(rows)], pool)
        return points, exact

    def _shepard(self, h: torch.Tensor, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        anchors = self.anchors[torch.as_tensor(pool, device=self.device)]
        positions = self.positions[torch.as_tensor(pool, device=self.device)]
        k1 = min(self.k + 1, len(anchors))
        out, exact = [], []
        for start in range(0, len(h), QUERY_BLOCK):
            rows = h[start:start + QUERY_BLOCK]
            _, idx = torch.cdist(rows, anchors).topk(k1, dim=1, largest=False)
            # exact distances of the chosen few (cdist's matrix-product form is off by ~1e-3
            # near zero, which would hide a recorded sample's own representation)
            d, order = torch.linalg.vector_norm(rows[:, None] - anchors[idx], dim=2).sort(dim=1)
            idx = idx.gather(1, order)
            if k1 == 1:  # a single anchor: everything lands on it
                d, idx = torch.cat([d, d + 1], 1), torch.cat([idx, idx], 1)
            w = shepard_weights(d)
            pos = (w[..., None] * positions[idx[:, :-1]]).sum(dim=1)
            # no finite distance to any anchor (overflow): no position, the caller refuses it
            out.append(torch.where(torch.isfinite(d[:, :1]), pos, torch.nan))
            exact.append(d[:, 0] <= 1e-6 * d[:, -1].clamp_min(1e-12))
        return (to_numpy(torch.cat(out)).astype(np.float32),
                to_numpy(torch.cat(exact)).astype(bool))

    # ------------------------------------------------------------------ consistency
    def snap(self, points: np.ndarray, predictions: np.ndarray,
             keep: np.ndarray | None = None) -> np.ndarray:
        """:func:`flow_to_cells` on this epoch's landscape (distance fields cached)."""
        return flow_to_cells(points, predictions, self.cell_classes, self.extent, keep=keep,
                             cache=self._nearest)

    def __call__(self, representations: ArrayLike, predictions: ArrayLike) -> np.ndarray:
        """``(n, 2)`` positions of ``(n, h)`` representations whose model predictions (g_t's
        argmax) are ``predictions``: interpolated, then moved onto a cell of their class."""
        pred = np.asarray(predictions, dtype=np.int64)
        points, exact = self.interpolate(representations, pred)
        # a row too far from every anchor (distances overflow) stays non-finite for the caller
        return self.snap(points, pred, keep=exact | ~np.isfinite(points).all(axis=1))
