"""Panel end to end in a browser (issue 23 item 6): `panel serve` on an app showing the widget
through ``pn.panel(w)`` (an ``IPyWidget`` pane, rendered by ``ipywidgets_bokeh``), opened in
headless Chromium by tests/browser/panel.test.mjs.

The page loads the ``anywidget`` front-end module from a CDN (``ipywidgets_bokeh``'s ``cdn``,
unpkg by default). There is no network here, so a static server stands in for it: it answers
``anywidget@<range>/dist/index.js`` (the range anywidget's models declare, e.g. ``~0.11.*``,
resolved as unpkg would) with the installed package's own AMD module; the app points the pane's
Bokeh model at it. A real user's browser fetches the same file from unpkg.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_browser import (  # tests/view/test_browser.py: the samples, the polygons, the marks
    _DATA,
    BUNDLE,
    ROOT,
    _cases_with_neighbours,
    stop_server,
)
from test_browser import pytestmark as browser_marks

pytest.importorskip("panel")
pytest.importorskip("ipywidgets_bokeh")

pytestmark = browser_marks  # chromium, node and playwright-core, as test_browser.py

# The served app: the samples of _DATA, shown by pn.panel(w); every change of w.selection is
# appended to the file DVI_TEST_SELECTION names (one JSON list of indices a line).
_APP = _DATA + r"""
import json
import os
import panel as pn
from ipywidgets_bokeh.widget import IPyWidget as _BkIPyWidget
from dvi_widget.contract import Visualization
from dvi_widget.view.widget import Widget

# the CDN stand-in (test only): the pane's Bokeh model loads the anywidget module from there.
# pn.panel(w) passes no `cdn` to the model it builds, and a changed class default would not be
# sent (Bokeh serializes values set, not defaults): each model is built with it set instead.
_init = _BkIPyWidget.__init__


def _local_cdn(self, **kwargs):
    kwargs.setdefault("cdn", os.environ["DVI_TEST_CDN"])
    _init(self, **kwargs)


_BkIPyWidget.__init__ = _local_cdn

pn.extension("ipywidgets")
# a landscape (a class a quadrant, in the default palette's first colours) for the points to sit on
ys, xs = np.mgrid[1:-1:64j, -1:1:64j]  # row 0 is the top (max y)
quadrant = (xs > 0).astype(int) + 2 * (ys < 0)
rgb = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]], np.uint8)
landscape = np.concatenate([rgb[quadrant], np.full((64, 64, 1), 255, np.uint8)], axis=-1)
vis = Visualization.from_arrays(coords=xy[None], labels=labels, landscape=landscape[None],
                                extent=(-1, 1, -1, 1))
w = Widget(vis, height=420, transition_ms=0)
w.focus_sample = 0  # its Sample history asks the kernel for its neighbours (kernel protocol)
out = os.environ["DVI_TEST_SELECTION"]


def _write(change):
    with open(out, "a") as f:
        f.write(json.dumps(w.selection.tolist()) + "\n")


w.observe(_write, "selection")
pn.panel(w).servable()
"""


def _cdn_stand_in(log: list) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local stand-in for unpkg: ``/anywidget@<version or range>/dist/index[.js]`` answers the
    installed anywidget's front-end module (AMD); anything else is a 404. Requests are logged."""
    import anywidget

    module = (Path(anywidget.__file__).parent / "nbextension" / "index.js").read_bytes()
    package = json.dumps({"name": "anywidget", "version": anywidget.__version__,
                          "dependencies": {}}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            from urllib.parse import unquote

            path = unquote(self.path.split("?")[0])
            log.append(path)
            name, _, rest = path.lstrip("/").partition("/")
            body = None
            if name.startswith("anywidget@"):
                # the loader asks for dist/index (unpkg adds the .js)
                body = {"dist/index": module, "dist/index.js": module,
                        "package.json": package}.get(rest)
            if body is None:
                self.send_response(404)
                self.send_header("access-control-allow-origin", "*")
                self.end_headers()
                return
            self.send_response(200)
            kind = "application/json" if rest.endswith(".json") else "text/javascript"
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.send_header("access-control-allow-origin", "*")  # as unpkg: another origin
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.slow
def test_panel_served_app_lasso_and_keys_end_to_end(tmp_path):
    """`panel serve` (issue 23 item 6): pn.panel(w) in a served app, in headless Chromium — the
    widget drawn and styled inside the IPyWidget pane; a shift+drag lasso selects exactly the
    polygon's samples in Python's w.selection; 'b' in the widget switches to box mode."""
    if not BUNDLE.is_file():
        subprocess.run(["npm", "run", "build"], cwd=ROOT / "js", check=True)
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from jupyter_server import free_port  # tests/browser/jupyter_server.py

    app = tmp_path / "app.py"
    app.write_text(_APP)
    selection = tmp_path / "selection.json"
    requests: list = []
    cdn, cdn_url = _cdn_stand_in(requests)
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", HOME=str(tmp_path), DVI_TEST_CDN=cdn_url,
               DVI_TEST_SELECTION=str(selection),
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    log = open(tmp_path / "panel.log", "w")  # noqa: SIM115 (closed in the finally below)
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(app), "--port", str(port), "--address",
         "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/app"
    shots = os.environ.get("DVI_E2E_SHOT_DIR", "")
    try:
        t0 = time.monotonic()
        cases = _cases_with_neighbours()
        proc = subprocess.Popen(
            ["node", str(ROOT / "tests" / "browser" / "panel.test.mjs"), url,
             json.dumps(cases), str(selection), shots],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=240)
        print(out, f"node: {time.monotonic() - t0:.1f} s; CDN requests: {requests}")
        served = (tmp_path / "panel.log").read_text()
        assert proc.returncode == 0, (f"panel test failed:\n{out}\n{err}\n"
                                      f"CDN requests: {requests}\n{served[-3000:]}")
        # every message the page sent was read (a binary one was not: UnicodeDecodeError)
        assert "Traceback" not in served and "ERROR" not in served, served[-3000:]
    finally:
        cdn.shutdown()
        stop_server(server)
        log.close()
