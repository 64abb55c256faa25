"""Aggregation of synthetic metrics.json files, checked against `statistics`."""
from __future__ import annotations

import math
import statistics

import pandas as pd

from suite.study.aggregate import cell_row, collect, degradation, markdown_table

# bn falls apart at batch 2, gn does not: (norm, batch) -> the three seeds' test/acc
VALUES = {("bn", 2): [0.50, 0.62, 0.41], ("bn", 32): [0.95, 0.93, 0.94],
          ("gn", 2): [0.91, 0.92, 0.90], ("gn", 32): [0.93, 0.92, 0.95]}


def write_grid(write_cell, cells, runs_dir, skip=()):
    for cell in cells:
        if (cell.norm, cell.batch_size, cell.seed) in skip:
            continue
        write_cell(cell, runs_dir, value=VALUES[cell.norm, cell.batch_size][cell.seed])


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in markdown.splitlines()[2:]]
    return {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}


def test_table_cells_are_mean_and_sample_std_over_seeds(tmp_path, small_cells, write_cell):
    write_grid(write_cell, small_cells, tmp_path)
    frame = collect(small_cells, tmp_path)
    assert (frame.status == "finished").all() and len(frame) == 12
    rows = table_rows(markdown_table(frame, "cls"))
    for (norm, batch), values in VALUES.items():
        expected = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
        assert rows[norm][[2, 32].index(batch)] == expected


def test_failed_and_missing_cells_are_kept_out_of_the_statistics(tmp_path, small_cells, write_cell):
    write_grid(write_cell, small_cells, tmp_path, skip={("bn", 2, 1), ("gn", 2, 0), ("gn", 2, 1), ("gn", 2, 2)})
    crashed = next(c for c in small_cells if (c.norm, c.batch_size, c.seed) == ("gn", 2, 0))
    write_cell(crashed, tmp_path, status="failed", error="RuntimeError: boom")
    frame = collect(small_cells, tmp_path)
    statuses = frame.set_index(["norm", "batch_size", "seed"]).status
    assert statuses["bn", 2, 1] == "missing" and statuses["gn", 2, 0] == "failed"
    assert frame.set_index(["norm", "batch_size", "seed"]).error["gn", 2, 0] == "RuntimeError: boom"
    rows = table_rows(markdown_table(frame, "cls"))
    bn_two = [VALUES["bn", 2][0], VALUES["bn", 2][2]]
    assert rows["bn"][0] == f"{statistics.mean(bn_two):.3f} ± {statistics.stdev(bn_two):.3f} (2/3)"
    assert rows["gn"][0] == "1 failed"  # the crashed seed; the two others never ran
    assert degradation(frame, "cls", 0.05).norm.tolist() == ["bn", "gn"]  # grid order, not alphabetical


def test_a_finished_run_without_its_main_metric_counts_as_failed(tmp_path, small_cells, write_cell):
    write_cell(small_cells[0], tmp_path, value=0.9, metric="val/acc")
    row = collect(small_cells[:1], tmp_path).iloc[0]
    row_metric_missing = row.status == "failed" and "main metric" in row.error
    assert row_metric_missing and math.isnan(row.value)


def test_degradation_flags_the_batch_sizes_far_below_the_best(tmp_path, small_cells, write_cell):
    write_grid(write_cell, small_cells, tmp_path)
    result = degradation(collect(small_cells, tmp_path), "cls", threshold=0.05).set_index("norm")
    bn_best, bn_small = statistics.mean(VALUES["bn", 32]), statistics.mean(VALUES["bn", 2])
    assert result.loc["bn", "best_batch"] == 32 and result.loc["bn", "below_best"] == [2]
    assert math.isclose(result.loc["bn", "drop"], bn_best - bn_small)
    assert result.loc["gn", "below_best"] == []
    one_seed = pd.DataFrame(collect(small_cells, tmp_path).query("seed == 0"))
    assert table_rows(markdown_table(one_seed, "cls"))["gn"][0] == f"{VALUES['gn', 2][0]:.3f}"


def test_a_corrupt_cell_record_is_a_failed_cell_naming_its_file(tmp_path, small_cells, write_cell):
    write_cell(small_cells[0], tmp_path, value=0.5)
    path = small_cells[0].metrics_path(tmp_path)
    path.write_text(path.read_text()[:40])
    row = cell_row(small_cells[0], tmp_path)
    assert row["status"] == "failed" and f"{path} is corrupt" in row["error"]
