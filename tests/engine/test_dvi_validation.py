"""Bad DVI parameters are refused when ``fit`` starts, each by name (like umap-learn's
test_umap_validation_params): one case per rejected value, before any work is done."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dvi_widget.data.run import Run
from dvi_widget.engine.fit import DVI, MAX_ITERATIONS

NAN, INF = float("nan"), float("inf")


def _one_epoch_run(path, n, seed, head=None):
    """A run of ``n`` samples of 3 classes with one epoch of 5-d representations (clustered
    by class) and either logits or a linear head."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    r = Run.create(path, train=(rng.normal(size=(n, 4)).astype(np.float32), y))
    reps = (np.eye(3, 5)[y] * 4 + rng.normal(scale=0.5, size=(n, 5))).astype(np.float32)
    if head is None:
        r.record_arrays(0, representations=(reps, None), logits=(np.eye(3)[y] * 3, None))
    else:
        r.record_arrays(0, representations=(reps, None), head=head)
    return r


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _one_epoch_run(tmp_path_factory.mktemp("v") / "run", 40, seed=0)


CASES = [
    ("n_neighbors", 1, "an int >= 2"),
    ("n_neighbors", 15.0, "an int >= 2"),
    ("n_neighbors", True, "an int >= 2"),
    ("boundary_ratio", -0.1, r"in \[0, 10\]"),
    ("boundary_ratio", NAN, r"in \[0, 10\]"),
    ("boundary_edge_weight", 1.5, r"in \[0, 1\]"),
    ("delta", 1.0, r"in \[0, 1\)"),
    ("delta", "0.1", r"in \[0, 1\)"),
    ("lambdas", (1.0, 1.0), "three finite non-negative weights"),
    ("lambdas", (1.0, -1.0, 0.3), "three finite non-negative weights"),
    ("lambdas", (1.0, NAN, 0.3), "three finite non-negative weights"),
    ("lambdas", 1.0, "three finite non-negative weights"),
    ("beta", -1.0, ">= 0"),
    ("prediction_weight", INF, ">= 0"),
    ("separation", 2.0, r"in \[0, 1\]"),
    ("cross_repulsion", 1.5, r"in \[0, 1\]"),
    ("cross_repulsion", -0.1, r"in \[0, 1\]"),
    ("own_class_neighbors", -1, "an int >= 0 and at most 1000"),
    ("own_class_neighbors", 2.5, "an int >= 0"),
    ("spread", 0.0, "> 0"),
    ("spread", NAN, "> 0"),
    ("min_dist", -0.1, r"in \[0, 3.0\)"),
    ("min_dist", 3.0, r"in \[0, 3.0\)"),
    ("negative_sample_rate", 0, "an int >= 1"),
    ("batch_size", 0, "an int >= 1"),
    ("max_steps", -5, "an int >= 1"),
    ("warm_max_steps", 2.5, "an int >= 1"),
    ("check_every", 0, "an int >= 1"),
    ("patience", -1, "an int >= 1"),
    ("boundary_steps", 0, "an int >= 1"),
    ("grid_size", 0, "an int >= 1"),
    ("layout_iters", -1, "an int >= 0"),
    ("warm_layout_iters", None, "an int >= 0"),
    ("hidden", 0, "None, an int >= 1 or a non-empty sequence"),
    ("hidden", [], "None, an int >= 1 or a non-empty sequence"),
    ("hidden", [64, -1], "None, an int >= 1 or a non-empty sequence"),
    ("learning_rate", 0.0, "> 0"),
    ("learning_rate", INF, "> 0"),
    ("tol", -0.1, ">= 0"),
    ("knn_method", "annoy", '"auto", "exact", "nndescent"'),
    ("extent_quantile", 0.5, r"in \[0, 0.5\)"),
    ("extent_margin", -0.1, ">= 0"),
    ("random_state", -1, "an int >= 0"),
]


@pytest.mark.parametrize(("name", "value", "what"), CASES,
                         ids=[f"{n}={v!r}" for n, v, _ in CASES])
def test_bad_parameter_is_refused_by_name(run, name, value, what):
    dvi = DVI(**{name: value}, verbose=False)
    with pytest.raises(ValueError, match=rf"^{name} must be .*{what}"):
        dvi.fit(run)
    assert not (run.path / "dvi").exists(), "nothing may be written before the parameters pass"


def test_nan_spread_is_blamed_on_spread_not_min_dist(run):
    with pytest.raises(ValueError, match=r"^spread must be a finite number > 0, got nan"):
        DVI(spread=NAN, verbose=False).fit(run)


def test_huge_grid_is_refused_with_the_memory_it_would_take(run):
    with pytest.raises(ValueError) as err:
        DVI(grid_size=100_000, verbose=False).fit(run)
    message = str(err.value)
    assert message.startswith("grid_size must be at most 2048")
    assert "93.1 GiB per epoch" in message  # 1e10 cells x 10 bytes
    DVI(grid_size=2048, verbose=False)._validate_params()  # the largest allowed passes


def test_numpy_scalars_are_accepted(run):
    DVI(n_neighbors=np.int64(10), min_dist=np.float32(0.2), grid_size=np.int32(64),
        verbose=False)._validate_params()


# ---------------------------------------------------------------- issue 26: no bombs, no silence
@pytest.mark.parametrize(("name", "bound"), sorted(MAX_ITERATIONS.items()))
def test_iteration_parameters_have_an_upper_bound(run, name, bound):
    """DVI(layout_iters=10**9) ran indefinitely: every iteration count is bounded, by name."""
    with pytest.raises(ValueError, match=rf"^{name} must be an int >= \d and at most {bound}, "
                                         r"got 1000000000$"):
        DVI(**{name: 10**9}, verbose=False).fit(run)
    assert not (run.path / "dvi").exists()
    DVI(**{name: bound}, verbose=False)._validate_params()  # the bound itself passes


@pytest.mark.parametrize("epochs", ["10", b"1", 3, [0.0], ["0"], [True]])
def test_epochs_must_be_a_sequence_of_ints(run, epochs):
    """fit(epochs='10') fitted epochs 1 and 0 (the string's characters)."""
    with pytest.raises(TypeError, match="epochs must .*ints"):
        DVI(verbose=False).fit(run, epochs=epochs)
    assert not (run.path / "dvi").exists()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    head = torch.nn.Linear(5, 3)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3, 5))
        head.bias.zero_()
    r = _one_epoch_run(tmp_path_factory.mktemp("f") / "run", 60, seed=1, head=head)
    return DVI(hidden=8, grid_size=16, max_steps=30, layout_iters=30, n_neighbors=5,
               device="cpu", verbose=False).fit(r)


def test_inverse_refuses_points_far_outside_the_view(fitted):
    """inverse at 1e30 gave NaN or a prediction at confidence 1.0: points more than one frame
    width outside the view's extent are refused, by name; nearer ones are decoded."""
    x0, x1, y0, y1 = fitted.extent_
    width = x1 - x0
    for far in ([1e30, 1e30], [x1 + 1.01 * width, (y0 + y1) / 2], [(x0 + x1) / 2, y0 - 2 * width]):
        pts = np.array([[(x0 + x1) / 2, (y0 + y1) / 2], far], np.float32)
        with pytest.raises(ValueError, match=r"^1 of 2 points .* outside the view's extent"):
            fitted.inverse(pts, 0)
        with pytest.raises(ValueError, match="outside the view's extent"):
            fitted.inverse_transform(pts, 0)
        with pytest.raises(ValueError, match="outside the view's extent"):
            fitted.visualization().inspector.probabilities(pts, 0)
    near = np.array([[x1 + 0.9 * width, y1 + 0.9 * width], [x0, y0]], np.float32)
    reps, probs = fitted.inverse(near, 0)
    assert reps.shape == (2, 5) and np.isfinite(reps).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_complex_points_are_refused(fitted):
    with pytest.raises(ValueError, match="points must be real numbers"):
        fitted.inverse(np.array([[0.0 + 1j, 0.0]]), 0)


def test_transform_refuses_representations_it_cannot_place(fitted):
    """transform of a 1e30 representation returned NaN: it is refused, naming the row; a
    representation of ordinary scale is placed."""
    reps = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [1e30] * 5], np.float32)
    with pytest.raises(ValueError, match=r"^1 of 2 representations \(first row 1\) lie too far"):
        fitted.transform(reps, 0)
    assert np.isfinite(fitted.transform(reps[:1], 0)).all()
