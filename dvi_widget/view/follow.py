"""The live view: a widget over a run that is still being trained (``Widget.follow(run)``).

A worker process (``python -m dvi_widget.engine.follow``; not the training process, not the
kernel's thread) fits each epoch as it lands and publishes a saved :class:`Visualization` into
a private folder; a light thread here polls that folder and hands each new one to the widget,
whose slider grows while the user's selection, zoom, epoch and panels stay as they are. The
worker's state (waiting, fitting epoch t, a crash with its message) is shown in the widget.
The view only starts a process by module name and reads the contract's saved format: it never
imports the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..contract import Visualization

#: seconds between two looks at the worker's folder
POLL_S = 0.2


class Follower:
    """The worker process and the polling thread of one live widget."""

    def __init__(self, run_path: str | os.PathLike, params: dict[str, Any]) -> None:
        self.run_path = Path(run_path)
        self.out = Path(tempfile.mkdtemp(prefix="dvi-follow-"))
        self.log = open(self.out / "worker.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dvi_widget.engine.follow", str(self.run_path),
             str(self.out), "--params", json.dumps(params), "--parent", str(os.getpid())],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.shown: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ reading
    def status(self) -> dict[str, Any]:
        """The worker's ``status.json`` (``state``: waiting / fitting / fitted / stopped /
        error with ``message``), or a crash the worker could not write itself."""
        try:
            st = json.loads((self.out / "status.json").read_text())
        except (OSError, ValueError):
            st = {"state": "starting"}
        code = self.proc.poll()
        if code not in (None, 0) and st.get("state") != "error":
            tail = (self.out / "worker.log").read_bytes()[-2000:].decode("utf-8", "replace")
            st = {"state": "error", "message": f"the worker exited with code {code}",
                  "traceback": tail}
        return st

    def latest(self) -> Path | None:
        """The newest published visualization's folder, if any."""
        found = sorted(p for p in self.out.glob("vis-*") if not p.name.startswith("."))
        return found[-1] if found else None

    def wait_first(self, timeout: float) -> Visualization:
        """Block until the first visualization is published (or the worker fails)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st.get("state") == "error":
                self.stop()
                raise RuntimeError(f"the live view's worker failed: {st.get('message')}\n"
                                   f"{st.get('traceback', '')}")
            path = self.latest()
            if path is not None:
                self.shown = path.name
                return Visualization.load(path)
            time.sleep(POLL_S)
        self.stop()
        raise TimeoutError(f"no epoch of {self.run_path} was fitted within {timeout:.0f} s; "
                           "record one (run.record) or pass a longer timeout=")

    # ------------------------------------------------------------------ the loop
    def start(self, widget: Any) -> None:  # noqa: ANN401 - a Widget
        """Poll in a daemon thread: new visualizations and status go to ``widget``."""
        def loop() -> None:
            last_status = None
            while not self._stop.wait(POLL_S):
                st = self.status()
                text = describe(st)
                if text != last_status:
                    widget.follow_status = text
                    last_status = text
                path = self.latest()
                if path is not None and path.name != self.shown:
                    try:
                        vis = Visualization.load(path)
                    except (OSError, ValueError):
                        continue  # removed under us by a newer one: the next look gets it
                    self.shown = path.name
                    widget.replace_visualization(vis)
                if st.get("state") in ("stopped", "error"):
                    return

        self._thread = threading.Thread(target=loop, name="dvi-follow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the worker to stop (it finishes the epoch it is fitting), wait, clean up."""
        with contextlib.suppress(OSError):
            (self.out / "stop").touch()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.log.close()

    def remove(self) -> None:
        """Delete the worker's folder (after :meth:`stop`)."""
        shutil.rmtree(self.out, ignore_errors=True)


def describe(status: dict[str, Any]) -> str:
    """One line for the widget: what the worker is doing, or its crash."""
    state = status.get("state")
    epochs = status.get("epochs") or []
    if state == "error":
        return f"live view stopped: {status.get('message', 'the worker failed')}"
    if state == "fitting":
        return f"live: fitting epoch {status.get('fitting')} ({len(epochs)} fitted)"
    if state == "fitted":
        took = status.get("fit_seconds")
        took = f" (last fit {took:.1f} s)" if isinstance(took, int | float) else ""
        return f"live: {len(epochs)} epochs fitted{took}, waiting for the next"
    if state == "stopped":
        return "live view stopped"
    return "live: waiting for the first epoch"
