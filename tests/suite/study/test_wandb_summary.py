"""The W&B summary run, offline: a Table of cells and per task a table and an image."""
from __future__ import annotations

import json

from suite.study.aggregate import collect
from suite.study.report import write_report
from suite.study.wandb_summary import log_summary


def test_offline_summary_run_holds_tables_and_plots(tmp_path, small_profile, small_cells, write_cell, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    for cell in small_cells:
        write_cell(cell, tmp_path / "cells", value=0.5 + 0.01 * cell.seed)
    frame = collect(small_cells, tmp_path / "cells")
    report = write_report(frame, tmp_path, "demo", threshold=0.05, command="test")
    small_profile.logger_mode = "offline"
    run_dir = log_summary(frame, report, small_profile, tmp_path)
    media = next((tmp_path / "wandb").glob("offline-run-*")) / "files" / "media"
    assert run_dir is not None and str(media.parent.parent) in run_dir
    cells_table = json.loads(next((media / "table").glob("cells_*.table.json")).read_text())
    assert len(cells_table["data"]) == len(small_cells)
    task_table = json.loads(next((media / "table" / "cls").glob("table_*.table.json")).read_text())
    rows = [dict(zip(task_table["columns"], row)) for row in task_table["data"]]
    bn_two = [0.5 + 0.01 * seed for seed in small_profile.seeds]
    bn_row = next(row for row in rows if (row["norm"], row["batch_size"]) == ("bn", 2))
    assert abs(bn_row["mean"] - sum(bn_two) / len(bn_two)) < 1e-9 and len(rows) == 4
    assert len(list((media / "images" / "cls").glob("plot_*.png"))) == 1
