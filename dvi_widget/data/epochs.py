"""Choosing which recorded epochs to fit: ``DVI.fit(run, epochs=every(5))``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class EveryNth:
    """Every ``n``-th recorded epoch from the first, and the last recorded one unless
    ``last=False`` (so playback ends on the final model). Build it with :func:`every`."""

    n: int
    last: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int | np.integer) or self.n < 1:
            raise ValueError(f"every(n): n must be a positive int, got {self.n!r}")

    def of(self, recorded: Sequence[int]) -> list[int]:
        """The chosen epochs among ``recorded`` (sorted epoch numbers)."""
        recorded = [int(e) for e in recorded]
        chosen = recorded[:: int(self.n)]
        if self.last and recorded and recorded[-1] not in chosen:
            chosen.append(recorded[-1])
        return chosen


def every(n: int, *, last: bool = True) -> EveryNth:
    """Fit every ``n``-th recorded epoch (and the last): ``DVI.fit(run, epochs=every(5))``.
    Only the chosen epochs are fitted and shown; the slider steps through them, says so, and
    interpolates nothing between them."""
    return EveryNth(n, last)
