"""The engine's inspector and events on a fitted toy run whose answers are known.

Three well separated classes in a 4-d representation space, a fixed linear head (the class
centres), image-shaped inputs in [0, 1]. Samples FLIP_1 are moved to the next class's centre at
epoch 1 (and stay there), samples FLIP_2 at epoch 2: those are the prediction flips.
"""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.contract import Inspector
from dvi_widget.data.run import Run
from dvi_widget.engine.fit import DVI
from dvi_widget.engine.inspect import EngineInspector
from dvi_widget.engine.landscape import grid_points
from dvi_widget.view import explore
from dvi_widget.view.thumbnails import sprite

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_TRAIN, N_TEST, H, C = 120, 30, 4, 3
FLIP_1 = np.array([3, 10, 50])
FLIP_2 = np.array([7, 125])                      # a train and a test sample
TOY = dict(hidden=16, grid_size=24, max_steps=150, warm_max_steps=80, layout_iters=60,
           warm_layout_iters=40, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_TEST
    centres = 4 * np.eye(C, H, dtype=np.float32)
    y = np.arange(n) % C
    noise = rng.normal(scale=0.6, size=(n, H)).astype(np.float32)
    images = rng.random((n, 1, 3, 3), dtype=np.float32)
    run = Run.create(tmp_path_factory.mktemp("toy") / "run", train=(images[:N_TRAIN],
                     y[:N_TRAIN]), test=(images[N_TRAIN:], y[N_TRAIN:]))
    head = nn.Linear(H, C)
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(centres))
        head.bias.zero_()
    target = y.copy()
    reps = []
    for epoch, moved in ((0, []), (1, FLIP_1), (2, FLIP_2)):
        target[moved] = (y[moved] + 1) % C
        reps.append(centres[target] + noise)
        run.record_arrays(epoch, representations=reps[-1], head=head,
                          scalars={"loss": 1.0 / (epoch + 1)})
    dvi = DVI(**TOY).fit(run)
    return dict(run=run, dvi=dvi, vis=dvi.visualization(), head=head, reps=reps,
                images=images, labels=y)


def test_visualization_hands_over_inspector_images_and_scalars(toy):
    vis = toy["vis"]
    assert isinstance(vis.inspector, EngineInspector) and isinstance(vis.inspector, Inspector)
    assert vis.scalars.index.tolist() == [0, 1, 2]
    assert vis.scalars["loss"].tolist() == [1.0, 0.5, pytest.approx(1 / 3)]
    assert vis.scalars.loc[1, "train_accuracy"] == pytest.approx(1 - len(FLIP_1) / N_TRAIN)
    assert vis.images.shape == (N_TRAIN + N_TEST, 3, 3)
    idx = [140, 0, 77]                                  # a test sample first
    s = sprite(vis, idx)
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(s.tile_image(j), np.rint(toy["images"][i, 0] * 255))


def test_inspect_gives_softmax_of_the_head_on_psi(toy):
    vis, dvi, head = toy["vis"], toy["dvi"], toy["head"]
    pts = np.array([[0.0, 0.0], [1.5, -2.0], *vis.coords[2, [0, 1, 2]]], np.float32)
    with torch.no_grad():   # computed directly: ψ_t, then the known head g, then softmax
        want = torch.softmax(head(torch.as_tensor(dvi.inverse_transform(pts, 2))), 1).numpy()
    df = explore.inspect_points(vis, pts, epoch=2)
    assert df.attrs["source"] == "model"
    np.testing.assert_allclose(df[vis.class_names].to_numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(df["prediction"], want.argmax(1))
    one = explore.inspect(vis, *pts[1], epoch=2, top=2)
    np.testing.assert_allclose(one["probabilities"].to_numpy(), want[1], rtol=1e-5, atol=1e-6)
    assert one["top"]["class"].tolist() == list(np.argsort(-want[1])[:2])
    assert one["prediction"] == want[1].argmax()
    assert one["confidence"] == pytest.approx(want[1].max(), rel=1e-5)
    renamed = dataclasses.replace(vis, class_names=["x", "b", "b"])     # clashing names
    df2 = explore.inspect_points(renamed, pts, epoch=2)
    assert df2.attrs["probability_columns"] == ["p0", "p1", "p2"]
    np.testing.assert_allclose(df2[["p0", "p1", "p2"]].to_numpy(), want, rtol=1e-5, atol=1e-6)
    # the classes are separable, so the view puts nearly every sample on its predicted class
    at_samples = explore.inspect_points(vis, vis.coords[2], epoch=2)["prediction"]
    assert (at_samples.to_numpy() == vis.predictions[2]).mean() > 0.9


def test_landscape_fallback_agrees_with_the_model_at_cell_centres(toy):
    vis = toy["vis"]
    bare = dataclasses.replace(vis, inspector=None)
    centres = grid_points(vis.extent, vis.landscape_classes.shape[1]).numpy()
    model = explore.inspect_points(vis, centres, epoch=1)
    cells = explore.inspect_points(bare, centres, epoch=1)
    assert cells.attrs["source"] == "landscape"
    assert (model["prediction"] == cells["prediction"]).mean() > 0.999
    np.testing.assert_allclose(model["confidence"], cells["confidence"], atol=1e-4)


def test_high_dimensional_neighbors_are_exact(toy):
    vis, reps = toy["vis"], toy["reps"][1]
    idx, dist = vis.inspector.neighbors(np.array([0, 125, 50]), 1, k=6)
    assert idx.shape == dist.shape == (3, 6) and idx.dtype == np.int64
    for row, i in enumerate([0, 125, 50]):
        d = np.linalg.norm(reps - reps[i], axis=1)
        d[i] = np.inf
        np.testing.assert_array_equal(idx[row], np.argsort(d, kind="stable")[:6])
        np.testing.assert_allclose(dist[row], np.sort(d)[:6], rtol=1e-4)
    nb = explore.neighbors(vis, 50, epoch=1, k=6)
    high = nb[nb.space == "high"]
    np.testing.assert_array_equal(high["sample"], idx[2])
    # ⚠ only for neighbours the view puts far beyond the sample's 2-D neighbourhood
    d2 = np.linalg.norm(vis.coords[1] - vis.coords[1, 50], axis=1)
    d2[50] = np.inf
    radius = np.sort(d2)[5]  # the 6th nearest in 2-D
    far = d2[idx[2]] > explore.SEPARATED_FACTOR * radius
    np.testing.assert_array_equal(high["separated"], far)
    np.testing.assert_allclose(high["spread_2d"], d2[idx[2]] / radius, rtol=1e-6)
    assert (high["separated"] <= (high["rank_2d"] > 6)).all()  # stricter than "not in the 6"
    flat = nb[nb.space == "2d"]
    np.testing.assert_array_equal(flat["separated"], ~np.isin(flat["sample"], idx[2]))
    with pytest.raises(ValueError, match="k must be"):
        vis.inspector.neighbors(np.array([0]), 1, k=N_TRAIN + N_TEST)


def test_events_find_the_known_flips(toy):
    dvi, vis = toy["dvi"], toy["vis"]
    ev = dvi.events()
    flips = ev[ev.kind == "flip"]
    assert set(zip(flips.epoch, flips["sample"], strict=True)) == (
        {(1, int(i)) for i in FLIP_1} | {(2, int(i)) for i in FLIP_2})
    y = toy["labels"]
    f = flips.set_index("sample")
    np.testing.assert_array_equal(f.loc[FLIP_1, "prediction_before"], y[FLIP_1])
    np.testing.assert_array_equal(f.loc[FLIP_1, "prediction"], (y[FLIP_1] + 1) % C)
    assert (f["size"] > 0.9).all()                  # confident before and after: a big shift
    assert f.loc[125, "split"] == "test"
    # a moved training sample gets new high-dimensional neighbours: most of its k are replaced
    nbh = ev[(ev.kind == "neighborhood") & (ev.epoch == 1)]
    assert set(FLIP_1) <= set(nbh["sample"])
    assert (nbh["sample"] < N_TRAIN).all()
    # boundary rows report the landscape classes under the sample, which differ
    b = ev[ev.kind == "boundary"]
    assert (b["cell_before"] != b["cell"]).all()
    for row in b.itertuples():
        h = explore.history(vis, row.sample)
        assert (h.loc[row.previous_epoch, "cell"], h.loc[row.epoch, "cell"]) == (
            row.cell_before, row.cell)
    # the widget gets the same table through the contract
    assert explore.events(vis, kinds=("flip",)).equals(flips.reset_index(drop=True))


def test_landscape_of_a_zoomed_extent_agrees_with_the_stored_cells(toy):
    """Issue 25 item 6: the landscape re-rendered over part of the frame is the stored one where
    they overlap at the stored resolution, finer where asked, cached, and capped."""
    from dvi_widget.contract import Landscapes
    from dvi_widget.engine.inspect import MAX_LANDSCAPE_CELLS

    vis = toy["vis"]
    ins = vis.inspector
    assert isinstance(ins, Landscapes)
    T, G = vis.landscape_classes.shape[:2]
    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    cw, ch = (x1 - x0) / G, (y1 - y0) / G
    # cells rows 3..14, columns 6..19 of the stored grid: the same cell centres
    r0, r1, c0, c1 = 3, 15, 6, 20
    part = (x0 + c0 * cw, x0 + c1 * cw, y1 - r1 * ch, y1 - r0 * ch)
    for epoch, t in ((1, 1), (2, 2)):
        rgba, cls, conf = ins.landscape(epoch, part, (r1 - r0, c1 - c0))
        assert rgba.shape == (r1 - r0, c1 - c0, 4) and rgba.dtype == np.uint8
        stored = vis.landscape_classes[t, r0:r1, c0:c1]
        assert (cls == stored).mean() > 0.99, (cls, stored)
        np.testing.assert_allclose(conf, vis.landscape_confidence[t, r0:r1, c0:c1], atol=1e-4)
        same = (cls == stored)
        # the same shading: identical colours where the class agrees
        np.testing.assert_array_equal(rgba[same], vis.landscape[t, r0:r1, c0:c1][same])
    # 4x finer over the same part: every 4x4 block's classes hold its stored cell's class
    # wherever that cell is not on a class boundary
    fine_cls = ins.landscape(2, part, (4 * (r1 - r0), 4 * (c1 - c0)))[1]
    blocks = fine_cls.reshape(r1 - r0, 4, c1 - c0, 4).transpose(0, 2, 1, 3).reshape(
        r1 - r0, c1 - c0, 16)
    uniform = (blocks == blocks[..., :1]).all(axis=2)
    stored = vis.landscape_classes[2, r0:r1, c0:c1]
    assert uniform.mean() > 0.6
    assert (blocks[..., 0][uniform] == stored[uniform]).mean() > 0.99
    assert len(np.unique(fine_cls)) >= 2  # the part crosses a boundary: the test is not vacuous
    # cached per (epoch, extent, shape): the same arrays come back
    again = ins.landscape(2, part, (4 * (r1 - r0), 4 * (c1 - c0)))
    assert again[1] is fine_cls
    with pytest.raises(ValueError, match="cells"):
        ins.landscape(2, part, (1025, 1025))
    assert MAX_LANDSCAPE_CELLS < 1025 * 1025
    with pytest.raises(ValueError, match="inside the view's frame"):
        ins.landscape(2, (x0 - 1, x1, y0, y1), (8, 8))


def test_what_the_model_sees_is_the_recorded_inputs_nearest_to_the_decoded_point(toy):
    from dvi_widget.contract import Seeing

    vis, dvi, head = toy["vis"], toy["dvi"], toy["head"]
    ins = vis.inspector
    assert isinstance(ins, Seeing)
    pts = vis.coords[2, [0, 5, 140]] + np.float32(0.01)       # near two train and a test sample
    got = ins.sees(pts, 2, k=4)
    assert got["kind"] == "nearest" and got["label"] == ins.SEES_LABEL and got["inputs"] is None
    decoded = dvi.inverse_transform(pts, 2)
    X = toy["reps"][2]                                          # epoch 2, train then test
    d = np.linalg.norm(X[None] - decoded[:, None], axis=2)
    np.testing.assert_array_equal(got["indices"], np.argsort(d, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(got["distances"], np.sort(d, axis=1)[:, :4], rtol=1e-4,
                               atol=1e-4)
    with torch.no_grad():
        g = head(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(got["predictions"], g[got["indices"]])
    np.testing.assert_allclose(got["probabilities"], ins.probabilities(pts, 2), atol=1e-6)
    # what the view shows: those samples' own images (the run's inputs), never a blend
    seen = explore.sees(vis, pts, 2, k=4)
    assert seen["images"].shape == (3, 4, 3, 3) and seen["images"].dtype == np.uint8
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(
                seen["images"][i, j], np.rint(toy["images"][got["indices"][i, j], 0] * 255))


def test_widget_inspect_and_inspect_line_return_what_the_model_sees(toy):
    from dvi_widget.view import widget as widget_module

    if not widget_module.BUNDLE_PATH.is_file():
        pytest.skip("front-end bundle not built")
    vis = toy["vis"]
    w = widget_module.Widget(vis)
    x, y = (float(v) for v in vis.coords[2, 7])
    res = w.inspect(x, y, epoch=2)
    sees = res["sees"]
    assert sees["kind"] == "nearest" and sees["images"].shape == (3, 3, 3)
    assert sees["indices"].shape == (3,) and sees["predictions"].shape == (3,)
    # the click's reply carries the same, with the strip as one PNG
    from dvi_widget.view.frame import to_view

    vx, vy = to_view(vis, np.array([[x, y]], np.float32))[0]
    content, buffers = w._on_inspect({"x": float(vx), "y": float(vy), "epoch": 2}, [])
    assert content["sees"]["indices"] == sees["indices"].tolist()
    assert content["sees"]["tile"] == [3, 3] and buffers[0][:4] == b"\x89PNG"
    # a line from a class-0 sample to a class-1 sample (epoch 0: no flips yet)
    a = vis.coords[0, 0].astype(float)                           # labels: index % 3
    b = vis.coords[0, 1].astype(float)
    line = w.inspect_line(a, b, n=6, epoch=0)
    pts = line["points"]
    assert len(pts) == 6 and line["images"].shape == (6, 3, 3)
    np.testing.assert_allclose(pts[["x", "y"]].to_numpy()[[0, -1]], [a, b], atol=1e-6)
    assert pts["prediction"].iloc[0] == 0 and pts["prediction"].iloc[-1] == 1
    # each image is the nearest recorded input to ψ_0 at that spot, with g_0's class for it
    for _, row in pts.iterrows():
        seen = vis.inspector.sees(np.array([[row.x, row.y]], np.float32), 0, k=1)
        assert row["sample"] == seen["indices"][0, 0]
        assert row["sample_prediction"] == seen["predictions"][0, 0]
    with pytest.raises(ValueError, match="leaves the view's extent"):
        w.inspect_line(a, (1e6, 1e6), epoch=0)


def test_a_drawn_line_is_answered_with_the_strip_of_what_the_model_sees(toy):
    from dvi_widget.view import widget as widget_module
    from dvi_widget.view.frame import to_view

    if not widget_module.BUNDLE_PATH.is_file():
        pytest.skip("front-end bundle not built")
    vis = toy["vis"]
    w = widget_module.Widget(vis)
    a, b = vis.coords[0, 0], vis.coords[0, 1]
    (ax, ay), (bx, by) = to_view(vis, np.stack([a, b]))
    content, buffers = w._on_sees_line({"x0": float(ax), "y0": float(ay), "x1": float(bx),
                                        "y1": float(by), "epoch": 0, "n": 5}, [])
    line = w.inspect_line(a, b, n=5, epoch=0)
    assert content["predictions"] == line["points"]["prediction"].tolist()
    assert content["samples"] == line["points"]["sample"].tolist()
    assert content["tile"] == [3, 3] and buffers[0][:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="n must be"):
        w.inspect_line(a, b, n=1000, epoch=0)
