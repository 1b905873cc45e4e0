"""Runs the headless-chromium tests in tests/browser/ (node + playwright-core) from pytest.

Skipped only when chromium or js/node_modules is absent; CI installs both, so there they run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dvi_widget.view.visualization import Visualization

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NODE_MODULES = ROOT / "js" / "node_modules" / "playwright-core"
BUNDLE = ROOT / "dvi_widget" / "static" / "widget.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not NODE_MODULES.exists(),
                       reason="js/node_modules missing (run `cd js && npm ci`)"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH"),
]


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not BUNDLE.is_file():
        subprocess.run(["npm", "run", "build"], cwd=ROOT / "js", check=True)
    return BUNDLE


def _saved_page(tmp_path: Path) -> Path:
    from dvi_widget.view.widget import Widget

    rng = np.random.default_rng(0)
    T, N = 2, 300
    land = np.zeros((T, 16, 16, 4), np.uint8)
    land[..., 0], land[..., 3] = 200, 255
    vis = Visualization.from_arrays(
        coords=rng.normal(size=(T, N, 2)), labels=np.arange(N) % 3,
        landscape=land, split=np.where(np.arange(N) < 200, "train", "test"),
    )
    return Widget(vis).save_html(tmp_path / "saved.html")


def test_widget_in_headless_chromium(bundle, tmp_path):
    page = _saved_page(tmp_path)
    proc = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "widget.test.mjs"), str(page)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    print(proc.stdout)
    assert proc.returncode == 0, f"browser tests failed:\n{proc.stdout}\n{proc.stderr}"
    assert "all 8 passed" in proc.stdout


# ------------------------------------------------------------------ JupyterLab end to end
_NOTEBOOK_CELLS = [
    """import numpy as np
from dvi_widget.view.visualization import Visualization
from dvi_widget.view.widget import Widget
centers = np.array([[-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
rng = np.random.default_rng(0)
labels = np.arange(400) % 4
coords = (centers[labels] + rng.uniform(-0.08, 0.08, (400, 2)))[None]
vis = Visualization.from_arrays(coords=coords, labels=labels, extent=(-1, 1, -1, 1))
w = Widget(vis, height=400, transition_ms=0)
w.mouse_mode = "box"
w""",
    """import json
df = w.selection_df()
print("SELECTED" + json.dumps(df["index"].tolist()))
print(sorted(set(df["class_name"])))""",
]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_lasso_reaches_the_kernel(bundle, tmp_path):
    import json
    import os
    import secrets
    import sys
    import time
    import urllib.request

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "e2e.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0",
         "--allow-root", "--LabApp.extension_manager=readonly",
         f"--ServerApp.root_dir={tmp_path / 'nb'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("jupyter lab did not start:\n" + (tmp_path / "lab.log").read_text())
                time.sleep(0.5)
        expected = list(range(3, 400, 4))
        proc = subprocess.run(
            ["node", str(ROOT / "tests" / "browser" / "jupyterlab.test.mjs"),
             base, token, "e2e.ipynb", json.dumps(expected), str(tmp_path / "failure.png")],
            cwd=ROOT, capture_output=True, text=True, timeout=400,
        )
        print(proc.stdout)
        assert proc.returncode == 0, (f"JupyterLab test failed:\n{proc.stdout}\n{proc.stderr}\n"
                                      + (tmp_path / "lab.log").read_text()[-3000:])
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
