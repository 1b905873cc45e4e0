"""distributions() and flags() (issue 22, item 2): numbers recomputed from the weights and
gradients of a run whose vanishing, exploding and dead layers are built in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.run import Run
from dvi_widget.data.run import inside as store
from dvi_widget.inside import GradientMonitor, dead_units, distributions, flags
from dvi_widget.inside.distributions import hist_quantiles
from tests.data.toy_run import XT, YT, X, Y
from tests.inside.inside_run import recorded_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class GradScale(nn.Module):
    """The identity forward; the gradient flowing back through it is multiplied by ``s``."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s + x.detach() * (1 - self.s)


def built_in_problems(folder):
    """The gradient reaching layer 0 is scaled by 1e-5 (it vanishes), unit 2 of the ReLU after
    layer 2 has a bias of -100 (dead; the others +20), and the loss is multiplied by 1e4 at the
    last epoch (every gradient explodes there; that step is not applied)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), GradScale(1e-5), nn.Linear(5, 5), nn.ReLU(),
                          nn.Linear(5, 3))
    with torch.no_grad():  # unit 2 never active, the others always
        model[2].bias[:] = torch.tensor([20.0, 20.0, -100.0, 20.0, 20.0])
    run = Run.create(folder, train=(X, Y), test=(XT, YT))
    monitor = GradientMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    grads = {}
    for epoch in range(4):
        for k in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(torch.tensor(X[k::2])),
                                               torch.tensor(Y[k::2]))
            (loss * (1e4 if epoch == 3 else 1.0)).backward()
            grads.setdefault(epoch, []).append(
                {n: p.grad.norm().item() for n, p in model.named_parameters()})
            if epoch < 3:  # the exploded gradients are not applied
                opt.step()
        run.record(model, epoch, gradients=monitor)
    monitor.close()
    return run, grads


def test_weight_quantiles_are_the_stored_weights_quantiles(tmp_path):
    run, _ = recorded_run(tmp_path / "run")
    df = distributions(run, "weight")
    assert list(df.columns) == ["epoch", "layer", "statistic", "value"]
    assert sorted(df["layer"].unique()) == ["0", "3", "6", "8"]
    for epoch in run.epochs:
        w = run.state_dict(epoch)["3.weight"].numpy().ravel()
        got = df[(df.epoch == epoch) & (df.layer == "3")].set_index("statistic")["value"]
        assert got["p50"] == pytest.approx(float(np.median(w)), rel=1e-5)
        assert got["p0"] == pytest.approx(float(w.min())) and got["p100"] == pytest.approx(
            float(w.max()))
        assert got["std"] == pytest.approx(float(w.std(ddof=1)), rel=1e-4)
    bias = distributions(run, "bias")
    b = run.state_dict(1)["8.bias"].numpy()
    assert bias[(bias.epoch == 1) & (bias.layer == "8") & (bias.statistic == "mean")][
        "value"].item() == pytest.approx(float(b.mean()), rel=1e-5)
    act = distributions(run, "activation")
    assert act["layer"].unique().tolist() == ["0", "1", "3", "4", "6", "7", "8"]
    with pytest.raises(ValueError, match="kind must be one of"):
        distributions(run, "gradient")


def test_gradient_rows_are_the_monitors_numbers(tmp_path):
    run, grads = built_in_problems(tmp_path / "run")
    g = distributions(run, "grad")
    for epoch in range(4):
        for layer in ("0", "2", "4"):
            want = np.mean([s[f"{layer}.weight"] for s in grads[epoch]])
            got = g[(g.epoch == epoch) & (g.layer == layer) & (g.statistic == "norm")]["value"]
            assert got.item() == pytest.approx(want, rel=1e-5)
    steps = g[g.statistic == "steps"]["value"].unique().tolist()
    assert steps == [2.0]


def test_flags_name_the_vanishing_exploding_and_dead_layers_and_their_epochs(tmp_path):
    run, _ = built_in_problems(tmp_path / "run")
    f = flags(run)
    rows = {(r.flag, r.layer): r for r in f.itertuples()}
    assert set(rows) == {("vanishing", "0"), ("exploding", "0"), ("exploding", "2"),
                         ("exploding", "4"), ("dead", "3")}, f
    assert rows[("vanishing", "0")].epochs == [0, 1, 2, 3]
    assert all(rows[("exploding", la)].epochs == [3] for la in ("0", "2", "4"))
    assert rows[("dead", "3")].epochs == [0, 1, 2, 3]
    assert "1 of 5 units" in rows[("dead", "3")].detail
    assert dead_units(run, 2)["3"].tolist() == [2]
    # a threshold far below the built-in 1e-5: no layer vanishes
    assert "vanishing" not in flags(run, vanishing=1e-8)["flag"].tolist()


def test_hist_quantiles_of_a_uniform_histogram():
    q = hist_quantiles(np.ones(10), 0.0, 1.0, (0.0, 0.25, 0.5, 1.0))
    np.testing.assert_allclose(q, [0.0, 0.25, 0.5, 1.0], atol=1e-6)
    q = hist_quantiles(np.r_[np.zeros(5), np.ones(5)], -1.0, 1.0, (0.0, 0.5, 1.0))
    np.testing.assert_allclose(q, [0.0, 0.5, 1.0], atol=1e-6)


def test_a_run_recorded_without_a_monitor_says_how_to_record_one(tmp_path):
    from tests.data.toy_run import mlp

    run = Run.create(tmp_path / "run", train=(X, Y))
    run.record(mlp())
    with pytest.raises(ValueError, match=r"gradients=monitor"):
        distributions(run, "weight")
    with pytest.raises(FileNotFoundError, match=r"inside\.json missing"):
        store.read(run, 0)
