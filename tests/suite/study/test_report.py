"""Report files from synthetic cells, and the ``report <study-dir>`` rebuild."""
from __future__ import annotations

import json
import statistics

import matplotlib.image
import pandas as pd
from omegaconf import OmegaConf

from suite.study.__main__ import main
from suite.study.aggregate import collect, curve_metric, curves
from suite.study.grid import expand_grid
from suite.study.profile import load_profile
from suite.study.report import write_report, write_study_record
from suite.study.wallclock import read_entries
from suite.tables import main as tables_main
from tests.suite.study.conftest import SMALL


def write_values(cells, runs_dir, write_cell):
    """test/acc = 0.9 for gn everywhere; bn loses 0.1 per halving below 32, plus seed noise."""
    values = {}
    for cell in cells:
        base = 0.9 if cell.norm == "gn" else 0.9 - 0.1 * (32 // cell.batch_size - 1) / 15 * 4
        values[cell] = base + 0.01 * cell.seed
        write_cell(cell, runs_dir, value=values[cell])
    return values


def test_report_writes_csv_tables_plots_and_summary(tmp_path, small_cells, write_cell):
    values = write_values(small_cells, tmp_path / "cells", write_cell)
    frame = collect(small_cells, tmp_path / "cells")
    report = write_report(frame, tmp_path, "demo", threshold=0.05, command="python -m suite.study profile=demo")
    csv = pd.read_csv(report.cells_csv)
    assert len(csv) == len(small_cells) and set(csv.status) == {"finished"}
    bn_two = [values[c] for c in small_cells if (c.norm, c.batch_size) == ("bn", 2)]
    assert f"{statistics.mean(bn_two):.3f} ± {statistics.stdev(bn_two):.3f}" in report.tables["cls"].read_text()
    image = matplotlib.image.imread(report.plots["cls"])
    assert image.ndim == 3 and image.shape[0] > 100
    summary = report.summary.read_text()
    assert "more than 0.05 below its best at batch 2" in summary.split("**bn**")[1].splitlines()[0]
    assert "within 0.05 of its best at every batch size" in summary.split("**gn**")[1].splitlines()[0]


def test_a_sweeps_table_is_written_under_a_linkable_name(tmp_path, write_cell):
    """gn + WS beside the main gn row's runs: its own table, files without ':' or spaces, linked from summary.md."""
    profile = load_profile("quick", [*SMALL, "sweeps=[{task: cls, norm: gn, key: model.weight_standardization,"
                                     " values: [null, true], table: 'cls:weight standardization',"
                                     " labels: [gn without WS, gn + WS]}]"])
    cells = expand_grid(profile)
    for cell in cells:
        write_cell(cell, tmp_path / "cells", value=0.7 if cell.label == "gn + WS" else 0.5)
    report = write_report(collect(cells, tmp_path / "cells"), tmp_path, "demo", 0.05, "python -m suite.study")
    table = report.tables["cls:weight standardization"]
    assert table.name == "cls_weight_standardization.md" and report.plots["cls:weight standardization"].is_file()
    lines = table.read_text().splitlines()
    assert lines[2] == "| gn without WS | 0.500 ± 0.000 | 0.500 ± 0.000 |"
    assert lines[3] == "| gn + WS | 0.700 ± 0.000 | 0.700 ± 0.000 |"
    assert "![cls:weight standardization](cls_weight_standardization.png)" in report.summary.read_text()


def test_report_command_rebuilds_from_cells_on_disk(tmp_path, small_profile, small_cells, write_cell):
    write_values(small_cells, tmp_path / "cells", write_cell)
    small_profile.command = "python -m suite.study profile=quick"
    OmegaConf.save(small_profile, tmp_path / "study.yaml")
    assert main(["report", str(tmp_path), "logger_mode=disabled"]) == 0
    assert (tmp_path / "cls.png").is_file() and (tmp_path / "cells.csv").is_file()
    assert "Made by: `python -m suite.study profile=quick`" in (tmp_path / "summary.md").read_text()


def test_study_record_and_readme_section_come_from_the_results_folder(tmp_path, small_profile, small_cells,
                                                                        write_cell):
    """study.json sums the commands' wall time; table.yaml makes `make results` render the folder."""
    write_values(small_cells, tmp_path / "cells", write_cell)
    (tmp_path / "wall_time.json").write_text('[{"started": "a", "seconds": 100.0}, {"started": "b", "seconds": 20.5}]')
    small_profile.command = "python -m suite.study profile=quick"
    frame = collect(small_cells, tmp_path / "cells")
    out = tmp_path / "results" / "quick"
    record = write_study_record(out, small_profile, frame, read_entries(tmp_path))
    write_report(frame, out, "quick", 0.05, small_profile.command, record)
    stored = json.loads((out / "study.json").read_text())
    assert stored["wall_time_s"] == 120.5 and stored["runs"] == len(small_cells) == stored["runs_finished"]
    assert stored["versions"]["torch"] and stored["profile"]["norms"] == ["bn", "gn"]
    assert "Wall time 120 s" in (out / "summary.md").read_text()
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- results:quick:start -->\n<!-- results:quick:end -->\n")
    assert tables_main(["--results", str(tmp_path / "results"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    bn_two = [value for cell, value in write_values(small_cells, tmp_path / "cells", write_cell).items()
              if (cell.norm, cell.batch_size) == ("bn", 2)]
    assert f"{statistics.mean(bn_two):.3f} ± {statistics.stdev(bn_two):.3f}" in text
    assert "Made by `python -m suite.study profile=quick`" in text and "120 s" in text


def test_the_report_plots_validation_curves_and_says_where_the_largest_batch_has_plateaued(tmp_path, small_cells,
                                                                                          write_cell):
    """bn's curves flatten (0.900 -> 0.908 over the last two epochs at batch 32), gn's still rise (0.5 -> 0.9)."""
    rising = {"bn": [0.6, 0.9, 0.905, 0.908], "gn": [0.3, 0.5, 0.7, 0.9]}
    for cell in small_cells:
        history = [{"epoch": epoch + 1, "step": 10 * (epoch + 1), "val/acc": value + cell.seed / 1000,
                    "val/loss": 1.0 - value, "train/loss": 0.5} for epoch, value in enumerate(rising[cell.norm])]
        write_cell(cell, tmp_path / "cells", value=0.8, history=history if cell.batch_size == 32 else None)
    frame, epochs = collect(small_cells, tmp_path / "cells"), curves(small_cells, tmp_path / "cells")
    assert set(epochs.metric) == {"val/acc"} and set(epochs.batch_size) == {32}  # test/acc's counterpart
    assert len(epochs) == 2 * 3 * 4  # norms x seeds x epochs
    report = write_report(frame, tmp_path / "report", "demo", 0.05, "test", curves=epochs)
    summary = report.summary.read_text()
    assert "![cls: validation curves](cls_curves.png)" in summary
    assert matplotlib.image.imread(tmp_path / "report" / "cls_curves.png").shape[-1] in (3, 4)
    assert "**bn** at batch 32: val/acc 0.901 → 0.909 over its last two epochs (+0.008): plateaued." in summary
    assert "**gn** at batch 32: val/acc 0.501 → 0.901 over its last two epochs (+0.400): still rising" in summary
    assert "cls: validation curves" in report.html.read_text()


def test_a_curve_stands_for_the_main_metrics_val_counterpart_or_else_val_acc():
    assert curve_metric("test/robust_acc_pgd20", {"val/robust_acc_pgd20", "val/acc"}) == "val/robust_acc_pgd20"
    assert curve_metric("test/robust_acc_pgd20", {"val/robust_acc_pgd10", "val/acc"}) == "val/acc"
    assert curve_metric("test/acc", {"val/loss"}) is None
