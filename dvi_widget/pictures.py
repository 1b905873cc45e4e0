"""Pictures and movies of a :class:`~dvi_widget.contract.Visualization`, from Python, headless.

- :func:`plot` (``vis.plot(epoch)``): a matplotlib figure of one epoch: the landscape as one
  raster image under the points, which are vector marks (a PDF or SVG keeps them sharp at any
  zoom: a paper's figure), the selection on top, a legend of the classes.
- :func:`animate` (``vis.animate("training.gif")``): the playback, with eased transitions
  between epochs (points glide along a smoothstep curve, the landscape cross-fades), optional
  trails of the selected points; a GIF through Pillow (one palette for the whole movie, built
  from the frames themselves, and Floyd–Steinberg dithering, so the landscape's gradients do not
  band) or an MP4 through PyAV (``pip install "dvi_widget[video]"``).

matplotlib is imported here only (never by ``import dvi_widget``), with its Agg canvas: no
display and no pyplot state are needed. Colours are the contract's palette; points are coloured
by their given label or by the epoch's prediction (``color_by``), as in the widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .contract import Visualization

#: points' size (area in pt²) for N points: readable for 100, not a blot for 50,000
_MIN_SIZE, _MAX_SIZE = 2.5, 36.0


def _size(n: int) -> float:
    return float(np.clip(6000.0 / max(n, 1), _MIN_SIZE, _MAX_SIZE))


def _epoch_pos(vis: Visualization, epoch: int | None) -> int:
    return len(vis.epochs) - 1 if epoch is None else vis.epoch_index(int(epoch))


def _selection(vis: Visualization, selection: Sequence[int] | np.ndarray | None) -> np.ndarray:
    if selection is None:
        return np.zeros(0, np.int64)
    sel = np.asarray(selection)
    if sel.dtype == np.bool_:
        if sel.shape != (vis.n_samples,):
            raise ValueError(f"selection: a boolean mask must have {vis.n_samples} entries")
        sel = np.flatnonzero(sel)
    sel = np.atleast_1d(sel).astype(np.int64)
    if sel.size and (sel.min() < 0 or sel.max() >= vis.n_samples):
        raise ValueError(f"selection must hold sample indices in [0, {vis.n_samples})")
    return np.unique(sel)


def _classes(vis: Visualization, pos: int, color_by: str) -> np.ndarray:
    if color_by == "label":
        return vis.labels
    if color_by == "prediction":
        return vis.predictions[pos]
    raise ValueError(f"color_by must be 'label' or 'prediction', got {color_by!r}")


class _Scene:
    """The artists of one axes, updated in place frame after frame (fast animation)."""

    def __init__(self, ax: Axes, vis: Visualization, *, selection: np.ndarray, color_by: str,
                 size: float | None, landscape: bool, legend: bool, trails: int) -> None:
        from matplotlib.lines import Line2D

        self.ax, self.vis, self.selection = ax, vis, selection
        self.color_by, self.trails = color_by, int(trails)
        x0, x1, y0, y1 = (float(v) for v in vis.extent)
        self.rgb = vis.palette.astype(np.float64) / 255.0
        self.image = None
        if landscape and vis.landscape.shape[1] > 1:
            self.image = ax.imshow(vis.landscape[0], extent=(x0, x1, y0, y1), origin="upper",
                                   interpolation="bilinear", zorder=0, aspect="equal")
        s = _size(vis.n_samples) if size is None else float(size)
        self.dimmed = len(selection) > 0
        self.points = ax.scatter(vis.coords[0, :, 0], vis.coords[0, :, 1], s=s, linewidths=0,
                                 zorder=2, rasterized=False)
        self.chosen = ax.scatter([], [], s=max(4 * s, 16.0), linewidths=0.8,
                                 edgecolors="black", zorder=4) if len(selection) else None
        self.trail_lines = [ax.plot([], [], lw=0.8, alpha=0.7, zorder=3)[0]
                            for _ in selection] if self.trails and len(selection) else []
        for artist, gid in ((self.image, "dvi-landscape"), (self.points, "dvi-points"),
                            (self.chosen, "dvi-selection")):
            if artist is not None:  # named groups in an SVG
                artist.set_gid(gid)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        self.title = ax.set_title("", fontsize=11)
        if legend:
            handles = [Line2D([], [], marker="o", linestyle="", markersize=6,
                              markerfacecolor=self.rgb[c], markeredgewidth=0, label=name)
                       for c, name in enumerate(vis.class_names)]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      frameon=False, fontsize=8, title="label" if color_by == "label" else
                      "prediction", title_fontsize=8)

    def draw(self, pos: int, nxt: int | None = None, t: float = 0.0,
             history: list[np.ndarray] | None = None) -> None:
        """Epoch ``pos``, or the eased blend ``t`` (0..1) between ``pos`` and ``nxt``."""
        vis = self.vis
        xy = vis.coords[pos].astype(np.float64)
        show = pos
        if nxt is not None and t > 0:
            xy = (1 - t) * xy + t * vis.coords[nxt]
            show = nxt if t >= 0.5 else pos
        classes = _classes(vis, show, self.color_by)
        colors = np.concatenate([self.rgb[classes], np.ones((len(classes), 1))], axis=1)
        if self.dimmed:
            colors[:, 3] = 0.25
        self.points.set_offsets(xy)
        self.points.set_facecolors(colors)
        if self.chosen is not None:
            self.chosen.set_offsets(xy[self.selection])
            self.chosen.set_facecolors(self.rgb[classes[self.selection]])
        if self.image is not None:
            img = vis.landscape[pos]
            if nxt is not None and t > 0:
                img = ((1 - t) * img + t * vis.landscape[nxt]).round().astype(np.uint8)
            self.image.set_data(img)
        for i, line in enumerate(self.trail_lines):
            path = [h[self.selection[i]] for h in (history or [])] + [xy[self.selection[i]]]
            path_xy = np.asarray(path)
            line.set_data(path_xy[:, 0], path_xy[:, 1])
            line.set_color(self.rgb[classes[self.selection[i]]])
        epoch = int(vis.epochs[show])
        self.title.set_text(f"epoch {epoch}")


def plot(
    vis: Visualization,
    epoch: int | None = None,
    ax: Axes | None = None,
    *,
    selection: Sequence[int] | np.ndarray | None = None,
    color_by: str = "label",
    size: float | None = None,
    landscape: bool = True,
    legend: bool = True,
    figsize: tuple[float, float] = (6.4, 5.2),
    dpi: float = 100,
) -> Figure:
    """A matplotlib figure of epoch ``epoch`` (an epoch number as recorded; default the last).

    Parameters
    ----------
    ax : draw into these axes (their figure is returned); default a new figure of ``figsize``
        inches at ``dpi``, not registered with pyplot (``fig.savefig("fig.pdf")`` works headless;
        in a notebook the returned figure displays itself).
    selection : sample indices (or a boolean mask) drawn large with a black outline over the
        others, which are dimmed.
    color_by : ``"label"`` (the given class) or ``"prediction"`` (this epoch's).
    size : the points' area in pt² (default from the number of points).
    landscape : draw the decision landscape (one raster image under the vector points).
    legend : a legend of the classes beside the axes.
    """
    from matplotlib.figure import Figure

    pos = _epoch_pos(vis, epoch)
    if ax is None:
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        ax = fig.add_subplot()
        # a figure made without pyplot: a notebook shows it as a PNG even when no matplotlib
        # backend registered a display hook (the inline backend's own hook wins when it did)
        fig._repr_png_ = lambda: _png_bytes(fig)
    else:
        fig = ax.figure
    scene = _Scene(ax, vis, selection=_selection(vis, selection), color_by=color_by, size=size,
                   landscape=landscape, legend=legend, trails=0)
    scene.draw(pos)
    return fig


def _png_bytes(fig: Figure) -> bytes:
    import io

    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def ease(t: np.ndarray | float) -> np.ndarray:
    """Smoothstep easing 3t² − 2t³ on [0, 1]: starts and ends at rest."""
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def frame_plan(n_epochs: int, frames_per_epoch: int) -> list[tuple[int, int | None, float]]:
    """``(epoch position, next position or None, eased t)`` for every frame of a movie over
    ``n_epochs`` epochs: ``frames_per_epoch`` frames from each epoch to the next, then the last
    epoch once: ``(n_epochs - 1) * frames_per_epoch + 1`` frames."""
    plan: list[tuple[int, int | None, float]] = []
    for pos in range(n_epochs - 1):
        for k in range(frames_per_epoch):
            plan.append((pos, pos + 1, float(ease(k / frames_per_epoch))))
    plan.append((n_epochs - 1, None, 0.0))
    return plan


def _render(fig: Figure) -> np.ndarray:
    """The figure as (H, W, 3) uint8 RGB, through its Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _gif_palette(frames: list[np.ndarray], reserved: np.ndarray) -> Any:  # noqa: ANN401 - PIL
    """One 256-colour palette for the whole movie: the ``reserved`` colours exactly (the class
    colours, black, white and greys for text), the rest by median cut over a montage of frames
    spread over the movie (so the landscape's gradients get most entries)."""
    from PIL import Image

    reserved = np.unique(np.asarray(reserved, np.uint8).reshape(-1, 3), axis=0)[:128]
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, min(8, len(frames))).astype(int)]
    montage = np.concatenate([f[::2, ::2] for f in picks], axis=0)
    cut = Image.fromarray(montage).quantize(colors=256 - len(reserved),
                                            method=Image.Quantize.MEDIANCUT)
    learned = np.asarray(cut.getpalette()[: 3 * (256 - len(reserved))], np.uint8).reshape(-1, 3)
    colours = np.concatenate([reserved, learned])
    colours = np.concatenate([colours, np.zeros((256 - len(colours), 3), np.uint8)])
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours.reshape(-1).tolist())
    return palette


def reserved_colours(vis: Visualization) -> np.ndarray:
    """Colours a movie's palette keeps exactly: the classes', black, white and 14 greys."""
    greys = np.repeat(np.linspace(0, 255, 16).round().astype(np.uint8)[:, None], 3, axis=1)
    return np.concatenate([vis.palette.astype(np.uint8), greys])


def write_gif(path: Path, frames: list[np.ndarray], fps: float, reserved: np.ndarray,
              dither: bool = True) -> None:
    """Frames (H, W, 3) uint8 as a looping GIF: one shared palette (:func:`_gif_palette`),
    Floyd–Steinberg dithered unless ``dither=False``."""
    from PIL import Image

    palette = _gif_palette(frames, reserved)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    images = [Image.fromarray(f).quantize(palette=palette, dither=mode) for f in frames]
    duration = max(20, int(round(1000 / fps)))  # browsers clamp delays under 20 ms

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration, loop=0, optimize=False, disposal=1)

    atomic_write(path, write)


def write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """Frames as an H.264 MP4 (yuv420p, even sizes) through PyAV."""
    try:
        import av
    except ImportError as err:
        raise ImportError('an MP4 needs PyAV: pip install "dvi_widget[video]" (or pip install '
                          'av); a .gif needs only Pillow') from err
    from fractions import Fraction

    h, w = (s - s % 2 for s in frames[0].shape[:2])

    def write(tmp: Path) -> None:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "20", "preset": "medium"}
            for f in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]),
                                                   format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())

    atomic_write(path, write)


def movie_frames(
    vis: Visualization,
    *,
    epochs: Sequence[int] | None = None,
    fps: float = 12,
    frames_per_epoch: int | None = None,
    selection: Sequence[int] | np.ndarray | None = None,
    trails: int = 0,
    color_by: str = "label",
    size_px: tuple[int, int] = (800, 800),
    landscape: bool = True,
    legend: bool = True,
) -> list[np.ndarray]:
    """The frames of :func:`animate` as (H, W, 3) uint8 RGB arrays (same arguments)."""
    from matplotlib.figure import Figure

    positions = (list(range(len(vis.epochs))) if epochs is None
                 else [vis.epoch_index(int(e)) for e in epochs])
    if not positions:
        raise ValueError("epochs is empty; pass at least one epoch")
    if not (isinstance(fps, int | float) and 0 < fps <= 100):
        raise ValueError(f"fps must be a number in (0, 100], got {fps!r}")
    steps = max(2, int(round(fps / 2))) if frames_per_epoch is None else int(frames_per_epoch)
    if steps < 1:
        raise ValueError(f"frames_per_epoch must be >= 1, got {frames_per_epoch!r}")
    width, height = (int(v) for v in size_px)
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValueError(f"size_px must lie between 16 and 4096 pixels a side, got {size_px}")
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    sel = _selection(vis, selection)
    scene = _Scene(ax, vis, selection=sel, color_by=color_by, size=None, landscape=landscape,
                   legend=legend, trails=trails)
    fig.canvas.draw()  # the constrained layout is settled once, so frames do not jitter
    fig.set_layout_engine("none")
    frames = []
    for i, nxt, t in frame_plan(len(positions), steps):
        pos = positions[i]
        nxt_pos = positions[nxt] if nxt is not None else None
        history = ([vis.coords[positions[j]] for j in range(max(0, i - trails + 1), i + 1)]
                   if trails and len(sel) else None)
        scene.draw(pos, nxt_pos, t, history)
        frames.append(_render(fig))
    return frames


def animate(
    vis: Visualization,
    path: str | Path,
    *,
    epochs: Sequence[int] | None = None,
    fps: float = 12,
    frames_per_epoch: int | None = None,
    selection: Sequence[int] | np.ndarray | None = None,
    trails: int = 0,
    color_by: str = "label",
    size_px: tuple[int, int] = (800, 800),
    landscape: bool = True,
    legend: bool = True,
    dither: bool = True,
) -> Path:
    """Write the playback of ``epochs`` (default all) to ``path``: ``.gif`` or ``.mp4``.

    Parameters
    ----------
    fps : frames per second.
    frames_per_epoch : frames of the eased transition from one epoch to the next (default
        ``fps / 2``: half a second per epoch). The movie has
        ``(len(epochs) - 1) * frames_per_epoch + 1`` frames.
    selection : sample indices drawn large over the dimmed others (as in :func:`plot`).
    trails : with a selection, each selected point draws its path over the last ``trails``
        epochs.
    size_px : (width, height) of a frame in pixels.
    dither : a GIF's colours are Floyd–Steinberg dithered (no banding in the landscape; the
        file is larger); ``False`` for a smaller file.

    Returns the path written (atomically: a reader never sees half a movie).
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".gif", ".mp4"):
        raise ValueError(f"animate writes a .gif or an .mp4, got {path.name!r}")
    frames = movie_frames(vis, epochs=epochs, fps=fps, frames_per_epoch=frames_per_epoch,
                          selection=selection, trails=trails, color_by=color_by,
                          size_px=size_px, landscape=landscape, legend=legend)
    if kind == ".gif":
        write_gif(path, frames, fps, reserved_colours(vis), dither)
    else:
        write_mp4(path, frames, fps)
    return path
