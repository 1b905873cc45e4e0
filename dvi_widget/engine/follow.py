"""The live view's worker: fit each epoch of a run that is still being trained, as it lands.

``python -m dvi_widget.engine.follow RUN OUT --params JSON --parent PID`` runs in its own process
(not the training process, not the kernel): it polls the run folder; when a new epoch is
recorded (``Run.record`` writes an epoch folder atomically, so a listed epoch is complete) it
calls ``DVI(**params).fit(run)``, which reuses every finished epoch and warm-starts the new one
from the previous (§5.4), and publishes the result as a saved :class:`Visualization` under
``OUT/vis-<n>`` (written into a staged folder and renamed: a reader never sees half of one),
with ``OUT/status.json`` saying what it is doing. It stops when ``OUT/stop`` appears or the
parent process (the kernel) is gone. A crash is written to ``status.json`` with its message
and traceback before the worker exits, so the widget shows it. Killed mid-fit, it leaves the
epochs it finished saved in the run's ``dvi/`` folder (each one atomically) and nothing of the
one it was fitting; the next worker resumes from there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from .._io import staged_folder, write_json

#: seconds between two looks at the run folder
POLL_S = 0.5
#: published visualizations kept (older ones are removed once a newer one is out)
KEEP = 2


def _alive(pid: int | None) -> bool:
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _status(out: Path, **fields: Any) -> None:  # noqa: ANN401
    write_json(out / "status.json", {"time": time.time(), "pid": os.getpid(), **fields})


def _publish(out: Path, vis: Any, serial: int) -> None:  # noqa: ANN401 - a Visualization
    target = out / f"vis-{serial:06d}"
    with staged_folder(target) as tmp:
        vis.save(tmp)
    for old in sorted(out.glob("vis-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def follow(run_path: Path, out: Path, params: dict[str, Any], parent: int | None = None,
           once: bool = False) -> None:
    """The worker's loop (see the module docstring); ``once``: fit what is there and return."""
    from ..data.run import Run
    from .fit import DVI

    out.mkdir(parents=True, exist_ok=True)
    fitted: list[int] = []
    serial = len(list(out.glob("vis-*")))
    _status(out, state="waiting", epochs=fitted)
    while True:
        if (out / "stop").exists() or not _alive(parent):
            _status(out, state="stopped", epochs=fitted)
            return
        run = Run.open(run_path)
        recorded = [int(e) for e in run.epochs]
        if recorded and recorded != fitted:
            _status(out, state="fitting", epochs=fitted, fitting=recorded[-1])
            dvi = DVI(**{**params, "verbose": False}).fit(run)
            serial += 1
            _publish(out, dvi.visualization(), serial)
            fitted = [int(e) for e in dvi.epochs_]
            _status(out, state="fitted", epochs=fitted)
        if once:
            return
        time.sleep(POLL_S)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dvi_widget.engine.follow",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--params", default="{}", help="DVI parameters as JSON")
    ap.add_argument("--parent", type=int, default=None, help="stop when this process is gone")
    a = ap.parse_args(argv)
    try:
        follow(a.run, a.out, json.loads(a.params), a.parent)
    except KeyboardInterrupt:
        _status(a.out, state="stopped")
    except BaseException as err:  # noqa: BLE001 - every crash is shown in the widget
        _status(a.out, state="error", message=f"{type(err).__name__}: {err}",
                traceback=traceback.format_exc()[-4000:])
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
