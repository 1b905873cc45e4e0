"""The view: the anywidget `Widget`, its panels' kernel side and the static exports.

It reads only the `Visualization` contract (`dvi_widget.contract`), never the engine."""
