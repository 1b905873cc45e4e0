"""The visualization model V = <φ, ψ>: an MLP encoder to 2-D and its mirrored decoder (DVI §5).

Runtime configuration of the paper (§6): encoder ``(h, h/2, h/2, h/2, h/2, 2)`` and decoder
``(2, h/2, h/2, h/2, h/2, h)`` with ReLU between layers. The module holds no device state: it
lives wherever its parameters are moved to, and ``forward`` follows its input.

One departure: the decoder also sees *local detail features* of its 2-D input
(:class:`LocalFourierFeatures`): random Fourier features of y, faded out away from the layout's
points. A ReLU MLP on 2-D inputs is biased towards smooth functions; where samples of different
predicted classes lie close together (low-margin samples, memorised noisy labels) it decoded
the wrong class under many of them (measured: ENGINE.md's departures). Plain Fourier
features also drew blotches far from any sample; the fade (an envelope of the layout's density)
keeps the decoder the smooth MLP there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

#: how many hidden layers the paper uses on each side
DEFAULT_DEPTH = 4
#: cap of the default width: on Fashion-MNIST's 512-d features 128 units fit the layout and
#: preserve predictions better than the paper's 256 (test PPR 0.87-0.90 vs 0.83-0.88) at half
#: the cost per step; wide layers only slow training on a CPU
MAX_DEFAULT_WIDTH = 128
#: local detail features of the decoder (pairs of sin/cos) and their frequency scale in cycles
#: per layout unit (UMAP layouts span ~20 units; neighbours sit ~0.1-0.3 apart)
DETAIL_FEATURES = 16
DETAIL_SCALE = 0.5
#: cells per side of the density envelope that fades the detail features out
ENVELOPE_SIZE = 64


def _single_linear(head: nn.Module) -> nn.Linear | None:
    """``head`` itself when it is an ``nn.Linear``, or the only module of an ``nn.Sequential``
    that is one; otherwise None."""
    if isinstance(head, nn.Sequential) and len(head) == 1:
        head = head[0]
    return head if type(head) is nn.Linear else None


def _mlp(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``widths`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def hidden_widths(input_dim: int, hidden: int | Sequence[int] | None = None) -> list[int]:
    """Resolve the ``hidden`` argument of :class:`VisModel` into a list of layer widths.

    ``None`` means the paper's ``[h/2] * 4`` (at least 2, at most ``MAX_DEFAULT_WIDTH``); an
    int ``w`` means ``[w] * 4``; a sequence is taken as is (encoder order; the decoder mirrors it).
    """
    if hidden is None:
        return [min(max(input_dim // 2, 2), MAX_DEFAULT_WIDTH)] * DEFAULT_DEPTH
    widths = [hidden] * DEFAULT_DEPTH if isinstance(hidden, int) else [int(w) for w in hidden]
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"hidden must be None, a positive int or positive ints, got {hidden!r}")
    return widths


class LocalFourierFeatures(nn.Module):
    """``y -> [y, γ(y) sin(2π y F), γ(y) cos(2π y F)]`` for 2-D points y.

    ``F`` (2, m) are fixed random frequencies (normal, ``scale`` cycles per unit; seeded, so
    every model has the same) and ``γ(y)`` in [0, 1] is an envelope of the layout's density,
    bilinear on a ``grid``-cell square (:meth:`set_envelope`): near 1 where points lie, 0 far from
    them. Until an envelope is set γ is 0 (the plain decoder). ``m = 0`` passes y through.
    """

    def __init__(self, n_features: int = DETAIL_FEATURES, scale: float = DETAIL_SCALE,
                 grid: int = ENVELOPE_SIZE) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.n_features = int(n_features)
        self.register_buffer("freq", torch.randn(2, self.n_features, generator=gen)
                             * (2 * math.pi * float(scale)))
        self.register_buffer("envelope", torch.zeros(1, 1, int(grid), int(grid)))
        self.register_buffer("origin", torch.zeros(2))
        self.register_buffer("side", torch.ones(()))

    @property
    def out_features(self) -> int:
        """Width of the output: 2 + 2m."""
        return 2 + 2 * self.n_features

    @torch.no_grad()
    def set_envelope(self, points: torch.Tensor, margin: float = 0.1, blur: float = 1.0) -> None:
        """Fit the envelope to ``points`` (n, 2): ``1 - exp(-c)`` of their per-cell counts ``c``
        blurred by a Gaussian of ``blur`` cells, on a square around them padded by ``margin``."""
        pts = points.detach().to(self.origin.device, torch.float32)
        g = self.envelope.shape[-1]
        lo, hi = pts.min(dim=0).values, pts.max(dim=0).values
        half = float((hi - lo).max().clamp_min(1e-6)) / 2 * (1 + 2 * margin)
        self.origin.copy_((lo + hi) / 2 - half)
        self.side.fill_(2 * half)
        ij = ((pts - self.origin) / self.side * g).long().clamp(0, g - 1)
        counts = torch.zeros(g, g, device=pts.device)
        counts.index_put_((ij[:, 1], ij[:, 0]), torch.ones(len(pts), device=pts.device),
                          accumulate=True)
        r = max(1, int(math.ceil(3 * blur)))
        k = torch.exp(-torch.arange(-r, r + 1, device=pts.device, dtype=torch.float32) ** 2
                      / (2 * blur**2))
        k = k / k.sum()
        c = nn.functional.conv2d(counts[None, None], k.view(1, 1, 1, -1), padding=(0, r))
        c = nn.functional.conv2d(c, k.view(1, 1, -1, 1), padding=(r, 0))
        self.envelope.copy_(1.0 - torch.exp(-c))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.n_features == 0:
            return y
        u = (y - self.origin) / self.side * 2 - 1  # grid_sample's [-1, 1] square
        env = nn.functional.grid_sample(self.envelope.to(y.dtype), u.view(1, -1, 1, 2),
                                        align_corners=False, padding_mode="zeros").view(-1, 1)
        # y @ freq written out: a matmul would run in bfloat16 under autocast, whose 8-bit
        # mantissa puts phases of ~100 rad off by ~0.4 rad
        freq = self.freq.to(y.dtype)
        z = y[:, :1] * freq[0] + y[:, 1:] * freq[1]
        return torch.cat([y, env * torch.sin(z), env * torch.cos(z)], dim=1)


def _full_precision(t: torch.Tensor) -> torch.autocast:
    """A context in which autocast (if the caller opened one) is off on ``t``'s device."""
    return torch.autocast(t.device.type, enabled=False)


class VisModel(nn.Module):
    """Encoder φ: R^h -> R^2 and decoder ψ: R^2 -> R^h (DVI §4.1, §6 runtime configuration).

    Parameters
    ----------
    input_dim : int
        Representation dimension ``h``.
    hidden : int | Sequence[int] | None, default None
        Hidden widths of the encoder (the decoder mirrors them). ``None`` is the paper's
        ``[h/2] * 4`` capped at ``MAX_DEFAULT_WIDTH``; an int ``w`` is ``[w] * 4``.
    output_dim : int, default 2
        Dimension of the visible space.
    detail_features : int, default DETAIL_FEATURES
        Local detail features of the decoder's input (:class:`LocalFourierFeatures`; 0: the
        paper's plain decoder). Active once :meth:`set_envelope` was called.

    Examples
    --------
    >>> model = VisModel(input_dim=512)
    >>> y, x_rec = model(torch.randn(8, 512))
    """

    def __init__(
        self, *, input_dim: int, hidden: int | Sequence[int] | None = None, output_dim: int = 2,
        detail_features: int = DETAIL_FEATURES,
    ) -> None:
        super().__init__()
        if input_dim < 1 or output_dim < 1:
            raise ValueError(
                f"input_dim and output_dim must be >= 1, got {input_dim}, {output_dim}")
        widths = hidden_widths(input_dim, hidden)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.hidden = list(widths)
        self.encoder = _mlp([input_dim, *widths, output_dim])
        self.detail = LocalFourierFeatures(detail_features if output_dim == 2 else 0)
        self.decoder = _mlp([self.detail.out_features if output_dim == 2 else output_dim,
                             *reversed(widths), input_dim])
        # fixed standardisation of the representations (a buffer: saved, moved, not trained)
        self.register_buffer("shift", torch.zeros(input_dim))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def set_normalization(self, representations: torch.Tensor) -> None:
        """Standardise inputs by the mean and the overall RMS spread of ``representations``.

        φ sees ``(x - mean) / scale`` and ψ returns ``decoder(y) * scale + mean``, so the
        network works on unit-scale data whatever the scale of the representations.
        """
        x = representations.to(self.shift.device, torch.float32)
        self.shift.copy_(x.mean(dim=0))
        self.scale.copy_((x - self.shift).pow(2).mean().sqrt().clamp_min(1e-12))

    def set_envelope(self, layout: torch.Tensor) -> None:
        """Where the decoder's detail features are active: around the ``(n, 2)`` layout."""
        self.detail.set_envelope(layout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """φ: ``(n, h)`` representations -> ``(n, 2)`` points."""
        h = self.encoder[:-1]((x - self.shift) / self.scale)
        with _full_precision(x):  # the 2-D output, as in :meth:`decode`
            return self.encoder[-1](h.float())

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """ψ: ``(n, 2)`` points -> ``(n, h)`` reconstructed representations."""
        return self.decoder[-1](self._decode_hidden(y)) * self.scale + self.shift

    def _decode_hidden(self, y: torch.Tensor) -> torch.Tensor:
        """ψ up to its last layer: the ``(n, width)`` input of ``decoder[-1]``."""
        with _full_precision(y):
            # 2-D positions span ~20 units and neighbours sit ~0.1 apart: bfloat16's 8-bit
            # mantissa (steps of ~0.06 at 10) would blur them, so the small layers next to the
            # 2-D side run in float32 even under autocast; the wide ones may not
            h = self.decoder[0](self.detail(y.float()))
        return self.decoder[1:-1](h)

    def decoded_logits(self, head: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """``y ↦ g(ψ(y))``: the classifier's logits of decoded points (PPR, the landscape).

        When g is one affine layer (an ``nn.Linear``, alone or as the only module of an
        ``nn.Sequential``, as classifiers' last layers are), it is folded into ψ's last layer,
        both affine: ``g(ψ(y)) = (s·W_g W_ψ) z + W_g (s·b_ψ + μ) + b_g`` for ψ's hidden output z,
        standardisation scale s and shift μ, so the (n, h) reconstruction is never formed (at
        60k points × 512 features a check of every sample took 0.26 s, folded 0.09 s; logits
        equal to 6e-6). The fold is recomputed at each call, so it follows training.
        """
        linear = _single_linear(head)
        if linear is None:
            return lambda y: head(self.decode(y))

        def folded(y: torch.Tensor) -> torch.Tensor:
            last = self.decoder[-1]
            weight = self.scale * (linear.weight @ last.weight)
            bias = linear.weight @ (self.scale * last.bias + self.shift)
            if linear.bias is not None:
                bias = bias + linear.bias
            return nn.functional.linear(self._decode_hidden(y), weight, bias)

        return folded

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(φ(x), ψ(φ(x)))``."""
        y = self.encode(x)
        return y, self.decode(y)
