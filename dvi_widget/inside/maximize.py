"""Feature visualization by gradient ascent, and the first layer's filter kernels.

:func:`maximize` finds, from noise, the input that a class logit, a conv channel or a unit of a
recorded epoch responds to most (Olah et al., "Feature Visualization", Distill 2017): the image
is parameterised in the Fourier domain with a 1/frequency scale (a decorrelated
parameterisation: each step moves every spatial frequency equally far in perceptual terms),
squashed into the inputs' value range, randomly jittered, scaled and rotated at every step
(Kornia), and penalised by its L2 norm and total variation. All units are optimised at once as
one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._tensor import own_rng
from .patterns import epoch_network

LOGITS = "logits"


def _range(run: Any) -> tuple[float, float]:  # noqa: ANN401
    x = run.inputs("train")
    if x is None:
        raise ValueError(f"the run {run.path} does not store its inputs (save_inputs=False), so "
                         "the input shape and value range are unknown; create it with "
                         "save_inputs=True")
    sample = np.asarray(x[:: max(1, len(x) // 512)], np.float32)
    return float(sample.min()), float(sample.max())


class _Target:
    """The objective of unit ``units[i]`` for image ``i``: a conv channel's mean over positions,
    a linear unit, or a logit."""

    def __init__(self, network: nn.Module, layer: str) -> None:
        self.out: torch.Tensor | None = None
        self.handle = None
        if layer != LOGITS:
            modules = dict(network.named_modules())
            if layer not in modules or not layer:
                names = [n for n, m in network.named_modules()
                         if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear)]
                raise ValueError(f"unknown layer {layer!r}; choose 'logits' or one of {names}")
            self.handle = modules[layer].register_forward_hook(self._keep)

    def _keep(self, mod: nn.Module, args: Any, out: Any) -> None:  # noqa: ANN401
        if self.out is None:
            self.out = out

    def __call__(self, network: nn.Module, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        self.out = None
        logits = network(x)
        out = logits if self.handle is None else self.out
        if out is None:
            raise ValueError("the layer did not run in the model's forward pass")
        a = out.reshape(len(out), out.shape[1], -1).mean(dim=2)
        if int(units.max()) >= a.shape[1]:
            raise ValueError(f"units must be < {a.shape[1]} (the layer's units), got "
                             f"{int(units.max())}")
        return a[torch.arange(len(a)), units]

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def fourier_image(spectrum: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int]
                  ) -> torch.Tensor:
    """The image of a scaled spectrum (decorrelated parameterisation), unbounded."""
    h, w = shape
    return torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(h, w), norm="ortho")


def _freq_scale(h: int, w: int, decay: float = 1.0) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    f = torch.sqrt(fx ** 2 + fy ** 2)
    return 1.0 / torch.clamp(f, min=1.0 / max(h, w)) ** decay


def maximize(run: Any, epoch: int, layer: str = LOGITS,  # noqa: ANN401
             units: Sequence[int] | np.ndarray | int = 0, *, steps: int = 96, lr: float = 0.05,
             l2: float = 2e-2, tv: float = 5e-3, jitter: float = 0.08, rotate: float = 8.0,
             scale: tuple[float, float] = (0.92, 1.08), seed: int = 0,
             network: nn.Module | None = None, value_range: tuple[float, float] | None = None,
             input_shape: Sequence[int] | None = None) -> np.ndarray:
    """The inputs that ``units`` of ``layer`` respond to most at ``epoch``, by gradient ascent.

    Parameters
    ----------
    run : a Run with stored inputs and weights, and the model architecture attached (the Run
        that recorded it, or ``Run.open(path, model=Architecture())``).
    layer : a conv/linear module name (a conv channel is maximised as its mean over positions),
        or ``"logits"`` (class logits: ``units`` are class ids).
    units : the units (channels, classes) to maximise, all in one batch.
    steps, lr : Adam steps on the Fourier coefficients.
    l2, tv : weights of the L2 and total-variation penalties (on the image in [0, 1]).
    jitter, rotate, scale : random translation (a fraction of the side), rotation (degrees) and
        scale applied to the batch at every step (``kornia.augmentation.RandomAffine``).
    network, value_range, input_shape : instead of rebuilding from ``run`` (``run`` may then be
        None): a model, the inputs' (min, max) and one input's shape ``(C, H, W)``.

    Returns
    -------
    float32 array ``(len(units), C, H, W)`` in the inputs' value range (``(len(units), H, W)``
    for (H, W) inputs; ``(len(units), D)`` for vectors, maximised without the image priors).
    """
    from kornia.augmentation import RandomAffine

    if network is None:
        network = epoch_network(run, epoch)
    if value_range is None:
        value_range = _range(run)
    if input_shape is None:
        input_shape = run.input_shape
    shape = tuple(int(s) for s in input_shape)
    u = torch.as_tensor(np.atleast_1d(np.asarray(units, np.int64)))
    if u.ndim != 1 or len(u) == 0 or int(u.min()) < 0:
        raise ValueError(f"units must be non-negative unit indices, got {units!r}")
    lo, hi = (float(v) for v in value_range)
    dev = next((p.device for p in network.parameters()), torch.device("cpu"))
    if len(shape) == 1:  # vectors (an MLP): plain ascent with the L2 penalty, no image priors
        return _maximize_vectors(network, layer, u.to(dev), shape[0], (lo, hi), steps, lr, l2,
                                 seed, dev)
    if len(shape) == 2:  # (H, W) images without a channel axis
        return maximize(None, epoch, layer, units, steps=steps, lr=lr, l2=l2, tv=tv,
                        jitter=jitter, rotate=rotate, scale=scale, seed=seed, network=_Squeeze(
                            network), value_range=(lo, hi), input_shape=(1, *shape))[:, 0]
    if len(shape) != 3:
        raise ValueError(f"maximize needs vectors (D,) or images (C, H, W) / (H, W); this run's "
                         f"inputs have shape {shape}")
    c, h, w = shape
    gen = torch.Generator().manual_seed(int(seed))
    spec = (torch.randn((len(u), c, h, w // 2 + 1, 2), generator=gen) * 0.01).to(dev)
    spec.requires_grad_(True)
    fscale = _freq_scale(h, w).to(dev)
    augment = RandomAffine(degrees=rotate, translate=(jitter, jitter), scale=scale, p=1.0,
                             padding_mode="reflection")
    target = _Target(network, layer)
    opt = torch.optim.Adam([spec], lr=lr)
    was = network.training
    network.eval()
    try:
        # Kornia's augmentations draw from torch's global random state: seeded for a
        # reproducible result, the caller's state restored after
        with own_rng(dev):
            torch.manual_seed(int(seed))
            for _ in range(int(steps)):
                opt.zero_grad()
                img = torch.sigmoid(fourier_image(spec, fscale, (h, w)))  # (U, C, H, W) in [0, 1]
                x = lo + (hi - lo) * augment(img)
                act = target(network, x, u.to(dev))
                tv_pen = ((img[..., 1:, :] - img[..., :-1, :]).abs().mean((1, 2, 3))
                          + (img[..., :, 1:] - img[..., :, :-1]).abs().mean((1, 2, 3)))
                l2_pen = ((img - 0.5) ** 2).mean((1, 2, 3))
                loss = (-act + l2 * l2_pen * h * w + tv * tv_pen * h * w).sum()
                loss.backward()
                opt.step()
        with torch.no_grad():
            img = torch.sigmoid(fourier_image(spec, fscale, (h, w)))
    finally:
        target.remove()
        network.train(was)
    return (lo + (hi - lo) * img).detach().cpu().numpy().astype(np.float32)


class _Squeeze(nn.Module):
    """A network of (n, H, W) inputs, fed (n, 1, H, W)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x[:, 0])


def _maximize_vectors(network: nn.Module, layer: str, u: torch.Tensor, d: int,
                      value_range: tuple[float, float], steps: int, lr: float, l2: float,
                      seed: int, dev: torch.device) -> np.ndarray:
    lo, hi = value_range
    gen = torch.Generator().manual_seed(int(seed))
    p = (torch.randn((len(u), d), generator=gen) * 0.01).to(dev).requires_grad_(True)
    target = _Target(network, layer)
    opt = torch.optim.Adam([p], lr=lr * 2)
    was = network.training
    network.eval()
    try:
        for _ in range(int(steps)):
            opt.zero_grad()
            v = torch.sigmoid(p)
            act = target(network, lo + (hi - lo) * v, u)
            (-act + l2 * d * ((v - 0.5) ** 2).mean(1)).sum().backward()
            opt.step()
    finally:
        target.remove()
        network.train(was)
    return (lo + (hi - lo) * torch.sigmoid(p)).detach().cpu().numpy().astype(np.float32)


def filters(run: Any, epoch: int, layer: str | None = None) -> np.ndarray:  # noqa: ANN401
    """The first conv layer's kernels at ``epoch`` as images ``(out_channels, in_channels,
    kh, kw)``, each scaled to [0, 1] symmetrically around 0.5 (0.5 = a zero weight).

    Read from the epoch's stored state_dict (no architecture needed when ``layer`` is given).
    A model without a conv layer (an MLP) raises ``ValueError`` saying so: use
    :func:`maximize` on its units instead.
    """
    state = run.state_dict(int(epoch))
    if state is None:
        raise ValueError(f"epoch {epoch} of {run.path} holds no weights (recorded without stored "
                         "inputs, or from arrays); create the run with save_inputs=True")
    if layer is None:
        convs = [k[: -len(".weight")] for k, v in state.items()
                 if k.endswith("weight") and v.ndim == 4]
        if not convs:
            raise ValueError("this model has no 2-D conv layer (an MLP?), so it has no filter "
                             "kernels to show; use dvi_widget.inside.maximize(run, epoch, layer, "
                             "units) for what its units respond to")
        layer = convs[0]
    key = f"{layer}.weight"
    if key not in state or state[key].ndim != 4:
        raise ValueError(f"{layer!r} is not a 2-D conv layer of this model")
    wt = state[key].float().numpy()
    m = np.abs(wt).reshape(len(wt), -1).max(1).reshape(-1, 1, 1, 1) + 1e-12
    return (0.5 + 0.5 * wt / m).astype(np.float32)
