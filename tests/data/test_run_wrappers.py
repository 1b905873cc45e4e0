"""Models wrapped for training (DataParallel / DDP, torch.compile) and their checkpoints:
recorded as the network inside, and checkpoints saved through a wrapper load into it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.run import Run
from dvi_widget.data.run.model import epoch_classifier
from tests.data.toy_run import XT, YT, X, Y, mlp


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit.*")  # torch.compile's import
@pytest.mark.parametrize("wrap", ["DataParallel", "DataParallel of compile"])
def test_a_wrapped_model_records_the_network_inside(tmp_path, wrap):
    net = mlp(1)
    wrapped = nn.DataParallel(net) if wrap == "DataParallel" else nn.DataParallel(
        torch.compile(net))
    run = Run.create(tmp_path / "r", train=(X, Y), test=(XT, YT))
    run.record(wrapped, 0, layer="module.2" if wrap == "DataParallel" else None)
    info = run.epoch_info(0)
    assert info["layer"] == "2"  # the architecture's own name, not the wrapper's
    assert set(run.state_dict(0)) == set(net.state_dict())
    # reopened in a new session with the plain architecture, epoch 0's classifier is rebuilt
    reopened = Run.open(tmp_path / "r", model=mlp(7))
    clf = epoch_classifier(reopened, 0, device="cpu")
    with torch.no_grad():
        np.testing.assert_allclose(clf(torch.as_tensor(X)).numpy(), net(torch.as_tensor(X)).numpy(),
                                   atol=1e-5)


@pytest.mark.parametrize(("prefix", "entry"), [("module.", None), ("_orig_mod.", None),
                                               ("module._orig_mod.", None),
                                               ("model.", "state_dict")])
def test_checkpoints_saved_through_a_wrapper_load_into_the_network(tmp_path, prefix, entry):
    nets = {e: mlp(e) for e in (1, 2)}
    for e, net in nets.items():
        state = {prefix + k: v for k, v in net.state_dict().items()}
        if entry:  # a LightningModule's checkpoint: its attribute's prefix, other entries beside
            state = {entry: {**state, "loss_fn.weight": torch.ones(3)}, "epoch": e}
        torch.save(state, tmp_path / f"epoch_{e}.pt")
    run = Run.from_checkpoints(tmp_path / "run", str(tmp_path / "epoch_*.pt"), mlp,
                               train=(X, Y), quiet=True)
    assert run.epochs == [1, 2]
    for e, net in nets.items():
        with torch.no_grad():
            np.testing.assert_allclose(run.logits(e, "train"), net(torch.as_tensor(X)).numpy(),
                                       atol=1e-5)


def test_a_checkpoint_of_another_network_is_still_refused(tmp_path):
    torch.save({"module." + k: v for k, v in nn.Linear(6, 3).state_dict().items()},
               tmp_path / "epoch_1.pt")
    with pytest.raises(ValueError, match="does not fit the model architecture"):
        Run.from_checkpoints(tmp_path / "run", str(tmp_path / "epoch_*.pt"), mlp, train=(X, Y),
                             quiet=True)


def test_gradients_monitored_through_the_wrapper_are_recorded(tmp_path):
    from dvi_widget.inside import GradientMonitor

    net = mlp(3)
    wrapped = nn.DataParallel(net)
    monitor = GradientMonitor(wrapped)  # created on what is trained: names "module.0.weight"
    run = Run.create(tmp_path / "r", train=(X, Y))
    torch.nn.functional.cross_entropy(wrapped(torch.as_tensor(X)), torch.as_tensor(Y)).backward()
    run.record(wrapped, 0, gradients=monitor)
    monitor.close()
    info = run.epoch_info(0)
    assert info["layer"] == "2"
    with np.load(run.path / "epochs" / "0000" / "inside.npz") as npz:
        assert npz["grad_stats"][:, 3].max() == 1  # one backward step, seen for the network
