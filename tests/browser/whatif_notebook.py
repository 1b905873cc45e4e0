"""The notebook of the explain panel's JupyterLab test and round-trip benchmark: a small CNN on
scikit-learn's digits (or Fashion-MNIST), 3 epochs, a DVI fitted on the last one, the widget;
then a cell that prints the drawn path the kernel keeps (``w.explanations["path"]``) for the
browser to check."""

from __future__ import annotations

from pathlib import Path

DATA = {
    # scikit-learn's 8x8 digits: a few seconds to train and fit (the test)
    "digits": """
from dvi_widget.data.datasets import load_digits
data = load_digits(seed=0)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 32),
                      nn.ReLU(), nn.Linear(32, 10))
DVI_PARAMS = dict(hidden=32, grid_size=64, max_steps=500, warm_max_steps=250)""",
    # 2,500 Fashion-MNIST 28x28 images and the notebooks' small CNN (the benchmark's option)
    "fashion": """
from dvi_widget import load_fashion_mnist
data = load_fashion_mnist(n_train=2000, n_test=500, seed=0)
model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 64),
                      nn.ReLU(), nn.Linear(64, 10))
DVI_PARAMS = dict(max_steps=800, warm_max_steps=400)""",
}

SETUP = """
import json
import numpy as np
import torch
from torch import nn
torch.manual_seed(0)
from dvi_widget import DVI, Run, Widget
from dvi_widget.view.frame import to_view
{data}
run = Run.create("run", train=(data.x_train, data.y_train), test=(data.x_test, data.y_test),
                 class_names=data.class_names, overwrite=True)
opt = torch.optim.Adam(model.parameters(), lr=1e-2 if len(data.x_train) < 1500 else 2e-3)
x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
for epoch in range(3):
    for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch)).split(64):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    run.record(model, epoch, device="cpu")
dvi = DVI(device="cpu", verbose=False, random_state=0, **DVI_PARAMS).fit(run, epochs=[2])
w = Widget(dvi, height=420, transition_ms=0,
           images=np.concatenate([data.x_train, data.x_test]))
w"""

REPORT = """
df = w.explanations["path"]
pos = to_view(w.vis, df[["x", "y"]].to_numpy())
print("PATH" + json.dumps({"positions": pos.tolist(), "predictions": df.prediction.tolist(),
                           "palette": list(w.palette), "kind": df.attrs["kind"],
                           "class_names": list(w.class_names),
                           "first_flip": df.attrs["first_flip"],
                           "first_flip_index": int(np.flatnonzero(
                               df.strength == df.attrs["first_flip"])[0])
                           if df.attrs["first_flip"] is not None else -1}))"""


def write(path: Path, dataset: str = "digits") -> Path:
    """Write the two-cell notebook (``dataset``: "digits" or "fashion") to ``path``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    setup = SETUP.replace("{data}", DATA[dataset].strip())
    nb.cells = [nbformat.v4.new_code_cell(src.strip()) for src in (setup, REPORT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path
