"""The kernel side of the explore panels (dvi_widget/view/panels.py): each front-end
request gets the answer explore.py / thumbnails.py compute, as JSON and binary buffers."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from dvi_widget.contract import landscape_cells
from dvi_widget.view import explore
from dvi_widget.view import widget as widget_module
from dvi_widget.view.thumbnails import MAX_THUMBNAILS
from dvi_widget.view.widget import Widget

pytestmark = pytest.mark.skipif(not widget_module.BUNDLE_PATH.is_file(),
                                reason="front-end bundle not built (cd js && npm run build)")

_spec = importlib.util.spec_from_file_location(
    "panels_fixture", Path(__file__).parents[1] / "browser" / "panels_fixture.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


@pytest.fixture(scope="module")
def vis():
    return fixture.build("full")


@pytest.fixture
def w(vis):
    widget = Widget(vis)
    widget.sent = []
    widget.send = lambda content, buffers=None: widget.sent.append((content, buffers or []))
    return widget


def ask(w, panel, buffers=(), **content):
    """Send a request as the front end does; return the reply and its buffers."""
    w._on_front_end_msg(w, {"panel": panel, "id": "r1", **content}, list(buffers))
    reply, out = w.sent[-1]
    assert reply["panel"] == panel and reply["reply"] == "r1"
    return reply, out


def decode_png(data: bytes) -> np.ndarray:
    """8-bit grey, filter-0 PNG (what encode_png writes) -> uint8 (H, W)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, color = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and color == 0
    idat, pos = b"", 8
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def test_state_carries_capabilities_tables_and_no_images(vis):
    state = Widget(vis).get_state()
    assert "images" not in state
    caps = state["capabilities"]
    assert caps == {"kernel": True, "images": [8, 8], "inspector": True, "explain": True,
                    "max_thumbnails": MAX_THUMBNAILS, "landscapes": True,
                    "max_landscape_cells": 1024 * 1024}
    assert state["scalars"]["epochs"] == [0, 5, 10]
    assert state["scalars"]["columns"]["train_accuracy"] == [0.55, 0.8, 0.9]
    assert state["metrics"]["columns"]["temporal_pv_train"][0] is None  # NaN -> null
    assert state["panels"][:2] == ["legend", "inspect"] and "confusion" in state["panels"]
    plain = Widget(fixture.build("plain")).get_state()
    assert plain["capabilities"]["images"] is None and not plain["capabilities"]["inspector"]
    assert plain["scalars"] is None and plain["metrics"] is None


def test_inspect_request_answers_with_the_models_probabilities_and_sets_clicked(w, vis):
    reply, _ = ask(w, "inspect", x=0.5, y=0.5, epoch=5, k=4)  # normalised: (1, 1) in the frame
    assert (reply["x"], reply["y"]) == pytest.approx((1.0, 1.0))
    want = fixture.probabilities(np.array([[1.0, 1.0]]), 1)[0]
    np.testing.assert_allclose(reply["probabilities"], want, rtol=1e-6)
    assert reply["prediction"] == int(want.argmax()) and reply["source"] == "model"
    assert reply["decoder"] == "ψ_t → g_t"  # the popover's caption (the fixture's default)
    assert reply["confidence"] == pytest.approx(float(want.max()))
    near = explore.nearest_2d(vis, (1.0, 1.0), 5, 4)
    assert reply["neighbors"]["sample"] == near["sample"].tolist()
    assert w.clicked == {"epoch": 5, "x": 1.0, "y": 1.0}
    same = w.inspect(1.0, 1.0, epoch=5)
    np.testing.assert_allclose(same["probabilities"].to_numpy(), want, rtol=1e-6)


def test_inspect_without_an_inspector_gives_the_landscape_cell():
    plain = fixture.build("plain")
    w = Widget(plain)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers or []))
    reply, _ = ask(w, "inspect", x=-0.5, y=-0.5, epoch=0)
    assert reply["source"] == "landscape" and reply["probabilities"] is None
    rows, cols, _ = landscape_cells(np.array([[-1.0, -1.0]]), plain.extent,
                                    plain.landscape_classes.shape[1:3])
    assert reply["prediction"] == int(plain.landscape_classes[0, rows[0], cols[0]])


def test_thumbnail_request_returns_a_png_atlas_of_exactly_those_samples(w, vis):
    idx = np.array([7, 300, 3], np.uint32)
    reply, out = ask(w, "thumbnails", [idx.tobytes()])
    assert reply["tile"] == [8, 8] and reply["n"] == 3 and reply["columns"] == 2
    atlas = decode_png(bytes(out[0]))
    for k, i in enumerate(idx):
        r, c = divmod(k, reply["columns"])
        tile = atlas[8 * r:8 * r + 8, 8 * c:8 * c + 8]
        assert fixture.decode_index(tile) == i
        np.testing.assert_array_equal(tile, vis.images[i])
    reply, _ = ask(w, "thumbnails", [np.array([400], np.uint32).tobytes()])
    assert "out of range" in reply["error"]


def test_sample_request_lists_both_neighbourhoods_and_flags_separated_ones(w, vis):
    reply, _ = ask(w, "sample", sample=40, epoch=10, k=6)
    df = explore.neighbors(vis, 40, 10, 6)
    rows = reply["rows"]
    assert rows["space"] == df["space"].tolist() and rows["sample"] == df["sample"].tolist()
    assert rows["separated"] == [bool(v) for v in df["separated"]]
    assert set(rows["space"]) == {"2d", "high"}


def test_events_summary_at_and_sample(w, vis):
    reply, _ = ask(w, "events", what="summary")
    ev = vis.inspector.events()
    assert reply["kinds"][0] == "flip" and reply["n"] == len(ev)
    counts = np.array(reply["counts"])
    assert counts.shape == (3, 5) and counts[0].sum() == 0
    assert counts[1, 0] == ((ev["epoch"] == 5).sum())
    reply, out = ask(w, "events", what="at", epoch=5, kind="flip")
    samples = np.frombuffer(out[0], np.uint32)
    assert samples.tolist() == ev.loc[ev["epoch"] == 5, "sample"].tolist() == [5]
    assert np.frombuffer(out[2], np.int32).tolist() == [1] and np.frombuffer(
        out[3], np.int32).tolist() == [2]
    reply, _ = ask(w, "events", what="sample", sample=5)
    assert reply["rows"]["epoch"] == [5, 10]


def test_gradcam_request_returns_uint8_maps(w, vis):
    reply, out = ask(w, "gradcam", [np.array([3, 9], np.uint32).tobytes()], epoch=5)
    assert reply["shape"] == [2, 8, 8] and reply["layer"] == "fake"
    maps = np.frombuffer(out[0], np.uint8).reshape(2, 8, 8)
    np.testing.assert_array_equal(maps, vis.images[[3, 9]])


def test_confusion_follows_the_shown_split_and_cells_are_what_a_click_selects(w, vis):
    w.epoch = 5
    w.show = "test"
    m = w.confusion()
    assert m.to_numpy().sum() == (vis.split == "test").sum()
    assert m.equals(explore.confusion(vis, 5, "test"))
    cell = w.confusion_cell("zero", "one")
    assert cell.tolist() == explore.confusion_cell(vis, 0, 1, 5, "test").tolist()
    assert len(cell) > 0 and (vis.split[cell] == "test").all()
    w.select(cell)
    comp = w.composition()
    assert comp.loc["zero", "label"] == len(cell) and comp.loc["one", "prediction"] == len(cell)


def test_focus_sample_is_validated(w):
    w.focus_sample = 12
    with pytest.raises(Exception, match="focus_sample"):
        w.focus_sample = 400


def test_saved_page_says_there_is_no_kernel(vis, tmp_path):
    import json
    import re

    page = Widget(vis).save_html(tmp_path / "p.html").read_text()
    state = json.loads(re.search(r'id="dvi-state"[^>]*>(.*?)</script>', page, re.S).group(1)
                       .replace("<\\/", "</"))
    assert state["capabilities"]["kernel"] is False


def test_landscape_request_renders_the_visible_part_at_the_asked_resolution(w, vis):
    """Issue 25 item 6: the zoomed-landscape request (normalised extent, pixels) is answered by
    the inspector over that part of the frame, clipped to the frame, at the asked pixels per unit;
    where it overlaps the stored cells' centres, the classes agree; oversize requests fail."""
    assert w.capabilities["landscapes"] is True
    G = vis.landscape_classes.shape[1]  # 32 cells over [-1, 1]
    # the normalised square [-0.5, 0.25] x [0, 0.75]: stored rows 4..15, columns 8..19
    reply, bufs = ask(w, "landscape", epoch=5, x0=-0.5, x1=0.25, y0=0.0, y1=0.75,
                      width=12, height=12)
    assert reply["shape"] == [12, 12] and reply["epoch"] == 5
    rgba = np.frombuffer(bytes(bufs[0]), np.uint8).reshape(12, 12, 4)
    t = 1
    stored = vis.landscape[t, 4:16, 8:20]
    np.testing.assert_array_equal(rgba, stored)
    assert G == 32
    # clipped to the frame: half the asked box lies outside, so half the columns come back
    reply, bufs = ask(w, "landscape", epoch=5, x0=0.5, x1=1.5, y0=-0.25, y1=0.25,
                      width=200, height=100)
    assert (reply["x0"], reply["x1"], reply["shape"]) == (0.5, 1.0, [100, 100])
    reply, _ = ask(w, "landscape", epoch=5, x0=-1, x1=1, y0=-1, y1=1, width=2000, height=2000)
    assert "at most" in reply["error"]
    reply, _ = ask(w, "landscape", epoch=5, x0=1.5, x1=2, y0=0, y1=1, width=10, height=10)
    assert "outside the frame" in reply["error"]


def test_landscape_request_without_a_rendering_model_says_so():
    plain = Widget(fixture.build("plain"))
    assert plain.capabilities["landscapes"] is False
    plain.sent = []
    plain.send = lambda content, buffers=None: plain.sent.append((content, buffers or []))
    reply, _ = ask(plain, "landscape", epoch=5, x0=-1, x1=0, y0=0, y1=1, width=8, height=8)
    assert "stored raster" in reply["error"]
