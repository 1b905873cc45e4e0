"""Issue 23 item 3: Widget.to_png asks the shown view for a PNG and resolves when it answers
(the browser side is tested in tests/browser/view.test.mjs, "a selection is drawn ...")."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dvi_widget.contract import Visualization
from dvi_widget.view.widget import Widget


@pytest.fixture
def widget(monkeypatch):
    vis = Visualization.from_arrays(coords=np.zeros((1, 4, 2)), labels=[0, 1, 0, 1])
    w = Widget(vis)
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    w.sent = sent
    return w


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_to_png_resolves_with_the_front_ends_picture(widget, tmp_path):
    shot = widget.to_png(tmp_path / "view.png", scale=2)
    assert widget.sent == [{"type": "snapshot", "id": shot.id, "scale": 2.0}]
    assert not shot.done() and "waiting" in repr(shot)
    data = png(40, 30)
    widget._on_front_end_msg(widget, {"type": "snapshot", "reply": shot.id, "width": 40,
                                      "height": 30}, [memoryview(data)])
    assert shot.result(timeout=0) == data and (tmp_path / "view.png").read_bytes() == data
    assert shot._repr_png_() == data and "40x30 px" in repr(shot)
    # a second view answering the same request changes nothing
    widget._on_front_end_msg(widget, {"type": "snapshot", "reply": shot.id}, [b"other"])
    assert shot.result() == data


def test_to_png_refuses_what_is_not_a_png_and_reports_front_end_errors(widget):
    bad, failed = widget.to_png(), widget.to_png()
    widget._on_front_end_msg(widget, {"type": "snapshot", "reply": bad.id}, [b"<html>"])
    with pytest.raises(ValueError, match="not a PNG"):
        bad.result(timeout=0)
    widget._on_front_end_msg(widget, {"type": "snapshot", "reply": failed.id,
                                      "error": "WebGL context lost"}, [])
    with pytest.raises(RuntimeError, match="WebGL context lost"):
        failed.result(timeout=0)
    with pytest.raises(ValueError, match="scale"):
        widget.to_png(scale=20)
    from concurrent.futures import TimeoutError as FutureTimeout

    with pytest.raises(FutureTimeout):  # no view shown: nothing answers
        widget.to_png().result(timeout=0.01)
