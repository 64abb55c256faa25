"""Paired BGN − BN / BGN − GN intervals and verdicts on synthetic cells, against hand-computed numbers."""
from __future__ import annotations

import math

import pytest

from suite.study.aggregate import collect, markdown_table
from suite.study.grid import expand_grid
from suite.study.profile import load_profile
from suite.study.verdicts import comparisons, t_interval, verdict

# t(0.975, 2) = 4.302653 (tables); sd of (0.02, 0.04, 0.06) = 0.02; half width 4.302653 * 0.02 / sqrt(3)
HALF = 0.0496828


def test_t_interval_matches_the_hand_computation():
    interval = t_interval([0.02, 0.04, 0.06])
    assert interval.mean == pytest.approx(0.04)
    assert interval.low == pytest.approx(0.04 - HALF, abs=1e-6) and interval.high == pytest.approx(0.04 + HALF, abs=1e-6)
    assert not interval.above_zero and not interval.below_zero
    two = t_interval([0.1, 0.3])  # t(0.975, 1) = 12.7062, sd 0.141421, half = 12.7062 * 0.141421 / sqrt(2) = 1.27062
    assert two.low == pytest.approx(0.2 - 1.27062, abs=1e-4)
    assert math.isnan(t_interval([0.5]).low) and t_interval([]).n == 0


def cells(norms=("bn", "gn", "bgn")):
    profile = load_profile("quick", [f"norms=[{','.join(norms)}]", "batch_sizes=[2,32]", "seeds=[0,1,2]",
                                     "logger_mode=disabled", "tasks=[cls]", "share_per_sample=false"])
    return expand_grid(profile)


def write(write_cell, grid, runs_dir, values, failed=()):
    for cell in grid:
        key = (cell.norm, cell.batch_size, cell.seed)
        if key in failed:
            write_cell(cell, runs_dir, status="failed", error=failed[key])
        else:
            write_cell(cell, runs_dir, value=values[cell.norm, cell.batch_size][cell.seed])


HOLDS = {("bn", 2): [0.50, 0.60, 0.40], ("bgn", 2): [0.60, 0.72, 0.54],   # bgn − bn: 0.10, 0.12, 0.14
         ("gn", 2): [0.60, 0.70, 0.55], ("bn", 32): [0.95, 0.94, 0.96],
         ("gn", 32): [0.90, 0.92, 0.91], ("bgn", 32): [0.92, 0.96, 0.97]}  # bgn − gn: 0.02, 0.04, 0.06


def test_paired_differences_are_per_seed_and_the_rule_says_holds(tmp_path, write_cell):
    grid = cells()
    write(write_cell, grid, tmp_path, HOLDS)
    intervals = comparisons(collect(grid, tmp_path), "cls")
    small = intervals["bn"][2]
    assert small.mean == pytest.approx(0.12) and small.low == pytest.approx(0.12 - HALF, abs=1e-6)
    large = intervals["gn"][32]
    assert large.mean == pytest.approx(0.04) and large.high == pytest.approx(0.04 + HALF, abs=1e-6)
    assert verdict(intervals)[0] == "holds"


def test_bgn_significantly_below_gn_degrades(tmp_path, write_cell):
    values = dict(HOLDS)
    values["bgn", 32] = [0.80, 0.83, 0.84]  # bgn − gn: −0.10, −0.09, −0.07
    grid = cells()
    write(write_cell, grid, tmp_path, values)
    name, reason = verdict(comparisons(collect(grid, tmp_path), "cls"))
    assert name == "degrades" and "32" in reason


def test_failed_cells_shrink_the_pairs_and_are_shown(tmp_path, write_cell):
    grid = cells()
    failed = {("bgn", 2, 0): "FloatingPointError: train/loss became nan at step 3",
              ("bgn", 2, 1): "RuntimeError: out of memory"}
    write(write_cell, grid, tmp_path, HOLDS, failed=failed)
    frame = collect(grid, tmp_path)
    intervals = comparisons(frame, "cls")
    assert intervals["bn"][2].n == 1 and intervals["bn"][2].mean == pytest.approx(0.14)
    name, reason = verdict(intervals)
    assert name == "inconclusive" and "fewer than 2" in reason
    row = next(line for line in markdown_table(frame, "cls").splitlines() if line.startswith("| bgn"))
    assert "(1/3; 1 failed, 1 diverged)" in row


def test_a_grid_without_gn_is_inconclusive(tmp_path, write_cell):
    grid = cells(("bn", "bgn"))
    write(write_cell, grid, tmp_path, HOLDS)
    assert verdict(comparisons(collect(grid, tmp_path), "cls")) == ("inconclusive", "the grid lacks bn or gn")
