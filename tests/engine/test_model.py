import pytest
import torch
from torch import nn

from dvi_widget.engine.model import LocalFourierFeatures, VisModel, hidden_widths


def _linear_widths(seq: nn.Sequential) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in seq if isinstance(m, nn.Linear)]


def test_default_architecture_is_the_papers_capped_at_128():
    model = VisModel(input_dim=200)  # the paper's h/2 per hidden layer, four of them
    assert _linear_widths(model.encoder) == [(200, 100), (100, 100), (100, 100), (100, 100),
                                             (100, 2)]
    # the decoder sees y and 2 x 16 local detail features of it
    assert _linear_widths(model.decoder) == [(34, 100), (100, 100), (100, 100), (100, 100),
                                             (100, 200)]
    plain = VisModel(input_dim=200, detail_features=0)  # the paper's decoder
    assert _linear_widths(plain.decoder)[0] == (2, 100)
    assert hidden_widths(512) == [128] * 4  # capped: wider is slower and no better
    assert hidden_widths(512, 256) == [256] * 4  # the paper's exact widths on request
    assert sum(isinstance(m, nn.ReLU) for m in model.encoder) == 4


def test_hidden_int_and_sequence():
    assert hidden_widths(64, 16) == [16, 16, 16, 16]
    model = VisModel(input_dim=10, hidden=[8, 4], detail_features=0)
    assert _linear_widths(model.encoder) == [(10, 8), (8, 4), (4, 2)]
    assert _linear_widths(model.decoder) == [(2, 4), (4, 8), (8, 10)]


def test_forward_shapes_and_normalization_roundtrip():
    torch.manual_seed(0)
    x = torch.randn(50, 12) * 30 + 7
    model = VisModel(input_dim=12, hidden=8)
    model.set_normalization(x)
    assert torch.allclose(model.shift, x.mean(0))
    y, x_rec = model(x)
    assert y.shape == (50, 2) and x_rec.shape == (50, 12)
    # the decoder output is mapped back to the data's scale
    assert torch.allclose(model.decode(y), x_rec)
    assert "shift" in model.state_dict() and "scale" in model.state_dict()


def test_constructor_is_keyword_only_and_validates():
    with pytest.raises(TypeError):
        VisModel(12)  # type: ignore[misc]
    with pytest.raises(ValueError, match="hidden"):
        VisModel(input_dim=12, hidden=[4, 0])
    with pytest.raises(ValueError, match="input_dim"):
        VisModel(input_dim=0)


def test_detail_features_are_active_near_the_layout_only():
    torch.manual_seed(0)
    feats = LocalFourierFeatures(n_features=4)
    y = torch.randn(500, 2) * 3
    out = feats(y)
    assert out.shape == (500, 10) and torch.equal(out[:, :2], y)
    assert out[:, 2:].abs().max() == 0  # no envelope yet: the plain decoder's input
    feats.set_envelope(y)
    near = feats(y)[:, 2:]
    assert near.abs().sum(dim=1).median() > 0.5
    far = feats(torch.tensor([[40.0, 40.0], [-30.0, 25.0]]))[:, 2:]
    assert far.abs().max() < 1e-6
    # saved with the model, so a reloaded model decodes the same
    model = VisModel(input_dim=6, hidden=8)
    model.set_envelope(y)
    again = VisModel(input_dim=6, hidden=8)
    again.load_state_dict(model.state_dict())
    assert torch.allclose(again.decode(y[:20]), model.decode(y[:20]))


@pytest.mark.parametrize("kind", ["linear", "sequential", "mlp"])
def test_decoded_logits_equal_the_head_on_decoded_points(kind):
    torch.manual_seed(0)
    model = VisModel(input_dim=24, hidden=16)
    model.set_normalization(torch.randn(200, 24) * 3.0 + 1.5)  # a scale and shift to fold
    model.set_envelope(torch.randn(100, 2))
    head = {"linear": nn.Linear(24, 5), "sequential": nn.Sequential(nn.Linear(24, 5)),
            "mlp": nn.Sequential(nn.Linear(24, 8), nn.ReLU(), nn.Linear(8, 5))}[kind]
    y = torch.randn(64, 2, requires_grad=True)
    logits = model.decoded_logits(head)(y)
    expected = head(model.decode(y))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    # gradients with respect to the points (what settling a point onto its class needs)
    (grad,) = torch.autograd.grad(logits[:, 0].sum(), y)
    (want,) = torch.autograd.grad(expected[:, 0].sum(), y)
    torch.testing.assert_close(grad, want, atol=1e-5, rtol=1e-4)
