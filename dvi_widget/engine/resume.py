"""Which saved epochs a fit may reuse and ``DVI.load`` may open: the stale-fit policy.

A fitted epoch is reusable when its json in the fit folder (:mod:`dvi_widget.engine.store`)
carries the parameters' hash, the previous epoch it was warm-started from (and that epoch's
unit as it is saved now: an epoch that followed a since refitted one is stale), and the run's
fingerprint of the epoch as it is recorded now. ``DVI.load`` opens the longest chain of such
epochs that share the parameters of the newest fit (:meth:`FitStore.chain`); when the run was
re-recorded under it (an epoch recorded again with ``overwrite=True``, or deleted), ``on_stale``
says what happens (:data:`ON_STALE`).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .pipeline import FittedEpoch
from .store import FitStore, matches_run

#: what ``DVI.load`` does when the run was re-recorded under the fit
ON_STALE = ("error", "warn", "refit")


class StaleFitError(ValueError):
    """The run was re-recorded (or lost epochs) after the fit saved in it was made."""


def check_on_stale(on_stale: str) -> None:
    """Refuse an ``on_stale`` that is not one of :data:`ON_STALE`."""
    if on_stale not in ON_STALE:
        raise ValueError(f"on_stale must be one of {ON_STALE}, got {on_stale!r}")


def reuse(store: FitStore, epoch: int) -> FittedEpoch:
    """A finished epoch's json and arrays read back from the fit folder (V_t stays on disk)."""
    info = store.info(epoch)
    if info is None:
        raise FileNotFoundError(f"the json of fitted epoch {epoch} under {store.folder} "
                                "vanished; refit with DVI().fit(run)")
    return FittedEpoch(info=info, arrays=store.load_arrays(epoch))


@dataclass(frozen=True)
class SavedFit:
    """What the fit folder says about the newest fit in it."""

    #: its constructor parameters (as saved; unknown names of other versions dropped)
    params: dict[str, Any]
    #: every readable epoch json, by epoch
    infos: dict[int, dict[str, Any]]
    #: the frame json ({} when there is none)
    frame: dict[str, Any]


def saved_fit(store: FitStore, names: Collection[str]) -> SavedFit:
    """The newest fit of the folder: the parameters the frame was rendered with (else those of
    the newest epoch), restricted to ``names`` (the estimator's parameters)."""
    infos = store.infos()
    if not infos:
        raise FileNotFoundError(f"no fitted DVI epochs under {store.folder}; call "
                                "DVI().fit(run) first")
    frame = store.load_frame()
    newest = infos[max(infos)]
    target = frame.get("params_hash", newest["params_hash"])
    params = next((i["params"] for i in infos.values() if i["params_hash"] == target),
                  newest["params"])
    params = {k: v for k, v in params.items() if k in names}  # older versions' too
    if isinstance(params.get("lambdas"), list):
        params["lambdas"] = tuple(params["lambdas"])
    return SavedFit(params=params, infos=infos, frame=frame)


def epochs_to_load(store: FitStore, saved: SavedFit, params_hash: str, run: Any,  # noqa: ANN401
                   on_stale: str) -> tuple[list[int], bool]:
    """``(epochs, refit)``: the chain of fitted epochs to open and whether to refit them.

    The chain is the longest run of epochs fitted with ``params_hash``, each after the one
    before it, in the frame's epochs. Epochs the run re-recorded (or lost) since: ``on_stale=
    "error"`` raises :class:`StaleFitError`; ``"warn"`` warns and keeps the epochs before the
    first changed one; ``"refit"`` warns and returns the chain's epochs still recorded, to be
    refitted (resume keeps the unchanged ones).
    """
    check_on_stale(on_stale)
    wanted = saved.frame.get("epochs") or sorted(
        e for e, i in saved.infos.items() if i["params_hash"] == params_hash)
    chain = store.chain(params_hash, wanted)
    if not chain:
        raise FileNotFoundError(f"no consistent chain of fitted epochs under {store.folder} "
                                "(fitted by another version of dvi_widget?); refit with "
                                "DVI().fit(run)")
    stale = [e for e in chain if not matches_run(saved.infos[e], run)]
    if not stale:
        return chain, False
    gone = [e for e in stale if e not in run.epochs]
    what = (f"epoch(s) {stale} of {run.path} changed since they were fitted"
            + (f" ({gone} no longer recorded)" if gone else ""))
    if on_stale == "refit":
        warnings.warn(f"{what}; refitting from epoch {stale[0]}.", stacklevel=3)
        return [e for e in chain if e in run.epochs], True
    if on_stale == "error":
        raise StaleFitError(
            f"{what}: the saved fit no longer shows this run. Refit with "
            "DVI.load(run, on_stale='refit') or DVI(...).fit(run) (resume keeps the "
            f"epochs before {stale[0]}), or load the epochs before it with on_stale='warn'.")
    chain = chain[: chain.index(stale[0])]
    warnings.warn(f"{what}; loaded only the epochs fitted before it: {chain}. Refit "
                  "with DVI.load(run, on_stale='refit').", stacklevel=3)
    if not chain:
        raise StaleFitError(f"{what}, and no epoch fitted before it remains; refit with "
                            "DVI(...).fit(run).")
    return chain, False
