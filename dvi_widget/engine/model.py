"""The visualization model V = <φ, ψ>: an MLP encoder to 2-D and its mirrored decoder (DVI §5).

Runtime configuration of the paper (§6): encoder ``(h, h/2, h/2, h/2, h/2, 2)`` and decoder
``(2, h/2, h/2, h/2, h/2, h)`` with ReLU between layers. The module holds no device state: it
lives wherever its parameters are moved to, and ``forward`` follows its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: how many hidden layers the paper uses on each side
DEFAULT_DEPTH = 4
#: cap of the default width: on Fashion-MNIST's 512-d features 128 units fit the layout and
#: preserve predictions better than the paper's 256 (test PPR 0.87-0.90 vs 0.83-0.88) at half
#: the cost per step; wide layers only slow training on a CPU
MAX_DEFAULT_WIDTH = 128


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

    Examples
    --------
    >>> model = VisModel(input_dim=512)
    >>> y, x_rec = model(torch.randn(8, 512))
    """

    def __init__(
        self, *, input_dim: int, hidden: int | Sequence[int] | None = None, output_dim: int = 2
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
        self.decoder = _mlp([output_dim, *reversed(widths), input_dim])
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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """φ: ``(n, h)`` representations -> ``(n, 2)`` points."""
        return self.encoder((x - self.shift) / self.scale)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """ψ: ``(n, 2)`` points -> ``(n, h)`` reconstructed representations."""
        return self.decoder(y) * self.scale + self.shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(φ(x), ψ(φ(x)))``."""
        y = self.encode(x)
        return y, self.decode(y)
