"""Inside the model: per-epoch weights, gradients and activations, and their one file pair.

The only module that writes and reads an epoch's ``inside.npz`` / ``inside.json`` (names from
:mod:`.folder`). They are written by :meth:`Run.record(model, epoch, gradients=monitor)
<dvi_widget.data.run.Run.record>` into the epoch's staged folder, so they appear atomically
with the epoch. Everything is float32 and small: a few numbers per parameter tensor and per
unit, never a tensor's values (the quickstart CNN: 11 kB per epoch; a ResNet-18: 96 kB).

``inside.json``::

    {"version": 1, "bins": 32, "quantiles": [...], "grad_steps": 117,
     "parameters": ["0.weight", "0.bias", ...],
     "layers": [{"name": "1", "module": "1", "kind": "relu", "units": 16}, ...]}

``inside.npz`` (P parameter tensors, L layers, Q quantile levels, B bins, U_l units)::

    param_quantiles (P, Q)   weights at record time: quantiles of the values
    param_stats     (P, 3)   mean, std, L2 norm of the values
    grad_hist       (P, B)   histogram of the gradient values summed over the steps, fixed bins
                             per epoch over grad_range (values beyond it count in the end bins;
                             a tensor above HIST_SAMPLE values counts every hist_stride-th one)
    grad_range      (P, 2)   the bins' low and high edge (set at the epoch's first backward)
    grad_stats      (P, 4)   mean |g|, max |g|, mean over steps of ||g||_2, steps seen
    probe           (n,)     int64 training-sample indices of the probe subset
    act_quantiles   (L, Q)   activations on the probe: quantiles of the layer's values (min and
                             max exact, the others from a subsample of at most 2^18 per batch)
    act_active      (ΣU_l,)  per unit, the fraction of probe samples on which it is ever > 0
                             (at any position); the layers' units end to end
    act_mean        (ΣU_l,)  per unit, its mean activation over the probe and positions
    act_offsets     (L+1,)   int64: layer l's units are [act_offsets[l], act_offsets[l + 1])

The gradient arrays are absent when no backward ran (``grad_steps`` 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from ..._io import read_npz, write_json, write_npz
from ..._random import subset_rng
from ..._tensor import row_batches
from .folder import INSIDE_JSON, INSIDE_NPZ, rerecord

#: TensorBoard's distribution bands: min, ±1.5σ, ±1σ, ±0.5σ, median, max (normal percentiles)
QUANTILES = (0.0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1.0)
#: bins of the gradient histograms
BINS = 32
#: probe samples the activations are taken on
PROBE = 512
#: the bins of an epoch span this many times the largest |g| of its first backward
RANGE_MARGIN = 4.0
#: a larger gradient is histogrammed on every k-th value (k = hist_stride(numel)), so that
#: the monitor costs a few percent of a training step (histc is ~7 ns per value on a CPU);
#: its mean, max and norm always use every value
HIST_SAMPLE = 1024
#: the gradients kept (flattened, float32) before the steps are reduced together
BLOCK_BYTES = 8 << 20
#: modules whose outputs are the recorded activations (conv/linear outputs, and activation
#: functions, where dead units show)
WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
               nn.Softplus, nn.Hardtanh, nn.Mish)
#: activation kinds whose units can die (exactly 0 for every input below a threshold)
RECTIFIERS = ("relu", "relu6")
FORMAT = 1


def hist_stride(numel: int) -> int:
    """The stride of the values a gradient of ``numel`` values is histogrammed on."""
    return max(1, -(-int(numel) // HIST_SAMPLE))


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        return "conv"
    return type(module).__name__.lower()


class _Layout:
    """Where each tensor's values lie in a backward's flattened gradients (the tensors ``ids``
    of ``sizes`` values, end to end), and its histogram samples."""

    def __init__(self, ids: tuple[int, ...], sizes: list[int], device: torch.device) -> None:
        self.ids, self.sizes = ids, [int(n) for n in sizes]
        starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        picks = [np.arange(s, s + n, hist_stride(n)) for s, n in zip(starts, self.sizes,
                                                                      strict=True)]
        self.counts = [len(p) for p in picks]
        self.sample = torch.as_tensor(np.concatenate(picks), device=device)
        self.ranges: tuple[torch.Tensor, torch.Tensor] | None = None
        self.index = torch.as_tensor(ids, device=device)  # rows of the epoch's totals

    def sample_ranges(self, r: list[float | None], bins: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample: its tensor's range and the offset of its tensor's bins."""
        if self.ranges is None:
            device = self.sample.device
            counts = torch.as_tensor(self.counts, device=device)
            self.ranges = (
                torch.repeat_interleave(torch.tensor([r[i] for i in self.ids],
                                                     dtype=torch.float32, device=device), counts),
                torch.repeat_interleave(torch.arange(len(self.ids), device=device) * bins,
                                        counts))
        return self.ranges


class GradientMonitor:
    """Gradient statistics of every trainable parameter of ``model`` over an epoch's steps.

    Hooks are registered once (``register_post_accumulate_grad_hook``); after each
    ``backward()`` they accumulate, per parameter tensor, a fixed-bin histogram of the
    gradient's values (of every ``hist_stride(numel)``-th value of a tensor above
    :data:`HIST_SAMPLE` values), the mean and max of ``|grad|`` and the gradient's L2 norm, on
    the gradient's device (on a GPU no synchronisation per step, except once per tensor and
    epoch to fix the bins). ``run.record(model, epoch, gradients=monitor)`` stores the epoch's
    statistics and starts the next epoch's; :meth:`close` removes the hooks.

    The bins of an epoch span ``[-r, r]`` with ``r = margin · max|g|`` of the epoch's first
    backward (values beyond fall in the end bins), so each epoch's histogram keeps its
    resolution as gradients shrink or grow.

    >>> monitor = GradientMonitor(model)                     # doctest: +SKIP
    >>> for epoch in range(10):                              # doctest: +SKIP
    ...     train_one_epoch(model)                           # loss.backward() as usual
    ...     run.record(model, epoch, gradients=monitor)
    >>> monitor.close()                                      # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, bins: int = BINS, margin: float = RANGE_MARGIN) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"GradientMonitor needs a torch.nn.Module, got {type(model)!r}")
        if int(bins) < 2 or not margin >= 1:
            raise ValueError(f"bins must be >= 2 and margin >= 1, got {bins} and {margin}")
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no trainable parameters to monitor")
        self.model = model
        self.names = [n for n, _ in named]
        self._numel_of = [p.numel() for _, p in named]
        self.bins = int(bins)
        self.margin = float(margin)
        self._handles = [p.register_post_accumulate_grad_hook(self._hook(i))
                         for i, (_, p) in enumerate(named)]
        self._handles.append(register_optimizer_step_post_hook(
            self._after_step))
        self.reset()

    def _hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(param: torch.Tensor) -> None:
            grad = param.grad
            if grad is None:
                return
            first = not self._batch
            self._batch.append((i, grad))
            if first:
                try:  # once per backward, at its end, for all its gradients
                    torch.autograd.Variable._execution_engine.queue_callback(self._snap)
                except RuntimeError:  # not inside a backward (a hook called by hand)
                    self._snap()
        return hook

    def reset(self) -> None:
        """Forget what was accumulated (the next backward starts a new epoch)."""
        P = len(self.names)
        self._batch: list[tuple[int, torch.Tensor]] = []
        # per tensor: this epoch's bin range; the block of backwards not yet reduced (their
        # gradients flattened end to end, all from the same tensors); per set of tensors: the
        # layout of their values; the epoch's totals
        self._range = np.zeros((P, 2), np.float32)
        self._r: list[float | None] = [None] * P
        self._buffer: torch.Tensor | None = None  # (rows, N): one backward's gradients a row
        self._filled = 0
        self._block_ids: tuple[int, ...] = ()
        self._layouts: dict[tuple[int, ...], _Layout] = {}
        self._totals: torch.Tensor | None = None
        self._numel = [0] * P
        self._steps = [0] * P

    def _snap(self) -> None:
        """At the end of a backward: copy its gradients, flattened end to end, into the next
        row of the block; the block is reduced after an optimizer step once it is full (or here
        when no optimizer steps), and at once while a tensor's bins are not fixed yet.

        Written by hand rather than as tensor ops per gradient: a tensor op inside a backward
        costs 5-50 us of dispatch on a CPU (and ``torch.histc`` ~15 us even on 10 values), so
        per-tensor statistics took 9-15 % of the quickstart CNN's step. Here a backward costs
        one copy, and a block of ``BLOCK_BYTES`` is reduced with a few ops per tensor for all
        its steps at once, outside the backward. The copy also keeps what the backward
        computed: a later in-place change of ``.grad`` (clipping,
        ``zero_grad(set_to_none=False)``) does not reach it."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        ids = tuple(i for i, _ in batch)
        if ids != self._block_ids or self._buffer is None:
            self._reduce()
            self._block_ids = ids
            n = sum(self._numel_of[i] for i in ids)
            # twice a block, so that an optimizer step finds it half full; a model larger
            # than a block keeps one row, reduced at every backward
            rows = max(1, min(2 * (BLOCK_BYTES // (4 * n)), 8192))
            self._buffer = torch.empty(rows, n, dtype=torch.float32, device=batch[0][1].device)
        grads = [g.reshape(-1) for _, g in batch]
        torch.cat(grads, out=self._buffer[self._filled])  # casts float16/bfloat16 gradients
        self._filled += 1
        if self._filled >= len(self._buffer) or any(self._r[i] is None for i in ids):
            self._reduce()

    def _after_step(self, *args: object) -> None:
        """After an optimizer step (outside any backward): reduce a full block."""
        if self._buffer is not None and 2 * self._filled >= len(self._buffer):
            self._reduce()

    def _reduce(self) -> None:
        """Fold the block's steps into the epoch's totals: per tensor, the histogram of its
        (strided) values in the epoch's bins with ``torch.histc``'s bin rule
        (``(x + r) * bins / 2r``, values beyond ``±r`` in the end bins), the sum and max of
        |g| and the sum over steps of its L2 norm."""
        if not self._filled:
            return
        ids, b = self._block_ids, self.bins
        block = self._buffer[: self._filled]  # (K steps, N values)
        self._filled = 0
        layout = self._layouts.get(ids)
        if layout is None:
            layout = self._layouts[ids] = _Layout(ids, [self._numel_of[i] for i in ids],
                                                  block.device)
        values = torch.split(block, layout.sizes, dim=1)
        absolute = torch.split(block.abs(), layout.sizes, dim=1)
        amax = torch.stack([v.amax(1) for v in absolute], 1)  # (K, P)
        fresh = [k for k, i in enumerate(ids) if self._r[i] is None]
        if fresh:  # the epoch's first backward fixes each tensor's bins (one sync)
            for k, m in zip(fresh, amax[0, fresh].tolist(), strict=True):
                r = m * self.margin
                r = r if np.isfinite(r) and r > 0 else 1e-12
                self._r[ids[k]] = r
                self._range[ids[k]] = (-r, r)
            layout.ranges = None
        r, offset = layout.sample_ranges(self._r, b)
        x = block[:, layout.sample]
        x = torch.minimum(torch.maximum(x, -r), r)
        pos = ((x + r) * b / (2 * r)).long().clamp_(max=b - 1) + offset
        hist = torch.bincount(pos.reshape(-1), minlength=len(ids) * b).view(len(ids), b)
        l1 = torch.stack([v.sum(1) for v in absolute], 1).sum(0)
        norms = torch.stack([torch.linalg.vector_norm(v, dim=1) for v in values], 1).sum(0)
        if self._totals is None:
            self._totals = torch.zeros(len(self.names), b + 3, dtype=torch.float32,
                                       device=block.device)
        index = layout.index
        totals = self._totals
        totals[index, :b] += hist.float()
        totals[index, b] += l1
        totals[index, b + 1] = torch.maximum(totals[index, b + 1], amax.amax(0))
        totals[index, b + 2] += norms
        k = block.shape[0]
        for i, n in zip(ids, layout.sizes, strict=True):
            self._numel[i] += k * n
            self._steps[i] += k

    @property
    def steps(self) -> np.ndarray:
        """(P,) backward passes each tensor saw since the last record."""
        self._reduce()
        return np.asarray(self._steps, np.int64)

    @property
    def n_steps(self) -> int:
        """The backward passes seen since the last record (the most any tensor saw)."""
        self._reduce()
        return max(self._steps, default=0)

    @property
    def ranges(self) -> np.ndarray:
        """(P, 2) low and high edge of each tensor's bins this epoch (0 before a backward)."""
        return self._range.copy()

    def _accumulated(self) -> np.ndarray:
        """(P, bins + 3): histogram, sum |g|, max |g|, sum of norms (zeros where no gradient)."""
        self._snap()
        self._reduce()
        if self._totals is None:
            return np.zeros((len(self.names), self.bins + 3), np.float32)
        return self._totals.detach().cpu().numpy().astype(np.float32)

    def histograms(self) -> np.ndarray:
        """(P, bins) float32 summed histograms of this epoch (zeros where no gradient came)."""
        return self._accumulated()[:, : self.bins]

    def snapshot(self) -> dict[str, np.ndarray] | None:
        """This epoch's arrays (``grad_hist``, ``grad_range``, ``grad_stats``), or None when
        no backward ran since the last record."""
        if self.n_steps == 0:
            return None
        acc = self._accumulated()
        steps = np.maximum(self.steps, 1)
        numel = np.maximum(np.asarray(self._numel, np.float64), 1)
        stats = np.stack([acc[:, self.bins] / numel, acc[:, self.bins + 1],
                          acc[:, self.bins + 2] / steps, self.steps], axis=1).astype(np.float32)
        return {"grad_hist": acc[:, : self.bins], "grad_range": self.ranges,
                "grad_stats": stats}

    def take(self) -> dict[str, np.ndarray] | None:
        """:meth:`snapshot`, then :meth:`reset` (what a record does)."""
        snap = self.snapshot()
        self.reset()
        return snap

    def close(self) -> None:
        """Remove the hooks (the monitor records nothing afterwards)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def closed(self) -> bool:
        return not self._handles

    def __enter__(self) -> GradientMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"GradientMonitor({len(self.names)} tensors, {self.n_steps} steps this epoch"
                f"{', closed' if self.closed else ''})")


# ----------------------------------------------------------------------------- recording


def probe_indices(n_train: int, size: int = PROBE) -> np.ndarray:
    """The fixed probe subset: ``size`` training indices drawn once
    (:func:`dvi_widget._random.subset_rng`), sorted; the same for every epoch of a run (and
    kept with each record)."""
    k = min(int(size), int(n_train))
    return np.sort(subset_rng().permutation(int(n_train))[:k]).astype(np.int64)


def run_probe(run: Any, n_train: int) -> np.ndarray:  # noqa: ANN401 - a RunFolder
    """The probe subset of ``run``: the one its first epoch with an inside record kept (a run
    recorded partly by an earlier version, whose probes were drawn another way, keeps them), or
    :func:`probe_indices` for a run without one."""
    for epoch in epochs_with_inside(run):
        try:
            probe = np.asarray(read(run, epoch)[1]["probe"], dtype=np.int64)
        except (OSError, ValueError, KeyError):
            continue  # a damaged record says so when it is read; the next one may do
        if len(probe) and probe.max() < n_train:
            return probe
    return probe_indices(n_train)


def recorded_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules whose outputs are recorded: conv/linear layers and activation functions."""
    return [(n, m) for n, m in model.named_modules()
            if n and isinstance(m, WEIGHTED + ACTIVATIONS)]


def unit_view(t: torch.Tensor) -> torch.Tensor:
    """(n, units, positions): channels of a conv output (dim 1), features of a linear one."""
    return t.reshape(t.shape[0], t.shape[1], -1) if t.ndim > 2 else t.reshape(len(t), -1, 1)


#: quantiles of a larger layer are those of a fixed random subsample of this many values
QUANTILE_SAMPLE = 1 << 18


class _LayerStats:
    """One recorded layer's activations, reduced batch by batch (a layer's whole output over
    the probe is never kept: a ResNet's first conv on 512 ImageNet images is 1.6 GB)."""

    def __init__(self, module: str, kind: str, out: torch.Tensor) -> None:
        self.module, self.kind, self.conv = module, kind, out.ndim > 2
        self.active: list[torch.Tensor] = []  # (n_b, U) bool: unit ever > 0 on the sample
        self.sums: torch.Tensor | float = 0.0
        self.count = 0
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None
        self.sample: list[torch.Tensor] = []
        self.gen = torch.Generator(device=out.device).manual_seed(0)

    def add(self, out: torch.Tensor) -> None:
        units = unit_view(out.detach().float())
        self.active.append((units > 0).any(dim=2))
        self.sums = self.sums + units.sum(dim=(0, 2))
        self.count += units.shape[0] * units.shape[2]
        flat = units.reshape(-1)
        lo, hi = torch.aminmax(flat)
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)
        if flat.numel() > QUANTILE_SAMPLE:
            flat = flat[torch.randint(flat.numel(), (QUANTILE_SAMPLE,), generator=self.gen,
                                      device=flat.device)]
        self.sample.append(flat)

    def quantiles(self) -> np.ndarray:
        """The :data:`QUANTILES`: min and max exact, the others from the values (a fixed random
        subsample of at most :data:`QUANTILE_SAMPLE` values per batch)."""
        v = torch.cat(self.sample)
        if v.numel() > QUANTILE_SAMPLE:
            v = v[torch.randint(v.numel(), (QUANTILE_SAMPLE,), generator=self.gen,
                                device=v.device)]
        q = torch.quantile(v, torch.tensor(QUANTILES, dtype=v.dtype, device=v.device))
        q[0], q[-1] = self.lo, self.hi
        return q.cpu().numpy().astype(np.float32)


class _Outputs:
    """Reduces each recorded module's outputs during the forward passes; a module called k
    times in one pass (a shared ReLU) gives the layers ``name``, ``name#1``, ..."""

    def __init__(self, model: nn.Module) -> None:
        self.stats: dict[str, _LayerStats] = {}  # in call order
        self._calls: dict[str, int] = {}
        self._handles = [m.register_forward_hook(self._hook(n, m))
                         for n, m in recorded_layers(model)]

    def _hook(self, name: str, module: nn.Module) -> Callable[..., None]:
        def hook(mod: nn.Module, args: Any, output: Any) -> None:  # noqa: ANN401
            if not isinstance(output, torch.Tensor) or output.ndim < 2:
                return
            k = self._calls.get(name, 0)
            self._calls[name] = k + 1
            layer = name if k == 0 else f"{name}#{k}"
            if layer not in self.stats:
                self.stats[layer] = _LayerStats(name, _kind(module), output)
            self.stats[layer].add(output)
        return hook

    def new_batch(self) -> None:
        self._calls.clear()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _quantiles(values: torch.Tensor) -> np.ndarray:
    """The :data:`QUANTILES` of ``values`` (a parameter tensor), exact."""
    v = values.reshape(-1).float()
    return torch.quantile(v, torch.tensor(QUANTILES, dtype=v.dtype, device=v.device)
                          ).cpu().numpy().astype(np.float32)


@torch.no_grad()
def activations(model: nn.Module, x: np.ndarray, device: torch.device,
                batch_size: int, token_ids: bool = False
                ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The recorded layers' activations on ``x`` (the probe inputs, fed as int64 with
    ``token_ids``): their JSON entries and arrays (``act_quantiles``, ``act_active``,
    ``act_mean``, ``act_offsets``)."""
    from .cut import model_inputs

    hooks = _Outputs(model)
    try:
        for _, (xb,) in row_batches(x, batch_size=batch_size, device=device):
            hooks.new_batch()
            model(model_inputs(xb, model, token_ids))
    finally:
        hooks.remove()
    layers, quants, active, mean = [], [], [], []
    for layer, st in hooks.stats.items():
        on = torch.cat(st.active)
        layers.append({"name": layer, "module": st.module, "kind": st.kind,
                       "units": int(on.shape[1]), "conv": st.conv})
        quants.append(st.quantiles())
        active.append(on.float().mean(0).cpu().numpy())
        mean.append((torch.as_tensor(st.sums) / max(st.count, 1)).cpu().numpy())
    f32 = np.float32
    return layers, {
        "act_quantiles": np.stack(quants).astype(f32) if quants else np.zeros((0, len(QUANTILES)),
                                                                              f32),
        "act_active": np.concatenate(active).astype(f32) if active else np.zeros(0, f32),
        "act_mean": np.concatenate(mean).astype(f32) if mean else np.zeros(0, f32),
        "act_offsets": np.cumsum([0] + [la["units"] for la in layers]).astype(np.int64)}


def unit_values(arrays: dict[str, np.ndarray], name: str, layer: int) -> np.ndarray:
    """Layer ``layer``'s per-unit values of ``act_active`` or ``act_mean`` (all layers' units
    are stored end to end, ``act_offsets`` says where each layer's start)."""
    off = arrays["act_offsets"]
    return arrays[name][off[layer]: off[layer + 1]]


def parameter_arrays(model: nn.Module) -> tuple[list[str], dict[str, np.ndarray]]:
    """Every parameter tensor's quantiles and mean, std, norm, at record time."""
    names, q, stats = [], [], []
    with torch.no_grad():
        for name, p in model.named_parameters():
            v = p.detach().float()
            names.append(name)
            q.append(_quantiles(v))
            stats.append([float(v.mean()), float(v.std()) if v.numel() > 1 else 0.0,
                          float(torch.linalg.vector_norm(v))])
    return names, {"param_quantiles": np.asarray(q, np.float32).reshape(-1, len(QUANTILES)),
                   "param_stats": np.asarray(stats, np.float32).reshape(-1, 3)}


def write(folder: Path, model: nn.Module, monitor: Any, x_train: np.ndarray,  # noqa: ANN401
          device: torch.device, batch_size: int, probe: np.ndarray | None = None,
          token_ids: bool = False, prefix: str = "") -> dict[str, Any]:
    """Write ``inside.npz`` and ``inside.json`` of one epoch into ``folder`` (the staged epoch
    folder): the weights now, the monitor's gradients since the last record (then reset), the
    activations on the probe subset of ``x_train`` (``probe``: the run's, :func:`run_probe`;
    default :func:`probe_indices`; int64 with ``token_ids``). ``prefix``: what a training
    wrapper put before the names of the parameters the monitor watches (``module.``, the
    recorded ``model`` being the network inside it). Returns the JSON."""
    if not isinstance(monitor, GradientMonitor):
        raise TypeError(f"gradients must be a dvi_widget.inside.GradientMonitor, got "
                        f"{type(monitor)!r}")
    names, arrays = parameter_arrays(model)
    grads = monitor.take()
    if grads is not None:
        index = {n: i for i, n in enumerate(names)}
        watched = [n.removeprefix(prefix) for n in monitor.names]
        missing = [n for n in watched if n not in index]
        if missing:
            raise ValueError(f"the GradientMonitor watches parameters the recorded model does not "
                             f"have ({', '.join(missing[:5])}); monitor the model you record")
        full = {"grad_hist": np.zeros((len(names), monitor.bins), np.float32),
                "grad_range": np.zeros((len(names), 2), np.float32),
                "grad_stats": np.zeros((len(names), 4), np.float32)}
        rows = [index[n] for n in watched]
        for k, v in grads.items():
            full[k][rows] = v
        arrays.update(full)
    probe = probe_indices(len(x_train)) if probe is None else np.asarray(probe, dtype=np.int64)
    layers, acts = activations(model, np.asarray(x_train[probe]), device, batch_size,
                               token_ids)
    arrays.update(acts)
    arrays["probe"] = probe
    meta = {"version": FORMAT, "bins": monitor.bins, "quantiles": list(QUANTILES),
            "grad_steps": int(grads["grad_stats"][:, 3].max()) if grads is not None else 0,
            "parameters": names, "layers": layers}
    write_npz(folder / INSIDE_NPZ, **arrays)
    write_json(folder / INSIDE_JSON, meta)
    return meta


# ----------------------------------------------------------------------------- reading


def has_inside(run: Any, epoch: int) -> bool:  # noqa: ANN401 - a RunFolder
    return (run._epoch_dir(epoch) / INSIDE_JSON).is_file()


#: what :func:`read` read, by file and modification stamps (a panel reads every epoch again
#: when it switches kinds); the arrays are read-only
_READ: dict[tuple, tuple[dict[str, Any], dict[str, np.ndarray]]] = {}
_READ_MAX = 512


def read(run: Any, epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:  # noqa: ANN401
    """``(inside.json, inside.npz arrays)`` of ``epoch``; a missing or damaged file raises an
    error naming it and saying how to record it. Kept in memory while the files are unchanged
    (arrays read-only)."""
    folder = run._check_epoch(epoch)
    try:
        key = (str(folder), *((f.stat().st_mtime_ns, f.stat().st_size)
                              for f in (folder / INSIDE_JSON, folder / INSIDE_NPZ)))
    except OSError:
        key = None
    if key is not None and key in _READ:
        return _READ[key]
    meta, arrays = _read(run, epoch, folder)
    for a in arrays.values():
        a.flags.writeable = False
    if key is not None:
        if len(_READ) >= _READ_MAX:
            _READ.clear()
        _READ[key] = (meta, arrays)
    return meta, arrays


def _read(run: Any, epoch: int, folder: Path  # noqa: ANN401
          ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    file = folder / INSIDE_JSON
    fix = (f"{rerecord(epoch)} passing gradients=GradientMonitor(model) (created before "
           "training), which also records weights and activations")
    if not file.is_file():
        raise FileNotFoundError(f"epoch {epoch} of {run.path} has no weights, gradients or "
                                f"activations recorded ({file.name} missing); {fix}")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is damaged ({err}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("version") != FORMAT:
        raise ValueError(f"{file} is not an inside record of version {FORMAT}; {fix}")
    limit = 1 << 28

    def check(specs: Any) -> None:  # noqa: ANN401
        if sum(s.nbytes for s in specs.values()) > limit:
            raise ValueError(f"{folder / INSIDE_NPZ} declares more than {limit} bytes")

    try:
        arrays = read_npz(folder / INSIDE_NPZ, check)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder / INSIDE_NPZ} is missing; {fix}") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder / INSIDE_NPZ} is damaged ({err}); {fix}") from None
    return meta, arrays


def epochs_with_inside(run: Any) -> list[int]:  # noqa: ANN401
    return [e for e in run.epochs if has_inside(run, e)]


def nbytes(run: Any, epoch: int) -> int:  # noqa: ANN401
    """Bytes of the epoch's inside files on disk."""
    folder = run._epoch_dir(epoch)
    return sum((folder / f).stat().st_size for f in (INSIDE_NPZ, INSIDE_JSON)
               if (folder / f).is_file())
