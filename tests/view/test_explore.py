"""Questions to a Visualization built from arrays (no engine): confusion matrix and its cells,
a sample's history and neighbours, and what the landscape says at a clicked spot."""

import numpy as np
import pandas as pd
import pytest

from dvi_widget.contract import Visualization, landscape_cells
from dvi_widget.view import explore

C, N, T = 3, 60, 2
NAMES = ["cat", "dog", "emu"]


@pytest.fixture(scope="module")
def vis():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, N)
    preds = np.stack([labels, labels]).copy()
    wrong = rng.choice(N, 15, replace=False)
    preds[1, wrong] = (labels[wrong] + rng.integers(1, C, 15)) % C
    split = np.where(np.arange(N) < 40, "train", "test")
    coords = rng.uniform(-1, 1, size=(T, N, 2))
    # a 4 x 4 landscape over (-2, 2)^2 whose class is the cell's column (clipped to C - 1),
    # and whose confidence is 0.5 + row / 10
    cls = np.minimum(np.arange(4), C - 1)[None, None, :].repeat(4, 1).repeat(T, 0)
    conf = (0.5 + np.arange(4) / 10)[None, :, None].repeat(4, 2).repeat(T, 0)
    return Visualization.from_arrays(
        coords=coords, labels=labels, predictions=preds, confidence=rng.random((T, N)),
        split=split, class_names=NAMES, epochs=[4, 9], extent=(-2, 2, -2, 2),
        landscape=np.zeros((T, 4, 4, 4), np.uint8), landscape_classes=cls,
        landscape_confidence=conf)


def test_confusion_counts_every_pair(vis):
    for epoch, t in ((4, 0), (9, 1)):
        for split, mask in (("all", np.ones(N, bool)), ("test", vis.split == "test"),
                            (["train"], vis.split == "train")):
            m = explore.confusion(vis, epoch, split)
            assert m.index.name == "label" and m.columns.name == "prediction"
            assert list(m.index) == NAMES and list(m.columns) == NAMES
            for a in range(C):
                for b in range(C):
                    want = int(((vis.labels == a) & (vis.predictions[t] == b) & mask).sum())
                    assert m.iloc[a, b] == want
    assert explore.confusion(vis).equals(explore.confusion(vis, 9))   # default: last epoch
    assert np.trace(explore.confusion(vis, 4).to_numpy()) == N


def test_confusion_cell_returns_exactly_that_cells_samples(vis):
    m = explore.confusion(vis, 9, "train")
    total = 0
    for a in range(C):
        for b in range(C):
            idx = explore.confusion_cell(vis, a, NAMES[b], epoch=9, split="train")
            assert idx.dtype == np.int64 and list(idx) == sorted(idx)
            want = np.flatnonzero((vis.labels == a) & (vis.predictions[1] == b)
                                  & (vis.split == "train"))
            np.testing.assert_array_equal(idx, want)
            assert len(idx) == m.iloc[a, b]
            total += len(idx)
    assert total == 40
    with pytest.raises(ValueError, match="not a class name"):
        explore.confusion_cell(vis, "cow", 0)
    with pytest.raises(ValueError, match="class id"):
        explore.confusion_cell(vis, 3, 0)
    with pytest.raises(ValueError, match="does not occur"):
        explore.confusion(vis, split="validation")
    with pytest.raises(ValueError, match="epoch 5"):
        explore.confusion(vis, 5)


def test_landscape_cells_follow_the_contract_geometry():
    extent = (0.0, 4.0, 10.0, 12.0)                # 4 wide, 2 high
    pts = np.array([[0.0, 12.0], [3.99, 10.01], [1.5, 11.2], [4.0, 11.0], [-0.1, 11.0]])
    rows, cols, inside = landscape_cells(pts, extent, (2, 4))
    assert rows.tolist() == [0, 1, 0, 1, 1] and cols.tolist() == [0, 3, 1, 3, 0]
    assert inside.tolist() == [True, True, True, False, False]


def test_inspect_without_an_inspector_reads_the_landscape_cell(vis):
    # (x, y) = (0.5, -1.5): column 2 (class 2), row 3 (confidence 0.8)
    got = explore.inspect(vis, 0.5, -1.5, epoch=4, k=5)
    assert got["source"] == "landscape" and got["epoch"] == 4
    assert got["prediction"] == 2 and got["prediction_name"] == "emu"
    assert got["confidence"] == pytest.approx(0.8)
    assert got["probabilities"] is None
    assert got["top"].to_dict("list") == {"class": [2], "name": ["emu"],
                                          "probability": [pytest.approx(0.8)]}
    d = np.linalg.norm(vis.coords[0] - [0.5, -1.5], axis=1)
    np.testing.assert_array_equal(got["neighbors"]["sample"], np.argsort(d, kind="stable")[:5])
    np.testing.assert_allclose(got["neighbors"]["distance"], np.sort(d)[:5], rtol=1e-6)
    outside = explore.inspect(vis, 5.0, 0.0)
    assert outside["prediction"] == -1 and np.isnan(outside["confidence"])
    assert outside["top"].empty
    pts = explore.inspect_points(vis, np.array([[-1.9, 1.9], [1.9, -1.9]]), epoch=9)
    assert pts.attrs["source"] == "landscape"
    assert pts["prediction"].tolist() == [0, 2]
    np.testing.assert_allclose(pts["confidence"], [0.5, 0.8], rtol=1e-6)


def test_inspect_without_any_landscape_classes():
    vis = Visualization.from_arrays(coords=np.zeros((3, 2)), labels=[0, 1, 1])
    got = explore.inspect(vis, 0.0, 0.0)
    assert got["source"] == "none" and got["prediction"] == -1
    with pytest.raises(ValueError, match="fitted model"):
        explore.events(vis)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        explore.inspect_points(vis, np.zeros((2, 3)))


def test_history_composition_and_2d_neighbors(vis):
    i = 7
    h = explore.history(vis, i)
    assert h.index.tolist() == [4, 9]
    np.testing.assert_array_equal(h["prediction"], vis.predictions[:, i])
    np.testing.assert_array_equal(h["correct"], vis.predictions[:, i] == vis.labels[i])
    rows, cols, inside = landscape_cells(vis.coords[:, i], vis.extent, (4, 4))
    np.testing.assert_array_equal(h["cell"], np.where(inside, np.minimum(cols, C - 1), -1))
    sel = np.flatnonzero(vis.split == "test")
    comp = explore.composition(vis, sel, epoch=9)
    assert list(comp.index) == NAMES
    np.testing.assert_array_equal(comp["label"], np.bincount(vis.labels[sel], minlength=C))
    np.testing.assert_array_equal(comp["prediction"],
                                  np.bincount(vis.predictions[1, sel], minlength=C))
    assert comp["correct"].sum() == (vis.labels[sel] == vis.predictions[1, sel]).sum()
    nb = explore.neighbors(vis, i, epoch=9, k=4)
    assert set(nb["space"]) == {"2d"} and nb["separated"].isna().all()
    d = np.linalg.norm(vis.coords[1] - vis.coords[1, i], axis=1)
    d[i] = np.inf
    np.testing.assert_array_equal(nb["sample"], np.argsort(d, kind="stable")[:4])
    assert nb["rank_2d"].tolist() == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="sample must be"):
        explore.history(vis, N)
    assert isinstance(explore.confusion(vis), pd.DataFrame)


# ------------------------------------------------------------------ outside the view (issue 26)
class Overconfident:
    """An inspector that answers class 2 at 100 % anywhere (as ψ_t extrapolates far away),
    recording the points it is asked about."""

    def __init__(self) -> None:
        self.asked: list[np.ndarray] = []

    def probabilities(self, points: np.ndarray, epoch: int) -> np.ndarray:
        self.asked.append(np.asarray(points))
        out = np.zeros((len(points), C), np.float32)
        out[:, 2] = 1.0
        return out

    def neighbors(self, indices: np.ndarray, epoch: int, k: int = 10):
        raise NotImplementedError

    def events(self, **thresholds: float) -> pd.DataFrame:
        raise NotImplementedError


def _with_model(vis) -> tuple[Visualization, Overconfident]:
    ins = Overconfident()
    return Visualization.from_arrays(
        coords=vis.coords, labels=vis.labels, predictions=vis.predictions,
        confidence=vis.confidence, split=vis.split, class_names=NAMES, epochs=vis.epochs,
        extent=vis.extent, landscape=vis.landscape, landscape_classes=vis.landscape_classes,
        landscape_confidence=vis.landscape_confidence, inspector=ins), ins


@pytest.mark.parametrize("spot", [(999.0, 999.0), (1e30, 0.0), (0.0, -1e30), (2.5, 0.0)])
def test_a_spot_outside_the_view_is_not_given_a_prediction(vis, spot):
    model_vis, ins = _with_model(vis)
    for v in (model_vis, vis):  # with a model (it said "emu 100 %") and from the landscape
        got = explore.inspect(v, *spot, epoch=4, k=3)
        assert got["source"] == "outside" and got["prediction"] == -1
        assert got["prediction_name"] is None and np.isnan(got["confidence"])
        assert got["probabilities"] is None and got["top"].empty
        assert "outside the view's extent" in got["note"] and "[-2.0, 2.0]" in got["note"]
        assert len(got["neighbors"]) == 3
    assert ins.asked == []  # the model is not asked about a spot the view does not show
    inside = explore.inspect(model_vis, 1.9, -1.9, epoch=4)
    assert inside["source"] == "model" and inside["prediction_name"] == "emu"
    assert inside["note"] is None


def test_inspect_points_outside_the_view_get_no_prediction(vis):
    model_vis, ins = _with_model(vis)
    pts = np.array([[0.0, 0.0], [999.0, 999.0], [1e30, -1e30], [-2.0, 2.0]])
    df = explore.inspect_points(model_vis, pts, epoch=9)
    assert df["prediction"].tolist() == [2, -1, -1, 2]
    assert df["confidence"].isna().tolist() == [False, True, True, False]
    assert df[NAMES].iloc[[1, 2]].isna().all().all() and df["emu"].iloc[0] == 1.0
    np.testing.assert_array_equal(ins.asked[0], pts[[0, 3]].astype(np.float32))
    with pytest.raises(ValueError, match="finite"):
        explore.inspect_points(model_vis, np.array([[np.nan, 0.0]]))


def test_widget_inspect_and_a_click_outside_the_view_say_so(vis):
    from dvi_widget.view import widget as widget_module

    if not widget_module.BUNDLE_PATH.is_file():
        pytest.skip("front-end bundle not built")
    model_vis, ins = _with_model(vis)
    w = widget_module.Widget(model_vis)
    assert w.inspect(999, 999)["source"] == "outside"
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)
    # a click far outside the frame (normalised coordinates: the frame is [-1, 1])
    w._on_front_end_msg(w, {"panel": "inspect", "id": "r1", "x": 900.0, "y": 900.0}, [])
    assert sent[-1]["reply"] == "r1" and "outside the view's extent" in sent[-1]["error"]
    w._on_front_end_msg(w, {"panel": "inspect", "id": "r2", "x": 0.5, "y": 0.5}, [])
    assert sent[-1]["prediction"] == 2 and "error" not in sent[-1]
    assert ins.asked and all((np.abs(a) <= 2).all() for a in ins.asked)
