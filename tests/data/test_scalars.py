"""Run scalars: stored with each epoch, read back with loss and accuracy from the logits."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dvi_widget.contract import Visualization
from dvi_widget.data.run import Run
from dvi_widget.data.scalars import check_scalars

C = 3


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, C, 40)
    return x, y


def _reference(logits, y):
    z = logits.astype(np.float64)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean(), (z.argmax(1) == y).mean()


def test_scalars_round_trip_with_loss_and_accuracy_from_the_logits(tmp_path, data):
    x, y = data
    run = Run.create(tmp_path / "run", train=(x[:30], y[:30]), test=(x[30:], y[30:]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, C))
    run.record(model, 0, device="cpu", scalars={"loss": torch.tensor(1.25), "lr": 0.1})
    rng = np.random.default_rng(1)
    reps = rng.normal(size=(40, 4)).astype(np.float32)
    logits = rng.normal(size=(40, C)).astype(np.float32)
    run.record_arrays(1, representations=reps, logits=logits,
                      scalars={"loss": np.float32(0.5), "train_accuracy": 0.75})
    run.record_arrays(2, representations=reps, logits=logits)

    table = Run.open(tmp_path / "run").scalars()        # a new kernel reads the same
    assert table.index.tolist() == [0, 1, 2] and table.index.name == "epoch"
    assert table.loc[0, "loss"] == pytest.approx(1.25) and table.loc[0, "lr"] == 0.1
    assert table.loc[1, "loss"] == 0.5 and np.isnan(table.loc[2, "loss"])
    assert np.isnan(table.loc[1, "lr"])
    loss_tr, acc_tr = _reference(logits[:30], y[:30])
    loss_te, acc_te = _reference(logits[30:], y[30:])
    assert table.loc[2, "train_loss"] == pytest.approx(loss_tr, rel=1e-6)
    assert table.loc[2, "test_loss"] == pytest.approx(loss_te, rel=1e-6)
    assert table.loc[2, "train_accuracy"] == pytest.approx(acc_tr)
    assert table.loc[2, "test_accuracy"] == pytest.approx(acc_te)
    assert table.loc[1, "train_accuracy"] == 0.75       # the user's value replaces the computed
    with torch.no_grad():
        out = model(torch.as_tensor(x)).numpy()
    assert table.loc[0, "train_accuracy"] == pytest.approx(_reference(out[:30], y[:30])[1])
    assert table.loc[0, "test_loss"] == pytest.approx(_reference(out[30:], y[30:])[0], rel=1e-5)
    assert all(table.dtypes == np.float64)


def test_scalars_of_a_run_without_test_samples(tmp_path, data):
    x, y = data
    run = Run.create(tmp_path / "run", train=(x, y))
    run.record_arrays(0, representations=x, logits=np.eye(C, dtype=np.float32)[y] * 5)
    table = run.scalars()
    assert table.loc[0, "train_accuracy"] == 1.0 and np.isnan(table.loc[0, "test_loss"])
    assert Run.create(tmp_path / "empty", train=(x, y)).scalars().empty


@pytest.mark.parametrize(("scalars", "error", "match"), [
    ([("loss", 1.0)], TypeError, "dict of name"),
    ({"loss": "low"}, TypeError, "must be a number"),
    ({"loss": float("nan")}, ValueError, "finite"),
    ({"loss": torch.ones(2)}, TypeError, "single number"),
    ({"epoch": 1.0}, ValueError, "other than 'epoch'"),
    ({"": 1.0}, ValueError, "non-empty"),
    ({"ok": True}, TypeError, "must be a number"),
])
def test_bad_scalars_raise_and_write_nothing(tmp_path, data, scalars, error, match):
    x, y = data
    run = Run.create(tmp_path / "run", train=(x, y))
    with pytest.raises(error, match=match):
        run.record_arrays(0, representations=x, logits=np.zeros((40, C), np.float32),
                          scalars=scalars)
    assert run.epochs == []


def test_check_scalars_accepts_numpy_and_tensor_numbers():
    got = check_scalars({"a": np.int64(3), "b": torch.tensor([0.5]), "c": np.array(2.0)})
    assert got == {"a": 3.0, "b": 0.5, "c": 2.0}
    assert all(type(v) is float for v in got.values())


def test_visualization_scalars_follow_its_epochs():
    table = pd.DataFrame({"loss": [3.0, 2.0, 1.0]}, index=pd.Index([0, 1, 2], name="epoch"))
    vis = Visualization.from_arrays(coords=np.zeros((2, 4, 2)), labels=[0, 1, 0, 1],
                                    epochs=[2, 5], scalars=table)
    assert vis.scalars.index.tolist() == [2, 5]
    assert vis.scalars.loc[2, "loss"] == 1.0 and np.isnan(vis.scalars.loc[5, "loss"])
    with pytest.raises(ValueError, match="not numeric"):
        Visualization.from_arrays(coords=np.zeros((4, 2)), labels=[0, 1, 0, 1],
                                  scalars=pd.DataFrame({"note": ["a"]}))
