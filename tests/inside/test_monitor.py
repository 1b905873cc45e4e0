"""GradientMonitor and the inside files of a recorded epoch (issue 22, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.run import Run
from dvi_widget.data.run import inside as store
from dvi_widget.inside import GradientMonitor
from tests.inside.inside_run import cnn, data, recorded_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def test_histograms_equal_histc_of_a_hand_run_step():
    x, y = data(24)
    model = cnn()
    monitor = GradientMonitor(model, bins=16)
    grads = _step(model, torch.tensor(x), torch.tensor(y))
    hist, ranges = monitor.histograms(), monitor.ranges
    for i, name in enumerate(monitor.names):
        g = grads[name]
        r = float(g.abs().max()) * monitor.margin
        assert ranges[i].tolist() == pytest.approx([-r, r], rel=1e-6)
        want = torch.histc(g, 16, -r, r).numpy()
        np.testing.assert_array_equal(hist[i], want)
        assert hist[i].sum() == g.numel()
    snap = monitor.snapshot()
    stats = snap["grad_stats"]
    for i, name in enumerate(monitor.names):
        g = grads[name]
        assert stats[i, 0] == pytest.approx(float(g.abs().mean()), rel=1e-5)
        assert stats[i, 1] == pytest.approx(float(g.abs().max()), rel=1e-6)
        assert stats[i, 2] == pytest.approx(float(g.norm()), rel=1e-5)
        assert stats[i, 3] == 1
    # a second step: counts add up in the first step's bins, the norm is the mean over steps
    grads2 = _step(model, torch.tensor(x[:12]), torch.tensor(y[:12]))
    snap2 = monitor.take()
    for i, name in enumerate(monitor.names):
        lo, hi = ranges[i]
        want = (torch.histc(grads[name], 16, lo, hi)
                + torch.histc(grads2[name].clamp(lo, hi), 16, lo, hi)).numpy()
        np.testing.assert_array_equal(snap2["grad_hist"][i], want)
        mean_norm = (float(grads[name].norm()) + float(grads2[name].norm())) / 2
        assert snap2["grad_stats"][i, 2] == pytest.approx(mean_norm, rel=1e-5)
        assert snap2["grad_stats"][i, 3] == 2
    assert monitor.n_steps == 0 and monitor.snapshot() is None  # take() started a new epoch
    monitor.close()


def test_many_steps_with_an_optimizer_and_clipping_count_what_each_backward_computed(
        monkeypatch: pytest.MonkeyPatch):
    """Blocks of steps reduced after optimizer steps (a small block: several blocks) equal the
    per-step statistics of the gradients as each backward left them, before clipping changed
    them in place."""
    monkeypatch.setattr(store, "BLOCK_BYTES", 10_000)  # 5 steps of this 489-value CNN a block
    x, y = data(64)
    model = cnn()
    monitor = GradientMonitor(model, bins=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    raw: list[dict[str, torch.Tensor]] = []
    for k in range(23):
        rows = slice((k * 8) % 56, (k * 8) % 56 + 8)
        raw.append(_step(model, torch.tensor(x[rows]), torch.tensor(y[rows])))
        nn.utils.clip_grad_norm_(model.parameters(), 1e-3)  # in place, after the backward
        opt.step()
    snap = monitor.take()
    ranges = snap["grad_range"]
    for i, name in enumerate(monitor.names):
        lo, hi = (float(v) for v in ranges[i])
        assert hi == pytest.approx(float(raw[0][name].abs().max()) * monitor.margin, rel=1e-6)
        want = sum(torch.histc(g[name].clamp(lo, hi), 8, lo, hi) for g in raw).numpy()
        np.testing.assert_array_equal(snap["grad_hist"][i], want)
        norms = [float(g[name].norm()) for g in raw]
        assert snap["grad_stats"][i, 2] == pytest.approx(np.mean(norms), rel=1e-5)
        assert snap["grad_stats"][i, 1] == pytest.approx(
            max(float(g[name].abs().max()) for g in raw), rel=1e-6)
        assert snap["grad_stats"][i, 3] == 23
    monitor.close()


def test_a_large_gradient_is_histogrammed_on_every_kth_value():
    """Above HIST_SAMPLE values the histogram counts every hist_stride-th value (the monitor
    stays cheap); mean, max and norm still use every value."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 64), nn.Tanh(), nn.Linear(64, 3))
    monitor = GradientMonitor(model)
    x, y = torch.randn(20, 100), torch.arange(20) % 3
    grads = _step(model, x, y)
    g = grads["0.weight"].reshape(-1)
    k = store.hist_stride(g.numel())
    assert g.numel() == 6400 > store.HIST_SAMPLE and k == 7
    lo, hi = monitor.ranges[0]
    np.testing.assert_array_equal(monitor.histograms()[0], torch.histc(g[::k], 32, lo, hi))
    stats = monitor.snapshot()["grad_stats"][0]
    assert stats[0] == pytest.approx(float(g.abs().mean()), rel=1e-5)
    assert stats[2] == pytest.approx(float(g.norm()), rel=1e-5)
    monitor.close()


def test_nothing_recorded_without_backward_and_close_removes_the_hooks(tmp_path):
    x, y = data(30)
    model = cnn()
    monitor = GradientMonitor(model)
    model(torch.tensor(x)).sum()  # a forward alone is no step
    assert monitor.snapshot() is None
    run = Run.create(tmp_path / "run", train=(x, y))
    run.record(model, 0, gradients=monitor)
    meta, arrays = store.read(run, 0)
    assert meta["grad_steps"] == 0 and "grad_hist" not in arrays
    assert "param_quantiles" in arrays and len(arrays["probe"]) == 30  # weights, activations
    monitor.close()
    assert monitor.closed
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())
    _step(model, torch.tensor(x), torch.tensor(y))
    assert monitor.n_steps == 0


def test_recorded_epoch_holds_weights_gradients_and_probe_activations(tmp_path):
    run, model = recorded_run(tmp_path / "run")
    meta, arrays = store.read(run, 2)
    names = [n for n, _ in model.named_parameters()]
    assert meta["parameters"] == names and meta["grad_steps"] == 3
    w0 = model[0].weight.detach().numpy().ravel()
    q = np.quantile(w0, store.QUANTILES)
    np.testing.assert_allclose(arrays["param_quantiles"][0], q, rtol=1e-5, atol=1e-7)
    assert arrays["grad_stats"][:, 3].tolist() == [3] * len(names)
    # activations: conv/linear outputs and ReLUs on the probe, recomputed here
    probe = arrays["probe"]
    np.testing.assert_array_equal(probe, store.probe_indices(72))
    layers = [(la["name"], la["kind"], la["units"]) for la in meta["layers"]]
    assert layers == [("0", "conv", 4), ("1", "relu", 4), ("3", "conv", 6), ("4", "relu", 6),
                      ("6", "linear", 8), ("7", "relu", 8), ("8", "linear", 3)]
    x = torch.tensor(run.inputs("train")[probe])
    with torch.no_grad():
        relu = model[:5](x).reshape(len(x), 6, -1)
    active = (relu > 0).any(2).float().mean(0).numpy()
    np.testing.assert_allclose(store.unit_values(arrays, "act_active", 3), active, rtol=1e-6)
    np.testing.assert_allclose(store.unit_values(arrays, "act_mean", 3), relu.mean((0, 2)).numpy(),
                               rtol=1e-5)
    assert arrays["act_offsets"].tolist() == [0, 4, 8, 14, 20, 28, 36, 39]
    assert all(a.dtype == np.float32 for k, a in arrays.items()
               if k not in ("probe", "act_offsets"))
    assert store.nbytes(run, 2) < 20_000


def test_a_monitor_of_another_model_is_refused_and_nothing_is_written(tmp_path):
    x, y = data(30)
    run = Run.create(tmp_path / "run", train=(x, y))
    other = nn.Sequential(nn.Flatten(), nn.Linear(100, 3))
    monitor = GradientMonitor(other)
    _step(other, torch.tensor(x), torch.tensor(y))
    with pytest.raises(ValueError, match="monitor the model you record"):
        run.record(cnn(), 0, gradients=monitor)
    assert run.epochs == []
    with pytest.raises(TypeError, match="GradientMonitor"):
        run.record(cnn(), 0, gradients="yes")
    with pytest.raises(ValueError, match="gradients= needs the model"):
        run.record(None, 0, feature_fn=lambda t: t, head_fn=lambda t: t, gradients=monitor)


def test_activations_reduced_batch_by_batch_equal_one_batch(tmp_path):
    """The probe's activations are reduced per batch (never a layer's whole output at once):
    small batches give the numbers one batch gives."""
    x, y = data(60)
    run = Run.create(tmp_path / "run", train=(x, y))
    model = cnn()
    with GradientMonitor(model) as monitor:
        run.record(model, 0, gradients=monitor)
        run.record(model, 1, gradients=monitor, batch_size=7)
    (m0, a0), (m1, a1) = store.read(run, 0), store.read(run, 1)
    assert m0["layers"] == m1["layers"]
    for key in a0:
        np.testing.assert_allclose(a1[key], a0[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_later_epochs_keep_the_probe_of_the_first_record(tmp_path):
    """A run whose first inside record kept another probe (an earlier version drew them another
    way) keeps that probe at every later epoch, so the activations stay comparable."""
    from dvi_widget._io import write_npz
    from dvi_widget.data.run.folder import INSIDE_NPZ

    x, y = data(30)
    model = cnn()
    monitor = GradientMonitor(model)
    run = Run.create(tmp_path / "run", train=(x, y))
    _step(model, torch.tensor(x), torch.tensor(y))
    run.record(model, 0, gradients=monitor)
    _, arrays = store.read(run, 0)
    assert arrays["probe"].tolist() == list(range(30))  # all 30 (fewer than PROBE)
    older = np.arange(0, 30, 3)
    write_npz(run._epoch_dir(0) / INSIDE_NPZ, **{**arrays, "probe": older})
    _step(model, torch.tensor(x), torch.tensor(y))
    run.record(model, 1, gradients=monitor)
    assert store.read(run, 1)[1]["probe"].tolist() == older.tolist()
    np.testing.assert_array_equal(store.run_probe(run, 30), older)
    monitor.close()
