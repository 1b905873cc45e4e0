"""Asking the model: the view's :class:`~dvi_widget.contract.Explaining` inspector and the checks
every explain tool makes on its arguments (sample index, epoch, class)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...contract import Explaining, Visualization

if TYPE_CHECKING:  # pragma: no cover
    from ..widget import Widget

NO_INSPECTOR = (
    "No model to ask: this view was built from arrays or loaded from disk, so perturbed inputs "
    "cannot be classified or projected. Show a fitted DVI instead, Widget(DVI().fit(run)), on a "
    "run recorded with run.record(model, epoch) (it keeps the weights and inputs)."
)
NOT_EXPLAINING = (
    "No model to ask: this view's inspector ({name}) answers no explanation requests (it does "
    "not implement dvi_widget.contract.Explaining)."
)


def explaining(vis: Visualization) -> Explaining:
    """The view's :class:`Explaining` inspector, or a ``ValueError`` saying what is missing."""
    ins = vis.inspector
    if ins is None:
        raise ValueError(NO_INSPECTOR)
    if not isinstance(ins, Explaining):
        raise ValueError(NOT_EXPLAINING.format(name=type(ins).__name__))
    return ins


def available(vis: Visualization) -> bool:
    """Whether the view can ask for explanations (the panel is shown by default then): an
    inspector that explains, and a model that answers (not a run recorded from arrays or
    from token ids: asked for the perturbation kinds, it says why not)."""
    if not isinstance(vis.inspector, Explaining):
        return False
    try:
        kinds(vis)
    except ValueError:
        return False
    return True


def kinds(vis: Visualization) -> dict[str, dict]:
    """The perturbation families and attacks the model answers (unit, identity, default range,
    steps, description)."""
    return explaining(vis).explain({"what": "kinds"})


def epoch_of(widget: Widget, epoch: Any) -> int:  # noqa: ANN401
    """``epoch`` (default: the shown one) as a recorded epoch number."""
    epoch = widget.epoch if epoch is None else int(epoch)
    widget.vis.epoch_index(epoch)  # a clear error for an epoch the view does not show
    return epoch


def sample_of(widget: Widget, index: Any) -> int:  # noqa: ANN401
    """``index`` as one sample index of the view."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"index must be one sample index (an int), got {index!r}")
    if not 0 <= int(index) < widget.n_samples:
        raise ValueError(f"index must lie in [0, {widget.n_samples}), got {index}")
    return int(index)


def class_of(vis: Visualization, value: int | str, what: str = "class") -> int:
    """A class id from an id or a class name."""
    names = list(vis.class_names)
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"{what} {value!r} is not one of the classes {names}")
        return names.index(value)
    if not 0 <= int(value) < len(names):
        raise ValueError(f"{what} must be a class name or an id in [0, {len(names)}), "
                         f"got {value!r}")
    return int(value)
