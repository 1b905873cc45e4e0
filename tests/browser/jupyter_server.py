"""Start a real JupyterLab 4 (or Notebook 7) on a free port for browser tests and benchmarks.

Used by every JupyterLab test (tests/view/: test_browser, test_panels_browser, test_explain) and
benchmark: token, loopback only, its own runtime/config/workspace folders under ``tmp``, the
repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter(root_dir: Path, tmp: Path, app: str = "lab") -> Iterator[tuple[str, str]]:
    """Run ``jupyter lab`` (or ``notebook``) serving ``root_dir``; yields ``(base url, token)``
    once it answers, and stops it on exit. Its log is ``tmp / "server.log"``."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"))
    # every cell rendered: with JupyterLab's windowing, a widget's output far from the viewport
    # (Run All scrolls to the last cell) is not in the page, and a test waiting for it waits on
    tracker = tmp / "settings" / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text('{"windowingMode": "none"}')
    # no "notified about official Jupyter news?" toast: at 900 x 700 it covered the bottom right
    # of the notebook, where the widget's panels are, in every screenshot
    notes = tmp / "settings" / "@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text('{"fetchNews": "false"}')
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the kernel trains and fits while headless Chromium renders on the same cores: torch's
    # OpenMP threads spinning against the browser made one test take 207 s instead of 30 s
    env.setdefault("OMP_NUM_THREADS", "1")
    args = [sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
            "--ServerApp.port_retries=0", "--allow-root", f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.disable_check_xsrf=True"]
    if app == "lab":
        args += ["--LabApp.extension_manager=readonly", "--LabApp.news_url=",
                 "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError(f"jupyter {app} did not start:\n"
                                           + log_path.read_text()) from None
                    time.sleep(0.5)
            yield base, token
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
