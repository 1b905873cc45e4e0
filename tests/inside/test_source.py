"""InsideSource: a recorded run answering the widget's Inside questions (issue 22, item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from dvi_widget.contract import Inside
from dvi_widget.inside import InsideSource, distributions, neural_patterns
from tests.inside.inside_run import recorded_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_source_bands_and_patterns_are_the_tables(tmp_path):
    run, _ = recorded_run(tmp_path / "run")
    src = InsideSource(run, min_support=0.1, max_patterns=3)
    assert isinstance(src, Inside)
    layers, epochs, cube, stats = src.bands("activation")
    df = distributions(run, "activation")
    assert epochs.tolist() == [0, 1, 2] and cube.shape == (7, 3, 9)
    row = df[(df.epoch == 1) & (df.layer == layers[2]) & (df.statistic == "p84")]
    assert cube[2, 1, stats.index("p84")] == pytest.approx(row["value"].item())
    net_layers, pats = src.patterns(2)
    assert net_layers == [{"name": "0", "units": 4}, {"name": "3", "units": 6},
                          {"name": "6", "units": 8}, {"name": "8", "units": 3}]
    full = neural_patterns(run, 2, min_support=0.1)
    assert len(pats) == min(3, len(full))
    for k in range(len(pats)):
        np.testing.assert_array_equal(pats.iloc[k]["samples"], full.iloc[k]["samples"])
        assert [net_layers[j]["name"] for j in pats.iloc[k]["layers"]] == full.iloc[k]["layers"]
        labels = run.labels("all")[pats.iloc[k]["samples"]]
        assert pats.iloc[k]["classes"] == {int(c): int((labels == c).sum())
                                           for c in np.unique(labels)}
    assert src.flags().columns.tolist() == ["flag", "layer", "epochs", "detail"]


def test_source_features_are_maximize_scaled_to_unit_range(tmp_path):
    from dvi_widget.contract import InsideFeatures
    from dvi_widget.inside import filters, maximize

    run, _ = recorded_run(tmp_path / "run", epochs=1)
    src = InsideSource(run)
    assert isinstance(src, InsideFeatures)
    assert src.feature_layers(0) == [{"name": "logits", "units": 3}, {"name": "0", "units": 4},
                                     {"name": "3", "units": 6}, {"name": "6", "units": 8},
                                     {"name": "8", "units": 3}]
    x = run.inputs("train")
    lo, hi = float(x.min()), float(x.max())
    got = src.features(0, "3", [1, 2])
    want = (maximize(run, 0, "3", [1, 2], value_range=(lo, hi)) - lo) / (hi - lo)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_array_equal(src.filters(0), filters(run, 0))
