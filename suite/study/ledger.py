"""A study's ledger: a copy of every finished cell's metrics.json, kept with the report, to be committed.

The cells' run dirs (checkpoints, W&B files) live under ``<reports_dir>/<study_id>/cells/``, which is not
committed; the ledger, ``<results_dir>/<study_id>/cells/<task>/<norm>/<cell id>.json`` (about 3 KB a cell), is
written as each cell lands. A study longer than one sitting commits its results folder as it goes, and the
same command resumes it anywhere, a clean clone included: `Ledger.sync` puts a ledger record back where a
cell's run dir has none (the cell counts as finished and is not run again) and records finished cells the
ledger lacks. A transfer table's fine-tuning starts from its pre-training cell's weights, which the ledger
does not hold: a pre-training cell whose run dir has no checkpoint while a fine-tuning cell from it is
unfinished is not restored (a record restored earlier is removed; the ledger keeps its copy): it runs
again, and its new record replaces the ledger's.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from suite.results import atomic_path
from suite.study.cell import cell_status, is_finished
from suite.study.grid import Cell
from suite.transfer import run_checkpoint


class Ledger:
    """The ledger in `directory` of the cells whose run dirs are under `runs_dir`."""

    def __init__(self, directory: Path, runs_dir: Path):
        self.directory, self.runs_dir = Path(directory), Path(runs_dir)

    def path(self, cell: Cell) -> Path:
        return self.directory / cell.task / cell.norm / f"{cell.cell_id}.json"

    def record(self, cell: Cell) -> None:
        """Copy `cell`'s metrics.json into the ledger if the cell finished."""
        source = cell.metrics_path(self.runs_dir)
        if is_finished(source):
            _copy(source, self.path(cell))

    def sync(self, cells: list[Cell]) -> tuple[int, int]:
        """Restore the run records of `cells` that only the ledger has; record the finished ones it lacks;
        leave out the pre-training cells that must run again for their weights (module docstring). Returns
        (restored, finished in the ledger but run again)."""
        rerun = self.sources_without_weights(cells)
        restored = run_again = 0
        for cell in cells:
            run_record, kept = cell.metrics_path(self.runs_dir), self.path(cell)
            if not kept.is_file():
                self.record(cell)
            if (cell.task, cell.norm, cell.cell_id) in rerun:
                run_record.unlink(missing_ok=True)
                run_again += is_finished(kept)
            elif cell_status(run_record) is None and is_finished(kept):
                _copy(kept, run_record)
                restored += 1
        return restored, run_again

    def sources_without_weights(self, cells: list[Cell]) -> set[tuple[str, str, str]]:
        """(task, norm, run id) of the pre-training cells whose weights an unfinished fine-tuning cell
        among `cells` needs and whose run dir lacks them."""
        needed = {(cell.task, cell.norm, cell.source) for cell in cells if cell.source
                  and not is_finished(cell.metrics_path(self.runs_dir)) and not is_finished(self.path(cell))}
        return {(task, norm, run_id) for task, norm, run_id in needed
                if not run_checkpoint(self.runs_dir / task / norm / run_id).is_file()}


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
