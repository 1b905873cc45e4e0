"""Issue 23 item 1: the transformers callback records exactly what run.record records, and
leaves the training untouched (a 3-epoch Trainer run of a tiny BERT classifier built from a
config, nothing downloaded, on a text task made here)."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch

from dvi_widget.data.run import Run
from tests.integrations.same_run import assert_same_epochs

transformers = pytest.importorskip("transformers")
from dvi_widget.integrations.transformers import RecordCallback, as_classifier  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB, LENGTH, PAD = 40, 10, 0


def text_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (padded with 0 to 10) and a label: does token 7 ("good") occur?"""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, LENGTH), np.int64)
    labels = np.arange(n) % 2
    for i in range(n):
        length = rng.integers(4, LENGTH + 1)
        words = rng.choice(np.arange(8, VOCAB), size=length)
        if labels[i]:
            words[rng.integers(length)] = 7
        ids[i, :length] = words
    return ids, labels


class Texts(torch.utils.data.Dataset):
    def __init__(self, ids, labels):
        self.ids, self.labels = torch.as_tensor(ids), torch.as_tensor(labels)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": (self.ids[i] != PAD).long(),
                "labels": self.labels[i]}


def tiny_bert():
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=LENGTH, num_labels=2, pad_token_id=PAD)
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


class Snapshots(transformers.TrainerCallback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.states[round(state.epoch) - 1] = copy.deepcopy(model.state_dict())


def _train(tmp_path, name, ids, labels, callbacks):
    model = tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / name), num_train_epochs=3, per_device_train_batch_size=32,
        learning_rate=2e-3, logging_steps=2, save_strategy="no", report_to=[], seed=0,
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Texts(ids, labels),
                                   callbacks=callbacks)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return model, losses


def test_a_trainer_run_records_what_run_record_records(tmp_path):
    ids, labels = text_task(192, seed=0)
    test_ids, test_labels = text_task(48, seed=1)
    data = {"train": (ids, labels), "test": (test_ids, test_labels),
            "class_names": ["other", "good"]}
    run = Run.create(tmp_path / "cb", **data)
    with_cb, losses_cb = _train(tmp_path, "a", ids, labels, [RecordCallback(run)])
    snaps = Snapshots()
    without, losses = _train(tmp_path, "b", ids, labels, [snaps])
    # the training is untouched: the logged losses and the final weights are identical
    assert len(losses) >= 6 and losses_cb == losses
    for key, value in without.state_dict().items():
        assert torch.equal(with_cb.state_dict()[key], value), key
    assert with_cb.training
    reference = Run.create(tmp_path / "ref", **data)
    # the architecture is stored once per run (one torch.export): the reference takes the
    # callback's, so that only the epochs are recorded again (they are what is compared)
    shutil.copy(run.path / "architecture.json", reference.path)
    model = tiny_bert()
    for epoch, state in sorted(snaps.states.items()):
        model.load_state_dict(state)
        reference.record(as_classifier(model), epoch)
    assert run.epochs == [0, 1, 2]
    assert_same_epochs(run.path, reference.path)
    assert run.epoch_info(2)["layer"] == "model.classifier"  # the last Linear
    assert run.epoch_info(2)["head"]["spec"] is not None  # rebuilt without the model's code
    assert "loss" in run.scalars().columns and run.scalars()["loss"].notna().all()
    # the recorded logits are the model's own on the token ids
    model.eval()
    with torch.no_grad():
        own = model(input_ids=torch.as_tensor(test_ids),
                    attention_mask=torch.as_tensor(test_ids != PAD).long()).logits
    np.testing.assert_allclose(run.logits(2, "test"), own.numpy(), atol=1e-5)
    # reopened without the model, the stored graph gives the same logits (item 5)
    clf = Run.open(run.path).classifier(2, device="cpu")
    with torch.no_grad():
        again = clf(torch.as_tensor(np.asarray(run.inputs("test")))).numpy()
    np.testing.assert_allclose(again, own.numpy(), atol=1e-5)


def test_layer_names_are_the_models_own(tmp_path):
    """layer= is given as the Hugging Face model names it; every= skips epochs; called as the
    Trainer calls it (no training needed to check the naming)."""
    from types import SimpleNamespace

    ids, labels = text_task(64, seed=2)
    run = Run.create(tmp_path / "layer", train=(ids, labels))
    cb = RecordCallback(run, layer="classifier", every=3)
    model = tiny_bert()
    for epoch in (1.0, 2.0, 3.0):
        state = SimpleNamespace(epoch=epoch, is_world_process_zero=True, log_history=[])
        cb.on_epoch_end(None, state, None, model=model)
    assert run.epochs == [2] and run.epoch_info(2)["layer"] == "model.classifier"
    assert run.rep_dim == 16 and model.training  # train mode restored


def test_trainer_checkpoints_import_into_the_classifier(tmp_path):
    """save_strategy="epoch" writes checkpoint-STEP/model.safetensors with the model's own
    names; from_checkpoints reads them (numbered by the epoch in trainer_state.json, 0-based as
    RecordCallback numbers them) into as_classifier(model), whose names carry "model.", and
    records what the trained model computes."""
    ids, labels = text_task(96, seed=3)
    model = tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=32,
        learning_rate=2e-3, save_strategy="epoch", report_to=[], seed=0, use_cpu=True,
        disable_tqdm=True, dataloader_num_workers=0, logging_strategy="no")
    transformers.Trainer(model=model, args=args, train_dataset=Texts(ids, labels)).train()
    run = Run.from_checkpoints(tmp_path / "run", str(tmp_path / "out" / "*" / "model.safetensors"),
                               lambda: as_classifier(tiny_bert()), train=(ids, labels),
                               quiet=True, device="cpu")
    # checkpoint-3 and checkpoint-6 (96 samples / 32 per step) end epochs 1.0 and 2.0: 0, 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoint-3",
                                                                    "checkpoint-6"]
    assert run.epochs == [0, 1]
    model.eval()
    with torch.no_grad():
        own = as_classifier(model)(torch.as_tensor(ids))
    np.testing.assert_allclose(run.logits(1, "train"), own.numpy(), atol=1e-5)
