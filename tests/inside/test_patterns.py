"""Neural patterns (issue 22, item 4): mined sub-sequences against a brute-force count, and the
patterns of a recorded run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dvi_widget.data.run import Run
from dvi_widget.inside import mine, neural_patterns, recommend, sequences
from tests.inside.inside_run import recorded_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def brute_force(seq: np.ndarray, min_count: int, min_len: int = 2) -> dict[tuple, int]:
    """Every sub-sequence (layer positions in order, gaps allowed) of every row, counted over
    the rows that hold it, kept when frequent enough."""
    counts: dict[tuple, int] = {}
    L = seq.shape[1]
    for row in seq:
        for k in range(min_len, L + 1):
            for pos in itertools.combinations(range(L), k):
                key = tuple((j, int(row[j])) for j in pos)
                counts[key] = counts.get(key, 0) + 1
    return {k: c for k, c in counts.items() if c >= min_count}


def closed_only(found: dict[tuple, int]) -> dict[tuple, int]:
    return {k: c for k, c in found.items()
            if not any(c2 == c and set(k) < set(k2) for k2, c2 in found.items())}


HAND_MADE = np.array([
    [0, 1, 2, 3],
    [0, 1, 2, 0],
    [0, 1, 5, 3],
    [4, 1, 2, 3],
    [0, 2, 2, 3],
    [0, 1, 2, 3],
    [1, 1, 1, 1],
    [0, 1, 2, 3],
])


@pytest.mark.parametrize("min_support", [0.25, 0.375, 0.5])
def test_mined_patterns_and_supports_equal_a_brute_force_count(min_support):
    n = len(HAND_MADE)
    min_count = int(np.ceil(min_support * n - 1e-9))
    want = brute_force(HAND_MADE, min_count)
    got = mine(HAND_MADE, min_support=min_support, closed=False)
    assert dict(zip(got["items"], got["count"], strict=True)) == want
    np.testing.assert_allclose(got["support"], got["count"] / n)
    got_closed = mine(HAND_MADE, min_support=min_support)
    assert dict(zip(got_closed["items"], got_closed["count"], strict=True)) == closed_only(want)
    # e.g. units 0, 1, 2, 3 in the four layers: rows 0, 5, 7
    if min_support <= 0.375:
        assert want[((0, 0), (1, 1), (2, 2), (3, 3))] == 3


def test_random_sequences_against_brute_force():
    rng = np.random.default_rng(3)
    seq = rng.integers(0, 3, size=(200, 5))
    seq[:60, 1:4] = [2, 0, 1]  # a planted pattern
    got = mine(seq, min_support=0.08, closed=False)
    assert dict(zip(got["items"], got["count"], strict=True)) == brute_force(seq, 16)
    assert got.iloc[0]["count"] >= 60


def test_neural_patterns_of_a_recorded_run(tmp_path):
    run, model = recorded_run(tmp_path / "run")
    layers, seq, strength = sequences(run, 2)
    assert layers == ["0", "3", "6", "8"]
    x = torch.tensor(run.inputs("all"))
    with torch.no_grad():
        first = model[0](x).mean(dim=(2, 3))
        logits = model(x)
    np.testing.assert_array_equal(seq[:, 0], first.argmax(1).numpy())
    np.testing.assert_array_equal(seq[:, 3], logits.argmax(1).numpy())  # the prediction
    np.testing.assert_allclose(strength[:, 3], logits.max(1).values.numpy(), rtol=1e-5)
    df = neural_patterns(run, 2, min_support=0.1)
    assert len(df) > 0
    labels = run.labels("all")
    for row in df.itertuples():
        pos = [layers.index(la) for la in row.layers]
        hold = np.flatnonzero((seq[:, pos] == row.units).all(1))
        np.testing.assert_array_equal(row.samples, hold)
        assert row.count == len(hold) and row.support == pytest.approx(len(hold) / len(seq))
        names, counts = np.unique(np.asarray(run.class_names)[labels[hold]], return_counts=True)
        assert row.classes == dict(sorted(zip(names.tolist(), counts.tolist(), strict=True),
                                          key=lambda t: (-t[1], t[0])))
        assert set(row.top) <= set(hold) and len(row.top) == min(8, len(hold))
    # over a subset: counts among those samples only
    sub = np.arange(0, 90, 2)
    ds = neural_patterns(run, 2, sub, min_support=0.1)
    assert all(set(s) <= set(sub) for s in ds["samples"])
    # recommendations for one sample: the patterns holding it, most shared first
    rec = recommend(df, [int(df.iloc[0]["samples"][0])])
    assert len(rec) >= 1 and all(int(df.iloc[0]["samples"][0]) in s for s in rec["samples"])


def test_neural_patterns_name_what_is_missing(tmp_path):
    from dvi_widget.data.run.folder import ARCHITECTURE

    run, model = recorded_run(tmp_path / "run", epochs=1)
    for name in ARCHITECTURE:  # a run without its stored architecture (an older run)
        (run.path / name).unlink(missing_ok=True)
    reopened = Run.open(run.path)
    with pytest.raises(ValueError, match=r"Run\.open\(path, model=YourModel\(\)\)"):
        neural_patterns(reopened, 0)
    with pytest.raises(ValueError, match="epoch=5 is not recorded"):
        neural_patterns(run, 5)
    with pytest.raises(ValueError, match=r"min_support must be in \(0, 1\]"):
        mine(HAND_MADE, min_support=0)
