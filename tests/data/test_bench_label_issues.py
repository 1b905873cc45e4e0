"""The label-issue benchmark's summary over seeds (``bench_label_issues.py --seeds``): the
means, the per-case best and the count of cases at or above it, against a hand computation."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_label_issues import over_seeds, parse_seeds  # noqa: E402


def test_parse_seeds_reads_ranges_lists_and_one_seed() -> None:
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("4") == [4]
    assert parse_seeds("1-2, 5") == [1, 2, 5]


def test_over_seeds_compares_the_combined_rank_with_each_case_best() -> None:
    # two seeds of one kind of run at one moment: the best single method differs per seed
    found = {0: {"aum": 0.80, "cleanlab": 0.90, "neighbours": 0.85, "combined": 0.88},
             1: {"aum": 0.70, "cleanlab": 0.80, "neighbours": 0.86, "combined": 0.90}}
    rows = [{"data": "d", "flips": "symmetric", "moment": "last", "seed": s, "method": m,
             "precision@k": v} for s, per in found.items() for m, v in per.items()]
    rows.append({"data": "d", "flips": "symmetric", "moment": "last", "seed": 0,
                 "method": "cleanlab's 12 flags, precision of the set", "precision@k": 1.0})
    out = over_seeds(pd.DataFrame(rows)).loc[("d", "symmetric", "last")]
    assert out["cleanlab"] == pytest.approx(0.85)
    assert out["combined"] == pytest.approx(0.89)
    assert out["best single"] == pytest.approx((0.90 + 0.86) / 2)  # cleanlab, then neighbours
    assert out["combined − best single"] == pytest.approx(0.89 - 0.88)
    assert out["worst case"] == pytest.approx(-0.02)  # seed 0: 0.88 against cleanlab's 0.90
    assert out["cases at or above"] == "1 of 2"
