"""The view's frame: positions in the contract's frame (``Visualization.extent``) <-> the
widget's [-1, 1] square.

A what-if path, a surrogate's neighbours and a clicked spot are all placed by the one map
(:mod:`dvi_widget.engine.mapping`, through the contract's ``Explaining``), which puts every
recorded sample exactly where it is drawn: a path starts on its sample with no shift, and the view
only converts frames.
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

