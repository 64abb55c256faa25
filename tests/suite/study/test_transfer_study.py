"""The study's transfer table from real runs: pre-training cells, fine-tuning cells started from their run
directories (model.init), and the table the report makes of them."""
from __future__ import annotations

import pytest

from suite.results import read_metrics
from suite.study.__main__ import main
from suite.study.grid import expand_grid
from suite.study.profile import load_profile

TINY = ["tasks=[cls]", "norms=[bn,gn]", "batch_sizes=[2,8]", "seeds=[0]", "logger_mode=disabled", "n_jobs=2",
        "task_overrides.cls=['data.batch_size=8','model.name=resnet10t','data.image_size=16','trainer.max_epochs=1',"
        "'trainer.limit_train_batches=3','trainer.limit_val_batches=1','trainer.limit_test_batches=1']"]


@pytest.mark.slow
def test_a_study_fine_tunes_from_its_pretraining_cells_and_tabulates_them(tmp_path, fake_mnist5k):
    """cls on digits (pre-training: the main grid's batch-8 cells), fine-tuned on mnist5k (a fake of its file)
    at k = 2 and 8 from those runs and from scratch; every cell finishes and the report has the table."""
    overrides = [f"reports_dir={tmp_path / 'reports'}", "results_dir=null", *TINY,
                 f"transfer=[{{task: cls, overrides: ['data=mnist5k', 'data.file={fake_mnist5k}',"
                 " 'trainer.limit_train_batches=2'], batch_sizes: [2, 8], scratch: true}]"]
    assert main(["profile=quick", *overrides]) == 0
    study = tmp_path / "reports" / "quick"
    cells = expand_grid(load_profile("quick", overrides))
    runs_dir = study / "cells"
    records = {cell: read_metrics(cell.metrics_path(runs_dir)) for cell in cells}
    assert {record["status"] for record in records.values()} == {"finished"}
    pretraining = {(cell.norm, cell.seed): cell for cell in cells if cell.table == "cls:transfer, pre-training"}
    for cell in cells:
        if cell.table == "cls:transfer":
            init = records[cell]["config"]["model"]["init"]
            assert records[cell]["config"]["data"]["name"] == "mnist5k"
            source = pretraining[cell.norm, cell.seed].metrics_path(runs_dir).parent
            assert init == (str(source) if cell.label.endswith("pre-trained") else None)
    summary = (study / "summary.md").read_text()
    table = summary.split("## cls:transfer (test/acc)")[1].split("##")[0]
    for row in ("bn pre-trained", "bn from scratch", "gn pre-trained", "gn from scratch"):
        assert f"| {row} | 0." in table  # a finished value in the batch-2 column
    assert (study / "cls_transfer.md").is_file() and (study / "cls_transfer__pre-training.md").is_file()
