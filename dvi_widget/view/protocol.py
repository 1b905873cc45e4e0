"""The one request/reply envelope between the widget's panels and the kernel.

A panel asks with a custom message ``{"panel": name, "id": id, ...}`` plus binary buffers
(``js/src/kernel.js``: ``kernelOf(view).ask(name, content, buffers)``); the kernel runs
``handler(widget, request, buffers) -> (content, buffers)`` and answers once, to the view that
asked, with ``{"panel": name, "reply": id, ...content}`` and the handler's buffers, or with
``{"panel": name, "reply": id, "error": text}`` when the handler raised. State a saved page must
keep (a drawn path, an explanation shown) is not sent in replies but set on synced traits, so
every view and ``save_html`` see it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

#: a panel's kernel side: (widget, request, buffers) -> (reply content, reply buffers)
Handler = Callable[[Any, dict, list], tuple[dict, list]]

#: failures whose message says what to do; others are answered with their type and logged
EXPECTED_ERRORS = (ValueError, TypeError, IndexError, KeyError)


def error_text(err: Exception) -> str:
    """What the panel shows for a failed request."""
    if isinstance(err, EXPECTED_ERRORS):
        return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return f"{type(err).__name__}: {err}"


def answer(widget: Any, handler: Handler, request: dict, buffers: list) -> None:  # noqa: ANN401
    """Run ``handler`` on ``request`` and send its reply (or the error) back."""
    head = {"panel": request.get("panel"), "reply": request.get("id")}
    try:
        content, out = handler(widget, request, buffers)
    except Exception as err:  # noqa: BLE001 - the front end shows the message
        if not isinstance(err, EXPECTED_ERRORS):
            traceback.print_exc()  # the kernel log keeps the trace of an unexpected failure
        widget.send({**head, "error": error_text(err)})
        return
    widget.send({**head, **content}, out or None)


def panel_handlers(handlers: dict[str, Handler]) -> dict[str, Callable[[Any, dict, list], None]]:
    """``Widget.panel_handlers`` entries answering ``handlers`` through the envelope."""
    return {name: (lambda widget, request, buffers, h=h: answer(widget, h, request, buffers))
            for name, h in handlers.items()}
