"""The executors a long computation can run on: this process (None / "local") or Ray.

Ray is an optional extra (``pip install "dvi_widget[ray]"``), imported only here and only when
asked for; both the engine (``DVI.fit(run, executor="ray")``) and the data layer
(``Run.from_checkpoints(..., executor="ray")``) take their executor through this module.
"""

from __future__ import annotations

from typing import Any

#: the executors accepted
EXECUTORS = (None, "local", "ray")


def check_executor(executor: str | None, what: str) -> str | None:
    """``executor`` checked: None/"local" (this process) or "ray"; ``what`` says what Ray
    would run, for the error."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r}: choose None (this process) or 'ray' ({what})")
    return None if executor == "local" else executor


def import_ray() -> Any:  # noqa: ANN401 - the ray module
    """Ray, or an ImportError naming the extra that installs it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError("executor='ray' needs Ray: pip install 'dvi_widget[ray]' "
                          "(or pip install ray)") from err
    return ray
