"""A minimal widget "kernel" for browser tests and benchmarks: a real :class:`Widget` in this
process, its comm replaced by one that queues messages for a browser page over HTTP.

The page (``tests/browser/kernel.html`` with ``comm.mjs``) fetches the widget's state as the
comm_open message carries it, sends ``update`` and ``custom`` messages the way the ipywidgets
front end does (``POST /msg``; ipywidgets' own ``Widget._handle_msg`` handles them), and
long-polls ``GET /poll`` for what the kernel sends back. A test can run Python in the "kernel"
with ``POST /eval`` (``{"code": ...}``; the value of ``result`` comes back as JSON) to compare
what the browser shows with what Python computes. It also serves the repository's files.

What a latency measured through it covers: the front end's work, one HTTP round trip on
127.0.0.1 (instead of JupyterLab's websocket and the kernel's ZMQ sockets) and the kernel-side
handler (ipywidgets message handling, the panel handler, the inspector's computation).

Usage: python tests/browser/kernel_harness.py [--fixture full|plain|bench] [--n N] [--t T]
Prints ``PORT <port>`` once it listens, after ``PAYLOAD <bytes> <seconds>``: the size of the
widget's comm_open message (its state as JSON plus its binary buffers, as a kernel sends them) and
the time ``Widget(vis)`` took to make it; stops on stdin EOF or SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import mimetypes
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import comm
import numpy as np
from comm.base_comm import BaseComm

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # the dvi_widget of this checkout, not whichever is installed

OUTBOX: list[dict] = []
CHANGED = threading.Condition()
#: print each message from the page, when it was handled and how long it took
TRACE = bool(os.environ.get("DVI_HARNESS_TRACE"))
KERNEL = threading.Lock()
#: the next message number (comm.mjs numbers the messages it sends) and its condition
SEQ = [0]
IN_ORDER = threading.Condition()  # one message at a time, as a kernel's main thread


class HarnessComm(BaseComm):
    """Queues every message the widget publishes for the page's /poll."""

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,  # noqa: ANN401
                    buffers: Any = None, **keys: Any) -> None:  # noqa: ANN401
        with CHANGED:
            OUTBOX.append({"msg_type": msg_type, "data": data, "comm_id": self.comm_id,
                           "buffers": [base64.b64encode(bytes(b)).decode("ascii")
                                       for b in buffers or []]})
            CHANGED.notify_all()


comm.create_comm = lambda *args, **kwargs: HarnessComm(*args, **kwargs)


def build_widget(fixture: str, n: int, t: int) -> tuple[Any, Any]:  # noqa: ANN401
    import panels_fixture

    from dvi_widget.view.widget import Widget

    vis = bench_visualization(n, t) if fixture == "bench" else panels_fixture.build(fixture)
    extra = {}
    if fixture == "full":  # training dynamics and a review queue whose marks go to a temp run
        import tempfile

        extra = {"dynamics": panels_fixture.dynamics(vis),
                 "review": tempfile.mkdtemp(prefix="dvi-review-")}
    t0 = time.perf_counter()
    widget = Widget(vis, transition_ms=0 if fixture != "bench" else 400, **extra)
    opened = next(m for m in OUTBOX if m["msg_type"] == "comm_open"
                  and m["comm_id"] == widget.comm.comm_id)
    size = len(json.dumps(opened["data"]).encode()) + sum(
        len(base64.b64decode(b)) for b in opened["buffers"])
    print(f"PAYLOAD {size} {time.perf_counter() - t0:.2f}", flush=True)
    return widget, vis


def bench_visualization(n: int, t: int) -> Any:  # noqa: ANN401
    """60,000 x 20 like benchmarks/bench_widget.mjs: clustered classes, 28 x 28 images, the
    closed-form inspector of the panels fixture (ψ_t of a fitted run costs ~1 ms more:
    benchmarks/bench_inspect.py)."""
    import pandas as pd
    import panels_fixture as pf

    from dvi_widget.contract import Visualization

    rng = np.random.default_rng(0)
    labels = np.arange(n) % pf.C
    coords = np.stack([pf.centers(e)[labels] + rng.normal(scale=0.35, size=(n, 2))
                       for e in range(t)]).astype(np.float32)
    preds = np.where(rng.random((t, n)) < 0.1, (labels + 1) % pf.C, labels)
    conf = rng.uniform(0.4, 1, (t, n)).astype(np.float32)
    land = rng.integers(0, 256, (t, 256, 256, 4), dtype=np.uint8)
    land[..., 3] = 255
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    epochs = np.arange(t)
    events = pf.flip_events(epochs, preds, labels, np.full(n, "train"))
    scalars = pd.DataFrame({"train_loss": np.linspace(1, 0.3, t),
                            "train_accuracy": np.linspace(0.5, 0.9, t)},
                           index=pd.Index(epochs, name="epoch"))
    return Visualization.from_arrays(
        coords=coords, labels=labels, predictions=preds, confidence=conf, landscape=land,
        extent=pf.EXTENT, epochs=epochs, split=np.where(np.arange(n) < n - n // 7, "train",
                                                       "test"),
        class_names=pf.NAMES, images=imgs, scalars=scalars,
        inspector=pf.FakeInspector(epochs, coords, imgs, events))


def _jsonable(value: Any) -> Any:  # noqa: ANN401
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return {"__frame__": True, "columns": list(map(str, value.columns)),
                "index": _jsonable(value.index.tolist()),
                "data": _jsonable(value.to_numpy(dtype=object).tolist())}
    if isinstance(value, pd.Series):
        return _jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


def serve(widget: Any, vis: Any) -> ThreadingHTTPServer:  # noqa: ANN401
    opened = next(m for m in OUTBOX if m["msg_type"] == "comm_open"
                  and m["comm_id"] == widget.comm.comm_id)
    namespace = {"w": widget, "vis": vis, "np": np}
    exec("import panels_fixture as fixture\nfrom dvi_widget.view import explore",  # noqa: S102
         namespace)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # noqa: ANN401
            pass

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            try:
                self.send_response(code)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page went away (a long poll of a closed page)

        def _json(self, value: Any) -> None:  # noqa: ANN401
            self._send(200, json.dumps(value).encode())

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            if url.path == "/state":  # the buffers come one by one from /buffer/<k>, binary
                data = opened["data"]
                self._json({"state": data["state"], "buffer_paths": data["buffer_paths"],
                            "buffer_count": len(opened["buffers"])})
                return
            if url.path.startswith("/buffer/"):
                k = int(url.path.rsplit("/", 1)[1])
                self._send(200, base64.b64decode(opened["buffers"][k]), "application/octet-stream")
                return
            if url.path == "/poll":
                since = int(parse_qs(url.query).get("since", ["0"])[0])
                with CHANGED:
                    CHANGED.wait_for(lambda: len(OUTBOX) > since, timeout=10)
                    msgs = OUTBOX[since:]
                mine = [m for m in msgs if m["comm_id"] == widget.comm.comm_id]
                self._json({"next": since + len(msgs), "messages": mine})
                return
            file = (ROOT / url.path.lstrip("/")).resolve()
            if not str(file).startswith(str(ROOT)) or not file.is_file():
                self._send(404, b"not found", "text/plain")
                return
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if file.suffix in (".js", ".mjs"):
                kind = "text/javascript"
            self._send(200, file.read_bytes(), kind)

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])) or b"{}")
            url = urlparse(self.path)
            seq = self.headers.get("X-Seq")
            try:
                with IN_ORDER if seq is not None else contextlib.nullcontext():
                    # the page sends without waiting for answers: handle its messages in the
                    # order it numbered them, as a kernel reads a websocket's
                    if seq is not None:
                        IN_ORDER.wait_for(lambda: SEQ[0] >= int(seq), timeout=30)
                self._handle(url, body)
            finally:
                if seq is not None:
                    with IN_ORDER:
                        SEQ[0] = max(SEQ[0], int(seq) + 1)
                        IN_ORDER.notify_all()

        def _handle(self, url: Any, body: dict) -> None:  # noqa: ANN401 - a parsed URL
            try:
                with KERNEL:
                    if url.path == "/msg":
                        t0 = time.perf_counter()
                        widget.comm.handle_msg({
                            "content": {"data": body["data"]},
                            "buffers": [memoryview(base64.b64decode(b))
                                        for b in body.get("buffers", [])]})
                        if TRACE:
                            data = body["data"]
                            what = data.get("method"), sorted(data.get("state", {}))[:4], \
                                str(data.get("content", ""))[:60]
                            print(f"TRACE {time.time() * 1000:.0f} msg {what} handled in "
                                  f"{(time.perf_counter() - t0) * 1000:.0f} ms", flush=True)
                        self._json({"ok": True, "outbox": len(OUTBOX)})
                    elif url.path == "/eval":
                        namespace.pop("result", None)
                        exec(body["code"], namespace)  # noqa: S102 - test harness on 127.0.0.1
                        self._json({"result": _jsonable(namespace.get("result"))})
                    else:
                        self._send(404, b"not found", "text/plain")
            except Exception:  # noqa: BLE001 - the test prints it
                self._send(500, traceback.format_exc().encode(), "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixture", default="full", choices=["full", "plain", "bench"])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--t", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    widget, vis = build_widget(args.fixture, args.n, args.t)
    server = serve(widget, vis)
    print(f"PORT {server.server_address[1]} (built in {time.perf_counter() - t0:.1f} s)",
          flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # the parent closes stdin (or dies) to stop us
    server.shutdown()


if __name__ == "__main__":
    main()
