"""A quickstart-sized visualization without training: 2,000 train + 500 test samples, 10 classes
(Fashion-MNIST names and palette), 10 epochs, a 256x256 landscape shaded by the engine.

The 2-D "representation" is the plane itself and g_t is a nearest-centre classifier (logits
``-|y - c_k| / tau``), so :func:`render_landscape` draws the regions, confidence wash and white
δ-boundary (δ = 0.03: thin lines, as in a fit) the way a fit draws them; clusters tighten over
the epochs and the misclassified share falls from ~30 % to ~10 %, as in the quickstart. Every
sample's prediction is the landscape class under it, so correctly classified samples sit on their
own class colour (the case that once made them invisible).

Run ``python tests/browser/quickstart_fixture.py PAGE.html`` to write the widget's standalone page
(with whichever ``dvi_widget`` is importable), which ``tests/browser/visibility.mjs`` measures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from dvi_widget.contract import Visualization, default_palette
from dvi_widget.engine.landscape import render_landscape

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
TAU = 0.1  # logit temperature of the nearest-centre head
DELTA = 0.03  # boundary width (normalised logit gap)


def build(n_train: int = 2000, n_test: int = 500, epochs: int = 10, grid: int = 256,
          seed: int = 0) -> Visualization:
    """The fixture as a :class:`Visualization` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    C, N = len(CLASS_NAMES), n_train + n_test
    angles = 2 * np.pi * np.arange(C) / C
    base = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 1.2
    labels = rng.integers(0, C, N)
    extent = np.array([-2.2, 2.2, -2.2, 2.2])
    coords = np.empty((epochs, N, 2), np.float32)
    preds = np.empty((epochs, N), np.int64)
    conf = np.empty((epochs, N), np.float32)
    land = np.empty((epochs, grid, grid, 4), np.uint8)
    classes = np.empty((epochs, grid, grid), np.int16)
    unit = rng.normal(size=(N, 2))
    wrong_draw = rng.random(N)
    other = (labels + rng.integers(1, C, N)) % C
    toward = rng.uniform(0.55, 0.95, N)
    for t in range(epochs):
        centres = base + rng.normal(scale=0.05, size=base.shape)
        spread = 0.32 - 0.17 * t / max(epochs - 1, 1)
        wrong = wrong_draw < 0.30 - 0.22 * t / max(epochs - 1, 1)
        home = centres[labels] + unit * spread
        away = centres[labels] + (centres[other] - centres[labels]) * toward[:, None] + unit * 0.08
        xy = np.where(wrong[:, None], away, home)
        coords[t] = xy
        c = torch.as_tensor(centres, dtype=torch.float32)

        def head(y: torch.Tensor, c: torch.Tensor = c) -> torch.Tensor:
            return -torch.cdist(y, c) / TAU

        logits = head(torch.as_tensor(xy, dtype=torch.float32))
        probs = torch.softmax(logits, dim=1)
        conf[t], preds[t] = probs.max(dim=1).values.numpy(), logits.argmax(dim=1).numpy()
        rgba, cls, _ = render_landscape(lambda y: y, head, extent, size=grid,
                                        palette=default_palette(C), delta=DELTA, device="cpu")
        land[t], classes[t] = rgba, cls
    return Visualization.from_arrays(
        coords=coords, labels=labels, predictions=preds, confidence=conf, landscape=land,
        extent=extent, epochs=np.arange(1, epochs + 1),
        split=np.where(np.arange(N) < n_train, "train", "test"), class_names=CLASS_NAMES,
        palette=default_palette(C),
    )


if __name__ == "__main__":
    from dvi_widget.view.widget import Widget

    vis = build()
    print(f"misclassified at the last epoch: {np.mean(vis.predictions[-1] != vis.labels):.3f}")
    print(Widget(vis).save_html(Path(sys.argv[1])))
