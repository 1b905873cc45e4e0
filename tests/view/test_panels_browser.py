"""The explore panels in headless chromium: against a real Widget in a Python
comm harness (every panel), and in a real JupyterLab 4 with a real kernel.

Skipped only when chromium or js/node_modules is absent; CI installs both, so there they run.
Screenshots go to ``$DVI_E2E_SHOT_DIR`` when it is set. The last test runs
notebooks/explore.ipynb in JupyterLab and answers its question with the mouse (it fits a small
run); it runs with ``DVI_E2E_EXPLORE=1``: the three tests pass in ~90–120 s. Its widget was at
times not drawn within 5 min after the fixture test (2 of 3 runs on 2026-12-03, 2 of 2 at
900 x 700 on 2026-12-06): *Run All Cells* had run no cell (the menu was found by ``text=Run``);
the test now opens JupyterLab's Run menu by its label and chooses again until a cell is taken
(3 of 3 runs since, one of them after a second choice), and a widget that never comes is
reported with every cell's prompt and output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
BUNDLE = ROOT / "dvi_widget" / "static" / "widget.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed"),
    pytest.mark.skipif(not (ROOT / "js" / "node_modules" / "playwright-core").exists(),
                       reason="js/node_modules missing (run `cd js && npm ci`)"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH"),
    pytest.mark.skipif(not BUNDLE.is_file(), reason="front-end bundle not built"),
]

SHOTS = os.environ.get("DVI_E2E_SHOT_DIR", "")


def test_every_panel_against_a_comm_harness_kernel():
    """A click shows the probabilities Python computes there, a confusion-matrix click selects
    exactly that cell, the hover thumbnail is the sample's image; the selection grid, sample
    history, curves and events show what dvi_widget.view.explore computes."""
    # the harness's Python kernel computes while Chromium renders on the same cores: one torch
    # thread keeps OpenMP from spinning against the browser
    proc = subprocess.run(["node", str(BROWSER / "panels.test.mjs"), sys.executable, SHOTS],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ,
                               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    print(proc.stdout)
    assert proc.returncode == 0, f"panel tests failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "all 9 passed" in proc.stdout


_FIXTURE_CELLS = [
    f"""
import sys
sys.path.insert(0, {str(BROWSER)!r})
import numpy as np
import panels_fixture as fixture
from dvi_widget.view import explore
from dvi_widget.view.widget import Widget
vis = fixture.build("full")
w = Widget(vis, transition_ms=0)
w""",
    """
import json
c = w.clicked
t = vis.n_epochs - 1
d = np.linalg.norm(vis.coords[t][:, None] - vis.coords[t][None], axis=2)
np.fill_diagonal(d, np.inf)
iso = int(np.argmax(d.min(axis=1)))
print("STATE" + json.dumps({
    "clicked": c, "selection": w.selection.tolist(),
    "expected": None if c is None else fixture.probabilities(
        np.array([[c["x"], c["y"]]]), vis.epoch_index(c["epoch"]))[0].tolist(),
    "cell01": explore.confusion_cell(vis, 0, 1, w.epoch).tolist(),
    "isolated": iso, "isolated_xy": (vis.coords[t, iso] / 2).tolist(),
    "sees": None if c is None else w.inspect(c["x"], c["y"], c["epoch"])["sees"][
        "indices"].tolist()}))""",
]


def _run_in_jupyterlab(tmp_path: Path, notebook: Path, mode: str, timeout: int,
                       monkeypatch: pytest.MonkeyPatch) -> str:
    """Start JupyterLab on ``notebook``'s folder, run jupyter_panels.test.mjs, stop it."""
    sys.path.insert(0, str(BROWSER))
    from jupyter_server import jupyter  # tests/browser/jupyter_server.py

    monkeypatch.setenv("DVI_OUT_DIR", str(tmp_path / "out"))  # for the notebook's kernel
    monkeypatch.setenv("DVI_NOTEBOOK_SMALL", "1")
    with jupyter(notebook.parent, tmp_path) as (base, token):
        proc = subprocess.run(
            ["node", str(BROWSER / "jupyter_panels.test.mjs"), mode, base, token, notebook.name,
             SHOTS], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        print(proc.stdout)
        assert proc.returncode == 0, (f"JupyterLab {mode} failed:\n{proc.stdout}\n{proc.stderr}\n"
                                      + (tmp_path / "server.log").read_text()[-3000:])
        return proc.stdout


@pytest.mark.slow
def test_panels_in_jupyterlab_with_a_real_kernel(tmp_path, monkeypatch):
    """JupyterLab 4: the popover's probabilities are the kernel's, a confusion-matrix click is
    the kernel's selection, the hover thumbnail comes from the kernel and is the sample's."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.strip()) for src in _FIXTURE_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "panels.ipynb")
    _run_in_jupyterlab(tmp_path, tmp_path / "nb" / "panels.ipynb", "fixture", 400, monkeypatch)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DVI_E2E_EXPLORE") != "1",
                    reason="set DVI_E2E_EXPLORE=1 (fits a DVI view in JupyterLab; see the module)")
def test_explore_notebook_question_with_the_mouse_in_jupyterlab(tmp_path, monkeypatch):
    (tmp_path / "nb").mkdir()
    shutil.copy(ROOT / "notebooks" / "explore.ipynb", tmp_path / "nb" / "explore.ipynb")
    _run_in_jupyterlab(tmp_path, tmp_path / "nb" / "explore.ipynb", "explore", 900, monkeypatch)
