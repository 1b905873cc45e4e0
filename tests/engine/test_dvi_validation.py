"""Bad DVI parameters are refused when ``fit`` starts, each by name (like umap-learn's
test_umap_validation_params): one case per rejected value, before any work is done."""

from __future__ import annotations

import numpy as np
import pytest

from dvi_widget.data.run import Run
from dvi_widget.engine.fit import DVI

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(0)
    y = np.arange(40) % 3
    r = Run.create(tmp_path_factory.mktemp("v") / "run",
                   train=(rng.normal(size=(40, 4)).astype(np.float32), y))
    reps = rng.normal(size=(40, 5)).astype(np.float32)
    r.record_arrays(0, representations=(reps, None), logits=(np.eye(3)[y] * 3, None))
    return r


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
