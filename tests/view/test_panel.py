"""Panel (issue 23 item 6), kernel side: the widget wrapped and served as Panel documents it for an
existing ipywidget / anywidget — ``pn.panel(w)`` gives an ``IPyWidget`` pane, whose Bokeh model
(what ``panel serve`` sends to the page, through ``ipywidgets_bokeh``) carries the widget's whole
state: our ESM and CSS, and every array as a binary buffer holding exactly our bytes.

Run in a subprocess: importing Panel's ipywidgets support patches ipykernel's kernel and every
widget constructed afterwards, which must not leak into the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("panel")
pytest.importorskip("ipywidgets_bokeh")

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = r"""
import base64, json
import numpy as np
import panel as pn
from bokeh.document import Document
from dvi_widget.contract import Visualization
from dvi_widget.view.serialize import array_to_json
from dvi_widget.view.widget import CSS_PATH, BUNDLE_PATH, Widget

pn.extension("ipywidgets")
rng = np.random.default_rng(0)
vis = Visualization.from_arrays(coords=rng.normal(size=(3, 40, 2)), labels=np.arange(40) % 4)
w = Widget(vis)
w.select([2, 5, 7])
pane = pn.panel(w)
root = pane.get_root(Document())
model = root if hasattr(root, "bundle") else root.children[0]
entry = model.bundle["state"]["state"][w.model_id]
buffers = {"/".join(b["path"]): base64.b64decode(b["data"]) for b in entry["buffers"]}
ours = {name: bytes(array_to_json(getattr(w, name))["view"])
        for name in ("coords", "labels", "landscape", "selection")}
print("RESULT" + json.dumps({
    "pane": type(pane).__name__,
    "model": type(model).__module__ + "." + type(model).__name__,
    "module": entry["model_module"], "name": entry["model_name"],
    "esm": entry["state"]["_esm"] == BUNDLE_PATH.read_text(encoding="utf-8"),
    "css": entry["state"]["_css"] == CSS_PATH.read_text(encoding="utf-8"),
    "coords": entry["state"]["coords"],
    "equal": {k: buffers.get(k + "/view") == v for k, v in ours.items()},
    "selection": np.frombuffer(buffers["selection/view"], np.uint32).tolist(),
    "buffer_paths": sorted(buffers),
}))
"""


@pytest.mark.slow
def test_panel_wraps_and_serves_the_widget_with_its_binary_state():
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    r = json.loads(line[len("RESULT"):])
    assert r["pane"] == "IPyWidget"
    assert r["model"] == "ipywidgets_bokeh.widget.IPyWidget"
    assert (r["module"], r["name"]) == ("anywidget", "AnyModel")
    assert r["esm"] and r["css"], "the served state carries our bundle and stylesheet"
    assert r["coords"] == {"dtype": "float32", "shape": [3, 40, 2]}  # the view's bytes: buffers
    assert r["equal"] == {"coords": True, "labels": True, "landscape": True, "selection": True}
    assert r["selection"] == [2, 5, 7]
    assert "coords/view" in r["buffer_paths"] and "selection/view" in r["buffer_paths"]
