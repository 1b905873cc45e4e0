"""PyTorch Lightning: record an epoch of a run at the end of each training epoch.

    from dvi_widget.integrations.lightning import RecordCallback
    run = Run.create("runs/fmnist", train=(x, y), test=(xt, yt))
    trainer = lightning.Trainer(max_epochs=10, callbacks=[RecordCallback(run)])
    trainer.fit(module, loader)

The ``LightningModule``'s ``forward`` must return the logits (as for ``run.record``). Epoch
``trainer.current_epoch`` (0-based) is recorded at ``on_train_epoch_end`` (after that epoch's
validation when it runs then), on the global-zero process only. Needs ``pip install lightning``
(or ``pytorch_lightning``); this module is the only one that imports it.
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - the older package name
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as err:
        raise ImportError(
            "dvi_widget.integrations.lightning needs PyTorch Lightning: "
            'pip install "dvi_widget[lightning]" (or pip install lightning)') from err

from . import check_every, due, record_epoch

__all__ = ["RecordCallback"]


class RecordCallback(Callback):
    """Record ``run`` (a :class:`dvi_widget.data.run.Run`) every ``every`` training epochs.

    Parameters
    ----------
    run : the run to record into (``Run.create`` or ``Run.open`` to resume).
    every : record epochs ``every - 1``, ``2 * every - 1``, ... (0-based ``current_epoch``).
    layer : the representation layer, as for ``run.record`` (default: the last ``nn.Linear``).
    gradients : also record per-sample gradients (when ``Run.record`` supports it).
    **options : other ``run.record`` arguments (``batch_size``, ``device``, ``head_fn``, ...).

    Resuming (``trainer.fit(..., ckpt_path=...)``) records the epochs trained after the resume;
    an epoch recorded before is replaced by the one trained now. ``scalars``: the trainer's
    ``callback_metrics`` that are plain numbers are kept with each epoch.
    """

    def __init__(self, run: Any, every: int = 1, layer: str | None = None,  # noqa: ANN401
                 gradients: bool = False, **options: Any) -> None:  # noqa: ANN401
        super().__init__()
        self.run = run
        self.every = check_every(every)
        self.layer = layer
        self.gradients = gradients
        self.options = options

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:  # noqa: ANN401
        epoch = int(trainer.current_epoch)
        if not trainer.is_global_zero or not due(epoch, self.every):
            return
        options = dict(self.options)
        if "scalars" not in options:
            options["scalars"] = _scalars(trainer.callback_metrics)
        record_epoch(self.run, pl_module, epoch, layer=self.layer, gradients=self.gradients,
                     **options)


def _scalars(metrics: Any) -> dict[str, float]:  # noqa: ANN401 - a dict of tensors
    out: dict[str, float] = {}
    for name, value in dict(metrics or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            continue
        if number == number and abs(number) != float("inf") and name != "epoch":
            out[str(name)] = number
    return out
