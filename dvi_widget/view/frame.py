"""The view's frame: positions in the contract's frame (``Visualization.extent``) <-> the
widget's [-1, 1] square, and the anchoring of a φ path onto the sample as it is drawn.

Anchoring. A what-if path is φ_t's (continuous in strength), but a training sample is drawn at
its layout position and a test sample where the fit places it among the training samples, which
φ_t reproduces only to its error (larger on unseen samples), so the raw path would start that far
from the drawn point. :func:`anchor` moves each path point ``p`` by
``δ · exp(-|p - p₀|² / (2σ²))`` with ``δ`` = drawn position − φ(x) (``p₀`` = φ(x)) and
``σ = 2|δ|``: the start lands exactly on the drawn sample, points farther than ~3σ stay where φ
puts them (the landscape's colours there are g_t∘ψ_t at φ's positions), and since
``|δ| · max|∇ exp| = 1 / (2√e) < 1`` the shift is one-to-one, so a path never folds over itself.
A constant offset would instead move every point, far ones across drawn boundaries.
"""

from __future__ import annotations

import numpy as np

from ..contract import Visualization


def to_view(vis: Visualization, points: np.ndarray) -> np.ndarray:
    """Frame coordinates (..., 2) -> the widget's [-1, 1] square, float32; NaN stays NaN."""
    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    pts = np.asarray(points, np.float64)
    return ((pts - np.array([x0, y0])) / np.array([x1 - x0, y1 - y0]) * 2 - 1).astype(np.float32)


def from_view(vis: Visualization, x: float, y: float) -> tuple[float, float]:
    """A spot of the widget's [-1, 1] square (a click) -> frame coordinates."""
    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    return x0 + (float(x) + 1) / 2 * (x1 - x0), y0 + (float(y) + 1) / 2 * (y1 - y0)


def anchor(points: np.ndarray, start: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Move ``points`` so that ``start`` (φ of the unperturbed input) lands on ``drawn`` (where
    the sample is drawn), the shift fading with distance from ``start`` (module docstring:
    σ = 2|δ|, one-to-one). NaN inputs or a zero shift return the points unchanged."""
    pts = np.asarray(points, np.float64)
    delta = np.asarray(drawn, np.float64) - np.asarray(start, np.float64)
    size = float(np.hypot(*delta))
    if not np.isfinite(size) or size == 0:
        return pts.astype(np.float32)
    d2 = ((pts - start) ** 2).sum(axis=-1)
    fade = np.exp(-d2 / (2 * (2 * size) ** 2))
    return (pts + fade[..., None] * delta).astype(np.float32)
