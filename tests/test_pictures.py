"""Issue 23 item 3: vis.plot and vis.animate, headless: a known point is drawn at its
coordinates in its class colour, points stay vector over a raster landscape, a movie has the
expected frames, decodable by Pillow (GIF) and PyAV (MP4), and the GIF's palette does not band."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from dvi_widget.contract import Visualization
from dvi_widget.pictures import _render, ease, frame_plan, movie_frames


def gradient_vis(T: int = 3) -> Visualization:
    """3 far-apart points of classes 0, 1, 2 over a smooth landscape (a slow gradient)."""
    coords = np.array([[[-0.6, -0.5], [0.55, 0.4], [0.0, 0.7]]], np.float32).repeat(T, 0)
    coords[:, 0] += np.linspace(0, 0.2, T)[:, None]  # point 0 moves right epoch by epoch
    h = 64
    yy, xx = np.mgrid[0:h, 0:h] / (h - 1)
    land = np.zeros((T, h, h, 4), np.uint8)
    for t in range(T):
        land[t, ..., 0] = 150 + 90 * xx
        land[t, ..., 1] = 170 + 70 * yy
        land[t, ..., 2] = 230 - 40 * xx * yy + 5 * t
        land[t, ..., 3] = 255
    return Visualization.from_arrays(coords=coords, labels=np.array([0, 1, 2]),
                                     landscape=land, extent=(-1, 1, -1, 1),
                                     class_names=["cat", "dog", "emu"],
                                     palette=np.array([[200, 30, 30], [20, 120, 220],
                                                       [30, 160, 60]], np.uint8))


def test_a_point_is_drawn_at_its_coordinates_in_its_class_colour():
    vis = gradient_vis()
    fig = vis.plot(1, size=400, legend=False, landscape=False)
    pixels = _render(fig)
    ax = fig.axes[0]
    height = pixels.shape[0]
    for i, colour in enumerate(vis.palette):
        x, y = ax.transData.transform(vis.coords[1, i])  # display pixels, origin bottom-left
        row, col = int(round(height - y)), int(round(x))
        np.testing.assert_array_equal(pixels[row, col], colour)
    # 15 px off the point: the background, not the colour
    x, y = ax.transData.transform(vis.coords[1, 0])
    assert tuple(pixels[int(round(height - y)), int(round(x)) + 15]) == (255, 255, 255)
    assert ax.get_title() == "epoch 1"


def test_points_are_vector_over_one_raster_landscape():
    vis = gradient_vis()
    fig = vis.plot(selection=[2], legend=True)
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    text = svg.getvalue()
    def group(gid):  # what matplotlib writes for an artist with that gid, up to the next one
        return text.split(f'id="{gid}"', 1)[1].split('<g id="', 1)[0]

    assert len(re.findall(r"<image ", text)) == 1  # the landscape, once, as a raster
    assert re.search(r'<image [^>]*id="dvi-landscape"', text)
    # the points are vector marks: one <use> of a marker path per point
    assert len(re.findall(r"<use ", group("dvi-points"))) == 3
    assert len(re.findall(r"<use ", group("dvi-selection"))) == 1
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["cat", "dog", "emu"]
    # a notebook displays the figure (made without pyplot) as a PNG of its size
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (640, 520)


def test_plot_into_given_axes_and_colour_by_prediction():
    from matplotlib.figure import Figure

    vis = Visualization.from_arrays(coords=np.zeros((2, 2, 2)) + [[0.5, 0.5]], labels=[0, 1],
                                    predictions=np.array([[0, 1], [1, 1]]), extent=(-1, 1, -1, 1))
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert vis.plot(1, ax=ax, color_by="prediction") is fig
    faces = ax.collections[0].get_facecolors()[:, :3]
    np.testing.assert_allclose(faces * 255, vis.palette[[1, 1]], atol=0.5)
    with pytest.raises(ValueError, match="color_by"):
        vis.plot(color_by="size")


def test_frames_ease_between_epochs():
    plan = frame_plan(3, 4)
    assert len(plan) == 2 * 4 + 1 and plan[-1] == (2, None, 0.0)
    assert [p[2] for p in plan[:4]] == pytest.approx(list(ease(np.arange(4) / 4)))
    assert ease(0.5) == 0.5 and ease(0.1) < 0.1 and ease(0.9) > 0.9  # slow in, slow out


def test_gif_has_every_frame_and_does_not_band(tmp_path):
    vis = gradient_vis(T=3)
    path = vis.animate(tmp_path / "training.gif", fps=10, frames_per_epoch=3,
                       size_px=(240, 200), selection=[0], trails=2)
    with Image.open(path) as gif:
        assert gif.n_frames == (3 - 1) * 3 + 1 and gif.size == (240, 200)
        assert gif.info["duration"] == 100 and gif.info["loop"] == 0
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB")).astype(int)
    # the same frame before quantization
    truth = movie_frames(vis, fps=10, frames_per_epoch=3, size_px=(240, 200), selection=[0],
                         trails=2)[-1].astype(int)
    # the smooth landscape keeps its gradient: averaged over 5x5 pixels, the dithered colours
    # match the truth (median error 0.6 levels; without dithering the palette's steps leave a
    # systematic error, 2.0 levels here: banding)
    from scipy.ndimage import uniform_filter

    error = np.abs(uniform_filter(last.astype(float), (5, 5, 1))
                   - uniform_filter(truth.astype(float), (5, 5, 1))).max(axis=2)
    assert np.median(error) < 1.2
    # and the class colours are kept exactly (reserved palette entries): the selected point
    red = (truth == vis.palette[0]).all(axis=2)
    assert red.sum() > 20 and (last[red] == vis.palette[0]).all(axis=1).mean() > 0.9
    with pytest.raises(ValueError, match=r"\.gif or an \.mp4"):
        vis.animate(tmp_path / "x.webm")


def test_mp4_through_pyav(tmp_path):
    av = pytest.importorskip("av")
    vis = gradient_vis(T=2)
    path = vis.animate(tmp_path / "training.mp4", fps=10, frames_per_epoch=5, size_px=(161, 120))
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 + 1 and frames[0].shape == (120, 160, 3)  # even width for yuv420p
