"""Training dynamics in the view: per-epoch columns that colour, filter and search by the
measures up to the shown epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dvi_widget.contract import Visualization
from dvi_widget.data.dynamics import MEASURES, compute_dynamics
from dvi_widget.view import widget as widget_module
from dvi_widget.view.widget import Widget

pytestmark = pytest.mark.skipif(not widget_module.BUNDLE_PATH.is_file(),
                                reason="front-end bundle not built")

N, C = 6, 3
LABELS = np.array([0, 1, 2, 0, 1, 2])
EPOCHS = np.array([1, 5, 9])  # the view's epochs; the run recorded 0, 1, 5, 9


def run_logits() -> np.ndarray:
    """(4 records, N, C): sample 0 right at records 1 and 3 only (forgotten once at record 2),
    sample 1 never right, the others always right."""
    lg = np.zeros((4, N, C), np.float32)
    lg[:, np.arange(N), LABELS] = 2.0
    lg[:, 1, 1], lg[:, 1, 0] = 0.0, 2.0
    wrong0 = [0, 2]
    lg[wrong0, 0, 0], lg[wrong0, 0, 1] = 0.0, 2.0
    return lg


def make_vis() -> Visualization:
    rng = np.random.default_rng(0)
    preds = np.tile(LABELS, (3, 1))
    return Visualization.from_arrays(
        coords=rng.normal(size=(3, N, 2)).astype(np.float32), labels=LABELS, predictions=preds,
        epochs=EPOCHS, class_names=["a", "b", "c"])


class Fitted:
    """What a fitted DVI offers the widget: a visualization and its run's dynamics."""

    def visualization(self) -> Visualization:
        return make_vis()

    def dynamics(self):  # noqa: ANN201
        return compute_dynamics(run_logits(), LABELS, [0, 1, 5, 9], keep_probabilities=True)


def test_measures_follow_the_shown_epoch():
    w = Widget(Fitted(), epoch=1)
    cols = {c["name"]: c for c in w.columns}
    assert [n for n in cols] == list(MEASURES)
    aum = cols["aum"]
    assert aum["per_epoch"] and aum["values"].shape == (3, N)
    # AUM of sample 0 over records (0, 1): margins -2, +2 -> 0; over all four: (-2+2-2+2)/4 = 0
    # sample 1: -2 at every record
    assert aum["values"][:, 1].tolist() == [-2, -2, -2]
    assert aum["values"][:, 0].tolist() == pytest.approx([0, -2 / 3, 0])
    assert (aum["min"], aum["max"]) == (-2, 2)
    w.color_by = "aum"  # a colourable numeric column
    assert w.filter_samples("aum < 0").filter_indices.tolist() == [1]
    w.epoch = 5  # up to record 2: sample 0 wrong at records 0 and 2
    assert w.filter_samples("aum < 0").filter_indices.tolist() == [0, 1]
    df = w.samples_df()
    assert df.loc[0, "forgetting"] == 1 and math.isinf(df.loc[1, "forgetting"])
    assert df.loc[0, "first_learned"] == 1 and np.isnan(df.loc[1, "first_learned"])
    assert w.select("forgetting == inf").selection.tolist() == [1]
    assert w.samples_df(epoch=9).loc[0, "last_flipped"] == 9


def test_dynamics_mapping_false_and_errors():
    vis = make_vis()
    w = Widget(vis, dynamics={"score": np.ones((3, N))})
    assert [c["name"] for c in w.columns] == ["score"] and "score" in w.color_columns
    assert Widget(Fitted(), dynamics=False).columns == []
    with pytest.raises(ValueError, match=r"must be \(T, N\) = \(3, 6\)"):
        Widget(vis, dynamics={"score": np.ones((2, N))})
    with pytest.raises(ValueError, match="shadows a built-in column"):
        Widget(vis, dynamics={"confidence": np.ones((3, N))})
    with pytest.raises(ValueError, match="compute them over split='all'"):
        Widget(vis, dynamics=compute_dynamics(run_logits()[:, :4], LABELS[:4]))


def test_review_marks_reach_the_view_and_the_run_folder(tmp_path):
    """Marks made through the widget (as the queue's keys do) are saved in the run folder, shown
    as the ``review`` column, exported by review_df / relabels_csv, and read back by a new
    widget (a restarted kernel)."""
    from dvi_widget.data.run.review import Review

    folder = tmp_path / "run"
    folder.mkdir()
    w = Widget(Fitted(), review=Review(folder, n_samples=N, n_classes=C))
    assert w.review_marks.tolist() == [0] * N
    w.mark(0, "mislabeled", label="c")
    w._on_review({"action": "mark", "sample": 3, "mark": "correct"}, [])
    w.mark(4, "unsure")
    assert w.review_marks.tolist() == [1, 0, 0, 2, 3, 0]
    assert w.filter_samples("review == 'mislabeled'").filter_indices.tolist() == [0]
    df = w.review_df()
    assert df[["sample", "mark", "given_name"]].values.tolist() == [
        [0, "mislabeled", "a"], [3, "correct", "a"], [4, "unsure", "b"]]
    assert df["corrected_name"].tolist() == ["c", None, None]
    csv = w.relabels_csv(tmp_path / "relabels.csv").read_text()
    assert csv.splitlines() == ["sample,given_label,corrected_label", "0,0,2"]
    again = Widget(Fitted(), review=folder)
    assert again.review_marks.tolist() == [1, 0, 0, 2, 3, 0]
    again.mark(4, None)
    assert again.review_df()["sample"].tolist() == [0, 3]
    # the queue: issues ranked at the shown epoch, with their marks
    reply, _ = again._on_review({"action": "queue", "k": 3}, [])
    assert reply["samples"][:2] == [1, 0]  # never learned, then forgotten
    assert reply["marks"][1] == "mislabeled" and reply["corrected"][1] == 2
    with pytest.raises(ValueError, match=r"k must be in \[1, 500\]"):
        again._on_review({"action": "queue", "k": 0}, [])
    with pytest.raises(ValueError, match="the corrected class 1 is its given label"):
        again.mark(1, "mislabeled", label=1)
    with pytest.raises(ValueError, match="no run folder to keep review marks"):
        Widget(make_vis()).mark(0, "correct")
