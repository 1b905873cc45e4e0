"""The view: the `Visualization` contract, its serializers, the anywidget and static exports."""
