"""Training dynamics against hand computations on a hand-made logits array."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dvi_widget.data.dynamics import MEASURES, compute_dynamics, dynamics_from_run

# three classes, five recorded epochs (numbers 0, 2, 4, 6, 8), four samples, given labels below.
# Logit rows: a "right" record puts 2 on the given label, a "wrong" one puts 2 on another class.
EPOCHS = [0, 2, 4, 6, 8]
LABELS = np.array([0, 1, 2, 0])
R0, R1, R2 = [2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]
LOGITS = np.array([
    # sample 0 (label 0): wrong, right, wrong, right, wrong -> learned at 2, forgotten twice
    # sample 1 (label 1): never right (predicted 0 throughout) -> never learned: forgetting inf
    # sample 2 (label 2): right throughout -> learned at 0, never forgotten
    # sample 3 (label 0): margins 1, -1, 3, 0.5, 2 (hand-picked logits, see below)
    [R1, R0, R2, [1.0, 0.0, 0.0]],
    [R0, R0, R2, [0.0, 1.0, 0.0]],
    [R1, R0, R2, [3.0, 0.0, 0.0]],
    [R0, R0, R2, [1.5, 1.0, 0.0]],
    [R2, R0, R2, [2.0, 0.0, 0.0]],
])


def softmax(row: list[float]) -> np.ndarray:
    e = np.exp(np.asarray(row, dtype=np.float64))
    return e / e.sum()


def test_hand_computed_measures_at_every_epoch() -> None:
    d = compute_dynamics(LOGITS, LABELS, EPOCHS)
    p_right, p_wrong = softmax([2, 0, 0])[0], softmax([2, 0, 0])[1]  # e²/(e²+2), 1/(e²+2)
    assert p_right == pytest.approx(math.e**2 / (math.e**2 + 2))

    # sample 0: right/wrong pattern F T F T F
    ps = np.array([p_wrong, p_right, p_wrong, p_right, p_wrong])
    for t in range(5):
        assert d.mean_confidence[t, 0] == pytest.approx(ps[: t + 1].mean(), rel=1e-6)
        assert d.variability[t, 0] == pytest.approx(ps[: t + 1].std(), rel=1e-5, abs=1e-7)
    assert d.correctness[:, 0].tolist() == pytest.approx([0, 1 / 2, 1 / 3, 2 / 4, 2 / 5])
    assert d.forgetting[:, 0].tolist() == [math.inf, 0, 1, 1, 2]  # forgotten twice
    assert np.isnan(d.first_learned[0, 0]) and d.first_learned[1:, 0].tolist() == [2, 2, 2, 2]
    assert np.isnan(d.last_flipped[0, 0]) and d.last_flipped[1:, 0].tolist() == [2, 4, 6, 8]
    # margin: given logit minus the largest other: -2 when wrong, +2 when right
    assert d.aum[:, 0].tolist() == pytest.approx([-2, 0, -2 / 3, 0, -2 / 5])

    # sample 1: never learned
    assert d.forgetting[:, 1].tolist() == [math.inf] * 5
    assert np.isnan(d.first_learned[:, 1]).all() and np.isnan(d.last_flipped[:, 1]).all()
    assert d.correctness[:, 1].tolist() == [0] * 5
    assert d.aum[:, 1].tolist() == pytest.approx([-2] * 5)
    assert d.mean_confidence[:, 1] == pytest.approx([p_wrong] * 5)
    assert d.variability[:, 1] == pytest.approx([0] * 5, abs=1e-6)

    # sample 2: easy
    assert d.forgetting[:, 2].tolist() == [0] * 5
    assert d.first_learned[:, 2].tolist() == [0] * 5
    assert np.isnan(d.last_flipped[:, 2]).all()
    assert d.aum[:, 2].tolist() == pytest.approx([2] * 5)
    assert d.correctness[:, 2].tolist() == [1] * 5

    # sample 3: margins 1, -1 (1 vs 0 -> label 0 has 0, other has 1), 3, 0.5, 2
    margins = np.array([1.0, -1.0, 3.0, 0.5, 2.0])
    assert d.aum[:, 3] == pytest.approx(np.cumsum(margins) / np.arange(1, 6))
    assert d.forgetting[:, 3].tolist() == [0, 1, 1, 1, 1]
    assert np.isnan(d.last_flipped[0, 3]) and d.last_flipped[1:, 3].tolist() == [2, 4, 4, 4]


def test_measures_up_to_t_use_only_epochs_up_to_t() -> None:
    """Changing the records after epoch t leaves every measure at t unchanged."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 50, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    full = compute_dynamics(logits, labels)
    for t in range(6):
        later = logits.copy()
        later[t + 1:] = rng.normal(size=later[t + 1:].shape) * 5
        cut = compute_dynamics(logits[: t + 1], labels)
        other = compute_dynamics(later, labels)
        for name in MEASURES:
            np.testing.assert_array_equal(full.measure(name)[t], cut.measure(name)[t], name)
            np.testing.assert_array_equal(full.measure(name)[t], other.measure(name)[t], name)


def test_frame_columns_and_errors() -> None:
    d = compute_dynamics(LOGITS, LABELS, EPOCHS)
    df = d.frame(4)
    assert list(df.columns) == list(MEASURES)
    assert df.attrs["epochs"] == [0, 2, 4] and "evaluation pass" in df.attrs["source"]
    assert df["forgetting"].tolist() == [1, math.inf, 0, 1]
    # a view epoch between two records takes the last record before it
    cols = d.columns([1, 4, 9])
    assert cols["aum"].shape == (3, 4)
    np.testing.assert_array_equal(cols["aum"][0], d.aum[0])
    np.testing.assert_array_equal(cols["aum"][2], d.aum[4])
    with pytest.raises(ValueError, match="was not recorded"):
        d.frame(3)
    with pytest.raises(ValueError, match="labels must be N=4"):
        compute_dynamics(LOGITS, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="increasing"):
        compute_dynamics(LOGITS, LABELS, [0, 2, 2, 4, 6])
    bad = LOGITS.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf \(epoch rows \[3\]\)"):
        compute_dynamics(bad, LABELS)


def test_from_run_reads_every_recorded_epoch(tmp_path) -> None:  # noqa: ANN001
    from dvi_widget.data.run import Run

    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    run = Run.create(tmp_path / "run", train=(x, LABELS), class_names=["a", "b", "c"])
    for e, lg in zip(EPOCHS, LOGITS, strict=True):
        run.record_arrays(e, representations=x + e, logits=lg.astype(np.float32))
    d = dynamics_from_run(Run.open(tmp_path / "run"), "train")
    assert d.epochs.tolist() == EPOCHS
    assert d.forgetting[:, 0].tolist() == [math.inf, 0, 1, 1, 2]
    # the representations of an epoch, read when asked (the label-issue neighbours method)
    np.testing.assert_array_equal(d.representations(4), x + 4)


def test_joined_rows_read_only_the_rows_asked(tmp_path) -> None:  # noqa: ANN001
    from dvi_widget.data.dynamics import JoinedRows
    from dvi_widget.data.run import Run

    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    b = 100 + np.arange(6, dtype=np.float32).reshape(2, 3)
    j = JoinedRows([a, b])
    both = np.concatenate([a, b])
    assert len(j) == 6 and j.shape == (6, 3) and j.dtype == np.float32
    np.testing.assert_array_equal(j[np.array([5, 0, 4, 3])], both[[5, 0, 4, 3]])
    np.testing.assert_array_equal(j[2:5], both[2:5])
    np.testing.assert_array_equal(j[np.array([-1])], both[[-1]])
    np.testing.assert_array_equal(np.asarray(j), both)
    assert j[np.array([], dtype=np.int64)].shape == (0, 3)
    with pytest.raises(IndexError, match="out of range for 6 rows"):
        j[np.array([6])]
    with pytest.raises(ValueError, match="different row shapes"):
        JoinedRows([a, b[:, :2]])
    # a run's train and test memmaps, joined for split "all" in the view's order
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    xt = x[:2] + 10
    run = Run.create(tmp_path / "run", train=(x, LABELS), test=(xt, LABELS[:2]),
                     class_names=["a", "b", "c"])
    for e, lg in zip(EPOCHS, LOGITS, strict=True):
        lgt = lg.astype(np.float32)
        run.record_arrays(e, representations=(x + e, xt + e), logits=(lgt, lgt[:2]))
    d = dynamics_from_run(Run.open(tmp_path / "run"))
    reps = d.representations(6)
    assert isinstance(reps, JoinedRows) and reps.shape == (6, 3)
    np.testing.assert_array_equal(reps[np.array([5, 1])], np.stack([xt[1] + 6, x[1] + 6]))
