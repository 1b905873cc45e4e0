"""dvi_widget: see how a deep classifier learns, epoch by epoch, inside a notebook.

A time-travelling visualization of training after DeepVisualInsight (Xianglin Yang et al.,
AAAI 2022). Public names are imported lazily so that the engine runs in a plain script (and in
CI) without the bundled front end, and ``import dvi_widget`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

#: public name -> module that defines it
_PUBLIC = {
    "Visualization": "contract",
    "default_palette": "contract",
    "Dataset": "data.datasets",
    "load_digits": "data.datasets",
    "load_fashion_mnist": "data.datasets",
    "load_mnist": "data.datasets",
    "from_arrays": "data.datasets",
    "Run": "data.run",
    "DVI": "explain.doors",
    "Widget": "view.widget",
    "every": "data.epochs",
    "compare": "_compare",
    "Compare": "view.compare",
    "DeepView": "engine.deepview",
}

__all__ = [
    "DVI",
    "DeepView",
    "Dataset",
    "Run",
    "Visualization",
    "Widget",
    "default_palette",
    "every",
    "from_arrays",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "compare",
    "Compare",
]

if TYPE_CHECKING:  # pragma: no cover
    from ._compare import compare
    from .contract import Visualization, default_palette
    from .data.datasets import Dataset, from_arrays, load_digits, load_fashion_mnist, load_mnist
    from .data.epochs import every
    from .data.run import Run
    from .engine.deepview import DeepView
    from .explain.doors import DVI
    from .view.compare import Compare
    from .view.widget import Widget


def __getattr__(name: str) -> Any:  # noqa: ANN401 - lazy module attribute
    if name in _PUBLIC:
        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dvi_widget' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
