"""Past one machine: the per-epoch stages that do not depend on the previous epoch, on Ray.

``DVI(...).fit(run, executor="ray")`` reads each epoch and computes its boundary samples (§5.1)
and its complex (§5.2) as Ray tasks, submitted ahead of the sequential part (the warm-started
layout and φ/ψ training of §5.4, which needs epoch t − 1) so that they run while the fit of an
earlier epoch trains: a pipeline, not a home-made scheduler. Each task gets the epoch's own seed
(:meth:`Settings.seed`) and nothing else of the fit's state, so the result equals the
single-process fit with the same seeds.

Ray is an optional extra (``pip install "dvi_widget[ray]"``), imported only here and only when
asked for. The tasks open the run by its path: on one node the local disk is enough; on a
cluster every worker must see the run folder at the same path (a shared filesystem such as NFS,
or object storage mounted through fsspec/s3fs), and the driver writes the ``dvi/`` folder.
Tasks run on the workers' CPUs (the sequential part stays on the fit's device).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from .._executors import check_executor as _check_executor
from .._executors import import_ray
from .pipeline import EpochData, PreparedEpoch, Settings, Stages, prepare_epoch


def check_executor(executor: str | None) -> str | None:
    """``executor`` checked for :meth:`dvi_widget.DVI.fit`: None/"local" or "ray"."""
    return _check_executor(executor, "boundary samples and complexes as Ray tasks, pipelined "
                                     "ahead")


def _prepare(run: Any, epoch: int, settings: Settings, seed: int,  # noqa: ANN401 - a Run
             with_inputs: bool, stages: Stages) -> PreparedEpoch:
    """One Ray task: read epoch ``epoch`` and compute its boundary samples and complex on the
    worker's CPU, with one torch thread per task (Ray gives each task one CPU)."""
    torch.set_num_threads(1)
    data = EpochData.from_run(run, epoch, settings.device, with_inputs)
    return prepare_epoch(data, settings, seed=seed, stages=stages)


class RayPrefetch:
    """Epochs prepared as Ray tasks, at most ``window`` ahead of the one being fitted.

    ``get(epoch)`` waits for that epoch's task (submitting it and the next ones if needed) and
    returns its :class:`PreparedEpoch`; a failed task raises ``RuntimeError`` naming the epoch
    with the task's own error as its cause, before anything of that epoch is written.
    """

    def __init__(self, run: Any, epochs: Sequence[int], settings: Settings,  # noqa: ANN401
                 with_inputs: bool, stages: Stages, address: str | None = None,
                 window: int | None = None) -> None:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)
        self._epochs = [int(e) for e in epochs]
        cpu = dataclasses.replace(settings, device=torch.device("cpu"))
        self._args = (ray.put(run), cpu, with_inputs, stages)
        self._task = ray.remote(num_cpus=1)(_prepare)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._window = max(1, int(window) if window is not None else cpus)
        self._futures: dict[int, Any] = {}

    def _submit_from(self, epoch: int) -> None:
        start = self._epochs.index(epoch)
        for e in self._epochs[start : start + self._window]:
            if e not in self._futures:
                run_ref, cpu, with_inputs, stages = self._args
                self._futures[e] = self._task.remote(run_ref, e, cpu, cpu.seed(e), with_inputs,
                                                     stages)

    def get(self, epoch: int) -> PreparedEpoch:
        self._submit_from(epoch)
        try:
            # a copy: arrays from Ray's object store are read-only views, which torch refuses
            # to share
            return copy.deepcopy(self._ray.get(self._futures.pop(epoch)))
        except self._ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None) or err
            raise RuntimeError(f"epoch {epoch}: the Ray task preparing its boundary samples and "
                               f"complex failed: {type(cause).__name__}: {cause}") from cause

    def close(self) -> None:
        """Cancel what is still queued (an interrupted or failed fit)."""
        for future in self._futures.values():
            # a task that already finished cannot be cancelled: nothing to do then
            with contextlib.suppress(Exception):
                self._ray.cancel(future)
        self._futures.clear()
