"""The one map (engine/mapping.py): exact on recorded samples, continuous, true to the landscape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dvi_widget.contract import landscape_cells
from dvi_widget.engine.mapping import (
    EpochMap,
    flow_to_cells,
    settle_on_prediction,
    shepard_weights,
    snap_to_cells,
)

EXTENT = np.array([-1.0, 1.0, -1.0, 1.0])
GRID = 100


def _halves(boundary_x: float = 0.0) -> np.ndarray:
    """A landscape of class 0 left of ``boundary_x`` and class 1 right of it."""
    xs = EXTENT[0] + (np.arange(GRID) + 0.5) * (EXTENT[1] - EXTENT[0]) / GRID
    return np.broadcast_to((xs >= boundary_x).astype(np.int64), (GRID, GRID)).copy()


@pytest.fixture(scope="module")
def grid_map() -> EpochMap:
    """Anchors on a regular 2-D grid drawn where they are (the identity layout)."""
    g = np.linspace(-0.9, 0.9, 19)
    anchors = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)
    return EpochMap(anchors, anchors.copy(), _halves(), EXTENT, k=8)


def test_shepard_weights_are_exact_at_an_anchor_and_fade_at_the_radius():
    d = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]])
    w = shepard_weights(d)
    np.testing.assert_allclose(w.sum(1).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(w[0].numpy(), [1.0, 0.0, 0.0], atol=1e-7)
    assert w[1, 2] == 0  # at the radius: no weight, so the neighbour leaves without a jump
    assert w[1, 0] > w[1, 1] > 0
    np.testing.assert_allclose(w[2].numpy(), [1 / 3] * 3, rtol=1e-6)  # all at the radius


def test_recorded_samples_land_where_they_are_drawn_even_on_another_class(grid_map):
    # an anchor right of the landscape boundary, predicted 0: recorded, so it is not moved
    a = grid_map.anchors
    i = int(((a[:, 0] - 0.3).abs() + a[:, 1].abs()).argmin())
    anchor = grid_map.anchors[i : i + 1].numpy()
    np.testing.assert_array_equal(grid_map(anchor, np.array([0])), anchor)


def test_a_path_crosses_the_landscape_boundary_in_the_step_its_prediction_changes(grid_map):
    # a straight path in representation space; the toy model decides at x = 0.3, the landscape
    # at x = 0: the drawn path must change side exactly where the prediction changes
    x = np.linspace(-0.85, 0.85, 69)
    reps = np.stack([x, np.full_like(x, 0.12)], 1).astype(np.float32)
    pred = (x >= 0.3).astype(np.int64)
    pos = grid_map(reps, pred)
    rows, cols, inside = landscape_cells(pos, EXTENT, (GRID, GRID))
    shown = grid_map.cell_classes[rows, cols]
    assert inside.all()
    np.testing.assert_array_equal(shown, pred)  # every point on a cell of its prediction
    flip_model = int(np.flatnonzero(np.diff(pred))[0])
    flip_view = int(np.flatnonzero(np.diff(shown))[0])
    assert abs(flip_model - flip_view) <= 1


def test_continuous_along_a_fine_path_while_the_prediction_holds(grid_map):
    t = np.linspace(0, 2 * np.pi, 721)
    reps = (0.6 * np.stack([np.cos(t), np.sin(t)], 1)).astype(np.float32)
    pred = (reps[:, 0] >= 0).astype(np.int64)  # agrees with the landscape: no snapping
    pos = grid_map(reps, pred)
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    rep_step = np.linalg.norm(np.diff(reps, axis=0), axis=1)
    # the identity layout: the drawn path moves about as far as the input does
    assert step.max() <= 3 * rep_step.max()
    np.testing.assert_allclose(pos, reps, atol=0.03)


def test_a_class_the_landscape_does_not_show_is_left_where_interpolated(grid_map):
    reps = np.array([[0.5, 0.5]], np.float32)
    interp, _ = grid_map.interpolate(reps)
    np.testing.assert_allclose(grid_map(reps, np.array([7])), interp)


def test_bad_shapes_are_refused(grid_map):
    with pytest.raises(ValueError, match=r"representations must be \(n, 2\)"):
        grid_map(np.zeros((3, 5), np.float32), np.zeros(3, int))
    with pytest.raises(ValueError, match="anchors"):
        EpochMap(np.zeros((4, 3)), np.zeros((5, 2)), _halves(), EXTENT)


class _HalvesHead(torch.nn.Module):
    """g on 2-D 'representations': class 1 right of x = 0, class 0 left of it; class 2 nowhere."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = h[:, :1]
        return torch.cat([-x, x, torch.full_like(x, -100.0)], dim=1)


def test_settle_moves_a_point_just_over_the_boundary_onto_its_class():
    points = torch.tensor([[-0.5, 0.3], [0.4, -0.2], [-0.2, 0.0]])
    predictions = torch.tensor([1, 1, 2])  # wrong side, right side, a class shown nowhere
    settled, ok = settle_on_prediction(points, predictions, _HalvesHead(),
                                       spread=1.0, step=0.01, max_steps=100)
    assert ok.tolist() == [True, True, False]
    # the first crosses x = 0 by less than one step, straight along the gradient
    assert 0.0 < float(settled[0, 0]) <= 0.01 + 1e-6
    assert float(settled[0, 1]) == pytest.approx(0.3)
    # a point on its class's cell and one that cannot get there stay where they were
    assert torch.equal(settled[1], points[1])
    assert torch.equal(settled[2], points[2])


def test_settle_gives_up_after_its_step_budget():
    far = torch.tensor([[-0.5, 0.0]])
    settled, ok = settle_on_prediction(far, torch.tensor([1]), _HalvesHead(),
                                       spread=1.0, step=0.01, max_steps=20)
    assert not bool(ok[0]) and torch.equal(settled, far)
    settled, ok = settle_on_prediction(far, torch.tensor([1]), _HalvesHead(),
                                       spread=2.0, step=0.01, max_steps=30)  # 30 × 0.02 > 0.5
    assert bool(ok[0]) and 0.0 < float(settled[0, 0]) <= 0.02 + 1e-6


# ------------------------------------------------------------------ onto the class's cells
def _notch():
    """An 8 x 8 landscape (frame 0..8, one unit per cell) of class 1 but for the 4 x 4 block of
    class 0 at the bottom right: a class-1 point inside the block is as near the arm above
    (y = 4) as the arm to its left (x = 4) on the block's diagonal x + y = 8."""
    cells = np.ones((8, 8), np.int64)
    cells[4:, 4:] = 0  # rows 4-7 are y in (0, 4]; columns 4-7 are x in [4, 8)
    return cells, np.array([0.0, 8.0, 0.0, 8.0])


def test_new_inputs_reach_their_class_continuously_across_a_notch():
    """A fine path of class-1 points across the notch's diagonal lands on class-1 cells at every
    point and moves by small steps: the nearest point jumps from the left arm to the arm above
    as the path crosses the diagonal (snap_to_cells: a jump of more than a cell), the descent
    of the smoothed distance field does not."""
    cells, extent = _notch()
    path = np.stack([np.linspace(4.6, 5.4, 201), np.full(201, 3.0)], axis=1)
    pred = np.ones(len(path), np.int64)
    flowed = flow_to_cells(path, pred, cells, extent)
    rows, cols, inside = landscape_cells(flowed, extent, cells.shape)
    assert inside.all() and (cells[rows, cols] == 1).all()
    steps = np.linalg.norm(np.diff(flowed, axis=0), axis=1)
    assert steps.max() < 5 * 0.8 / 200, steps.max()  # within 5x the input's own step
    # the nearest cell's projection is what jumped
    snapped = snap_to_cells(path, pred, cells, extent)
    assert np.linalg.norm(np.diff(snapped, axis=0), axis=1).max() > 1.0
    # points already on their class, rows kept, and a class the landscape lacks stay
    held = np.array([[1.0, 1.0], [6.0, 2.0], [6.5, 2.5]])
    out = flow_to_cells(held, np.array([1, 1, 2]), cells, extent, keep=np.array([0, 1, 0], bool))
    np.testing.assert_allclose(out, held, atol=1e-6)


def test_a_point_deep_in_another_class_arrives_just_inside_its_own():
    cells, extent = _notch()
    out = flow_to_cells(np.array([[7.5, 0.5]]), np.array([1]), cells, extent)
    rows, cols, _ = landscape_cells(out, extent, cells.shape)
    assert cells[rows[0], cols[0]] == 1
    # just past the block's edge (x = 4 or y = 4), not deep inside the class
    assert min(abs(out[0, 0] - 4.0), abs(out[0, 1] - 4.0)) < 0.1


def test_a_path_jumps_only_between_separate_regions_of_its_class():
    """Class 1 in two bands with class 0 between them: a fine path of class-1 points across the
    gap lands on class-1 cells throughout, moves by small steps within each band and jumps once,
    from one band to the other (no continuous map can pass between them inside the class)."""
    cells = np.ones((8, 8), np.int64)
    cells[:, 3:5] = 0  # x in [3, 5) is class 0; class 1 left of 3 and right of 5
    extent = np.array([0.0, 8.0, 0.0, 8.0])
    path = np.stack([np.linspace(3.05, 4.95, 380), np.full(380, 4.0)], axis=1)  # x = 4 not hit
    flowed = flow_to_cells(path, np.ones(len(path), np.int64), cells, extent)
    rows, cols, inside = landscape_cells(flowed, extent, cells.shape)
    assert inside.all() and (cells[rows, cols] == 1).all()
    steps = np.linalg.norm(np.diff(flowed, axis=0), axis=1)
    big = np.flatnonzero(steps > 5 * 1.9 / 379)
    assert len(big) == 1, steps[big]
    k = big[0]
    assert flowed[k, 0] < 3 and flowed[k + 1, 0] >= 5  # left band to right band
