"""The package's fixed subsets are independent of a user's draws from the same integer seed."""

from __future__ import annotations

import numpy as np
import pytest

from dvi_widget._random import subset_rng
from dvi_widget.data.run.inside import probe_indices
from dvi_widget.engine.deepview import DeepView


def flips(n: int, share: float, seed: int) -> np.ndarray:
    """A noisy-label experiment's flipped samples, drawn the usual way."""
    return np.random.default_rng(seed).choice(n, int(share * n), replace=False)


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_fixed_subsets_hold_flipped_samples_at_their_base_rate(seed: int) -> None:
    n = 10_000
    flipped = np.zeros(n, bool)
    flipped[flips(n, 0.1, seed)] = True
    # what a plain draw with the user's seed would take: the flipped samples themselves
    plain = np.random.default_rng(seed).choice(n, 1000, replace=False)
    assert flipped[plain].mean() == 1.0
    # the scored rows (METRIC_ROWS = 1000 per split), the label-issue voters, the probes
    for rows in (subset_rng(seed).choice(n, 1000, replace=False),
                 subset_rng(seed).choice(n, 5000, replace=False)):
        assert 0.07 < flipped[rows].mean() < 0.13
    if seed == 0:
        assert 0.06 < flipped[probe_indices(n)].mean() < 0.14  # 512 probes
    # DeepView's held-out rows (30 %): a third of the flips, not all of them
    fit_rows, held_rows = DeepView(random_state=seed)._rows(n)
    assert len(held_rows) == 3000
    assert 0.25 < flipped[held_rows].sum() / flipped.sum() < 0.35
    assert len(np.intersect1d(fit_rows, held_rows)) == 0
    # reproducible, and following the seed it is given
    assert np.array_equal(subset_rng(seed).permutation(50), subset_rng(seed).permutation(50))
    assert not np.array_equal(subset_rng(seed).permutation(50),
                              subset_rng(seed + 1).permutation(50))
