"""Issue 23 item 1: the Lightning callback records exactly what run.record records, and leaves
the training untouched (a 3-epoch fit of a small CNN on a Fashion-MNIST subset)."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.datasets import load_fashion_mnist
from dvi_widget.data.run import Run
from tests.integrations.same_run import assert_same_epochs

L = pytest.importorskip("lightning")
from dvi_widget.integrations.lightning import RecordCallback  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class SmallCNN(L.LightningModule):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10))
        self.losses: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.losses.append(float(loss))
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


class Snapshots(L.Callback):
    """The module's weights at the end of each epoch (for recording them afterwards)."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_epoch_end(self, trainer, pl_module):
        self.states[trainer.current_epoch] = copy.deepcopy(pl_module.state_dict())


@pytest.fixture(scope="module")
def data():
    ds = load_fashion_mnist(n_train=320, n_test=64, seed=0)
    return ds


def _fit(data, callbacks, epochs=3, ckpt_path=None, root=None):
    L.seed_everything(0, verbose=False)
    model = SmallCNN()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.as_tensor(data.x_train), torch.as_tensor(
            data.y_train)), batch_size=64, shuffle=True)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=root is not None, default_root_dir=root,
                        enable_progress_bar=False, enable_model_summary=False,
                        deterministic=True, callbacks=callbacks)
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    return model, trainer


def test_a_lightning_fit_records_what_run_record_records(data, tmp_path):
    run = Run.create(tmp_path / "cb", train=data)
    with_cb, _ = _fit(data, [RecordCallback(run)])
    snaps = Snapshots()
    without, _ = _fit(data, [snaps])
    # the training is untouched: every step's loss and the final weights are identical
    assert len(with_cb.losses) == 3 * 5 and with_cb.losses == without.losses
    for key, value in without.state_dict().items():
        assert torch.equal(with_cb.state_dict()[key], value), key
    assert with_cb.training  # the module is back in train mode after the last recording
    # the callback's run equals run.record of the same model states
    reference = Run.create(tmp_path / "ref", train=data)
    # the architecture is stored once per run (one torch.export): the reference takes the
    # callback's, so that only the epochs are recorded again (they are what is compared)
    shutil.copy(run.path / "architecture.json", reference.path)
    model = SmallCNN()
    for epoch, state in sorted(snaps.states.items()):
        model.load_state_dict(state)
        reference.record(model, epoch)
    assert run.epochs == [0, 1, 2]
    assert_same_epochs(run.path, reference.path)
    assert run.epoch_info(2)["layer"] == "net.9"  # the last Linear, as run.record chooses
    assert set(run.scalars()["train_loss"].dropna().round(6)) and \
        run.epoch_info(2)["test_accuracy"] > 0.3
    # the architecture stored by the first recording rebuilds every epoch's classifier
    clf = Run.open(run.path).classifier(2, device="cpu")
    x = torch.from_numpy(np.array(run.inputs("test")))  # a copy: the run's arrays are read-only
    np.testing.assert_allclose(clf(x).detach().numpy(), run.logits(2, "test"), atol=1e-5)


def test_every_and_resume(data, tmp_path):
    run = Run.create(tmp_path / "resume", train=data)
    root = tmp_path / "ckpt"
    _fit(data, [RecordCallback(run, every=2)], epochs=2, root=root)
    assert run.epochs == [1]  # every=2: the second epoch (0-based 1)
    ckpt = next((root / "checkpoints").glob("*.ckpt"))
    _fit(data, [RecordCallback(Run.open(run.path))], epochs=3, ckpt_path=str(ckpt), root=root)
    assert Run.open(run.path).epochs == [1, 2]  # resumed at epoch 2, recorded it
    with pytest.raises(ValueError, match="every must be a positive integer"):
        RecordCallback(run, every=0)



def test_lightning_checkpoints_import_with_their_epochs(data, tmp_path):
    """ModelCheckpoint's files (epoch=E-step=S.ckpt, with hyper-parameters and optimizer
    states beside the weights) import by their epoch, not their step, into the plain network."""
    every = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=-1)
    model, _ = _fit(data, [every], epochs=3, root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == [
        "epoch=0-step=5.ckpt", "epoch=1-step=10.ckpt", "epoch=2-step=15.ckpt"]

    # the network alone: its keys lack the LightningModule's attribute ("net.")
    run = Run.from_checkpoints(tmp_path / "run", str(tmp_path / "ckpts" / "*.ckpt"),
                               lambda: copy.deepcopy(model.net), train=data, quiet=True,
                               device="cpu")
    assert run.epochs == [0, 1, 2]
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(data.x_test))
    np.testing.assert_allclose(run.logits(2, "test"), logits.numpy(), atol=1e-5)


class Wrapping(L.LightningModule):
    """The common pattern: the network as an attribute of the LightningModule (model.fc)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU(),
                                   nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, _):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def test_a_run_recorded_through_the_lightning_module_reopens_with_the_bare_network(data,
                                                                                   tmp_path):
    run = Run.create(tmp_path / "r", train=data)
    lit = Wrapping()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)), batch_size=64)
    L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False,
              callbacks=[RecordCallback(run)]).fit(lit, loader)
    assert run.epoch_info(0)["layer"] == "model.3"  # named as the LightningModule names it
    bare = copy.deepcopy(lit.model)
    clf = Run.open(run.path, model=bare).classifier(0, device="cpu")
    assert clf.representation_layer == "3"  # the bare network's name for the same layer
    x = torch.as_tensor(np.array(run.inputs("test")))
    with torch.no_grad():
        np.testing.assert_allclose(clf(x).numpy(), run.logits(0, "test"), atol=1e-5)
