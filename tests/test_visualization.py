"""The engine <-> widget contract: validation, defaults, persistence."""

import numpy as np
import pandas as pd
import pytest

from dvi_widget.view.visualization import Visualization, default_palette, square_extent


def _vis(T=3, N=20, C=4, **kw):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(T, N, 2))
    labels = np.arange(N) % C
    preds = np.stack([np.roll(labels, t) for t in range(T)])
    return Visualization.from_arrays(coords=coords, labels=labels, predictions=preds,
                                     class_names=[f"c{i}" for i in range(C)], **kw)


def test_from_arrays_fills_defaults_and_dtypes():
    vis = _vis()
    assert vis.coords.dtype == np.float32 and vis.coords.shape == (3, 20, 2)
    assert vis.predictions.dtype == np.int64 and vis.confidence.shape == (3, 20)
    assert vis.landscape.shape == (3, 1, 1, 4) and vis.landscape.dtype == np.uint8
    assert vis.epochs.tolist() == [0, 1, 2]
    assert set(vis.split) == {"train"}
    assert vis.palette.shape == (4, 3)
    # the extent is square and holds every point of every epoch
    x0, x1, y0, y1 = vis.extent
    assert x1 - x0 == pytest.approx(y1 - y0)
    pts = vis.coords.reshape(-1, 2)
    assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all()
    assert (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()


def test_single_epoch_coords_are_promoted():
    vis = Visualization.from_arrays(coords=np.zeros((5, 2)) + np.arange(5)[:, None],
                                    labels=[0, 1, 0, 1, 0])
    assert vis.coords.shape == (1, 5, 2)
    assert vis.class_names == ["0", "1"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"coords": np.zeros((2, 5, 3))}, r"\(T, N, 2\)"),
        ({"labels": np.zeros(4, int)}, "labels must be"),
        ({"predictions": np.zeros((1, 5), int)}, "predictions must be"),
        ({"confidence": np.zeros((2, 4))}, "confidence must be"),
        ({"landscape": np.zeros((2, 4, 4, 3), np.uint8)}, "landscape must be"),
        ({"landscape": np.zeros((2, 4, 4, 4), np.float32)}, "uint8"),
        ({"extent": (1, 0, 0, 1)}, "x0<x1"),
        ({"epochs": [3, 3]}, "distinct"),
        ({"class_names": ["a"]}, "class id 1"),
        ({"palette": np.zeros((3, 3), np.uint8)}, "palette"),
        ({"boundary": np.zeros((1, 4, 2))}, "boundary"),
        ({"metadata": pd.DataFrame({"a": [1, 2]})}, "metadata"),
    ],
)
def test_bad_fields_raise_clear_errors(kw, match):
    base = {
        "coords": np.random.default_rng(1).normal(size=(2, 5, 2)),
        "labels": np.array([0, 1, 0, 1, 0]),
    }
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        Visualization.from_arrays(**base)


def test_nan_coordinates_are_refused():
    coords = np.zeros((1, 3, 2))
    coords[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Visualization.from_arrays(coords=coords, labels=[0, 0, 0], extent=(0, 1, 0, 1))


def test_epoch_index_names_available_epochs():
    vis = _vis(epochs=np.array([5, 7, 9]))
    assert vis.epoch_index(7) == 1
    with pytest.raises(ValueError, match=r"\[5, 7, 9\]"):
        vis.epoch_index(6)


def test_save_and_load_round_trip(tmp_path):
    md = pd.DataFrame({"noisy": np.arange(20) % 2 == 0})
    vis = _vis(metadata=md, boundary=np.ones((3, 6, 2), np.float32),
               landscape=np.full((3, 8, 8, 4), 7, np.uint8))
    vis.save(tmp_path / "vis")
    back = Visualization.load(tmp_path / "vis")
    for name in ("epochs", "coords", "extent", "landscape", "labels", "predictions",
                 "confidence", "palette", "boundary"):
        np.testing.assert_array_equal(getattr(back, name), getattr(vis, name))
    assert back.class_names == vis.class_names
    assert back.split.tolist() == vis.split.tolist()
    pd.testing.assert_frame_equal(back.metadata, vis.metadata)
    with pytest.raises(FileNotFoundError, match="arrays.npz"):
        Visualization.load(tmp_path / "nope")


def test_palette_is_stable_distinct_and_never_white():
    p10, p30 = default_palette(10), default_palette(30)
    np.testing.assert_array_equal(p30[:10], p10)
    assert len({tuple(c) for c in p30}) == 30
    assert (p30.astype(int).sum(axis=1) < 3 * 250).all()


def test_square_extent_pads_degenerate_input():
    ext = square_extent(np.zeros((1, 4, 2)))
    assert ext[1] > ext[0] and ext[3] > ext[2]
