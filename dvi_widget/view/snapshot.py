"""``Widget.to_png``: a PNG of what a shown view of the widget has on screen.

The kernel sends ``{"type": "snapshot", "id", "scale"}`` to the front end
(``js/src/snapshot.js``), which renders the plot's canvases at ``scale`` pixels per CSS pixel —
the points re-rendered and read in the frame they were drawn, the overlays above them — and
answers ``{"type": "snapshot", "reply": id, "width", "height"}`` with the PNG as a binary buffer.

A Jupyter kernel handles that answer only once the running cell has finished, so ``to_png``
cannot block for it: it returns a :class:`Snapshot` (a ``concurrent.futures.Future``) that is
resolved when the answer arrives — read ``.result()`` or the file in the next cell.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .._io import write_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: the largest PNG a front end may send back (a 8x snapshot of a 4k plot is well below)
MAX_PNG_BYTES = 200 * 2**20

_ids = itertools.count(1)


class Snapshot(Future):
    """A PNG on its way from the front end: ``result()`` is its bytes; ``path`` (when given)
    is written as it arrives; in a notebook the object shows the picture once it is there."""

    def __init__(self, request_id: str, path: Path | None, scale: float) -> None:
        super().__init__()
        self.id, self.path, self.scale = request_id, path, scale
        self.width: int | None = None
        self.height: int | None = None

    def _repr_png_(self) -> bytes | None:
        return self.result() if self.done() and self.exception() is None else None

    def __repr__(self) -> str:
        state = (f"{self.width}x{self.height} px" if self.done() and self.exception() is None
                 else "failed" if self.done() else "waiting for the front end")
        return f"<Snapshot {state}{f' -> {self.path}' if self.path else ''}>"


class SnapshotMixin:
    """``to_png`` for the :class:`~dvi_widget.view.widget.Widget`."""

    def to_png(self, path: str | Path | None = None, *, scale: float = 2) -> Snapshot:
        """Ask the shown view for a PNG of the plot as it is on screen.

        Parameters
        ----------
        path : write the PNG there when it arrives (optional).
        scale : pixels per CSS pixel (2: a sharp picture for a slide or a paper); 0.25 to 8.

        Returns a :class:`Snapshot`, resolved when the front end answers, which in a notebook
        is after the cell that asked has finished: ``shot = w.to_png("view.png")`` in one cell,
        ``shot.result()`` (the PNG bytes) or the file in the next. Without a shown view nothing
        answers (``shot.result(timeout=...)`` raises ``TimeoutError``). In the browser, the
        toolbar's camera button downloads the same picture.
        """
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0.25 <= scale <= 8:
            raise ValueError(f"scale must be a number from 0.25 to 8, got {scale!r}")
        shot = Snapshot(f"png-{next(_ids)}", None if path is None else Path(path), float(scale))
        self._snapshots[shot.id] = shot
        self.send({"type": "snapshot", "id": shot.id, "scale": float(scale)})
        return shot

    @property
    def _snapshots(self) -> dict[str, Snapshot]:
        if "_dvi_snapshots" not in self.__dict__:
            self.__dict__["_dvi_snapshots"] = {}
        return self.__dict__["_dvi_snapshots"]

    def _on_snapshot(self, content: dict[str, Any], buffers: list) -> None:
        """The front end's answer: resolve the waiting :class:`Snapshot` (the first view that
        answers wins; later answers to the same request are ignored)."""
        shot = self._snapshots.pop(str(content.get("reply")), None)
        if shot is None or shot.done():
            return
        if content.get("error"):
            shot.set_exception(RuntimeError(f"the front end could not take the picture: "
                                            f"{str(content['error'])[:300]}"))
            return
        data = bytes(buffers[0]) if buffers else b""
        if not data.startswith(PNG_SIGNATURE) or len(data) > MAX_PNG_BYTES:
            shot.set_exception(ValueError("the front end's answer is not a PNG"))
            return
        shot.width, shot.height = int(content.get("width", 0)), int(content.get("height", 0))
        if shot.path is not None:
            try:
                write_bytes(shot.path, data)
            except OSError as err:
                shot.set_exception(err)
                return
        shot.set_result(data)
