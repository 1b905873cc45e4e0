"""Visualizations with known answers for the explore panels' browser tests.

Four classes in the four quadrants of the frame (-2, 2)^2, rotating one quadrant per epoch like
``fixture.mjs``; every 10th sample is predicted as the next class. ``FakeInspector`` implements
the view's Inspector and Explaining protocols with closed forms, so a test can recompute each
answer independently: probabilities at a 2-D point are ``softmax(-|y - c_k| / TAU)`` over the
class centres of that epoch, the "representation" of a sample is its 2-D position plus a fixed
per-sample offset, Grad-CAM maps are the sample's own image. Images are 8 x 8: row 0 holds the
sample index in binary (8 bits, LSB first) and row 1 the next 8 bits, so a screenshot of a
thumbnail tells which sample it is; row label + 3 is lit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dvi_widget.contract import Visualization, default_palette

CENTERS = np.array([[-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
EXTENT = (-2.0, 2.0, -2.0, 2.0)
NAMES = ["zero", "one", "two", "three"]
TAU = 0.5
C = 4


def centers(t: int) -> np.ndarray:
    """Class centres at epoch position t: class c sits in quadrant (c + t) % 4."""
    return CENTERS[(np.arange(C) + t) % 4]


def probabilities(points: np.ndarray, t: int) -> np.ndarray:
    """softmax(-|y - c_k| / TAU) of (n, 2) points at epoch position t."""
    d = np.linalg.norm(np.asarray(points, np.float64)[:, None] - centers(t)[None], axis=2)
    z = -d / TAU
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def images(n: int, labels: np.ndarray) -> np.ndarray:
    img = np.zeros((n, 8, 8), np.uint8)
    bits = (np.arange(n)[:, None] >> np.arange(16)[None]) & 1
    img[:, 0, :] = bits[:, :8] * 255
    img[:, 1, :] = bits[:, 8:] * 255
    img[np.arange(n), labels + 3, :] = 180
    return img


def decode_index(thumb: np.ndarray) -> int:
    """The sample index written into rows 0 and 1 of an 8 x 8 thumbnail."""
    bits = (np.asarray(thumb)[:2].reshape(-1) > 127).astype(int)
    return int((bits << np.arange(16)).sum())


class FakeInspector:
    """Inspector + Explaining with closed-form answers (see the module docstring)."""

    def __init__(self, vis_epochs: np.ndarray, coords: np.ndarray, imgs: np.ndarray,
                 events: pd.DataFrame) -> None:
        self.epochs, self.coords, self.imgs, self._events = vis_epochs, coords, imgs, events
        rng = np.random.default_rng(1)
        self.offset = rng.normal(scale=0.4, size=(coords.shape[1], 2)).astype(np.float32)

    def _t(self, epoch: int) -> int:
        return int(np.flatnonzero(self.epochs == int(epoch))[0])

    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        return probabilities(points, self._t(epoch))

    def representations(self, epoch: int) -> np.ndarray:
        return self.coords[self._t(epoch)] + self.offset

    def neighbors(self, indices: np.ndarray, epoch: int, k: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
        X = self.representations(epoch)
        idx = np.asarray(indices).reshape(-1)
        d = np.linalg.norm(X[idx][:, None] - X[None], axis=2)
        d[np.arange(len(idx)), idx] = np.inf
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        return order.astype(np.int64), np.take_along_axis(d, order, 1).astype(np.float32)

    def events(self, **thresholds: Any) -> pd.DataFrame:  # noqa: ANN401
        return self._events

    def sees(self, points: np.ndarray, epoch: int, k: int = 3) -> dict:
        """The contract's ``Seeing`` in closed form: the "decoded point" of a spot is the spot
        itself in the representation space, so the answer is the ``k`` samples whose
        representations (position + offset) lie nearest to it."""
        t = self._t(epoch)
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        X = self.representations(epoch)
        d = np.linalg.norm(pts[:, None] - X[None], axis=2)
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        preds = probabilities(X[idx.reshape(-1)], t).argmax(1).reshape(idx.shape)
        return {"kind": "nearest", "label": "nearest recorded inputs to the decoded point",
                "inputs": None, "indices": idx.astype(np.int64),
                "distances": np.take_along_axis(d, idx, 1).astype(np.float32),
                "predictions": preds.astype(np.int64), "probabilities": probabilities(pts, t)}

    def landscape(self, epoch: int, extent: Any, shape: tuple[int, int]  # noqa: ANN401
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The closed-form landscape over ``extent`` at ``shape`` cell centres (as ``build``
        shades the stored one: the class colour, opaque)."""
        self.landscape_calls = getattr(self, "landscape_calls", 0) + 1
        x0, x1, y0, y1 = (float(v) for v in extent)
        H, W = shape
        cx = x0 + (np.arange(W) + 0.5) / W * (x1 - x0)
        cy = y1 - (np.arange(H) + 0.5) / H * (y1 - y0)
        p = probabilities(np.stack(np.meshgrid(cx, cy), axis=-1).reshape(-1, 2), self._t(epoch))
        cls = p.argmax(1).reshape(H, W)
        rgba = np.full((H, W, 4), 255, np.uint8)
        rgba[..., :3] = default_palette(C)[cls]
        return rgba, cls.astype(np.int16), p.max(1).reshape(H, W)

    def what_if_payload(self, index: int, epoch: int, kind: str = "rotate",
                        strengths: Any = None, target: int | None = None) -> dict:  # noqa: ANN401
        raise NotImplementedError

    def explain(self, request: dict) -> dict:
        if request["what"] != "gradcam":
            raise ValueError("this fixture's inspector explains with Grad-CAM only")
        idx = np.asarray(request["indices"]).reshape(-1)
        maps = self.imgs[idx].astype(np.float32) / 255
        return {"maps": maps, "targets": np.zeros(len(idx), np.int32),
                "predictions": np.zeros(len(idx), np.int32), "layer": "fake"}


def build(kind: str = "full", N: int = 400, T: int = 3, seed: int = 0) -> Visualization:
    """``full``: images, inspector (with explanations), scalars, metrics. ``plain``: none of
    them, but metadata columns and the landscape's per-cell classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % C
    coords = np.empty((T, N, 2), np.float32)
    preds = np.empty((T, N), np.int64)
    conf = np.empty((T, N), np.float32)
    H = W = 32
    land = np.zeros((T, H, W, 4), np.uint8)
    cls = np.zeros((T, H, W), np.int16)
    lconf = np.zeros((T, H, W), np.float32)
    colors = default_palette(C)
    cx = EXTENT[0] + (np.arange(W) + 0.5) / W * (EXTENT[1] - EXTENT[0])
    cy = EXTENT[3] - (np.arange(H) + 0.5) / H * (EXTENT[3] - EXTENT[2])
    grid = np.stack(np.meshgrid(cx, cy), axis=-1).reshape(-1, 2)
    for t in range(T):
        a = rng.uniform(0, 2 * np.pi, N)
        r = np.sqrt(rng.uniform(0, 1, N)) * 0.3
        coords[t] = centers(t)[labels] + np.stack([r * np.cos(a), r * np.sin(a)], 1)
        preds[t] = np.where(np.arange(N) % 10 == 0, (labels + 1) % C, labels)
        # sample 5 flips to class 2 at the second epoch and back (a known event)
        if t == 1:
            preds[t, 5] = 2
        conf[t] = probabilities(coords[t], t).max(axis=1)
        p = probabilities(grid, t)
        cls[t] = p.argmax(1).reshape(H, W)
        lconf[t] = p.max(1).reshape(H, W)
        land[t, ..., :3] = colors[cls[t]]
        land[t, ..., 3] = 255
    split = np.where(np.arange(N) < N - N // 4, "train", "test")
    epochs = np.arange(T) * 5
    imgs = images(N, labels)
    if kind == "plain":
        meta = pd.DataFrame({"noisy": np.arange(N) % 5 == 0, "source": np.where(
            np.arange(N) % 2 == 0, "camera", "scanner"), "score": np.arange(N) / N})
        return Visualization.from_arrays(
            coords=coords, labels=labels, predictions=preds, confidence=conf, landscape=land,
            extent=EXTENT, epochs=epochs, split=split, class_names=NAMES, metadata=meta,
            landscape_classes=cls, landscape_confidence=lconf)
    events = flip_events(epochs, preds, labels, split)
    scalars = pd.DataFrame({
        "train_loss": [1.2, 0.7, 0.5][:T], "test_loss": [1.3, 0.9, 0.8][:T],
        "train_accuracy": [0.55, 0.8, 0.9][:T], "test_accuracy": [0.5, 0.7, 0.78][:T],
        "lr": [1e-3, 5e-4, 2.5e-4][:T]}, index=pd.Index(epochs, name="epoch"))
    metrics = pd.DataFrame({
        "nn_pv_15_train": [0.31, 0.42, 0.47][:T], "nn_pv_15_test": [0.28, 0.40, 0.44][:T],
        "boundary_pv_15_train": [0.2, 0.3, 0.35][:T], "ppr_train": [0.9, 0.95, 0.97][:T],
        "ppr_test": [0.85, 0.9, 0.93][:T], "temporal_pv_train": [np.nan, 0.6, 0.7][:T],
        "q_knn": [0.8, 0.88, 0.91][:T]},
        index=pd.Index(epochs, name="epoch"))
    return Visualization.from_arrays(
        coords=coords, labels=labels, predictions=preds, confidence=conf, landscape=land,
        extent=EXTENT, epochs=epochs, split=split, class_names=NAMES, scalars=scalars,
        metrics=metrics, landscape_classes=cls, landscape_confidence=lconf, images=imgs,
        inspector=FakeInspector(epochs, coords, imgs, events))


def dynamics(vis: Visualization) -> Any:  # noqa: ANN401
    """Training dynamics of the fixture: logits log p(position) + 6 · one-hot(prediction), so
    every 10th sample (predicted as the next class) is the label issue the queue ranks first;
    the representations are the positions."""
    from dvi_widget.data.dynamics import compute_dynamics

    T, N = vis.predictions.shape
    logits = np.stack([np.log(probabilities(vis.coords[t], t) + 1e-6)
                       + 6.0 * np.eye(C, dtype=np.float32)[vis.predictions[t]]
                       for t in range(T)])
    epochs = [int(e) for e in vis.epochs]
    # the fixture's representation space is its map (the label-issue neighbours read it)
    return compute_dynamics(logits, vis.labels, vis.epochs, keep_probabilities=True,
                            representations=lambda e: vis.coords[epochs.index(int(e))])


def flip_events(epochs: np.ndarray, preds: np.ndarray, labels: np.ndarray,
                split: np.ndarray) -> pd.DataFrame:
    """Events of kind ``flip`` from the predictions (size 1), in the engine's columns."""
    rows = []
    for t in range(1, len(epochs)):
        for i in np.flatnonzero(preds[t] != preds[t - 1]):
            rows.append({"epoch": int(epochs[t]), "previous_epoch": int(epochs[t - 1]),
                         "sample": int(i), "kind": "flip", "size": 1.0 - 0.001 * i,
                         "split": split[i], "label": int(labels[i]),
                         "prediction_before": int(preds[t - 1, i]),
                         "prediction": int(preds[t, i]), "confidence_before": 0.5,
                         "confidence": 0.5, "cell_before": -1, "cell": -1})
    df = pd.DataFrame(rows)
    df["kind"] = pd.Categorical(df["kind"], categories=["flip", "confidence", "move",
                                                        "neighborhood", "boundary"])
    return df


class FakeInside:
    """The inside panels' source (contract.Inside) with closed forms: layers ``conv1, conv2,
    fc``; quantile q of layer l at epoch position t is ``(l + 1) * (q - 4) * (t + 1) / 10``;
    one flag (conv1 vanishing at the first two epochs); per class c the pattern (c, 2c, c)
    held by its samples predicted right (index % 10 != 0), and the pattern (0, 1, 0) of the
    mispredicted ones (index % 10 == 0)."""

    LAYERS = ("conv1", "conv2", "fc")

    def __init__(self, vis: Visualization) -> None:
        self.vis = vis

    def bands(self, kind: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        L, T, Q = len(self.LAYERS), len(self.vis.epochs), 9
        ll, tt, qq = np.meshgrid(np.arange(L), np.arange(T), np.arange(Q), indexing="ij")
        cube = ((ll + 1) * (qq - 4) * (tt + 1) / 10).astype(np.float32)
        stats = ["p0", "p7", "p16", "p31", "p50", "p69", "p84", "p93", "p100"]
        return list(self.LAYERS), np.asarray(self.vis.epochs), cube, stats

    def flags(self) -> pd.DataFrame:
        e = [int(x) for x in self.vis.epochs[:2]]
        return pd.DataFrame([{"flag": "vanishing", "layer": "conv1", "epochs": e,
                              "detail": "gradient norm 1e-04 of the largest layer's"}])

    def patterns(self, epoch: int) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        labels = self.vis.labels
        idx = np.arange(len(labels))
        rows = []
        for c in range(C):
            s = idx[(labels == c) & (idx % 10 != 0)]
            rows.append({"layers": [0, 1, 2], "units": [c, 2 * c, c], "samples": s})
        rows.append({"layers": [0, 1, 2], "units": [0, 1, 0], "samples": idx[idx % 10 == 0]})
        for r in rows:
            r["count"] = len(r["samples"])
            r["support"] = len(r["samples"]) / len(labels)
            ids, counts = np.unique(labels[r["samples"]], return_counts=True)
            r["classes"] = {int(a): int(b) for a, b in zip(ids, counts, strict=True)}
        df = pd.DataFrame(rows).sort_values("count", ascending=False, kind="stable")
        layers = [{"name": "conv1", "units": 8}, {"name": "conv2", "units": 16},
                  {"name": "fc", "units": C}]
        return layers, df.reset_index(drop=True)

    # feature visualization (contract.InsideFeatures): image of unit u at epoch e is the
    # constant ((u + 1) * 20 + e) / 255; filter k the constant k / 8
    def feature_layers(self, epoch: int) -> list[dict[str, Any]]:
        return [{"name": "logits", "units": C}, {"name": "conv1", "units": 8}]

    def features(self, epoch: int, layer: str, units: Any) -> np.ndarray:  # noqa: ANN401
        u = np.asarray(units, np.float32)
        return np.broadcast_to((((u + 1) * 20 + int(epoch)) / 255)[:, None, None, None],
                               (len(u), 1, 8, 8)).astype(np.float32)

    def filters(self, epoch: int) -> np.ndarray:
        return np.broadcast_to((np.arange(8, dtype=np.float32) / 8)[:, None, None, None],
                               (8, 1, 3, 3)).copy()
