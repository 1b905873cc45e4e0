"""The saved page (``Widget.save_html``): hostile strings in the data cannot end or hide its script
elements, and the page is written atomically (issue 26, item 11 and the unclear-errors list)."""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dvi_widget.contract import Visualization
from dvi_widget.view import widget as widget_module
from dvi_widget.view.export import decode_bytes, encode_bytes, write_html
from dvi_widget.view.widget import Widget

ROOT = Path(__file__).resolve().parents[2]

needs_bundle = pytest.mark.skipif(
    not widget_module.BUNDLE_PATH.is_file(),
    reason="front-end bundle not built (cd js && npm ci && npm run build)",
)

#: strings that end, hide or open markup inside an inline <script> if they are copied verbatim
HOSTILE = [
    "<!--<script>",
    "</script>",
    "</SCRIPT >",
    "<script>alert(1)</script>",
    "<!-- <script> </script> -->",
    "<!--",
    "-->",
    "<\\/script>",
    "]]>",
    "<img src=x onerror=alert(1)>",
    "\u2028\u2029 line separators",
    "&lt;/script&gt; &amp; \\u003c",
    "'\"` quotes",
]


def hostile_vis() -> Visualization:
    """Every hostile string as a class name, as a metadata value and as a column name."""
    rng = np.random.default_rng(0)
    C, N = len(HOSTILE), 4 * len(HOSTILE)
    labels = np.arange(N) % C
    md = pd.DataFrame({"note": [HOSTILE[i % C] for i in range(N)],
                       "<!--<script>": np.arange(N) % 2 == 0})
    return Visualization.from_arrays(
        coords=rng.normal(size=(2, N, 2)), labels=labels, class_names=list(HOSTILE), metadata=md,
        landscape=_gradient_landscape())


def _gradient_landscape() -> np.ndarray:
    """(2, 32, 32, 4) RGBA rows of one grey each: 8 KiB that zlib compresses (a saved page then
    stores it as ``z64``)."""
    land = np.full((2, 32, 32, 4), 255, np.uint8)
    land[..., :3] = (np.arange(32, dtype=np.uint8) * 7)[None, :, None, None]
    return land


class _Scripts(HTMLParser):
    """The text of every <script> element, keyed by its id (Python's HTML parser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[tuple[str | None, str]] = []
        self._open: str | None = None
        self._text: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            self._inside, self._open, self._text = True, dict(attrs).get("id"), []

    def handle_data(self, data: str) -> None:
        if self._inside:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inside:
            self.scripts.append((self._open, "".join(self._text)))
            self._inside = False


def _scripts(html: str) -> list[tuple[str | None, str]]:
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def test_saved_bytes_are_compressed_where_that_pays():
    """Compressible bytes are stored zlib-compressed (z64), bytes that do not compress by a
    tenth (PNG, noise) and short ones as they are (b64); both decode to the bytes given."""
    flat = np.repeat(np.arange(64, dtype=np.uint8), 256).tobytes()  # a landscape's flat runs
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    short = b"\x00" * 100
    assert list(encode_bytes(flat)) == ["z64"] and len(encode_bytes(flat)["z64"]) < len(flat) / 20
    assert list(encode_bytes(noise)) == ["b64"] and list(encode_bytes(short)) == ["b64"]
    for data in (flat, noise, short, b""):
        assert decode_bytes(encode_bytes(data)) == data
    # a large buffer is judged by a slice from its middle first: noise there, stored as it is
    # even though its flat ends would compress; flat there, compressed whole
    big_noise = flat + np.random.default_rng(1).integers(
        0, 256, 6 * 2**20, dtype=np.uint8).tobytes() + flat
    assert list(encode_bytes(big_noise)) == ["b64"]
    big_flat = bytes(6 * 2**20) + noise
    assert list(encode_bytes(big_flat)) == ["z64"]
    assert decode_bytes(encode_bytes(big_flat)) == big_flat


def test_inline_json_cannot_end_or_hide_its_script_element(tmp_path):
    state = {"class_names": HOSTILE, "nested": [{"name": s, "values": [s, 1.5]} for s in HOSTILE]}
    html = write_html(tmp_path / "page.html", state, "export const render = () => {};").read_text(
        encoding="utf-8")
    scripts = _scripts(html)
    assert [sid for sid, _ in scripts] == ["dvi-state", "dvi-bundle", None]
    text = dict(scripts[:2])["dvi-state"]
    # the HTML spec's restrictions on a script's text: none of these may occur in it (<!-- and
    # <script put the tokenizer in the "double escaped" state, where </script> does not end it)
    for bad in ("<!--", "<script", "</script", "</"):
        assert bad not in text.lower(), bad
    assert json.loads(text) == state


@needs_bundle
def test_saved_page_keeps_hostile_strings_intact(tmp_path):
    w = Widget(hostile_vis(), color_by="note")
    html = w.save_html(tmp_path / "hostile.html").read_text(encoding="utf-8")
    scripts = _scripts(html)
    assert [sid for sid, _ in scripts] == ["dvi-state", "dvi-bundle", None]
    text = scripts[0][1]
    assert "<" not in text  # every "<" travels as \u003c
    state = json.loads(text)
    assert state["class_names"] == HOSTILE
    assert state["color_by"] == "note"
    cols = {c["name"]: c for c in state["columns"]}
    assert sorted(cols) == ["<!--<script>", "note"]
    assert cols["note"]["categories"] == sorted(HOSTILE)
    assert re.search(r"<title>[^<]*</title>", html)


@needs_bundle
def test_save_html_is_atomic(tmp_path, monkeypatch):
    """A write that fails half-way (a full disk) leaves the previous page whole, and no
    temporary file behind."""
    w = Widget(hostile_vis())
    path = w.save_html(tmp_path / "view.html")
    before = path.read_bytes()
    real = Path.write_text

    def half_then_full(self: Path, text: str, *args: object, **kwargs: object) -> int:
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", half_then_full)
    w.point_size = 9.0
    with pytest.raises(OSError, match="No space left"):
        w.save_html(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.html"]


# ------------------------------------------------------------------ in a browser
_NODE_CHECK = """
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const require = createRequire(join(process.cwd(), 'js', 'package.json'));
const { chromium } = require('playwright-core');
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss(); });
  await page.goto(pathToFileURL(process.argv[1]).href);
  await page.waitForFunction(
    () => Number(document.querySelector('#dvi-root')?.dataset.drawCount) >= 1,
    null, { timeout: 30000 });
  const out = await page.evaluate(() => ({
    classNames: window.dviModel.get('class_names'),
    categories: window.dviModel.get('columns').map((c) => c.categories),
    scripts: document.querySelectorAll('script').length,
    text: document.querySelector('#dvi-root').innerText,
    // the compressed landscape as the page inflated it: its length and byte sum
    landscape: (() => {
      const v = window.dviModel.get('landscape').view;
      let sum = 0;
      for (let i = 0; i < v.byteLength; i++) sum += v.getUint8(i);
      return [v.byteLength, sum];
    })(),
  }));
  out.errors = errors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
"""


@needs_bundle
@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
@pytest.mark.skipif(not (ROOT / "js" / "node_modules" / "playwright-core").exists(),
                    reason="js/node_modules missing (run `cd js && npm ci`)")
@pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH")
def test_hostile_page_renders_in_chromium(tmp_path):
    page = Widget(hostile_vis(), color_by="note").save_html(tmp_path / "hostile.html")
    proc = subprocess.run(["node", "--input-type=module", "-e", _NODE_CHECK, str(page)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().split("\n")[-1])  # not splitlines(): U+2028
    assert out["errors"] == []
    stored = _page_state(page)["landscape"]
    assert "z64" in stored  # compressed in the file, inflated by the browser to the same bytes
    land = np.frombuffer(decode_bytes(stored), np.uint8)
    assert out["landscape"] == [land.size, int(land.sum(dtype=np.int64))]
    assert out["scripts"] == 3
    assert out["classNames"] == HOSTILE
    assert sorted(HOSTILE) in out["categories"]
    assert "<!--<script>" in out["text"]  # the legend shows the name as text


def _page_state(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="dvi-state">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_saved_page_answers_without_a_kernel(tmp_path, monkeypatch):
    """Issue 25 item 4: the page keeps the landscape's cells (class, confidence to 1/65534) for
    the click popover, the frame, thumbnails (the selection and focused sample first, capped),
    and leaves out the Explain panel when nothing was explained and the Training events panel
    (found by the model on request) always."""
    from dvi_widget.view import export

    rng = np.random.default_rng(0)
    T, N, G = 2, 50, 4
    cls = rng.integers(0, 3, size=(T, G, G)).astype(np.int16)
    conf = rng.uniform(0.34, 1, size=(T, G, G)).astype(np.float32)
    images = np.repeat(np.arange(N, dtype=np.uint8)[:, None, None], 9, 1).reshape(N, 3, 3)
    vis = Visualization.from_arrays(
        coords=rng.normal(size=(T, N, 2)), labels=np.arange(N) % 3,
        landscape=np.full((T, G, G, 4), 200, np.uint8), landscape_classes=cls,
        landscape_confidence=conf, images=images)
    w = Widget(vis, panels=["legend", "inspect", "sample", "events", "explain"])
    w.select([40, 41])
    w.focus_sample = 33
    monkeypatch.setattr(export, "SAVED_THUMBNAILS", 10)
    state = _page_state(w.save_html(tmp_path / "p.html"))
    assert state["capabilities"]["kernel"] is False
    assert state["panels"] == ["legend", "inspect", "sample"]  # nothing explained: no panel
    assert w.panels == ["legend", "inspect", "sample", "events", "explain"]  # the widget keeps them
    assert state["saved_extent"] == [float(v) for v in vis.extent]
    land = state["saved_landscape"]
    got_cls = np.frombuffer(decode_bytes(land["classes"]), np.uint8).reshape(T, G, G)
    np.testing.assert_array_equal(got_cls, cls)
    got_conf = np.frombuffer(decode_bytes(land["confidence"]), np.uint16)
    np.testing.assert_allclose(got_conf.reshape(T, G, G) / 65534, conf, atol=1e-5)
    (atlas,) = state["saved_thumbnails"]
    idx = np.frombuffer(decode_bytes(atlas["indices"]), np.uint32)
    assert idx.tolist() == [33, 40, 41, 0, 1, 2, 3, 4, 5, 6]  # focus, selection, then in order
    assert atlas["tile"] == [3, 3]
    assert decode_bytes(atlas["png"])[:4] == b"\x89PNG"
    # with a drawn explanation the panel stays (showing it); the page never says "null"
    w.explain_surrogate = {"index": 3, "epoch": int(vis.epochs[-1]), "classes": [0],
                           "fidelity": {"r2": 0.5, "agreement": 0.9},
                           "weights": np.zeros((1, 3, 3), np.float32),
                           "positions": np.zeros((2, 2), np.float32),
                           "predictions": np.zeros(2, np.uint16),
                           "proximity": np.ones(2, np.float32)}
    state = _page_state(w.save_html(tmp_path / "q.html"))
    assert state["panels"] == ["legend", "inspect", "sample", "explain"]  # events: never
    assert _page_state(Widget(Visualization.from_arrays(
        coords=rng.normal(size=(T, N, 2)), labels=np.arange(N) % 3)).save_html(
        tmp_path / "r.html"))["saved_thumbnails"] is None


def _saved_indices(state):
    return [np.frombuffer(decode_bytes(a["indices"]), np.uint32).tolist()
            for a in state["saved_thumbnails"] or []]


def test_saved_page_thumbnails_of_a_chosen_subset(tmp_path, capsys):
    """Issue 23 item 4: the selection (with the focused sample), or up to N per class, or given
    samples, or none; the page's size and the thumbnails' share are reported."""
    rng = np.random.default_rng(1)
    N = 50
    images = rng.integers(0, 255, size=(N, 6, 6), dtype=np.uint8)
    vis = Visualization.from_arrays(coords=rng.normal(size=(1, N, 2)), labels=np.arange(N) % 3,
                                    images=images)
    w = Widget(vis)
    w.select([40, 41])
    w.focus_sample = 33
    per_class = _page_state(w.save_html(tmp_path / "a.html", thumbnails=2))
    assert _saved_indices(per_class) == [[33, 40, 41, 0, 1, 2, 3, 4, 5]]
    line = capsys.readouterr().out
    size = (tmp_path / "a.html").stat().st_size
    assert line.startswith(f"saved a.html: {size / 1024:.0f} kB; thumbnails of 9 of the 9 "
                           "samples chosen")
    assert w.saved_page["bytes"] == size and w.saved_page["thumbnails"]["saved"] == 9
    assert _saved_indices(_page_state(w.save_html(tmp_path / "b.html", thumbnails="selection",
                                                  quiet=True))) == [[33, 40, 41]]
    assert capsys.readouterr().out == ""
    assert _saved_indices(_page_state(w.save_html(tmp_path / "c.html", quiet=True,
                                                  thumbnails=[7, 41]))) == [[33, 40, 41, 7]]
    none = _page_state(w.save_html(tmp_path / "d.html", thumbnails=False, quiet=True))
    assert none["saved_thumbnails"] is None
    assert (tmp_path / "d.html").stat().st_size < (tmp_path / "a.html").stat().st_size
    with pytest.raises(ValueError, match="thumbnails"):
        w.save_html(tmp_path / "e.html", thumbnails="everything")


def test_saved_page_thumbnails_are_capped_in_bytes(tmp_path, capsys):
    """Noise images do not compress: a byte cap keeps whole atlases that fit, and says so."""
    from dvi_widget.view import export

    rng = np.random.default_rng(2)
    N = 600
    images = rng.integers(0, 255, size=(N, 16, 16, 3), dtype=np.uint8)
    vis = Visualization.from_arrays(coords=rng.normal(size=(1, N, 2)), labels=np.arange(N) % 4,
                                    images=images)
    w = Widget(vis)
    state = _page_state(w.save_html(tmp_path / "big.html", max_thumbnail_bytes=300_000))
    report = w.saved_page["thumbnails"]
    assert report["chosen"] == N and report["capped"] and report["atlases"] == 1
    assert report["saved"] == export.SAVED_ATLAS_TILES and 196_608 < report["bytes"] <= 300_000
    assert _saved_indices(state) == [list(range(export.SAVED_ATLAS_TILES))]
    assert "capped" in capsys.readouterr().out
    full = w.save_html(tmp_path / "full.html", quiet=True)
    assert w.saved_page["thumbnails"]["saved"] == N and not w.saved_page["thumbnails"]["capped"]
    # the page grows by the base64 (4/3) of what the cap left out: the PNG bytes (stored as
    # they are: compressing them gains nothing) and the samples' uint32 indices (compressed, so
    # at most their raw size), plus a few hundred bytes of JSON per atlas
    png_left_out = w.saved_page["thumbnails"]["bytes"] - report["bytes"]
    grown = full.stat().st_size - (tmp_path / "big.html").stat().st_size
    assert 4 / 3 * png_left_out <= grown
    assert grown < 4 / 3 * (png_left_out + 4 * (N - export.SAVED_ATLAS_TILES)) + 1000
