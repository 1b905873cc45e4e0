"""Training V_t (dvi_widget.engine.train) on a layout whose classes interleave finely."""

import torch
from torch import nn

from dvi_widget.engine.losses import gradient_weights
from dvi_widget.engine.model import VisModel
from dvi_widget.engine.train import train_vis_model


def _checkerboard(n=600, cells=4, seed=0):
    """A 2-D layout whose classes form a fine checkerboard, and representations that carry the
    class in extra dimensions read by a linear head."""
    gen = torch.Generator().manual_seed(seed)
    Y = torch.rand(n, 2, generator=gen) * 12.0
    cls = ((Y[:, 0] // (12.0 / cells)) + (Y[:, 1] // (12.0 / cells))).long() % 2
    U = torch.cat([Y / 6.0, nn.functional.one_hot(cls, 2).float() * 3.0,
                   0.1 * torch.randn(n, 4, generator=gen)], dim=1)
    head = nn.Linear(U.shape[1], 2)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[0, 2] = head.weight[1, 3] = 1.0
    return U, Y, cls, head


def _ppr(model, head, U, Y):
    with torch.no_grad():
        return float((head(model.decode(Y)).argmax(1) == head(U).argmax(1)).float().mean())


def test_decoder_keeps_predictions_where_classes_interleave():
    torch.manual_seed(0)
    U, Y, cls, head = _checkerboard()
    assert (head(U).argmax(1) == cls).all()
    weights = gradient_weights(head, U)
    scores = {}
    for detail in (0, 16):
        torch.manual_seed(0)
        model = VisModel(input_dim=U.shape[1], hidden=32, detail_features=detail)
        model.set_normalization(U)
        model.set_envelope(Y)
        result = train_vis_model(model, U, Y, weights, head, max_steps=400, n_samples=len(U),
                                 generator=torch.Generator().manual_seed(1))
        assert result.steps > 100
        scores[detail] = _ppr(model, head, U, Y)
    # the local detail features let ψ follow 4 x 4 cells; the plain ReLU decoder blurs them
    # (measured: PPR 0.98 with them, 0.66 without)
    assert scores[16] > 0.9, scores
    assert scores[16] > scores[0] + 0.1, scores
