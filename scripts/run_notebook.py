"""Execute a notebook top to bottom with nbclient and save the executed copy.

Usage: python scripts/run_notebook.py NOTEBOOK [--out DIR] [--small] [--timeout SECONDS]

The notebook runs with its own folder as working directory and with ``DVI_OUT_DIR`` set to the
output folder (where notebooks write runs and HTML files); ``--small`` sets
``DVI_NOTEBOOK_SMALL=1`` (reduced sizes, as the tests use). Cells tagged ``engine`` need
``dvi_widget.engine.fit`` and cells tagged ``widget`` need ``dvi_widget.view.widget`` plus the built
front end: when those are not available yet, the notebook is executed up to the first such cell
and the script says so. Prints the path of the executed notebook.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]


def missing_parts() -> dict[str, str]:
    """Which optional parts of the package are not there yet (tag -> reason)."""
    missing = {}
    if importlib.util.find_spec("dvi_widget.engine.fit") is None:
        missing["engine"] = "dvi_widget/engine/fit.py (the DVI engine) does not exist yet"
    if importlib.util.find_spec("dvi_widget.view.widget") is None:
        missing["widget"] = "dvi_widget/view/widget.py does not exist yet"
    elif not (ROOT / "dvi_widget" / "static" / "widget.js").exists():
        missing["widget"] = "the front-end bundle dvi_widget/static/widget.js is not built"
    if "engine" in missing:
        missing.setdefault("widget", "the widget needs the engine's Visualization")
    return missing


def truncate_at_missing(nb: nbformat.NotebookNode, missing: dict[str, str]) -> list[str]:
    """Drop every cell from the first one tagged with a missing part; return the reasons."""
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        hit = sorted(tags & set(missing))
        if hit:
            nb.cells = nb.cells[:i]
            return [missing[t] for t in hit]
    return []


def _encrypted() -> Config:
    """The kernel's sockets encrypted (CurveZMQ) where pyzmq and the kernelspec support it:
    ipykernel >= 7.3 warns on every start over plain TCP ("susceptible to eavesdropping")."""
    import zmq

    return Config({"KernelManager": {"transport_encryption": "auto"}} if zmq.has("curve")
                  else {})


def execute(notebook: Path, out_dir: Path, *, small: bool = False, timeout: int = 1200,
            allow_partial: bool = True) -> Path:
    """Execute ``notebook``; write ``out_dir/<name>``; return that path."""
    notebook = notebook.resolve()
    if not notebook.exists():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    if allow_partial:
        reasons = truncate_at_missing(nb, missing_parts())
        for reason in reasons:
            print(f"note: {notebook.name} stops early because {reason}", file=sys.stderr)
    env = {**os.environ, "DVI_OUT_DIR": str(out_dir)}  # for the kernel only
    if small:
        env["DVI_NOTEBOOK_SMALL"] = "1"
    target = out_dir / notebook.name
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=_encrypted(),
                            resources={"metadata": {"path": str(notebook.parent)}})
    t0 = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, target)
        print(f"executed {notebook.name} in {time.perf_counter() - t0:.0f} s -> {target}",
              file=sys.stderr)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--small", action="store_true", help="set DVI_NOTEBOOK_SMALL=1")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args()
    print(execute(args.notebook, args.out, small=args.small, timeout=args.timeout))


if __name__ == "__main__":
    main()
