"""The notebook of the explain panel's JupyterLab test and round-trip benchmark: a small CNN on
scikit-learn's digits (3 epochs), a DVI fitted on its last epoch, the widget; then a cell that
prints the drawn path the kernel keeps (``w.explanations["path"]``) for the browser to check."""

from __future__ import annotations

from pathlib import Path

SETUP = """
import json
import numpy as np
import torch
from torch import nn
torch.manual_seed(0)
from dvi_widget import DVI, Run, Widget
from dvi_widget.data.datasets import load_digits
from dvi_widget.view import whatif

data = load_digits(seed=0)
run = Run.create("run", train=(data.x_train, data.y_train), test=(data.x_test, data.y_test),
                 overwrite=True)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 32),
                      nn.ReLU(), nn.Linear(32, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
for epoch in range(3):
    for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch)).split(64):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    run.record(model, epoch, device="cpu")
dvi = DVI(hidden=32, grid_size=64, max_steps=500, warm_max_steps=250, device="cpu",
          verbose=False, random_state=0).fit(run, epochs=[2])
w = Widget(dvi, height=420, transition_ms=0,
           images=np.concatenate([data.x_train, data.x_test]))
w"""

REPORT = """
df = w.explanations["path"]
pos = whatif.normalize(w.vis, df[["x_drawn", "y_drawn"]].to_numpy())
print("PATH" + json.dumps({"positions": pos.tolist(), "predictions": df.prediction.tolist(),
                           "palette": list(w.palette), "kind": df.attrs["kind"],
                           "first_flip": df.attrs["first_flip"],
                           "first_flip_index": int(np.flatnonzero(
                               df.strength == df.attrs["first_flip"])[0])
                           if df.attrs["first_flip"] is not None else -1}))"""


def write(path: Path) -> Path:
    """Write the two-cell notebook to ``path``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.strip()) for src in (SETUP, REPORT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path
