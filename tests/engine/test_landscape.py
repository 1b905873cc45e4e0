import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.contract import default_palette
from dvi_widget.engine.landscape import grid_points, render_landscape


def _toy_head(n_classes: int = 2) -> nn.Linear:
    """Linearly separable in 2-D: class 0 where x > 0, class 1 where x < 0."""
    head = nn.Linear(2, n_classes, bias=False)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, 0] = 4.0
        head.weight[1, 0] = -4.0
    return head


def test_grid_rows_run_from_top():
    pts = grid_points((0, 4, 0, 2), 4).reshape(4, 4, 2)
    assert pts[0, 0].tolist() == pytest.approx([0.5, 1.75])  # top-left cell centre
    assert pts[-1, -1].tolist() == pytest.approx([3.5, 0.25])


def test_separable_problem_colours_each_side_and_whitens_the_boundary():
    palette = default_palette(2)
    rgba, classes, conf = render_landscape(lambda y: y, _toy_head(), (-2, 2, -2, 2), size=41,
                                           palette=palette, delta=0.1, device="cpu")
    assert rgba.shape == (41, 41, 4) and rgba.dtype == np.uint8
    assert classes.dtype == np.int16 and conf.dtype == np.float32
    assert (classes[:, 25:] == 0).all() and (classes[:, :16] == 1).all()
    # confident cells far from the boundary show the pure class colour
    assert (rgba[:, -1, :3] == palette[0]).all()
    assert (rgba[:, 0, :3] == palette[1]).all()
    # the middle column (x = 0) lies on the boundary: white
    assert (rgba[:, 20, :3] == 255).all()
    assert (rgba[..., 3] == 255).all()
    # confidence grows away from the boundary
    assert conf[0, 20] < conf[0, 30] < conf[0, 40]


def test_low_confidence_is_washed_toward_white():
    palette = default_palette(2)
    rgba, _, _ = render_landscape(lambda y: y * 0.05, _toy_head(), (-2, 2, -2, 2), size=41,
                                  palette=palette, delta=0.01, device="cpu")
    strong = np.abs(rgba[0, -1, :3].astype(int) - 255).sum()
    pure = np.abs(palette[0].astype(int) - 255).sum()
    assert 0 < strong < pure


def test_palette_is_indexed_by_class_id_when_classes_are_absent():
    palette = default_palette(3)
    head = nn.Linear(2, 3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 0.0]]))
        head.bias.copy_(torch.tensor([0.0, 0.0, -5.0]))
    rgba, classes, _ = render_landscape(lambda y: y, head, (1, 2, -1, 1), size=8,
                                        palette=palette, device="cpu")
    assert (classes == 0).all()
    # every cell is class 0's colour washed toward white: (255 - rgb) ∝ (255 - palette[0])
    ratio = (255.0 - rgba[..., :3]) / (255.0 - palette[0])
    assert np.allclose(ratio, ratio[..., :1], atol=0.02)
    assert ratio.min() > 0.9


def test_bad_arguments():
    with pytest.raises(ValueError, match="extent"):
        render_landscape(lambda y: y, _toy_head(), (1, 0, 0, 1), size=4, device="cpu")
    with pytest.raises(ValueError, match="palette"):
        render_landscape(lambda y: y, _toy_head(), (-1, 1, -1, 1), size=4,
                         palette=np.zeros((1, 3), np.uint8), device="cpu")
    with pytest.raises(ValueError, match="device"):
        render_landscape(lambda y: y, _toy_head(), (-1, 1, -1, 1), size=4, device="cuda:9")
