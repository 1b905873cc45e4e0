"""Widget round trip of a what-if path in a real JupyterLab 4 with a real kernel (issue 14: target
<= 300 ms for kernel compute + transfer + draw).

What the number covers: from the panel's ``model.send`` of a path request (the "Show path" click,
32 rotations of one image, epoch 2 of a small CNN, a DVI fitted on that epoch) until the answer
(positions, predictions, confidence, strengths as binary buffers) has been decoded, the overlay
drawn and the next animation frame begun (js/src/whatif.js sets ``data-whatif-round-trip-ms``).
It includes the kernel's compute (reported separately, measured in the handler), the comm both
ways through the Jupyter server's websocket, and the draw; it excludes the click's own event
dispatch. Headless chromium (SwiftShader) and the kernel share this machine's cores.

Run: .venv/bin/python benchmarks/bench_whatif_widget.py [repeats] [digits|fashion]
(about a minute with digits: 8x8 images; several with fashion: 2,500 28x28 Fashion-MNIST images)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):  # noqa: ANN202 - a module from tests/browser
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "browser" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(repeats: int = 11, dataset: str = "digits") -> None:
    server = _load("jupyter_server")
    notebook = _load("whatif_notebook")
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
    shot = ROOT / "out" / f"whatif-jupyterlab-{dataset}.png"
    shot.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "nb").mkdir()
        notebook.write(tmp / "nb" / "whatif.ipynb", dataset)
        with server.jupyter(tmp / "nb", tmp) as (base, token):
            proc = subprocess.run(
                ["node", str(ROOT / "tests" / "browser" / "jupyter_whatif.mjs"), base, token,
                 "whatif.ipynb", str(repeats), str(shot)],
                cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(proc.stdout)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(proc.returncode)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    trips, comp = r["roundTrips"], r["computes"]
    print(f"what-if path round trip ({dataset}: 32 rotations, JupyterLab, real kernel), "
          f"{len(trips)} runs:")
    print(f"  median {r['medianRoundTrip']:.0f} ms (min {min(trips):.0f}, max {max(trips):.0f});"
          f" of which kernel compute median {r['medianCompute']:.0f} ms")
    print(f"  the rest (comm both ways + decode + draw + a frame): median "
          f"{sorted(t - c for t, c in zip(trips, comp, strict=True))[len(trips) // 2]:.0f} ms")
    print(f"  checked {r['checked']} of {r['points']} path points against the kernel's positions"
          f" and colours; screenshot {shot}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11,
         sys.argv[2] if len(sys.argv) > 2 else "digits")
