"""Hugging Face ``transformers``: record an epoch of a run at the end of each ``Trainer`` epoch.

    from dvi_widget.integrations.transformers import RecordCallback
    run = Run.create("runs/sst", train=(token_ids, labels), test=(test_ids, test_labels))
    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      callbacks=[RecordCallback(run)])

A run stores its inputs as float32 arrays: for a text classifier these are the token ids,
``(n, sequence_length)``, padded with the model's ``pad_token_id``. The callback records
``as_classifier(model)``: the model called with ``input_ids`` (and an ``attention_mask`` that
hides the padding) returning its ``logits``; its module names are the model's prefixed with
``model.`` (``layer="classifier"`` is given as the model names it). The epoch recorded is the
0-based epoch that just ended (``round(state.epoch) - 1``), on the main process only. Needs
``pip install transformers``; this module is the only one that imports it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

try:
    from transformers import TrainerCallback
except ImportError as err:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "dvi_widget.integrations.transformers needs Hugging Face transformers: "
        'pip install "dvi_widget[transformers]" (or pip install transformers)') from err

from . import check_every, due, record_epoch

__all__ = ["RecordCallback", "SequenceClassifier", "as_classifier"]


class SequenceClassifier(nn.Module):
    """A ``...ForSequenceClassification`` model as ``run.record`` takes it: token ids
    ``(n, length)`` in, logits ``(n, C)`` out (the attention mask hides ``pad_token_id``).
    ``takes_token_ids`` tells the recording so: its boundary points are then mixed in
    representation space (token ids mixed are no sentence)."""

    takes_token_ids = True

    def __init__(self, model: nn.Module, pad_token_id: int | None = None) -> None:
        super().__init__()
        self.model = model
        config = getattr(model, "config", None)
        self.pad_token_id = (pad_token_id if pad_token_id is not None
                             else getattr(config, "pad_token_id", None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.long()
        mask = None if self.pad_token_id is None else (ids != self.pad_token_id).long()
        out = self.model(input_ids=ids, attention_mask=mask)
        return out.logits if hasattr(out, "logits") else out[0]


def as_classifier(model: nn.Module, pad_token_id: int | None = None) -> SequenceClassifier:
    """``model`` wrapped for ``run.record`` (what :class:`RecordCallback` records)."""
    return model if isinstance(model, SequenceClassifier) else SequenceClassifier(
        model, pad_token_id)


class RecordCallback(TrainerCallback):
    """Record ``run`` every ``every`` epochs of a ``transformers.Trainer``.

    Parameters as for :class:`dvi_widget.integrations.lightning.RecordCallback`; ``layer`` is
    a module name of the Hugging Face model (``"classifier"``; default the last ``nn.Linear``);
    ``pad_token_id`` overrides the model config's. The last logged training loss of the epoch
    is kept as the scalar ``loss``. Resuming (``trainer.train(resume_from_checkpoint=...)``)
    records the epochs trained after the resume, replacing any recorded before.
    """

    def __init__(self, run: Any, every: int = 1, layer: str | None = None,  # noqa: ANN401
                 gradients: bool = False, pad_token_id: int | None = None,
                 **options: Any) -> None:  # noqa: ANN401
        self.run = run
        self.every = check_every(every)
        self.layer = layer
        self.gradients = gradients
        self.pad_token_id = pad_token_id
        self.options = options

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: nn.Module | None = None,  # noqa: ANN401
                     **kwargs: Any) -> None:  # noqa: ANN401
        if model is None:
            raise ValueError("the Trainer passed no model to RecordCallback.on_epoch_end")
        epoch = int(round(float(state.epoch or 0))) - 1
        if not state.is_world_process_zero or epoch < 0 or not due(epoch, self.every):
            return
        options = dict(self.options)
        if "scalars" not in options:
            losses = [h["loss"] for h in state.log_history  # logged during this epoch
                      if "loss" in h and epoch < float(h.get("epoch", 0)) <= epoch + 1]
            options["scalars"] = {"loss": float(losses[-1])} if losses else None
        layer = None if self.layer is None else f"model.{self.layer}"
        record_epoch(self.run, as_classifier(model, self.pad_token_id), epoch, layer=layer,
                     gradients=self.gradients, **options)
