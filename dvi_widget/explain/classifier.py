"""The classifier of epoch t, rebuilt from a run: moved to :mod:`dvi_widget.data.run.model`.

Rebuilding a recorded epoch's model is the run's business (one place: ``data/run/model.py``);
reading stored inputs by sample index is the run folder's (:meth:`Run.inputs_at`). These names
stay importable from here for explain's modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.run.folder import check_indices
from ..data.run.model import RECORD_HINT, EpochClassifier, epoch_classifier

__all__ = ["RECORD_HINT", "EpochClassifier", "check_indices", "epoch_classifier", "inputs_at"]


def inputs_at(run: Any, indices: Sequence[int] | np.ndarray) -> np.ndarray:  # noqa: ANN401 - a Run
    """Stored inputs of global sample ``indices`` (train first, then test) as float32."""
    return run.inputs_at(indices)
