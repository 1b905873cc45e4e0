"""Several projections of one run side by side: small linked views and a table of measures.

:class:`Compare` holds one :class:`~dvi_widget.view.widget.Widget` per method (each built from
its own :class:`~dvi_widget.contract.Visualization`, all over the same samples and epochs) and
links them in the kernel with traitlets ``observe``:

- one epoch: moving any view's slider (or the shared slider above them) moves all;
- one colouring: ``color_by`` is shared;
- a lasso (or any selection) in one view selects the same sample indices in all;
- a click on a point focuses that sample in every view (selected there, so it stands out); a
  click on an empty spot focuses the sample nearest to it in the clicked view.

Beside the views, a table of every measure per method at the shown epoch (``table(epoch)``, a
DataFrame the caller computes: :func:`dvi_widget.compare`). A view whose method has no inverse
has no landscape; its title says so (``notes``). The view imports the contract only.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as ipw
import numpy as np
import pandas as pd

from ..contract import Visualization
from . import explore
from .widget import INDEX_DTYPE, Widget

#: height (px) of each small view
VIEW_HEIGHT = 260
#: views per row of the grid
COLUMNS = 3
#: the measures' display names (table columns), in order
DISPLAY = {
    "nn_pv_15_train": "nn_pv(15) train", "nn_pv_15_test": "nn_pv(15) test",
    "boundary_pv_15_train": "boundary_pv(15)", "ppr_train": "PPR train",
    "ppr_test": "PPR test", "temporal_pv_train": "temporal_pv (Eq. 4)", "q_knn": "Q_kNN",
    "q_knn_e": "Q_kNN-E", "q_data": "Q_data", "q_not_data": "Q_¬data",
    "fit_seconds": "fit seconds",
}


class Compare(ipw.VBox):
    """Linked small views of one run, one per method, and the measures table at the shown epoch.

    Parameters
    ----------
    views : mapping of method name -> Visualization (same samples, same epochs).
    table : the measures at an epoch: ``table(epoch) -> DataFrame`` (one row per method), or a
        DataFrame indexed by (method, epoch).
    notes : mapping of method name -> a short note under its title (e.g. "no inverse: no
        landscape").
    epoch : shown first (default: the last).
    height : each view's canvas height in px.
    widget_kwargs : passed to every :class:`Widget`.

    Attributes
    ----------
    widgets : dict method -> Widget. ``focus`` : the focused sample (-1 none).
    """

    def __init__(self, views: Mapping[str, Visualization],
                 table: Callable[[int], pd.DataFrame] | pd.DataFrame,
                 notes: Mapping[str, str] | None = None, *, epoch: int | None = None,
                 height: int = VIEW_HEIGHT, color_by: str = "label",
                 **widget_kwargs: Any) -> None:  # noqa: ANN401
        if not views:
            raise ValueError("Compare needs at least one view")
        first = next(iter(views.values()))
        for name, v in views.items():
            if v.n_samples != first.n_samples or not np.array_equal(v.epochs, first.epochs):
                raise ValueError(
                    f"every view must show the same samples and epochs; {name!r} has "
                    f"{v.n_samples} samples and epochs {v.epochs.tolist()}, the first "
                    f"{first.n_samples} and {first.epochs.tolist()}")
        self._table = table
        self.notes = dict(notes or {})
        self.epochs = [int(e) for e in first.epochs]
        epoch = self.epochs[-1] if epoch is None else int(epoch)
        kw = {"panels": ["inspect"], "height": height, "transition_ms": 0, "compact": True,
              **widget_kwargs}
        self.widgets: dict[str, Widget] = {
            name: Widget(v, epoch=epoch, color_by=color_by, **kw) for name, v in views.items()}
        self.focus = -1
        self._busy = False
        self.slider = ipw.SelectionSlider(options=self.epochs, value=epoch, description="epoch",
                                          continuous_update=False)
        self.color = ipw.Dropdown(options=self.widgets[next(iter(self.widgets))].color_columns,
                                  value=color_by, description="colour by")
        self.table_html = ipw.HTML()
        self._shown = epoch
        cells = []
        for name, w in self.widgets.items():
            title = f"<b>{html.escape(name)}</b>"
            if self.notes.get(name):
                title += f" <span class='dvi-compare-note'>· {html.escape(self.notes[name])}</span>"
            cells.append(ipw.VBox([ipw.HTML(title), w], layout=ipw.Layout(min_width="0")))
            for trait in ("epoch", "color_by", "selection"):
                w.observe(self._linker(name, trait), names=trait)
            w.observe(self._on_focus(name), names="focus_sample")
            w.observe(self._on_clicked(name), names="clicked")
        self.slider.observe(self._linker("", "epoch"), names="value")
        self.color.observe(self._linker("", "color_by"), names="value")
        cols = min(COLUMNS, len(cells) + 1)
        free = -len(cells) % cols or cols   # the table fills the grid's last row
        self.table_box = ipw.VBox([ipw.HTML("<b>measures at the shown epoch</b>"),
                                   self.table_html],
                                  layout=ipw.Layout(grid_column=f"span {free}", min_width="0",
                                                    overflow="auto"))
        grid = ipw.GridBox([*cells, self.table_box], layout=ipw.Layout(
            grid_template_columns=f"repeat({cols}, minmax(0, 1fr))", grid_gap="6px",
            width="100%"))
        self._render_table()
        hint = ipw.HTML("<small>shift+drag: lasso (the same samples in every view) · click a "
                        "point or a spot: that sample in every view · scroll: zoom</small>")
        super().__init__([ipw.HBox([self.slider, self.color]), hint, grid])

    # ------------------------------------------------------------------ linking
    def _set_all(self, trait: str, value: Any, skip: str | None = None) -> None:  # noqa: ANN401
        for name, w in self.widgets.items():
            if name != skip:
                setattr(w, trait, value)
        if trait == "epoch":
            self.slider.value = int(value)
            if self._shown != int(value):
                self._shown = int(value)
                self._render_table()
        if trait == "color_by" and self.color.value != value:
            self.color.value = value

    def _linker(self, name: str, trait: str) -> Callable[[dict], None]:
        def link(change: dict) -> None:
            if self._busy:
                return
            self._busy = True
            try:
                value = change["new"]
                if trait == "selection" and value is None:
                    value = np.zeros(0, INDEX_DTYPE)
                self._set_all(trait, value, skip=name)
            finally:
                self._busy = False
        return link

    def _on_focus(self, name: str) -> Callable[[dict], None]:
        def focus(change: dict) -> None:
            if not self._busy and int(change["new"]) >= 0:
                self.show_sample(int(change["new"]), source=name)
        return focus

    def _on_clicked(self, name: str) -> Callable[[dict], None]:
        def clicked(change: dict) -> None:
            spot = change["new"]
            if self._busy or not spot:
                return
            w = self.widgets[name]
            near = explore.nearest_2d(w.vis, (spot["x"], spot["y"]), int(spot["epoch"]), 1)
            self.show_sample(int(near["sample"].iloc[0]), source=name)
        return clicked

    def show_sample(self, sample: int, source: str | None = None) -> Compare:
        """Focus ``sample`` in every view: selected (the rest dimmed) and its history shown.
        ``source``: the view the user clicked, whose selection is left as the click made it (a
        new selection there would close the click's popover)."""
        self._busy = True
        try:
            self.focus = int(sample)
            for name, w in self.widgets.items():
                if name != source:
                    w.selection = np.array([sample], INDEX_DTYPE)
                w.focus_sample = int(sample)
        finally:
            self._busy = False
        return self

    def select(self, which: Any) -> Compare:  # noqa: ANN401
        """Select the same samples in every view (as a lasso in one does); returns self."""
        next(iter(self.widgets.values())).select(which)
        return self

    @property
    def epoch(self) -> int:
        return int(self.slider.value)

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._set_all("epoch", int(value))

    # ------------------------------------------------------------------ the table
    def table(self, epoch: int | None = None) -> pd.DataFrame:
        """The measures at ``epoch`` (default: the shown one), one row per method."""
        e = self.epoch if epoch is None else int(epoch)
        if callable(self._table):
            return self._table(e)
        return self._table.xs(e, level="epoch")

    def _render_table(self) -> None:
        df = self.table().rename(columns=DISPLAY).T  # measures as rows: narrow, beside views
        df.columns.name = None
        self.table_html.value = (
            "<div class='dvi-compare-table' style='font-size:12px'>"
            + df.to_html(float_format=lambda v: f"{v:.3f}", na_rep="–", border=0)
            + "<small>– : not defined for that method (no inverse, too few epochs or no "
            "boundary points). Rows: DVI's measures (Eq. 1, 2, 4, PPR) and DeepView's "
            "(Q_kNN: 5-NN in 2-D vs the model; Q_kNN-E: that of a Euclidean UMAP; Q_data, "
            "Q_¬data: f(π⁻¹(π(x))) = f(x) on fitted / held-out samples)</small></div>")
