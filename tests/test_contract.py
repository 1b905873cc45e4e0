"""The engine <-> widget contract: validation, defaults, persistence."""

import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from dvi_widget import contract as vis_module
from dvi_widget.contract import Visualization, default_palette, square_extent
from dvi_widget.data.images import ImageArray


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


def test_tables_round_trip_without_pickles(tmp_path):
    md = pd.DataFrame({
        "split": pd.Categorical(["train", "test"] * 10, categories=["train", "test"]),
        "source": ["web", None] * 10,
        "score": np.linspace(0, 1, 20),
        "noisy": np.arange(20) % 3 == 0,
        "seen": pd.date_range("2024-01-01", periods=20, freq="h"),
    })
    metrics = pd.DataFrame({"nn_pv_15_train": [0.3, 0.4, 0.5], "ppr_train": [0.9, 0.95, 1.0]},
                           index=pd.Index([0, 1, 2], name="epoch"))
    _vis(metadata=md, metrics=metrics).save(tmp_path / "vis")
    back = Visualization.load(tmp_path / "vis")
    pd.testing.assert_frame_equal(back.metadata, md)
    pd.testing.assert_frame_equal(back.metrics, metrics)
    assert sorted(p.name for p in (tmp_path / "vis").iterdir()) == [
        "arrays.npz", "meta.json", "metadata.npz", "metrics.npz"]


def test_scalars_and_images_round_trip(tmp_path):
    scalars = pd.DataFrame({"train_loss": [1.0, 0.5, 0.25], "lr": [0.1, 0.1, 0.01]},
                           index=pd.Index([0, 1, 2], name="epoch"))
    raw = np.random.default_rng(1).random((20, 1, 6, 5)).astype(np.float32)  # raw inputs
    with pytest.raises(ValueError, match="ImageArray"):  # the contract holds pixels only
        _vis(images=raw)
    vis = _vis(scalars=scalars, images=ImageArray(raw))
    vis.save(tmp_path / "vis")
    back = Visualization.load(tmp_path / "vis")
    pd.testing.assert_frame_equal(back.scalars, vis.scalars)
    assert back.images.dtype == np.uint8 and back.images.shape[0] == 20
    np.testing.assert_array_equal(back.images[[3, 7]], vis.images[[3, 7]])
    assert back.inspector is None  # live queries are never saved


class _Payload:
    """A pickle that writes a file when it is loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_never_runs_code_from_the_folder(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    saved = tmp_path / "vis"
    vis = _vis(metadata=pd.DataFrame({"noisy": np.arange(20) % 2 == 0}))
    vis.save(saved)
    # where the first format kept its tables: never opened by the current format
    (saved / "metadata.pkl").write_bytes(payload)
    (saved / "metrics.pkl").write_bytes(payload)
    back = Visualization.load(saved)
    pd.testing.assert_frame_equal(back.metadata, vis.metadata)
    assert back.metrics is None
    assert not marker.exists()
    # a folder in the first format is refused, with the reason and the fix
    (saved / "meta.json").write_text(json.dumps({"class_names": vis.class_names, "format": 1}))
    with pytest.raises(ValueError, match=r"format 1 .*pickles \(metadata.pkl, metrics.pkl\), "
                                         r"which are not read .*Save it again"):
        Visualization.load(saved)
    assert not marker.exists()
    pd.read_pickle(saved / "metadata.pkl")  # the payload is live: this is what load avoids
    assert marker.exists()


def test_save_is_atomic_and_keeps_other_folders(tmp_path, monkeypatch):
    saved = tmp_path / "vis"
    first = _vis()
    first.save(saved)
    calls = []

    def full_disk(path, **arrays):
        calls.append(path)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vis_module, "write_npz", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _vis(T=2).save(saved)
    monkeypatch.undo()
    assert calls and Visualization.load(saved).n_epochs == 3  # the old save is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vis"]  # no temporary folder left
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_text("x")
    with pytest.raises(FileExistsError, match="not a saved Visualization"):
        first.save(photos)
    assert (photos / "cat.jpg").exists()


def test_palette_is_stable_distinct_and_never_white():
    p10, p30 = default_palette(10), default_palette(30)
    np.testing.assert_array_equal(p30[:10], p10)
    assert len({tuple(c) for c in p30}) == 30
    assert (p30.astype(int).sum(axis=1) < 3 * 250).all()


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..255) -> CIELAB (D65), the textbook formulas."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]]).T / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                     200 * (f[:, 1] - f[:, 2])], axis=1)


def _closest_pair(palette: np.ndarray) -> float:
    lab = _lab(palette)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def test_palette_tells_60_classes_apart():
    # the first ten are Tableau-10 as before (screenshots keep their colours)
    tab10 = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
             [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]]
    np.testing.assert_array_equal(default_palette(10), tab10)
    p = default_palette(215)
    # CIELAB ΔE*ab (CIE76): about 2.3 is a just-noticeable difference side by side
    assert _closest_pair(p[:20]) >= 27.0
    assert _closest_pair(p[:60]) >= 13.5
    assert _closest_pair(p) >= 8.5
    assert _lab(p)[:, 0].max() <= 80.5  # nothing close to the white of the landscape's edges


def test_palette_beyond_its_colours_repeats_with_a_warning():
    with pytest.warns(UserWarning, match="300 classes but only 215 distinguishable colours"):
        p = default_palette(300)
    np.testing.assert_array_equal(p[215:], p[:85])


def test_square_extent_pads_degenerate_input():
    ext = square_extent(np.zeros((1, 4, 2)))
    assert ext[1] > ext[0] and ext[3] > ext[2]


# ---------------------------------------------------------------------- issue 26: overwrite, bombs
def test_save_never_deletes_files_it_did_not_write(tmp_path):
    """A folder holding a meta.json is not necessarily ours: its other files survive."""
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"title": "my thesis"}))
    (folder / "thesis.tex").write_text("\\section{Results}")
    with pytest.raises(FileExistsError, match=r"thesis.*not written by dvi_widget.*thesis\.tex"):
        _vis().save(folder)
    assert (folder / "thesis.tex").read_text() == "\\section{Results}"
    # a real save with a stranger beside it: refused, naming the stranger
    saved = tmp_path / "vis"
    _vis().save(saved)
    (saved / "thesis.tex").write_text("draft")
    with pytest.raises(FileExistsError, match=r"vis holds a saved Visualization but also "
                                              r"thesis\.tex"):
        _vis(T=2).save(saved)
    assert (saved / "thesis.tex").read_text() == "draft"
    assert Visualization.load(saved).n_epochs == 3
    (saved / "thesis.tex").unlink()
    _vis(T=2).save(saved)  # only its own files: replaced
    assert Visualization.load(saved).n_epochs == 2
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["written_by"] == "dvi_widget.Visualization"
    assert meta["files"] == sorted(p.name for p in saved.iterdir())


def test_save_replaces_a_folder_saved_before_the_marker_existed(tmp_path):
    saved = tmp_path / "vis"
    _vis(metadata=pd.DataFrame({"a": range(20)})).save(saved)
    meta = json.loads((saved / "meta.json").read_text())
    del meta["written_by"], meta["files"]  # as dvi_widget 0.2 wrote it
    (saved / "meta.json").write_text(json.dumps(meta))
    _vis(T=2).save(saved)
    assert sorted(p.name for p in saved.iterdir()) == ["arrays.npz", "meta.json"]


def _deflated_member(zf, name, shape, dtype="<f4"):
    """Add an all-zero array to an open zip, deflated: tiny on disk, ``shape`` when read."""
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False,
                                                  "shape": shape})
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    info = zipfile.ZipInfo(f"{name}.npy")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        fh.write(header.getvalue())
        chunk = bytes(1 << 22)
        for start in range(0, nbytes, len(chunk)):
            fh.write(chunk[: min(len(chunk), nbytes - start)])


def test_load_refuses_a_zip_bomb_before_decompressing(tmp_path):
    import tracemalloc
    import zipfile

    saved = tmp_path / "vis"
    _vis().save(saved)
    arrays = dict(np.load(saved / "arrays.npz"))
    with zipfile.ZipFile(saved / "arrays.npz", "w", zipfile.ZIP_STORED) as zf:
        for k, v in arrays.items():
            if k != "confidence":
                buf = io.BytesIO()
                np.save(buf, v)
                zf.writestr(f"{k}.npy", buf.getvalue())
        _deflated_member(zf, "confidence", (3, 20 * 1024 * 1024))  # 240 MiB of zeros
    assert (saved / "arrays.npz").stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"arrays\.npz.*'confidence'.*refused"):
            Visualization.load(saved)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak


def test_load_refuses_shapes_that_do_not_fit_the_coords(tmp_path):
    saved = tmp_path / "vis"
    _vis().save(saved)
    arrays = dict(np.load(saved / "arrays.npz"))
    arrays["labels"] = np.zeros(21, np.int64)  # 21 labels for 20 samples
    np.savez(saved / "arrays.npz", **arrays)
    with pytest.raises(ValueError, match=r"'labels' declares shape \(21,\)"):
        Visualization.load(saved)
    # a header that claims far more than the member holds
    import zipfile

    with zipfile.ZipFile(saved / "arrays.npz", "a") as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        zf.writestr("boundary.npy", header.getvalue() + bytes(16))
    with pytest.raises(ValueError, match=r"'boundary' declares shape \(1000000000000,\)"):
        Visualization.load(saved)
