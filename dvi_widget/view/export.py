"""Static exports of a widget's view: a PNG encoder, a plotly figure and a self-contained HTML page.

The PNG encoder is hand-written (zlib + struct from the standard library) because Pillow is not a
dependency; it writes 8-bit RGBA only, which is all the landscape needs.
"""

from __future__ import annotations

import base64
import html
import json
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go


def encode_png(rgba: np.ndarray) -> bytes:
    """Encode an (H, W, 4) uint8 array as a PNG file (row 0 at the top)."""
    img = np.ascontiguousarray(rgba, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 4:
        raise ValueError(f"encode_png needs an (H, W, 4) uint8 array, got shape {img.shape}")
    H, W = img.shape[:2]
    # Each scanline starts with filter type 0 (None).
    raw = np.concatenate([np.zeros((H, 1), np.uint8), img.reshape(H, W * 4)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        crc = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + body + crc

    header = struct.pack(">IIBBBBB", W, H, 8, 6, 0, 0, 0)  # 8-bit, colour type 6 = RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def png_data_url(rgba: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an (H, W, 4) uint8 image."""
    return "data:image/png;base64," + base64.b64encode(encode_png(rgba)).decode("ascii")


def build_figure(vis: Any, pos: int, *, point_size: float = 4.0,  # noqa: ANN401
                 show: str = "both", landscape_opacity: float = 0.45) -> go.Figure:
    """A plotly figure of one epoch: the landscape as a layout image, one Scattergl per class.

    As in the widget, the landscape is shown at ``landscape_opacity`` (washed toward the white
    page) so that the marks, in the same palette, stay readable; every mark has a thin dark
    outline, misclassified ones a thick one.
    """
    import plotly.graph_objects as go

    x0, x1, y0, y1 = (float(v) for v in vis.extent)
    xy = vis.coords[pos]
    labels = vis.labels
    preds = vis.predictions[pos]
    split = np.asarray(vis.split).astype(str)
    keep = np.ones(len(labels), bool) if show == "both" else (split == show)
    fig = go.Figure()
    for c, name in enumerate(vis.class_names):
        idx = np.flatnonzero((labels == c) & keep)
        if idx.size == 0:
            continue
        r, g, b = (int(v) for v in vis.palette[c])
        wrong = preds[idx] != c
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=str(name),
            customdata=np.stack([idx, preds[idx]], axis=1),
            hovertemplate="#%{customdata[0]} pred %{customdata[1]}<extra>" + str(name) + "</extra>",
            marker={
                "size": point_size, "color": f"rgb({r},{g},{b})",
                "opacity": 0.85,
                "line": {"width": np.where(wrong, 1.5, 0.5), "color": "#222"},
            },
        ))
    land = vis.landscape[pos]
    if land.shape[0] > 1 or land.shape[1] > 1:
        fig.add_layout_image(
            source=png_data_url(land), xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0,
            sizey=y1 - y0, sizing="stretch", layer="below", opacity=float(landscape_opacity),
        )
    fig.update_layout(
        title=f"epoch {int(vis.epochs[pos])}", template="plotly_white",
        xaxis={"range": [x0, x1], "showgrid": False, "zeroline": False},
        yaxis={"range": [y0, y1], "showgrid": False, "zeroline": False, "scaleanchor": "x"},
        legend={"itemsizing": "constant"}, width=720, height=640,
    )
    return fig


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>
<div id="dvi-root"></div>
<script type="application/json" id="dvi-state">{state}</script>
<script type="application/json" id="dvi-bundle">{bundle}</script>
<script type="module">
// A kernel-less model: the same render() as in Jupyter runs against this object.
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
// zlib-compressed bytes (z64), inflated by the browser's own DecompressionStream
const inflate = async (s) => new Uint8Array(await new Response(
  new Blob([b64(s)]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer());
const bytesOf = (v) => ('z64' in v ? inflate(v.z64) : b64(v.b64));
const raw = JSON.parse(document.getElementById('dvi-state').textContent);
// binary buffers (at any depth, e.g. inside the columns list) travel as {{b64 | z64, dtype, shape}}
const revive = async (v) => {{
  if (Array.isArray(v)) return Promise.all(v.map(revive));
  if (v && typeof v === 'object') {{
    if ('b64' in v || 'z64' in v) {{
      return {{ view: new DataView((await bytesOf(v)).buffer), dtype: v.dtype, shape: v.shape }};
    }}
    const entries = await Promise.all(
      Object.entries(v).map(async ([k, x]) => [k, await revive(x)]));
    return Object.fromEntries(entries);
  }}
  return v;
}};
const state = await revive(raw);
const listeners = new Map();
const model = {{
  get: (k) => state[k],
  set(k, v) {{
    state[k] = v;
    for (const fn of listeners.get('change:' + k) || []) fn(v);
  }},
  on(name, fn) {{
    for (const n of name.split(' ')) {{
      if (!listeners.has(n)) listeners.set(n, new Set());
      listeners.get(n).add(fn);
    }}
  }},
  off(name, fn) {{
    for (const n of (name || '').split(' ')) listeners.get(n)?.delete(fn);
  }},
  save_changes() {{}},
  send() {{}},
}};
const code = await bytesOf(JSON.parse(document.getElementById('dvi-bundle').textContent));
const url = URL.createObjectURL(new Blob([code], {{ type: 'text/javascript' }}));
const mod = await import(url);
const render = mod.render || mod.default.render;
window.dviModel = model;
window.dviCleanup = render({{ model, el: document.getElementById('dvi-root') }});
</script>
</body></html>
"""


#: a saved page's buffers of at least this many bytes are stored zlib-compressed when that saves
#: at least :data:`MIN_SAVING` of them (the landscapes' flat colours and the cells' classes
#: compress 3–30×; PNG thumbnails and float coordinates hardly, and stay as they are)
COMPRESS_FROM, MIN_SAVING = 1024, 0.1
#: above this many bytes a slice of :data:`PROBE_BYTES` from the middle is compressed first, and
#: the whole only if the slice saves :data:`MIN_SAVING` (a 1M-sample run's 80 MB of coordinates
#: took 2.6 s to compress by 7 %, which was then thrown away)
PROBE_FROM, PROBE_BYTES = 4 * 2**20, 2**20


def encode_bytes(data: bytes) -> dict[str, str]:
    """``{"z64": base64 of zlib(data)}`` where compression pays (:data:`COMPRESS_FROM`,
    :data:`MIN_SAVING`, judged on a slice first above :data:`PROBE_FROM`), else
    ``{"b64": base64 of data}``: how a saved page stores bytes (its script inflates ``z64``
    with the browser's ``DecompressionStream``)."""
    n = len(data)
    if n >= PROBE_FROM:
        probe = data[(n - PROBE_BYTES) // 2 : (n + PROBE_BYTES) // 2]
        if len(zlib.compress(probe, 6)) > (1.0 - MIN_SAVING) * len(probe):
            return {"b64": base64.b64encode(data).decode("ascii")}
    if n >= COMPRESS_FROM:
        packed = zlib.compress(data, 6)
        if len(packed) <= (1.0 - MIN_SAVING) * n:
            return {"z64": base64.b64encode(packed).decode("ascii")}
    return {"b64": base64.b64encode(data).decode("ascii")}


def decode_bytes(entry: dict[str, Any]) -> bytes:
    """The bytes of an :func:`encode_bytes` entry (``z64`` or ``b64``)."""
    if "z64" in entry:
        return zlib.decompress(base64.b64decode(entry["z64"]))
    return base64.b64decode(entry["b64"])


def _jsonable(value: Any) -> Any:  # noqa: ANN401
    """Serialized buffers ``{view, dtype, shape}``, at any depth, as ``{b64 | z64, dtype,
    shape}`` (:func:`encode_bytes`)."""
    if isinstance(value, dict):
        if "view" in value and "dtype" in value:
            return {**encode_bytes(bytes(value["view"])),
                    "dtype": value["dtype"], "shape": value["shape"]}
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def inline_json(value: Any) -> str:  # noqa: ANN401
    """``value`` as JSON that is safe as the text of a ``<script>`` element.

    A script element's text must not contain ``</script``, ``<!--`` or ``<script`` (the last two
    put the HTML tokenizer in its "double escaped" state, where ``</script>`` no longer ends the
    element, so the rest of the page becomes script text: a blank page). ``<`` occurs in JSON
    only inside strings, where ``\\u003c`` is the same character, so every ``<`` is written so.
    """
    return json.dumps(value, allow_nan=False).replace("<", "\\u003c")


def write_html(path: str | Path, state: dict, bundle: str, title: str = "dvi_widget",
               css: str = "") -> Path:
    """Write a self-contained page: ``state`` (trait -> serialized value), the bundle and its
    stylesheet ``css`` inline.

    Binary buffers travel base64 encoded, zlib-compressed where that pays (:func:`encode_bytes`;
    the page inflates them with the browser's ``DecompressionStream``: Chrome 80, Firefox 113,
    Safari 16.4 and later); the bundle is stored the same way and imported from a Blob URL, so
    no byte of it can end the surrounding ``<script>`` element and nothing is fetched from a CDN;
    the state is :func:`inline_json`. The page is written atomically (a failed write leaves the
    previous file whole). A NaN or Inf in ``state`` (which ``JSON.parse`` refuses: a blank page) is
    a ``ValueError``.
    """
    try:
        payload = inline_json(_jsonable(state))
    except ValueError as err:
        raise ValueError(f"save_html: the widget's state holds NaN or Inf ({err}); the page "
                         "would not load") from None
    page = _PAGE.format(
        title=html.escape(title),
        css=css.replace("</", "<\\/"),
        state=payload,
        bundle=json.dumps(encode_bytes(bundle.encode("utf-8"))),
    )
    return atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


#: thumbnails a saved page embeds at most (the selection, the focused and explained samples
#: first, then samples in index order)
SAVED_THUMBNAILS = 4096
#: ... and at most this many image pixels in all (a larger image set keeps fewer samples)
SAVED_THUMBNAIL_PIXELS = 8 * 1024 * 1024
#: the panels whose every control needs a kernel: left out of a page that has nothing to show
EXPLAIN_PANELS = ("explain", "whatif")
#: the panels that show nothing without a kernel (the training events are found by the model on
#: request): always left out of a saved page
KERNEL_PANELS = ("events",)


#: the PNG bytes of thumbnail atlases a saved page embeds at most (before base64, which adds a
#: third); further samples are left out and the report says how many
SAVED_THUMBNAIL_BYTES = 16 * 2**20
#: samples per saved atlas: the byte cap is kept to within one atlas of this many tiles
SAVED_ATLAS_TILES = 256


def _shown_first(widget: Any) -> list[int]:  # noqa: ANN401 - a Widget
    """What the page shows first: the focused sample, the explained ones, the selection."""
    first: list[int] = []
    if getattr(widget, "focus_sample", -1) >= 0:
        first.append(int(widget.focus_sample))
    for name in ("explain_path", "explain_surrogate"):
        shown = getattr(widget, name, None)
        if shown and shown.get("index") is not None:
            first.append(int(shown["index"]))
    if widget.selection is not None:
        first.extend(int(i) for i in np.asarray(widget.selection).reshape(-1))
    return first


def _thumbnail_order(widget: Any, n: int, which: Any = None) -> np.ndarray:  # noqa: ANN401
    """Sample indices in the order a saved page keeps their thumbnails: what the page shows
    first (focus, explained samples, selection), then ``which``: None every sample by index,
    ``"selection"`` nothing more, an int ``k`` the first ``k`` samples of each class (by
    label), an array of sample indices those samples; ``False`` / 0 no thumbnails at all."""
    if which is False or (isinstance(which, int | np.integer) and not isinstance(which, bool)
                          and which == 0):
        return np.zeros(0, np.int64)
    if which is None:
        rest = np.arange(n, dtype=np.int64)
    elif isinstance(which, str):
        if which != "selection":
            raise ValueError(f"thumbnails must be None, 'selection', a number per class or "
                             f"sample indices, got {which!r}")
        rest = np.zeros(0, np.int64)
    elif isinstance(which, int | np.integer) and not isinstance(which, bool):
        if which < 0:
            raise ValueError(f"thumbnails: a number per class must be >= 0, got {which}")
        labels = np.asarray(widget.vis.labels)
        rest = np.concatenate([np.flatnonzero(labels == c)[: int(which)]
                               for c in range(widget.vis.n_classes)] or [np.zeros(0, np.int64)])
        rest = np.sort(rest).astype(np.int64)
    else:
        rest = np.asarray(which).reshape(-1)
        if rest.size and (not np.issubdtype(rest.dtype, np.integer) or rest.min() < 0
                          or rest.max() >= n):
            raise ValueError(f"thumbnails: sample indices must be integers in [0, {n})")
        rest = rest.astype(np.int64)
    order = np.concatenate([np.asarray(_shown_first(widget), np.int64), rest])
    _, keep = np.unique(order, return_index=True)
    return order[np.sort(keep)]


def saved_thumbnails(widget: Any, which: Any = None,  # noqa: ANN401 - a Widget, a choice
                     max_bytes: int | None = None) -> tuple[list[dict] | None, dict[str, Any]]:
    """The thumbnails a saved page embeds, and a report of them.

    PNG atlases of at most :data:`SAVED_ATLAS_TILES` samples each (``{"indices", "tile",
    "columns", "png"}``) for the samples :func:`_thumbnail_order` chooses (``which``), capped at
    :data:`SAVED_THUMBNAILS` samples, :data:`SAVED_THUMBNAIL_PIXELS` pixels and ``max_bytes``
    PNG bytes (default :data:`SAVED_THUMBNAIL_BYTES`; an atlas that would pass it is left out).
    The report: ``{"chosen", "saved", "bytes", "atlases", "capped", "cap"}`` (``cap`` names the
    limit that left samples out). The atlases are None without images or samples.
    """
    from .serialize import array_to_json
    from .thumbnails import sprite

    images = getattr(widget, "images", None)
    report: dict[str, Any] = {"chosen": 0, "saved": 0, "bytes": 0, "atlases": 0, "capped": False,
                              "cap": None}
    if images is None:
        return None, report
    cap_bytes = SAVED_THUMBNAIL_BYTES if max_bytes is None else int(max_bytes)
    shape = tuple(np.shape(images))
    per_image = max(1, int(np.prod(shape[1:])))
    cap = int(min(SAVED_THUMBNAILS, max(1, SAVED_THUMBNAIL_PIXELS // per_image), shape[0]))
    chosen = _thumbnail_order(widget, shape[0], which)
    order = chosen[:cap]
    report["chosen"] = int(len(chosen))
    report["capped"] = bool(len(order) < len(chosen))
    report["cap"] = f"{cap:,} samples" if report["capped"] else None
    out = []
    for k in range(0, len(order), SAVED_ATLAS_TILES):
        s = sprite(images, order[k : k + SAVED_ATLAS_TILES])
        png = s.png
        if report["bytes"] + len(png) > cap_bytes:
            report["capped"], report["cap"] = True, f"{_megabytes(cap_bytes)} of PNG"
            break
        out.append({"indices": array_to_json(s.indices.astype(np.uint32)),
                    "tile": [int(v) for v in s.tile], "columns": int(s.columns),
                    "png": array_to_json(np.frombuffer(png, np.uint8))})
        report["bytes"] += len(png)
        report["saved"] += len(s.indices)
    report["atlases"] = len(out)
    return (out or None), report


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} kB"


def page_report(path: Path, thumbs: dict[str, Any]) -> str:
    """One line saying how large a saved page is and what its thumbnails take."""
    size = path.stat().st_size
    line = f"saved {path.name}: {_megabytes(size)}"
    if thumbs["chosen"] or thumbs["saved"]:
        line += (f"; thumbnails of {thumbs['saved']:,} of the {thumbs['chosen']:,} samples chosen"
                 f" ({_megabytes(thumbs['bytes'])} of PNG in {thumbs['atlases']} "
                 f"atlas{'es' if thumbs['atlases'] != 1 else ''}, "
                 f"about a third more in the page)")
        if thumbs["capped"]:
            line += (f"; capped at {thumbs['cap']}: pass save_html(..., thumbnails=N per "
                     "class or 'selection') to choose which"
                     + (", or max_thumbnail_bytes= for more" if "PNG" in thumbs["cap"] else ""))
    return line


def saved_extras(widget: Any, thumbnails: Any = None,  # noqa: ANN401 - a Widget
                 max_thumbnail_bytes: int | None = None) -> dict[str, Any]:
    """What a saved page adds to the widget's state so that it answers without a kernel:
    ``saved_landscape`` (each landscape cell's class and confidence * 65534, for the click
    popover), ``saved_extent`` (the frame, x0 x1 y0 y1), ``saved_thumbnails``; and ``panels``
    without those that need a kernel to show anything (:data:`KERNEL_PANELS`), nor the Explain
    panel when nothing was explained (its controls all need a kernel)."""
    from .serialize import array_to_json

    vis = widget.vis
    atlases, report = saved_thumbnails(widget, thumbnails, max_thumbnail_bytes)
    out: dict[str, Any] = {"saved_extent": [float(v) for v in vis.extent],
                           "saved_landscape": None, "saved_thumbnails": atlases,
                           "_thumbnail_report": report}
    if vis.landscape_classes is not None:
        cls = np.asarray(vis.landscape_classes)
        conf = (np.full(cls.shape, np.nan, np.float32) if vis.landscape_confidence is None
                else np.asarray(vis.landscape_confidence, np.float32))
        conf16 = np.where(np.isfinite(conf), np.round(np.clip(conf, 0, 1) * 65534), 65535)
        out["saved_landscape"] = {
            "classes": array_to_json(cls.astype(np.uint8 if vis.n_classes < 256 else np.uint16)),
            # 0..65534: confidence * 65534; 65535: unknown
            "confidence": array_to_json(conf16.astype(np.uint16)),
        }
    explained = any(getattr(widget, k, None) for k in
                    ("explain_path", "explain_robustness", "explain_surrogate"))
    left_out = KERNEL_PANELS if explained else (*KERNEL_PANELS, *EXPLAIN_PANELS)
    out["panels"] = [p for p in widget.panels if p not in left_out]
    return out
