"""The widget's explain panel (``"whatif"``): what-if and adversarial paths drawn on the landscape,
robustness curves and local surrogates, asked of the model through the contract.

The view never imports the engine or :mod:`dvi_widget.explain`: it asks ``vis.inspector`` when
that implements :class:`~dvi_widget.contract.Explaining` (a fitted DVI's inspector
does). Messages between the panel (``js/src/whatif.js``) and :func:`handle` are custom messages
``{"panel": "whatif", "type": ..., "rid": ...}``; arrays travel as binary buffers described by
``"arrays": {name: {"dtype", "shape", "buffer": k}}`` (``k`` indexes the message's buffers).

=============== ==================================== ========================================
``type``        front end -> kernel                  kernel -> front end
=============== ==================================== ========================================
``hello``       a panel was created                  ``kinds`` (families and attacks: unit,
                                                     identity, default range, steps), then the
                                                     current path / curve / surrogate again
``path``        ``index, epoch, kind, strengths``    ``positions`` float32 (S, 2) (frame
                (or ``start, stop, steps``),         normalised to [-1, 1], start anchored),
                ``target``, ``steps``, ``center``    ``raw`` float32 (S, 2) (φ, normalised),
                                                     ``predictions`` uint16, ``confidence``,
                                                     ``strengths`` float32; ``first_flip``...
``robustness``  ``selection`` uint32 buffer or       ``mean_probability`` float32 (S, C),
                ``class``, ``epoch``, ``kind``       ``flipped``, ``accuracy``, ``strengths``
``surrogate``   ``index, epoch, classes``            ``weights`` float32 (K, h, w), ``positions``
                                                     (n, 2), ``predictions``, ``proximity``
``clear``       forget the drawn path / neighbours   ``clear`` (from :meth:`Widget.clear_what_if`)
(any)           -                                    ``error``: ``request``, ``message``
=============== ==================================== ========================================

Every answer also carries ``compute_ms`` (kernel time from request to send).

Anchoring. A path is φ_t's (continuous in strength), but a training sample is drawn at its
layout position and a test sample where the fit places it among the training samples, which
φ_t reproduces only to its error (``phi_rms``; larger on unseen samples), so the raw path would
start that far from the drawn point. The view moves
each path point ``p`` by ``δ · exp(-|p - p₀|² / (2σ²))`` with ``δ`` = drawn position − φ(x)
(``p₀`` = φ(x)) and ``σ = 2|δ|``: the start lands exactly on the drawn sample, points farther
than ~3σ stay where φ puts them (the landscape's colours there are g_t∘ψ_t at φ's positions), and
since ``|δ| · max|∇ exp| = 1 / (2√e) < 1`` the shift is one-to-one, so a path never folds over
itself. A constant offset would instead move every point, far ones across drawn boundaries.
The raw φ positions stay in the DataFrame (``x``, ``y``; drawn: ``x_drawn``, ``y_drawn``).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..contract import Explaining, Visualization

if TYPE_CHECKING:  # pragma: no cover
    from .widget import Widget

#: the panel's name in ``Widget.panels`` and in its messages
PANEL = "whatif"
#: attacks: ``kind`` values whose path is a sequence of gradient steps toward ``target``
ATTACK_KINDS = ("fgsm", "pgd")
#: a perturbation family every input supports, used at its identity to find φ(x)
_IDENTITY_PROBE = ("brightness", 0.0)

NO_INSPECTOR = (
    "No model to ask: this view was built from arrays or loaded from disk, so perturbed inputs "
    "cannot be classified or projected. Show a fitted DVI instead, Widget(DVI().fit(run)), on a "
    "run recorded with run.record(model, epoch) (it keeps the weights and inputs)."
)
NOT_EXPLAINING = (
    "No model to ask: this view's inspector ({name}) answers no explanation requests (it does "
    "not implement dvi_widget.contract.Explaining)."
)


# ---------------------------------------------------------------------- encoding
def pack(arrays: dict[str, np.ndarray]) -> tuple[dict[str, dict], list[bytes]]:
    """``{name: array}`` -> (``{name: {"dtype", "shape", "buffer": k}}``, buffers), little
    endian, C order; dtypes must be ones the front end views (float32, int32, uint16, ...)."""
    spec: dict[str, dict] = {}
    buffers: list[bytes] = []
    for name, value in arrays.items():
        arr = np.ascontiguousarray(value)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        spec[name] = {"dtype": arr.dtype.name, "shape": list(arr.shape), "buffer": len(buffers)}
        buffers.append(arr.tobytes())
    return spec, buffers


def unpack(spec: dict[str, dict] | None, buffers: Sequence[Any]) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack` for a message's ``arrays`` and buffers (memoryviews)."""
    out = {}
    for name, s in (spec or {}).items():
        k = int(s["buffer"])
        if not 0 <= k < len(buffers):
            raise ValueError(f"array {name!r} refers to buffer {k}, but the message has "
                             f"{len(buffers)}")
        arr = np.frombuffer(bytes(buffers[k]), dtype=np.dtype(s["dtype"]))
        out[name] = arr.reshape([int(v) for v in s["shape"]]).copy()
    return out


# ---------------------------------------------------------------------- geometry
def normalize(vis: Visualization, points: np.ndarray) -> np.ndarray:
    """Frame coordinates -> the widget's [-1, 1] square (as ``Widget.coords``); NaN stays NaN."""
    x0, x1, y0, y1 = vis.extent
    scale = np.array([x1 - x0, y1 - y0], np.float64)
    pts = np.asarray(points, np.float64)
    return ((pts - np.array([x0, y0])) / scale * 2 - 1).astype(np.float32)


def anchor(points: np.ndarray, start: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Move ``points`` so that ``start`` (φ of the unperturbed input) lands on ``drawn`` (where
    the sample is drawn), the shift fading with distance from ``start`` (see the module
    docstring: σ = 2|δ|, one-to-one). NaN inputs or a zero shift return the points unchanged."""
    pts = np.asarray(points, np.float64)
    delta = np.asarray(drawn, np.float64) - np.asarray(start, np.float64)
    size = float(np.hypot(*delta))
    if not np.isfinite(size) or size == 0:
        return pts.astype(np.float32)
    d2 = ((pts - start) ** 2).sum(axis=-1)
    fade = np.exp(-d2 / (2 * (2 * size) ** 2))
    return (pts + fade[..., None] * delta).astype(np.float32)


# ---------------------------------------------------------------------- asking the model
def explaining(vis: Visualization) -> Explaining:
    """The view's :class:`Explaining` inspector, or a ``ValueError`` saying what is missing."""
    ins = vis.inspector
    if ins is None:
        raise ValueError(NO_INSPECTOR)
    if not isinstance(ins, Explaining):
        raise ValueError(NOT_EXPLAINING.format(name=type(ins).__name__))
    return ins


def available(vis: Visualization) -> bool:
    """Whether the view can ask for explanations (the panel is shown by default then)."""
    return isinstance(vis.inspector, Explaining)


def _epoch(widget: Widget, epoch: Any) -> int:  # noqa: ANN401
    epoch = widget.epoch if epoch is None else int(epoch)
    widget.vis.epoch_index(epoch)  # a clear error for an epoch the view does not show
    return epoch


def _index(widget: Widget, index: Any) -> int:  # noqa: ANN401
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"index must be one sample index (an int), got {index!r}")
    if not 0 <= int(index) < widget.n_samples:
        raise ValueError(f"index must lie in [0, {widget.n_samples}), got {index}")
    return int(index)


def _strengths(content: dict) -> np.ndarray | None:
    if content.get("strengths") is not None:
        return np.asarray(content["strengths"], np.float32)
    if content.get("start") is not None and content.get("stop") is not None:
        steps = int(content.get("steps") or 32)
        if not 2 <= steps <= 512:
            raise ValueError(f"steps must lie in [2, 512], got {steps}")
        return np.linspace(float(content["start"]), float(content["stop"]), steps,
                           dtype=np.float32)
    return None


def compute_path(widget: Widget, index: int, epoch: int | None = None, kind: str = "rotate",
                 strengths: Sequence[float] | np.ndarray | None = None, *,
                 target: int | str | None = None, steps: int = 20,
                 center: Sequence[float] | None = None) -> tuple[pd.DataFrame, dict]:
    """A path of sample ``index`` at ``epoch`` from the inspector, anchored to the drawn sample.

    Returns the DataFrame a user keeps (strength, x, y, x_drawn, y_drawn, prediction,
    class_name, confidence, flipped; ``attrs``: kind, unit, epoch, index, first_flip,
    original_prediction, target, reached, anchor_offset) and the message for the front end
    (``arrays`` still as numpy arrays under ``"_arrays"``).
    """
    vis = widget.vis
    ins = explaining(vis)
    index = _index(widget, index)
    epoch = _epoch(widget, epoch)
    names = list(vis.class_names)
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"target {target!r} is not one of the classes {names}")
        target = names.index(target)
    request: dict[str, Any] = {"what": "path", "index": index, "epoch": epoch, "kind": kind}
    identity, identity_added = 0.0, False  # attacks: step 0 is the input itself
    if kind in ATTACK_KINDS:
        request.update(target=None if target is None else int(target), steps=int(steps))
    else:
        kinds = ins.explain({"what": "kinds"})
        if kind not in kinds:
            raise ValueError(f"kind={kind!r} is not a perturbation or attack of this run; "
                             f"choose one of {sorted(kinds)}")
        identity = float(kinds[kind]["identity"])
        if strengths is not None:
            s = np.atleast_1d(np.asarray(strengths, np.float32))
            if not (s == identity).any():  # φ(x) itself is needed to anchor the path
                s = np.concatenate([[identity], s]).astype(np.float32)
                identity_added = True
            request["strengths"] = s.tolist()
        if center is not None:
            request["center"] = [float(c) for c in center]
    p = ins.explain(request)
    raw = np.asarray(p["positions"], np.float32).reshape(-1, 2)
    s = np.asarray(p["strengths"], np.float32)
    at_identity = np.flatnonzero(s == np.float32(identity))
    start = raw[at_identity[0]] if at_identity.size else None
    pos = vis.epoch_index(epoch)
    drawn = vis.coords[pos, index].astype(np.float64)
    drawn_pts = raw if start is None else anchor(raw, start, drawn)
    offset = None if start is None else (drawn - start).astype(float).tolist()
    keep = slice(1, None) if identity_added else slice(None)
    raw, drawn_pts, s = raw[keep], drawn_pts[keep], s[keep]
    preds = np.asarray(p["predictions"], np.int64)[keep]
    conf = np.asarray(p["confidence"], np.float32)[keep]
    original = int(p["original_prediction"])
    flipped = preds != original
    first_flip_index = int(p["first_flip_index"])
    if identity_added and first_flip_index >= 0:  # the identity itself never flips
        first_flip_index -= 1
    reached = int(p.get("reached_index", -1))
    df = pd.DataFrame({
        "strength": s, "x": raw[:, 0], "y": raw[:, 1], "x_drawn": drawn_pts[:, 0],
        "y_drawn": drawn_pts[:, 1], "prediction": preds,
        "class_name": np.asarray(names, dtype=object)[preds], "confidence": conf,
        "flipped": flipped,
    })
    df.attrs.update(kind=kind, unit=p.get("unit"), epoch=epoch, index=index,
                    first_flip=p.get("first_flip"), original_prediction=original,
                    target=p.get("target"), reached=None if reached < 0 else reached,
                    anchor_offset=offset)
    msg = {
        "type": "path", "index": index, "epoch": epoch, "kind": kind, "unit": p.get("unit"),
        "first_flip": p.get("first_flip"), "first_flip_index": first_flip_index,
        "original_prediction": original, "target": p.get("target"), "reached_index": reached,
        # the anchoring shift in the widget's [-1, 1] frame (the panel states it)
        "anchor": None if start is None else float(np.hypot(*(
            normalize(vis, drawn) - normalize(vis, start)))),
        "request": {"index": index, "kind": kind, "strengths": None if strengths is None else
                    np.asarray(strengths, np.float32).tolist(),
                    "target": None if target is None else int(target), "steps": int(steps),
                    "center": None if center is None else [float(c) for c in center]},
        "_arrays": {
            "positions": normalize(vis, drawn_pts), "raw": normalize(vis, raw),
            "predictions": preds.astype(np.uint16), "confidence": conf, "strengths": s,
        },
    }
    return df, msg


def compute_robustness(widget: Widget, selection: Any, epoch: int | None = None,  # noqa: ANN401
                       kind: str = "rotate",
                       strengths: Sequence[float] | np.ndarray | None = None,
                       ) -> tuple[pd.DataFrame, dict]:
    """Robustness curve of ``selection`` (sample indices, or a class id/name) at ``epoch``:
    a DataFrame indexed by strength (mean softmax per class name, ``flipped``, ``accuracy``)
    and the front end's message."""
    vis = widget.vis
    ins = explaining(vis)
    epoch = _epoch(widget, epoch)
    names = list(vis.class_names)
    if isinstance(selection, str):
        if selection not in names:
            raise ValueError(f"class {selection!r} is not one of {names}")
        selection = names.index(selection)
    if isinstance(selection, int | np.integer) and not isinstance(selection, bool):
        of, what = int(selection), f"class {names[int(selection)]}"
    else:
        of = np.asarray(selection, np.int64).reshape(-1)
        if of.size == 0:
            raise ValueError("the selection is empty: select samples, or choose a class")
        what = f"{of.size} selected"
    request: dict[str, Any] = {"what": "robustness", "selection": of, "epoch": epoch,
                               "kind": kind}
    if strengths is not None:
        request["strengths"] = np.asarray(strengths, np.float32).tolist()
    r = ins.explain(request)
    s = np.asarray(r["strengths"], np.float32)
    mean = np.asarray(r["mean_probability"], np.float32).reshape(len(s), -1)
    df = pd.DataFrame(mean, columns=names, index=pd.Index(s, name="strength"))
    df["flipped"] = np.asarray(r["flipped"], np.float32)
    df["accuracy"] = np.asarray(r["accuracy"], np.float32)
    df.attrs.update(kind=kind, epoch=epoch, of=what, n_samples=int(r["n_samples"]))
    msg = {"type": "robustness", "epoch": epoch, "kind": kind, "of": what,
           "n_samples": int(r["n_samples"]),
           "_arrays": {"strengths": s, "mean_probability": mean,
                       "flipped": df["flipped"].to_numpy(np.float32),
                       "accuracy": df["accuracy"].to_numpy(np.float32)}}
    return df, msg


def _start_offset(widget: Widget, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(φ(x), drawn position) of sample ``index`` at ``epoch``, frame coordinates."""
    kind, strength = _IDENTITY_PROBE
    p = explaining(widget.vis).explain({"what": "path", "index": index, "epoch": epoch,
                                        "kind": kind, "strengths": [strength]})
    start = np.asarray(p["positions"], np.float64).reshape(-1, 2)[0]
    return start, widget.vis.coords[widget.vis.epoch_index(epoch), index].astype(np.float64)


def compute_surrogate(widget: Widget, index: int, epoch: int | None = None,
                      classes: Sequence[int | str] | None = None) -> tuple[dict, dict]:
    """DeepVID's local surrogate of sample ``index`` at ``epoch``: ``weights`` (K, h, w) for
    ``classes`` (default: the predicted one), ``fidelity``, and the neighbours as a DataFrame
    (x, y, x_drawn, y_drawn, prediction, proximity); and the front end's message."""
    vis = widget.vis
    ins = explaining(vis)
    index = _index(widget, index)
    epoch = _epoch(widget, epoch)
    names = list(vis.class_names)
    ids = None
    if classes:
        ids = [names.index(c) if isinstance(c, str) and c in names else int(c) for c in classes]
        bad = [c for c in ids if not 0 <= c < len(names)]
        if bad:
            raise ValueError(f"classes must be class names or ids in [0, {len(names)}), got "
                             f"{list(classes)}")
    request: dict[str, Any] = {"what": "surrogate", "index": index, "epoch": epoch}
    if ids:
        request["classes"] = ids
    r = ins.explain(request)
    raw = np.asarray(r["positions"], np.float32).reshape(-1, 2)
    start, drawn = _start_offset(widget, index, epoch)
    shown = anchor(raw, start, drawn)
    weights = np.asarray(r["weights"], np.float32)
    if weights.ndim == 2:  # inputs that are not images: one row per class
        weights = weights[:, None, :]
    preds = np.asarray(r["predictions"], np.int64)
    prox = np.asarray(r["proximity"], np.float32)
    fid = {k: float(v) for k, v in dict(r["fidelity"]).items()}
    neighbours = pd.DataFrame({"x": raw[:, 0], "y": raw[:, 1], "x_drawn": shown[:, 0],
                               "y_drawn": shown[:, 1], "prediction": preds,
                               "class_name": np.asarray(names, dtype=object)[preds],
                               "proximity": prox})
    out = {"weights": weights, "classes": [int(c) for c in r["classes"]], "fidelity": fid,
           "neighbors": neighbours, "epoch": epoch, "index": index}
    msg = {"type": "surrogate", "index": index, "epoch": epoch, "classes": out["classes"],
           "fidelity": fid,
           "_arrays": {"weights": weights, "positions": normalize(vis, shown),
                       "predictions": preds.astype(np.uint16), "proximity": prox}}
    return out, msg


# ---------------------------------------------------------------------- the comm
def send(widget: Widget, msg: dict, *, keep: str | None = None) -> None:
    """Send ``msg`` (its ``"_arrays"`` as buffers) to every view; ``keep`` remembers it under
    that name so that views created later (``hello``) draw it too."""
    msg = dict(msg)
    arrays = msg.pop("_arrays", None) or {}
    msg["arrays"], buffers = pack(arrays)
    msg["panel"] = PANEL
    if keep is not None:
        _state(widget)[keep] = (msg, buffers)
    widget.send(msg, buffers=buffers)


def _state(widget: Widget) -> dict:
    if not hasattr(widget, "_whatif_shown"):
        widget._whatif_shown = {}
    return widget._whatif_shown


def _results(widget: Widget) -> dict:
    return widget.explanations


def show_panel(widget: Widget) -> None:
    """Add the panel to the widget's side panels (and open them) if it is not there."""
    if PANEL not in widget.panels:
        widget.panels = [*widget.panels, PANEL]
    widget.panel_open = True


def show_path(widget: Widget, index: int, epoch: int | None = None, kind: str = "rotate",
              strengths: Sequence[float] | np.ndarray | None = None, *,
              target: int | str | None = None, steps: int = 20,
              center: Sequence[float] | None = None, rid: Any = None,  # noqa: ANN401
              ) -> pd.DataFrame:
    """:func:`compute_path`, then draw it in every view and keep the DataFrame."""
    t0 = time.perf_counter()
    df, msg = compute_path(widget, index, epoch, kind, strengths, target=target, steps=steps,
                           center=center)
    _results(widget)["path"] = df
    msg.update(rid=rid, compute_ms=round(1000 * (time.perf_counter() - t0), 1))
    send(widget, msg, keep="path")
    return df


def clear(widget: Widget) -> None:
    """Forget and erase the drawn path and surrogate neighbours in every view."""
    state = _state(widget)
    state.pop("path", None)
    state.pop("surrogate", None)
    send(widget, {"type": "clear"})


def handle(widget: Widget, content: dict, buffers: list) -> None:
    """``Widget.panel_handlers["whatif"]``: answer one request of the panel (see the module
    docstring); any failure is answered with an ``error`` message the panel shows."""
    what = content.get("type")
    rid = content.get("rid")
    t0 = time.perf_counter()
    try:
        if what in ("hello", "kinds"):  # a new panel: what it may ask, and what is drawn now
            kinds = explaining(widget.vis).explain({"what": "kinds"})
            send(widget, {"type": "kinds", "rid": rid, "kinds": kinds})
            if what == "hello":
                for msg, bufs in list(_state(widget).values()):
                    widget.send(msg, buffers=bufs)
            return
        if what == "clear":
            _state(widget).pop(content.get("what", "path"), None)
            if content.get("what") is None:
                _state(widget).pop("surrogate", None)
            return
        if what == "path":
            show_path(widget, content.get("index"), content.get("epoch"),
                      str(content.get("kind", "rotate")), _strengths(content),
                      target=content.get("target"), steps=int(content.get("steps") or 20),
                      center=content.get("center"), rid=rid)
            return
        if what == "robustness":
            arrays = unpack(content.get("arrays"), buffers)
            sel = arrays["selection"] if "selection" in arrays else content.get("class")
            if sel is None:
                raise ValueError("robustness needs a selection or a class")
            df, msg = compute_robustness(widget, sel, content.get("epoch"),
                                         str(content.get("kind", "rotate")), _strengths(content))
            _results(widget)["robustness"] = df
        elif what == "surrogate":
            out, msg = compute_surrogate(widget, content.get("index"), content.get("epoch"),
                                         content.get("classes"))
            _results(widget)["surrogate"] = out
        else:
            raise ValueError(f"unknown request type {what!r}")
        msg.update(rid=rid, compute_ms=round(1000 * (time.perf_counter() - t0), 1))
        send(widget, msg, keep=what)
    except Exception as err:  # noqa: BLE001 - every failure is shown in the panel
        text = str(err) if isinstance(err, ValueError | TypeError) else (
            f"{type(err).__name__}: {err}")
        if not isinstance(err, ValueError | TypeError):
            traceback.print_exc()  # the kernel log keeps the trace of an unexpected failure
        send(widget, {"type": "error", "request": what, "rid": rid, "message": text})
