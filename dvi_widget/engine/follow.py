"""The live view's worker: fit each epoch of a run that is still being trained, as it lands.

``python -m dvi_widget.engine.follow RUN OUT --params JSON --parent PID`` runs in its own process
(not the training process, not the kernel), at the idle priority where the OS has one (Linux's
``SCHED_IDLE``: it runs only on a core the training leaves free; elsewhere ``NICE``) and with its
torch and numba threads on one core fewer than the machine has (unless ``OMP_NUM_THREADS`` /
``NUMBA_NUM_THREADS`` say otherwise):
it polls the run folder; when new epochs are recorded (``Run.record`` writes an epoch folder
atomically, so a listed epoch is complete) it fits them one by one in order
(``DVI(**params).fit(run, epochs=...)`` up to each, which reuses every finished epoch and
warm-starts the new one from the previous, §5.4) and publishes each result as a saved
:class:`Visualization` under ``OUT/vis-<n>`` (written into a staged folder and renamed: a
reader never sees half of one), with ``OUT/status.json`` saying what it is doing and
``OUT/fits.jsonl`` when each fit started, ended and was published. It stops when ``OUT/stop``
appears or the parent process (the kernel) is gone. A crash is written to ``status.json`` with
its message and traceback before the worker exits, so the widget shows it. Killed mid-fit, it
leaves the epochs it finished saved in the run's ``dvi/`` folder (each one atomically) and
nothing of the one it was fitting; the next worker resumes from there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from .._io import staged_folder, write_json

#: seconds between two looks at the run folder
POLL_S = 0.2
#: published visualizations kept (older ones are removed once a newer one is out)
KEEP = 2
#: the worker's niceness where the OS has no idle scheduling class: on a busy machine the
#: training process comes first (the live view may lag, the training must not slow down)
NICE = 10


def _lower_priority() -> str:
    """Run this process (and the threads it starts later) only on otherwise idle cores.

    ``SCHED_IDLE`` (Linux): a CPU-bound training process is never preempted by the worker, which
    a niceness does not give (nice 10 still takes ~10 % of a shared core: measured +12.6 % on the
    training's epochs, ``benchmarks/bench_live.py``). Returns the policy that was applied.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    with contextlib.suppress(AttributeError, OSError):  # os.nice: POSIX only
        os.nice(NICE)
        return f"nice {NICE}"
    return "normal"


def _leave_a_core() -> None:
    """Compute on one core fewer than the machine has (torch's and numba's threads alike)."""
    spare = str(max(1, (os.cpu_count() or 2) - 1))
    # numba reads its thread count when first imported (pynndescent, UMAP): set it before
    os.environ.setdefault("NUMBA_NUM_THREADS", spare)
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, min(torch.get_num_threads(), int(spare))))


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
    priority = _lower_priority()
    _leave_a_core()
    fitted: list[int] = []
    serial = len(list(out.glob("vis-*")))
    _status(out, state="waiting", epochs=fitted, priority=priority)
    while True:
        if (out / "stop").exists() or not _alive(parent):
            _status(out, state="stopped", epochs=fitted)
            return
        run = Run.open(run_path)
        recorded = [int(e) for e in run.epochs]
        # one epoch at a time, in order, each published as soon as it is fitted (a fit of
        # several new epochs at once would show none of them until the last is done)
        for epoch in [e for e in recorded if e not in fitted]:
            if (out / "stop").exists() or not _alive(parent):
                break
            _status(out, state="fitting", epochs=fitted, fitting=epoch)
            t0 = time.time()
            dvi = DVI(**{**params, "verbose": False}).fit(
                run, epochs=[e for e in recorded if e <= epoch])
            t1 = time.time()
            serial += 1
            _publish(out, dvi.visualization(), serial)
            fitted = [int(e) for e in dvi.epochs_]
            # one line per fit: when it started, ended and was published (the lag's parts)
            with open(out / "fits.jsonl", "a") as log:
                log.write(json.dumps({"serial": serial, "epochs": fitted, "start": t0,
                                      "fitted": t1, "published": time.time()}) + "\n")
            _status(out, state="fitted", epochs=fitted, fit_seconds=round(t1 - t0, 2))
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
