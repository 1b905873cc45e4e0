"""find_events on hand-made arrays whose events are known exactly."""

import numpy as np
import pandas as pd
import pytest

from dvi_widget.engine.events import COLUMNS, KINDS, find_events

C, N = 3, 8
EXTENT = (0.0, 10.0, 0.0, 10.0)


def _logits(pred, conf):
    """Logits whose softmax puts ``conf`` on ``pred`` and splits the rest evenly."""
    pred, conf = np.asarray(pred), np.asarray(conf, np.float64)
    p = np.repeat(((1 - conf) / (C - 1))[:, None], C, axis=1)
    p[np.arange(len(pred)), pred] = conf
    return np.log(p).astype(np.float32)


@pytest.fixture
def arrays():
    base = np.arange(N) % C
    preds = [base.copy(), base.copy(), base.copy()]
    preds[1][[1, 4]] = (base[[1, 4]] + 1) % C      # samples 1 and 4 flip at epoch 10
    preds[2][[1, 4]] = preds[1][[1, 4]]
    preds[2][6] = (base[6] + 2) % C                # sample 6 flips at epoch 20
    conf = [np.full(N, 0.9), np.full(N, 0.9), np.full(N, 0.9)]
    conf[1][2] = 0.5                               # sample 2: -0.4 at epoch 10, +0.4 at 20
    logits = [_logits(p, c) for p, c in zip(preds, conf, strict=True)]
    coords = np.zeros((3, N, 2), np.float32) + np.arange(N, dtype=np.float32)[None, :, None]
    coords[1, 3] += [3.0, 4.0]                     # sample 3 moves 5 = half the frame side
    coords[2, 3] = coords[1, 3]
    coords[2, 5] += [0.5, 0.0]                     # sample 5 moves 0.5 (5 % of the side)
    cells = np.zeros((3, N), np.int64)
    cells[2, 7] = 2                                # the boundary passes over sample 7
    cells[1, 0] = -1                               # sample 0 leaves the frame: no event
    k = 2
    knn0 = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])   # 6 training samples
    knn1 = knn0.copy()
    knn1[0] = [3, 4]                               # sample 0: both neighbours replaced
    knn1[1] = [0, 3]                               # sample 1: half replaced
    return dict(epochs=[0, 10, 20], logits=logits, coords=coords, extent=EXTENT,
                labels=base, split=np.array(["train"] * 6 + ["test"] * 2, object),
                cells=cells, knn=[knn0, knn1, knn1], k=k)


def _rows(df, kind):
    return {(int(e), int(s)) for e, s in df.loc[df.kind == kind, ["epoch", "sample"]].values}


def test_flips_are_exactly_the_changed_predictions(arrays):
    k = arrays.pop("k")
    assert k == 2
    df = find_events(**arrays)
    assert list(df.columns) == list(COLUMNS)
    assert _rows(df, "flip") == {(10, 1), (10, 4), (20, 6)}
    flip = df[(df.kind == "flip") & (df["sample"] == 6)].iloc[0]
    p1 = np.exp(arrays["logits"][1][6]) / np.exp(arrays["logits"][1][6]).sum()
    p2 = np.exp(arrays["logits"][2][6]) / np.exp(arrays["logits"][2][6]).sum()
    assert flip["size"] == pytest.approx(0.5 * np.abs(p2 - p1).sum(), abs=1e-6)
    assert flip["size"] == pytest.approx(0.85, abs=1e-6)   # 0.9 moved from one class to another
    assert (flip["prediction_before"], flip["prediction"]) == (0, 2)
    assert flip["previous_epoch"] == 10 and flip["split"] == "test" and flip["label"] == 0


def test_confidence_move_neighborhood_and_boundary(arrays):
    arrays.pop("k")
    df = find_events(**arrays)
    conf = df[df.kind == "confidence"]
    assert _rows(df, "confidence") == {(10, 2), (20, 2)}
    assert sorted(conf["size"].round(6)) == [-0.4, 0.4]
    assert _rows(df, "move") == {(10, 3)}           # 0.05 of the side is below the 0.1 default
    assert df.loc[df.kind == "move", "size"].item() == pytest.approx(0.5)
    assert _rows(df, "neighborhood") == {(10, 0), (10, 1)}
    sizes = df[df.kind == "neighborhood"].set_index("sample")["size"]
    assert sizes[0] == pytest.approx(1.0) and sizes[1] == pytest.approx(0.5)
    b = df[df.kind == "boundary"]
    assert _rows(df, "boundary") == {(20, 7)}
    assert (b["cell_before"].item(), b["cell"].item(), b["size"].item()) == (0, 2, 0.0)


def test_thresholds_and_kinds_select_events(arrays):
    arrays.pop("k")
    df = find_events(**arrays, move=0.04, neighborhood_change=0.9, confidence_jump=0.5,
                     kinds=("move", "neighborhood", "confidence"))
    assert set(df.kind.astype(str)) == {"move", "neighborhood"}
    assert _rows(df, "move") == {(10, 3), (20, 5)}
    assert _rows(df, "neighborhood") == {(10, 0)}
    # sorted by epoch, then kind, then decreasing |size|
    assert list(df.epoch) == sorted(df.epoch)


def test_no_events_gives_an_empty_typed_table(arrays):
    arrays.pop("k")
    same = dict(arrays, logits=[arrays["logits"][0]] * 3, coords=np.repeat(
        arrays["coords"][:1], 3, axis=0), cells=None, knn=None)
    df = find_events(**same)
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    assert isinstance(df.kind.dtype, pd.CategoricalDtype)
    assert list(df.kind.cat.categories) == list(KINDS)


@pytest.mark.parametrize(("kw", "match"), [
    ({"kinds": ("flip", "jump")}, "unknown event kinds"),
    ({"move": -1}, "move must be"),
    ({"confidence_jump": float("nan")}, "confidence_jump must be"),
    ({"epochs": [0, 1]}, "same epochs"),
])
def test_bad_arguments_raise(arrays, kw, match):
    arrays.pop("k")
    with pytest.raises(ValueError, match=match):
        find_events(**{**arrays, **kw})
