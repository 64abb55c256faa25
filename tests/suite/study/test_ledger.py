"""The study's committed ledger: finished cells copied as they land, restored into a study dir that lacks
them (a clean clone), so the resumed study runs only what no sitting finished."""
from __future__ import annotations

import shutil

from suite.results import read_metrics
from suite.study import runner
from suite.study.grid import expand_grid, runs
from suite.study.ledger import Ledger
from suite.study.profile import load_profile
from suite.transfer import run_checkpoint
from tests.suite.study.conftest import SMALL


def test_a_clean_clone_resumes_from_the_ledger_and_sweeps_only_what_it_lacks(tmp_path, monkeypatch, small_profile,
                                                                             write_cell):
    cells = expand_grid(small_profile)
    first, clone = tmp_path / "first", tmp_path / "clone"
    finished = [cell for cell in cells if cell.batch_size == 32]
    for cell in finished:
        write_cell(cell, first / "cells", value=0.5 + cell.seed / 10)
    write_cell(cells[0], first / "cells", status="failed", error="RuntimeError: an earlier attempt")
    ledger = Ledger(tmp_path / "results" / "cells", first / "cells")
    monkeypatch.setattr(runner, "sweep", lambda *args, **kwargs: 0)
    runner.run_study(small_profile, first, ledger=ledger)
    kept = sorted(path.relative_to(ledger.directory) for path in ledger.directory.rglob("*.json"))
    assert kept == sorted(ledger.path(cell).relative_to(ledger.directory) for cell in finished)  # not the failed one

    swept = []
    monkeypatch.setattr(runner, "sweep", lambda group, *args, **kwargs: swept.extend(group) or 0)
    runner.run_study(small_profile, clone, ledger=Ledger(ledger.directory, clone / "cells"))  # no run dir at all
    assert sorted(cell.cell_id + cell.norm for cell in swept) == \
        sorted(cell.cell_id + cell.norm for cell in cells if cell not in finished)
    for cell in finished:
        assert read_metrics(cell.metrics_path(clone / "cells")) == read_metrics(cell.metrics_path(first / "cells"))


def test_a_cell_is_recorded_when_it_lands_finished_and_not_before(tmp_path, small_cells, write_cell):
    ledger = Ledger(tmp_path / "ledger", tmp_path / "cells")
    cell = small_cells[0]
    ledger.record(cell)  # not run
    write_cell(cell, tmp_path / "cells", status="running")
    ledger.record(cell)
    assert not ledger.path(cell).exists()
    write_cell(cell, tmp_path / "cells", value=0.75)
    ledger.record(cell)
    assert read_metrics(ledger.path(cell))["metrics"]["test/acc"] == 0.75


def test_a_run_record_in_the_study_dir_wins_over_the_ledger(tmp_path, small_cells, write_cell):
    # An unfinished attempt in the study dir is continued there, not replaced by an older copy.
    ledger = Ledger(tmp_path / "ledger", tmp_path / "cells")
    cell = small_cells[0]
    write_cell(cell, tmp_path / "cells", value=0.75)
    ledger.record(cell)
    shutil.rmtree(tmp_path / "cells")
    write_cell(cell, tmp_path / "cells", status="interrupted")
    assert ledger.sync([cell]) == (0, 0)
    assert read_metrics(cell.metrics_path(tmp_path / "cells"))["status"] == "interrupted"


def test_the_driver_keeps_the_ledger_beside_the_report(tmp_path, small_profile):
    from suite.study.__main__ import ledger

    assert ledger(small_profile, tmp_path / "study") is None  # results_dir null: the report is in the study dir
    small_profile.results_dir = str(tmp_path / "results")
    kept = ledger(small_profile, tmp_path / "study")
    assert kept.directory == tmp_path / "results" / small_profile.study_id / "cells"
    assert kept.runs_dir == tmp_path / "study" / "cells"


def test_a_clean_clone_runs_again_the_pretraining_cells_whose_fine_tuning_is_unfinished(tmp_path, monkeypatch,
                                                                                        write_cell):
    """The ledger keeps records, not weights: where a fine-tuning cell still has to run, its pre-training cell
    runs again (before it, in an earlier sweep) rather than being restored without the checkpoint it needs."""
    profile = load_profile("quick", [*SMALL, "tasks=[cls]", "seeds=[0,1]",
                                     "transfer=[{task: cls, overrides: ['data=digits'], batch_sizes: [2]}]"])
    cells = runs(expand_grid(profile))
    tuning = [cell for cell in cells if cell.source]
    assert tuning and {cell.stage for cell in tuning} == {1}
    first = tmp_path / "first"
    ledger = Ledger(tmp_path / "ledger", first / "cells")
    missing = next(cell for cell in tuning if cell.norm == "gn" and cell.seed == 1)  # its fine-tuning never ran
    for cell in cells:
        if cell is not missing:
            write_cell(cell, first / "cells", value=0.5)
            ledger.record(cell)
    source = next(cell for cell in cells if (cell.norm, cell.cell_id) == ("gn", missing.source))
    assert source.stage == 0 and source.batch_size == max(profile.batch_sizes)

    swept = []
    monkeypatch.setattr(runner, "sweep", lambda group, *args, **kwargs: swept.append(group) or 0)
    clone = tmp_path / "clone" / "cells"
    for _ in range(2):  # a second resume sets aside the record the first restored, had it restored one
        swept.clear()
        assert Ledger(ledger.directory, clone).sync(cells)[1] == 1
        assert not source.metrics_path(clone).exists() and ledger.path(source).is_file()
        runner.run_study(profile, clone.parent, cells=cells, ledger=Ledger(ledger.directory, clone))
        assert swept == [[source], [missing]]  # pre-training first, then the fine-tuning from it

    kept = ledger.path(source).read_bytes()
    ledger.path(source).unlink()  # a pre-training cell the ledger lacks (new settings) runs anyway: not counted
    assert Ledger(ledger.directory, clone).sync(cells)[1] == 0
    ledger.path(source).write_bytes(kept)

    checkpoint = run_checkpoint(source.metrics_path(clone).parent)  # once it has run again: weights to start from
    checkpoint.parent.mkdir(parents=True)
    checkpoint.touch()
    assert Ledger(ledger.directory, clone).sync(cells) == (1, 0)
