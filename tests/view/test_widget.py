"""Widget tests without a browser: serialization, state, selection -> DataFrame, errors, exports."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dvi_widget.contract import Visualization
from dvi_widget.view import widget as widget_module
from dvi_widget.view.export import encode_png
from dvi_widget.view.serialize import array_from_json, array_to_json
from dvi_widget.view.widget import Widget

needs_bundle = pytest.mark.skipif(
    not widget_module.BUNDLE_PATH.is_file(),
    reason="front-end bundle not built (cd js && npm ci && npm run build)",
)


def make_vis(T=3, N=60, C=3, H=8, W=8, seed=0, metadata=True) -> Visualization:
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(T, N, 2)).astype(np.float32)
    labels = np.arange(N) % C
    preds = np.tile(labels, (T, 1))
    preds[:, ::7] = (labels[::7] + 1) % C
    conf = rng.uniform(0.3, 1.0, size=(T, N)).astype(np.float32)
    land = rng.integers(0, 256, size=(T, H, W, 4), dtype=np.uint8)
    split = np.array(["train"] * (N - N // 4) + ["test"] * (N // 4))
    md = pd.DataFrame({"noisy": np.arange(N) % 5 == 0}) if metadata else None
    return Visualization.from_arrays(
        coords=coords, labels=labels, predictions=preds, confidence=conf, landscape=land,
        epochs=np.array([1, 5, 9][:T]), split=split, class_names=["a", "b", "c"][:C],
        metadata=md,
    )


def front_end_value(arr: np.ndarray, dtype: str = "uint32") -> dict:
    a = np.asarray(arr, dtype=dtype)
    return {"view": memoryview(a.tobytes()), "dtype": dtype, "shape": list(a.shape)}


# ------------------------------------------------------------------ serializer
@pytest.mark.parametrize("dtype", ["float32", "uint8", "uint16", "int32", "uint32"])
def test_serializer_round_trip_keeps_dtype_and_shape(dtype):
    a = (np.arange(24) % 200).astype(dtype).reshape(2, 3, 4)
    out = array_from_json(array_to_json(a))
    assert out.dtype == a.dtype and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)


def test_serializer_non_contiguous_and_float64():
    a = np.arange(40, dtype=np.float64).reshape(4, 10)[:, ::3]  # non-contiguous float64
    js = array_to_json(a)
    assert js["dtype"] == "float32" and js["shape"] == [4, 4]
    assert isinstance(js["view"], memoryview) and js["view"].nbytes == 4 * 4 * 4
    np.testing.assert_array_equal(array_from_json(js), a.astype(np.float32))


def test_positions_of_a_large_run_travel_as_uint16_within_a_step(monkeypatch):
    import dvi_widget.view.serialize as ser

    rng = np.random.default_rng(0)
    pos = rng.uniform(-1.3, 1.1, size=(3, 500, 2)).astype(np.float32)
    pos[1, 7] = np.nan  # a sample not placed at one epoch
    small = ser.coords_to_json(pos)
    assert small["dtype"] == "float32" and "range" not in small
    monkeypatch.setattr(ser, "COORDS_UINT16_ABOVE", 499)  # 500 samples is "large" now
    js = ser.coords_to_json(pos)
    assert js["dtype"] == "uint16" and js["shape"] == [3, 500, 2]
    assert js["view"].nbytes == 3 * 500 * 2 * 2  # half the float32 bytes
    lo, hi = js["range"]
    assert lo == float(np.nanmin(pos)) and hi == float(np.nanmax(pos))
    back = ser.coords_from_json(js)
    assert np.isnan(back[1, 7]).all() and np.isfinite(np.delete(back[1], 7, axis=0)).all()
    step = (hi - lo) / 65534
    err = np.abs(back - pos)[np.isfinite(pos)]
    assert err.max() <= step / 2 + 1e-6, (err.max(), step)
    assert err.max() > 0  # it really was quantised


# ------------------------------------------------------------------ construction and state
def test_missing_bundle_raises_with_build_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(widget_module, "BUNDLE_PATH", tmp_path / "absent.js")
    with pytest.raises(FileNotFoundError, match="npm run build"):
        Widget(make_vis())


@needs_bundle
def test_state_holds_binary_buffers_not_lists():
    w = Widget(make_vis())
    state = w.get_state()
    expect = {"coords": ("float32", [3, 60, 2]), "labels": ("uint8", [60]),
              "predictions": ("uint8", [3, 60]), "confidence": ("uint8", [3, 60]),
              "split_codes": ("uint8", [60]), "landscape": ("uint8", [3, 8, 8, 4])}
    for name, (dtype, shape) in expect.items():
        assert isinstance(state[name]["view"], memoryview), name
        assert (state[name]["dtype"], state[name]["shape"]) == (dtype, shape), name
    coords = np.frombuffer(state["coords"]["view"], np.float32)
    assert coords.min() >= -1 and coords.max() <= 1  # normalised by the shared extent
    assert state["epoch"] == 9 and state["epochs"] == [1, 5, 9]
    assert state["split_names"][:2] == ["train", "test"]
    assert np.frombuffer(state["split_codes"]["view"], np.uint8).sum() == 15


@needs_bundle
def test_confidence_is_quantised_to_uint8():
    vis = make_vis()
    w = Widget(vis)
    got = np.frombuffer(w.get_state()["confidence"]["view"], np.uint8).reshape(3, 60) / 255
    np.testing.assert_allclose(got, vis.confidence, atol=1 / 255)


@needs_bundle
def test_accepts_object_with_visualization_method_and_rejects_others():
    vis = make_vis()

    class Fitted:
        def visualization(self):
            return vis

    assert Widget(Fitted()).vis is vis
    with pytest.raises(TypeError, match="Visualization"):
        Widget(np.zeros((3, 2)))


# ------------------------------------------------------------------ selection
@needs_bundle
def test_front_end_selection_becomes_dataframe():
    vis = make_vis()
    w = Widget(vis, epoch=5)
    seen = []
    w.observe(lambda change: seen.append(change["new"].tolist()), names="selection")
    w.set_state({"selection": front_end_value([14, 3, 7])})
    assert seen == [[3, 7, 14]]
    assert w.selection.dtype == np.uint32
    df = w.selection_df()
    assert list(df["index"]) == [3, 7, 14]
    assert list(df.columns[:11]) == ["index", "epoch", "split", "label", "class_name",
                                     "prediction", "predicted_name", "correct", "confidence",
                                     "x", "y"]
    assert (df["epoch"] == 5).all()
    np.testing.assert_allclose(df["x"], vis.coords[1, [3, 7, 14], 0])
    np.testing.assert_allclose(df["confidence"], vis.confidence[1, [3, 7, 14]])
    assert list(df["class_name"]) == ["a", "b", "c"]
    assert list(df["prediction"]) == [0, 2, 0]  # 7 and 14 are misclassified
    assert list(df["correct"]) == [True, False, False]
    assert list(df["noisy"]) == [False, False, False]
    assert list(df["split"]) == ["train"] * 3


@needs_bundle
def test_selection_df_all_epochs_is_a_trajectory():
    vis = make_vis()
    w = Widget(vis).select([2, 50])
    df = w.selection_df(epochs="all")
    assert len(df) == 6
    assert list(df["index"]) == [2, 2, 2, 50, 50, 50] and list(df["epoch"]) == [1, 5, 9] * 2
    np.testing.assert_allclose(df["y"].to_numpy()[:3], vis.coords[:, 2, 1])
    assert list(df["split"].unique()) == ["train", "test"]


@needs_bundle
def test_empty_selection_is_valid():
    w = Widget(make_vis())
    assert w.selection.dtype == np.uint32 and w.selection.size == 0
    assert w.selection_df().empty
    w.set_state({"selection": front_end_value([])})
    df = w.selection_df()
    assert df.empty and "class_name" in df.columns


@needs_bundle
def test_same_selection_does_not_renotify():
    w = Widget(make_vis())
    seen = []
    w.observe(lambda c: seen.append(1), names="selection")
    w.select([1, 2])
    w.select(np.array([2, 1], dtype=np.int64))
    assert seen == [1]


@needs_bundle
def test_select_from_boolean_mask():
    w = Widget(make_vis())
    mask = np.zeros(60, bool)
    mask[[4, 9]] = True
    assert w.select(mask).selection.tolist() == [4, 9]


# ------------------------------------------------------------------ bad input
def test_coords_with_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match=r"\(T, N, 2\)"):
        Visualization.from_arrays(coords=np.zeros((2, 5, 3)), labels=np.zeros(5, int))


@needs_bundle
def test_epoch_out_of_range():
    w = Widget(make_vis())
    with pytest.raises(ValueError, match=r"epoch 4 was not recorded; choose one of \[1, 5, 9\]"):
        w.epoch = 4
    with pytest.raises(ValueError, match="not recorded"):
        Widget(make_vis(), epoch=100)


@needs_bundle
def test_selection_index_out_of_range():
    w = Widget(make_vis())
    with pytest.raises(ValueError, match=r"selection indices must lie in \[0, 60\)"):
        w.set_state({"selection": front_end_value([3, 60])})
    with pytest.raises(ValueError, match="must lie in"):
        w.select([-1])
    with pytest.raises(ValueError, match="N=60"):
        w.highlight(np.ones(10, bool))


@needs_bundle
def test_cell_helpers_set_traits():
    vis = make_vis()
    w = Widget(vis)
    w.highlight(vis.metadata["noisy"].to_numpy())
    assert w.highlight_indices.tolist() == list(range(0, 60, 5))
    w.highlight(None)
    assert w.highlight_indices is None
    assert w.trails([5, 1]).trail_indices.tolist() == [1, 5]
    assert w.filter_samples([0, 1, 2]).filter_indices.tolist() == [0, 1, 2]
    assert w.show_split("test").show == "test"
    with pytest.raises(ValueError, match="split must be"):
        w.show_split("val")


@needs_bundle
def test_one_dimming_emphasis_at_a_time_filters_combine():
    """Issue 25: selection, highlight and legend highlight dim; the latest replaces the others
    (from a cell or from the front end), filters stay together; w.emphases() lists them."""
    vis = make_vis()
    w = Widget(vis)
    assert w.emphases().empty
    w.select([1, 2, 3])
    w.highlight([4, 5])
    assert w.selection.tolist() == [] and w.highlight_indices.tolist() == [4, 5]
    w.highlight_categories = [1]  # a legend click
    assert w.highlight_indices is None and w.highlight_categories == [1]
    w.set_state({"selection": front_end_value([0, 3, 6])})  # a lasso in the front end
    assert w.highlight_categories == [] and w.selection.tolist() == [0, 3, 6]
    w.select([])  # clearing one restores nothing else
    assert w.selection.tolist() == [] and w.highlight_indices is None
    # hiding emphases combine, and sit beside a dimming one
    w.filter_samples([0, 1, 2, 3, 4, 5]).show_split("train")
    w.filter_categories = [0, 2]
    w.highlight([1, 2])
    got = w.emphases()
    assert got.values.tolist() == [
        ["highlight_indices", "dims", 2], ["show", "hides", 45],
        ["filter_indices", "hides", 6], ["filter_categories", "hides", 40]]
    assert w.filter_indices.tolist() == [0, 1, 2, 3, 4, 5] and w.show == "train"


# ------------------------------------------------------------------ exports
def test_png_encoder_writes_valid_png():
    img = np.zeros((3, 5, 4), np.uint8)
    img[0, :, 0] = 255
    img[..., 3] = 255
    png = encode_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, ctype = struct.unpack(">IIBB", png[16:26])
    assert (w, h, depth, ctype) == (5, 3, 8, 6)
    n = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + n])
    rows = np.frombuffer(raw, np.uint8).reshape(3, 1 + 5 * 4)
    np.testing.assert_array_equal(rows[:, 1:].reshape(3, 5, 4), img)


@needs_bundle
def test_figure_has_every_point_and_the_landscape():
    w = Widget(make_vis())
    fig = w.figure(epoch=1)
    assert isinstance(fig, go.Figure)
    assert sum(len(trace.x) for trace in fig.data) == 60
    assert len(fig.data) == 3 and all(isinstance(tr, go.Scattergl) for tr in fig.data)
    assert fig.layout.images[0].source.startswith("data:image/png;base64,")
    assert fig.layout.title.text == "epoch 1"


@needs_bundle
def test_save_html_is_self_contained(tmp_path):
    w = Widget(make_vis())
    path = w.save_html(tmp_path / "view.html")
    html = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
    assert re.search(r'"coords": \{"[bz]64"', html) and "<script type=\"module\">" in html
    assert html.count("</script>") == 3


@needs_bundle
def test_bundle_built_after_import_is_read_at_construction(monkeypatch):
    monkeypatch.delattr(Widget, "_esm")
    w = Widget(make_vis())
    assert w.get_state()["_esm"] == widget_module.BUNDLE_PATH.read_text(encoding="utf-8")


@needs_bundle
def test_images_become_channels_last_uint8_thumbnails():
    torch_layout = np.linspace(0, 1, 60 * 2 * 3, dtype=np.float32).reshape(60, 1, 2, 3)
    w = Widget(make_vis(), images=torch_layout)
    assert w.images.shape == (60, 2, 3) and w.images.dtype == np.uint8
    assert w.images[0, 0, 0] == 0 and w.images[-1, -1, -1] == 255
    rgb = np.zeros((60, 4, 4, 3), np.uint8)
    state = Widget(make_vis(), images=rgb).get_state()
    assert "images" not in state  # kept in the kernel, fetched per request (view/panels.py)
    assert state["capabilities"]["images"] == [4, 4, 3]
    with pytest.raises(ValueError, match="N=60"):
        Widget(make_vis(), images=np.zeros((59, 4, 4)))


# ------------------------------------------------------------------ trait ranges
@needs_bundle
@pytest.mark.parametrize(("trait", "value", "message"), [
    ("height", -5, r"Widget.height must be in \[50, 5000\] pixels, got -5"),
    ("height", 0, r"height must be in \[50, 5000\]"),
    ("speed", -1.0, r"Widget.speed must be in \(0.0, 60.0\] epochs per second, got -1.0"),
    ("speed", 0.0, r"speed must be in \(0.0, 60.0\]"),
    ("speed", float("nan"), r"speed must be in .* got nan"),
    ("transition_ms", -100, r"Widget.transition_ms must be in \[0, 10000\] ms, got -100"),
    ("point_opacity", 1.5, r"Widget.point_opacity must be in \[0.0, 1.0\], got 1.5"),
    ("point_opacity", -0.1, r"point_opacity must be in \[0.0, 1.0\]"),
    ("landscape_opacity", 2.0, r"Widget.landscape_opacity must be in \[0.0, 1.0\], got 2.0"),
    ("point_size", 0.0, r"Widget.point_size must be in \(0.0, 100.0\] pixels, got 0.0"),
])
def test_out_of_range_traits_are_refused(trait, value, message):
    w = Widget(make_vis())
    before = getattr(w, trait)
    with pytest.raises(ValueError, match=message):
        setattr(w, trait, value)
    assert getattr(w, trait) == before


@needs_bundle
def test_out_of_range_constructor_arguments_are_refused():
    with pytest.raises(ValueError, match="Widget.height"):
        Widget(make_vis(), height=-1)
    with pytest.raises(ValueError, match="Widget.landscape_opacity"):
        Widget(make_vis(), landscape_opacity=1.2)
    with pytest.raises(ValueError, match="Widget.transition_ms"):
        Widget(make_vis(), transition_ms=-1)


@needs_bundle
def test_range_edges_are_accepted():
    w = Widget(make_vis(), landscape_opacity=0, point_opacity=1, transition_ms=0, height=50)
    w.speed = 60
    assert (w.landscape_opacity, w.point_opacity, w.transition_ms, w.height, w.speed) == (
        0.0, 1.0, 0, 50, 60.0)


# ------------------------------------------------------------------ colour by any column
def make_meta_vis() -> Visualization:
    vis = make_vis(metadata=False)
    n = vis.n_samples
    md = pd.DataFrame({
        "noisy": np.arange(n) % 5 == 0,
        "round": np.arange(n) % 4 - 1,                      # -1 .. 2: a small integer column
        "loss": np.linspace(0.0, 3.0, n),                   # numeric: colour bar
        "group": np.where(np.arange(n) < 30, "a", "b"),     # text
        "file": [f"img_{i:03d}.png" for i in range(n)],     # one value per sample
    })
    md.loc[4, "loss"] = np.nan
    return Visualization.from_arrays(
        coords=vis.coords, labels=vis.labels, predictions=vis.predictions,
        confidence=vis.confidence, landscape=vis.landscape, epochs=vis.epochs, split=vis.split,
        class_names=vis.class_names, metadata=md)


@needs_bundle
def test_metadata_named_like_the_views_own_columns_is_kept_renamed():
    vis = make_vis(metadata=False)
    n = vis.n_samples
    mine = pd.DataFrame({"prediction": np.full(n, "cat"), "x": np.arange(n) * 2.0,
                         "noisy": np.arange(n) % 2 == 0})
    with pytest.warns(UserWarning, match=r"'prediction' -> 'metadata_prediction', 'x' -> "
                                         r"'metadata_x'"):
        w = Widget(vis, metadata=mine)
    df = w.samples_df()
    # the names the widget reserves are the frame's own columns, in its order
    own = [c for c in widget_module.FRAME_COLUMNS if c != "review"]  # review: with a review
    assert list(df.columns[: len(own)]) == own
    assert (df["metadata_prediction"] == "cat").all()
    np.testing.assert_array_equal(df["metadata_x"], np.arange(n) * 2.0)
    np.testing.assert_array_equal(df["prediction"], vis.predictions[-1])  # the model's, kept
    w.color_by = "metadata_x"  # a column the view colours by
    w.filter_samples("metadata_x < 10")  # and queries
    np.testing.assert_array_equal(w.filter_indices, np.arange(5))


@pytest.fixture
def few_colors(monkeypatch):
    """At most 50 colourable categories, so that the 60-value "file" column exceeds it."""
    monkeypatch.setattr(widget_module, "MAX_COLOR_CATEGORIES", 50)


@needs_bundle
def test_metadata_columns_cross_as_buffers_with_their_kind(few_colors):
    w = Widget(make_meta_vis())
    cols = {c["name"]: c for c in w.get_state()["columns"]}
    assert list(cols) == ["noisy", "round", "loss", "group", "file"]
    noisy = cols["noisy"]
    assert noisy["kind"] == "categorical" and noisy["categories"] == ["False", "True"]
    assert noisy["codes"]["dtype"] == "uint8" and isinstance(noisy["codes"]["view"], memoryview)
    assert np.frombuffer(noisy["codes"]["view"], np.uint8).sum() == 12
    assert cols["round"]["categories"] == ["-1", "0", "1", "2"]
    np.testing.assert_array_equal(np.frombuffer(cols["round"]["codes"]["view"], np.uint8)[:5],
                                  [0, 1, 2, 3, 0])
    loss = cols["loss"]
    assert loss["kind"] == "numeric" and (loss["min"], loss["max"]) == (0.0, 3.0)
    values = np.frombuffer(loss["values"]["view"], np.float32)
    assert np.isnan(values[4]) and values[-1] == pytest.approx(3.0)
    assert cols["group"]["categories"] == ["a", "b"] and len(cols["group"]["colors"]) == 2
    assert cols["file"]["colors"] is None and len(cols["file"]["categories"]) == 60


@needs_bundle
def test_color_by_accepts_built_ins_and_metadata_and_resets_the_legend(few_colors):
    w = Widget(make_meta_vis(), color_by="noisy")
    assert w.color_by == "noisy"
    assert w.color_columns == ["label", "prediction", "correct", "confidence", "changed",
                               "noisy", "round", "loss", "group"]
    w.highlight_categories = [1]
    w.filter_categories = [0, 1]
    w.color_by = "loss"
    assert w.highlight_categories == [] and w.filter_categories == []
    with pytest.raises(ValueError, match="color_by must be one of"):
        w.color_by = "nope"
    with pytest.raises(ValueError, match="'file' has more than 50 distinct values"):
        w.color_by = "file"
    with pytest.raises(ValueError, match="a numeric column has no categories"):
        w.highlight_categories = [0]
    w.color_by = "label"
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        w.filter_categories = [3]
    w.set_state({"filter_categories": [2, 0]})  # as the legend sends it
    assert w.filter_categories == [0, 2]


@needs_bundle
def test_query_strings_select_highlight_and_filter():
    w = Widget(make_meta_vis(), epoch=5)
    df = w.samples_df()
    assert len(df) == 60 and {"correct", "changed", "noisy", "loss"} <= set(df.columns)
    expected = np.flatnonzero((np.arange(60) % 5 == 0) & ~df["correct"].to_numpy())
    assert w.filter_samples("noisy and not correct").filter_indices.tolist() == expected.tolist()
    assert w.highlight("noisy").highlight_indices.tolist() == list(range(0, 60, 5))
    assert w.select("group == 'a' and loss > 1").selection.tolist() == list(range(20, 30))
    assert w.select("label == 2").selection.tolist() == list(range(2, 60, 3))
    with pytest.raises(ValueError, match="cannot evaluate 'nosiy'"):
        w.highlight("nosiy")
    with pytest.raises(TypeError, match="one True/False per sample"):
        w.highlight("loss + 1")


@needs_bundle
def test_changed_column_marks_prediction_changes():
    vis = make_vis()
    preds = vis.predictions.copy()
    preds[1, 3] = (preds[0, 3] + 1) % 3
    vis = Visualization.from_arrays(coords=vis.coords, labels=vis.labels, predictions=preds,
                                    epochs=vis.epochs, class_names=vis.class_names)
    w = Widget(vis)
    assert not w.samples_df(epoch=1)["changed"].any()
    assert w.samples_df(epoch=5)["changed"].to_numpy().nonzero()[0].tolist() == [3]
    assert w.samples_df(epoch=9)["changed"].to_numpy().nonzero()[0].tolist() == [3]


@needs_bundle
def test_view_commands_and_panel_messages():
    w = Widget(make_vis())
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)
    w.reset_view().zoom_to_selection()
    assert sent == [{"type": "reset_view"}, {"type": "zoom_to_selection"}]
    got = []
    Widget.panel_handlers["probe"] = lambda widget, content, buffers: got.append(content["x"])
    try:
        w._handle_custom_msg({"panel": "probe", "x": 7}, [])
        w._handle_custom_msg({"panel": "unknown"}, [])
    finally:
        del Widget.panel_handlers["probe"]
    assert got == [7]
    from dvi_widget.view.panels import DEFAULT_PANELS

    assert w.panels == list(DEFAULT_PANELS) and w.panel_open is True


@needs_bundle
def test_save_html_carries_nested_column_buffers(tmp_path):
    import json

    from dvi_widget.view.export import decode_bytes

    w = Widget(make_meta_vis(), color_by="round")
    html = w.save_html(tmp_path / "v.html").read_text()
    payload = html.split('<script type="application/json" id="dvi-state">')[1].split("</script>")[0]
    state = json.loads(payload)
    assert state["color_by"] == "round"
    codes = state["columns"][1]["codes"]
    assert codes["dtype"] == "uint8" and codes["shape"] == [60]
    assert np.frombuffer(decode_bytes(codes), np.uint8).tolist()[:4] == [0, 1, 2, 3]


@needs_bundle
def test_columns_with_missing_values():
    vis = make_vis(metadata=False)
    md = pd.DataFrame({
        "flag": pd.array([True, None] + [False] * 58, dtype="boolean"),   # NA: text categories
        "count": pd.array([1, None] + [2] * 58, dtype="Int64"),           # NA in an int column
    })
    w = Widget(vis, metadata=md)
    cols = {c["name"]: c for c in w.columns}
    assert cols["flag"]["kind"] == "categorical" and cols["flag"]["categories"] == [
        "", "False", "True"]
    assert cols["count"]["kind"] == "numeric" and np.isnan(cols["count"]["values"][1])
    assert (cols["count"]["min"], cols["count"]["max"]) == (1.0, 2.0)


# ------------------------------------------------------------------ front-end updates (issue 26)
@needs_bundle
@pytest.mark.parametrize("state", [
    {"epoch": 99}, {"point_size": float("nan")}, {"point_size": float("inf")},
    {"speed": -1.0}, {"speed": float("nan")}, {"height": 3}, {"transition_ms": -5},
    {"point_opacity": 2.0}, {"landscape_opacity": float("nan")}, {"color_by": "zzz"},
    {"highlight_categories": [7]}, {"filter_categories": [-1]},
    {"selection": front_end_value([3, 60])}, {"focus_sample": 400},
    {"point_size": 8.0, "epoch": 99},           # a good value beside a bad one: both refused
    {"epoch": 1, "selection": front_end_value([3, 60])},
])
def test_bad_front_end_update_is_rolled_back(state, tmp_path):
    import json

    import traitlets

    w = Widget(make_vis())
    w.select([2, 3])
    before = {k: getattr(w, k) for k in ("epoch", "point_size", "speed", "height",
                                         "transition_ms", "point_opacity", "landscape_opacity",
                                         "color_by", "highlight_categories",
                                         "filter_categories")}
    with pytest.raises(traitlets.TraitError):
        w.set_state(state)  # what an update from the front end does
    after = {k: getattr(w, k) for k in before}
    assert after == before
    assert w.selection.tolist() == [2, 3]
    assert w.selection_df()["epoch"].tolist() == [9, 9]
    html = w.save_html(tmp_path / "v.html").read_text()
    payload = html.split('<script type="application/json" id="dvi-state">')[1].split(
        "</script>")[0]
    saved = json.loads(payload, parse_constant=lambda c: 1 / 0)  # NaN would raise
    assert saved["epoch"] == 9 and saved["point_size"] == 4.0


@needs_bundle
def test_trait_errors_are_still_value_errors():
    """Cells that catch ValueError keep working: the refusals are both kinds of error."""
    import traitlets

    w = Widget(make_vis())
    for name, value in [("epoch", 4), ("height", 1), ("color_by", "zzz")]:
        with pytest.raises(ValueError) as err:
            setattr(w, name, value)
        assert isinstance(err.value, traitlets.TraitError)
    with pytest.raises(TypeError) as err:
        w.set_state({"selection": front_end_value([1.5, 2.0], "float32")})
    assert isinstance(err.value, traitlets.TraitError)


def test_a_text_only_host_carries_the_selection_and_message_buffers_as_json_text():
    """A served Panel app (ipywidgets_bokeh) reads the page's messages as JSON text only: the
    front end sends a selection's bytes as a list of numbers in ``view`` and a custom message's
    buffers as base64 strings in ``_buffers`` (js/src/codecs.js); the kernel reads both as it
    reads binary buffers."""
    import base64
    import json

    w = Widget(make_vis())
    sel = np.array([3, 7, 11], dtype=np.uint32)
    w.set_state({"selection": json.loads(json.dumps(
        {"view": list(sel.tobytes()), "dtype": "uint32", "shape": [3]}))})
    assert w.selection.tolist() == [3, 7, 11]

    got: list = []
    payload = np.arange(5, dtype=np.float32).tobytes()
    w.panel_handlers = {**Widget.panel_handlers, "probe": lambda wid, c, b: got.append((c, b))}
    content = json.loads(json.dumps({"panel": "probe", "id": 1, "x": 2,
                                     "_buffers": [base64.b64encode(payload).decode()]}))
    w._on_front_end_msg(w, content, [])
    (c, b), = got
    assert c == {"panel": "probe", "id": 1, "x": 2}
    assert np.frombuffer(b[0], np.float32).tolist() == [0, 1, 2, 3, 4]


def test_max_points_reaches_the_front_end_and_is_bounded():
    """max_points: how many samples are drawn one by one before the plot draws a subset over a
    density raster (the front end reads it per draw; the browser test checks the drawing)."""
    import traitlets

    w = Widget(make_vis())
    assert w.max_points == 200_000
    assert w.get_state()["max_points"] == 200_000
    assert Widget(make_vis(), max_points=50_000).max_points == 50_000
    with pytest.raises(traitlets.TraitError):
        Widget(make_vis(), max_points=10)
