"""Per-epoch metrics of a training phase: the curves that show whether a run has plateaued.

`EpochHistory` appends, at each training epoch's end (after that epoch's validation), one row
``{"epoch": 1-based, "step": optimizer steps so far, "train/...": ..., "val/...": ...}`` and writes the rows
to ``<checkpoints>/<phase>/history.json`` (rank 0, atomically). A resumed run continues the file: an epoch
trained again replaces its row. `suite.session.RunSession` copies each phase's rows into metrics.json
(``history: {<phase>: [rows]}``); the study plots them (``axis: optimizer``: `suite.study.plots.plot_curves`).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl

from suite.results import write_json_atomic

FILE = "history.json"
RECORDED_PREFIXES = ("train/", "val/")


def read_history(directory: Path) -> list[dict[str, float]]:
    """The rows in a phase's checkpoint `directory` (none when it has no history file)."""
    path = Path(directory) / FILE
    return json.loads(path.read_text())["rows"] if path.is_file() else []


class EpochHistory(pl.Callback):
    """One row per finished training epoch of the phase checkpointed in `directory`: the epoch-level train
    and val metrics Lightning holds then."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.rows = read_history(self.directory)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        row.update({key: float(value) for key, value in trainer.callback_metrics.items()
                    if key.startswith(RECORDED_PREFIXES) and value.numel() == 1})
        self.rows = [*(kept for kept in self.rows if kept["epoch"] < row["epoch"]), row]
        if trainer.is_global_zero:
            write_json_atomic(self.directory / FILE, {"rows": self.rows})
