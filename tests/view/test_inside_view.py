"""The inside panels' kernel side (issue 22, item 5): replies of the distributions and network
handlers, and a pattern click selecting exactly its samples."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dvi_widget.contract import Inside
from dvi_widget.view.serialize import to_buffer
from dvi_widget.view.widget import Widget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
import panels_fixture as fixture  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "dvi_widget" / "static" / "widget.js").is_file(),
    reason="front-end bundle not built")


def listening(w: Widget) -> Widget:
    """``w`` with its sent messages kept in ``w.sent`` instead of sent."""
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w.sent = sent
    return w


@pytest.fixture
def widget():
    return listening(Widget(fixture.build("full"), transition_ms=0))


def ask(w, panel, **req):
    w.sent.clear()
    w.panel_handlers[panel](w, {"panel": panel, "id": 7, **req}, [])
    (content, buffers), = w.sent
    assert content["reply"] == 7, content
    return content, buffers


def test_show_inside_adds_the_panels_and_refuses_what_is_not_a_source(widget):
    src = fixture.FakeInside(widget.vis)
    assert isinstance(src, Inside)
    before = list(widget.panels)
    widget.show_inside(src)
    assert widget.panels == [*before, "distributions", "network", "features"]
    assert widget.capabilities["inside"] is True
    widget.show_inside(src)  # twice: no duplicates
    assert widget.panels.count("network") == 1
    with pytest.raises(TypeError, match="InsideSource"):
        widget.show_inside(object())
    content, _ = ask(listening(Widget(widget.vis)), "distributions", kind="grad")
    assert "show_inside" in content["error"]


def test_distributions_reply_is_the_sources_cube(widget):
    src = fixture.FakeInside(widget.vis)
    widget.show_inside(src)
    content, buffers = ask(widget, "distributions", kind="grad")
    layers, epochs, cube, stats = src.bands("grad")
    assert content["layers"] == layers and content["epochs"] == epochs.tolist()
    assert content["shape"] == [3, 3, 9] and content["statistics"] == stats
    assert buffers[0] == to_buffer(cube, "float32")
    got = np.frombuffer(buffers[0], "<f4").reshape(content["shape"])
    assert got[2, 1, 8] == pytest.approx(3 * 4 * 2 / 10)
    assert content["flags"] == [{"flag": "vanishing", "layer": "conv1", "epochs": [0, 5],
                                 "detail": "gradient norm 1e-04 of the largest layer's"}]
    # 50 epochs x 10 layers x 9 quantiles: the payload is 18 kB
    assert len(to_buffer(np.zeros((10, 50, 9)), "float32")) == 18_000
    content, _ = ask(widget, "distributions", kind="weights")
    assert "kind must be one of" in content["error"]


def test_a_pattern_selects_exactly_its_samples_and_the_selection_recommends(widget):
    src = fixture.FakeInside(widget.vis)
    widget.show_inside(src)
    content, _ = ask(widget, "network", what="patterns", epoch=5)
    _, df = src.patterns(5)
    assert [p["count"] for p in content["patterns"]] == df["count"].tolist()
    assert content["recommended"] == [] and content["selected"] == 0
    k = int(np.flatnonzero([u == [0, 1, 0] for u in df["units"]])[0])
    content, _ = ask(widget, "network", what="select", epoch=5, pattern=k)
    want = np.flatnonzero(np.arange(widget.n_samples) % 10 == 0)
    assert content["count"] == len(want)
    np.testing.assert_array_equal(np.sort(widget.selection), want)
    # select two samples: one predicted right (class 1), one mispredicted
    widget.select([21, 30])
    content, _ = ask(widget, "network", what="patterns", epoch=5)
    rec = [content["patterns"][i] for i in content["recommended"]]
    assert sorted(tuple(p["units"]) for p in rec) == [(0, 1, 0), (1, 2, 1)]
    assert all(p["shared"] == 1 for p in rec)
    content, _ = ask(widget, "network", what="select", epoch=5, pattern=99)
    assert "pattern must be in" in content["error"]


def test_features_grid_strip_and_filters_are_the_sources_images(widget):
    src = fixture.FakeInside(widget.vis)
    widget.show_inside(src)
    assert widget.panels[-3:] == ["distributions", "network", "features"]
    content, _ = ask(widget, "features", what="layers", epoch=5)
    assert content["layers"] == src.feature_layers(5)
    content, buffers = ask(widget, "features", what="grid", epoch=5, layer="conv1",
                           units=[0, 3])
    assert content["shape"] == [2, 8, 8, 1] and content["labels"] == [0, 3]
    px = np.frombuffer(buffers[0], np.uint8).reshape(content["shape"])
    assert px[0].max() == px[0].min() == 25 and px[1].min() == 85  # (u + 1) * 20 + epoch
    content, buffers = ask(widget, "features", what="strip", layer="logits", unit=1,
                           epochs=[0, 5, 10])
    px = np.frombuffer(buffers[0], np.uint8).reshape(content["shape"])
    assert content["labels"] == [0, 5, 10] and px[:, 0, 0, 0].tolist() == [40, 45, 50]
    content, buffers = ask(widget, "features", what="filters", epoch=0)
    px = np.frombuffer(buffers[0], np.uint8).reshape(content["shape"])
    assert content["shape"] == [8, 3, 3, 1] and px[:, 1, 1, 0].tolist() == [
        round(k / 8 * 255) for k in range(8)]
    content, _ = ask(widget, "features", what="grid", epoch=5, layer="conv1",
                     units=list(range(17)))
    assert "1 to 16 units" in content["error"]
