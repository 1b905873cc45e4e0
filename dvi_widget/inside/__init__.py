"""Inside the model: what happens in the network while it learns, on a recorded run.

- :class:`GradientMonitor` and ``run.record(model, epoch, gradients=monitor)`` record, per
  epoch, the weights' distributions, the gradients' histograms and norms over the epoch's steps
  and the activations on a fixed probe subset (:mod:`dvi_widget.data.run.inside`);
- :func:`distributions` (a tidy table per kind) and :func:`flags` (vanishing and exploding
  gradients, dead ReLU units): TensorBoard's distributions dashboard;
- :func:`maximize` (the input a class logit, channel or unit responds to most, by gradient
  ascent) and :func:`filters` (first-layer kernels): feature visualization;
- :func:`neural_patterns` (VATUN): frequent sequences of the most activated unit per layer;
- :class:`InsideSource`: a run as the widget's inside panels' source
  (``Widget.show_inside(InsideSource(run))``).
"""

from __future__ import annotations

from ..data.run.inside import GradientMonitor
from .distributions import dead_units, distributions, flags
from .maximize import filters, maximize
from .patterns import mine, neural_patterns, recommend, sequences
from .source import InsideSource

__all__ = ["GradientMonitor", "InsideSource", "dead_units", "distributions", "filters", "flags",
           "maximize", "mine", "neural_patterns", "recommend", "sequences"]
