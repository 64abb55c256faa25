"""The study grid: tasks x norms x batch sizes x seeds, expanded into cells.

A cell is one `suite.run.run` with the overrides ``task=<t> norm=<n> <batch-axis>=<b>
seed=<s> run_id=<cell id>`` plus the profile's fixed overrides. The cell id is
deterministic, ``bs<b>-s<s>-<digest>``, where the digest hashes the fixed overrides of
the cell's task: re-running a study finds its finished cells again, and changing a
profile's settings (epochs, say) gives new ids instead of mixing old results in.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from suite.config import compose_config, group_options
from suite.checks import check_items, non_negative_int, positive_int
from suite.errors import UserError


# A cell's run id; the sweep fills it with interpolations of the swept keys.
CELL_ID = "bs{batch}-s{seed}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One point of the grid; `batch_axis` is the override key the batch size sets."""

    task: str
    norm: str
    batch_size: int
    seed: int
    batch_axis: str | None
    fixed_overrides: tuple[str, ...]

    @property
    def digest(self) -> str:
        return settings_digest(self.task, self.batch_axis, self.fixed_overrides)

    @property
    def cell_id(self) -> str:
        return CELL_ID.format(batch=self.batch_size, seed=self.seed, digest=self.digest)

    def overrides(self) -> list[str]:
        """The overrides that define this cell's run (output paths and logging come on top)."""
        batch = [f"{self.batch_axis}={self.batch_size}"] if self.batch_axis else []
        return [f"task={self.task}", f"norm={self.norm}", *batch, f"seed={self.seed}", f"run_id={self.cell_id}",
                *self.fixed_overrides]

    def metrics_path(self, runs_dir: Path) -> Path:
        """Where `suite.session.RunSession` writes this cell's metrics.json."""
        return Path(runs_dir) / self.task / self.norm / self.cell_id / "metrics.json"


def settings_digest(task: str, batch_axis: str, fixed_overrides: tuple[str, ...]) -> str:
    """8 hex digits identifying a task's settings in a study (not its norm, batch or seed)."""
    text = "\n".join([task, batch_axis or "", *fixed_overrides])
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def task_overrides(profile, task: str) -> tuple[str, ...]:
    """The profile's overrides for every cell, then those for `task` (later ones win)."""
    per_task = profile.task_overrides.get(task) or []
    return tuple(str(item) for item in [*profile.overrides, *per_task])


def batch_axis(task: str) -> str | None:
    """The key `task`'s batch size sets: ``task.batch_axis`` of its config, its one owner; None for
    a task without a config (its cells fail with "unknown task" when composed)."""
    if task not in group_options("task"):
        return None
    axis = compose_config([f"task={task}"]).task.get("batch_axis")
    if axis is None:
        raise UserError(f"configs/task/{task}.yaml declares no batch_axis: add batch_axis: <the key its batch "
                        f"size sets>, e.g. data.batch_size")
    return str(axis)


# The study's two batch axes (``axis`` in a profile). norm: the normalization batch, ghost batches of
# k images (suite/norm_batch.py) with the optimizer batch fixed by the profile's overrides; optimizer: the
# task's own batch (``batch_axis`` of its config), learning rate scaled with it.
AXES = ("norm", "optimizer")
NORM_BATCH_KEY = "trainer.norm_batch_size"


def axis_key(profile, task: str) -> str | None:
    """The override a cell's batch size sets under the profile's ``axis``."""
    axis = profile.get("axis", "optimizer")
    if axis not in AXES:
        raise UserError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
    return NORM_BATCH_KEY if axis == "norm" else batch_axis(task)


def expand_grid(profile) -> list[Cell]:
    """Every cell of `profile`, task-major, then norm, batch size (small first: slowest), seed."""
    for key in ("tasks", "norms", "batch_sizes", "seeds"):
        if not profile[key]:
            raise UserError(f"the study grid needs at least one entry in {key}")
    check_items("batch_sizes", profile.batch_sizes, positive_int)
    check_items("seeds", profile.seeds, non_negative_int)
    cells = []
    for task in profile.tasks:
        axis, fixed = axis_key(profile, str(task)), task_overrides(profile, task)
        clashing = [item for item in fixed if axis and item.split("=", 1)[0] == axis]
        if clashing:
            raise UserError(f"the overrides of task {task} set {axis}, the key its batch sizes set under axis="
                            f"{profile.get('axis', 'optimizer')}: remove {clashing[0]} from task_overrides.{task}")
        cells += [Cell(str(task), str(norm), int(size), int(seed), axis, fixed)
                  for norm in profile.norms for size in sorted(profile.batch_sizes) for seed in profile.seeds]
    return cells


def sweep_overrides(cells: list[Cell]) -> list[str]:
    """Hydra multirun overrides covering `cells` of one task: comma-separated norms, batch
    sizes and seeds, and a run id interpolated from the swept values (= each `Cell.cell_id`)."""
    first = cells[0]
    if any((cell.task, cell.batch_axis, cell.fixed_overrides) != (first.task, first.batch_axis, first.fixed_overrides)
           for cell in cells):
        raise ValueError("one sweep covers the cells of one task with the same settings")

    def values(attribute: str) -> str:
        return ",".join(str(value) for value in dict.fromkeys(getattr(cell, attribute) for cell in cells))

    run_id = CELL_ID.format(batch="${" + first.batch_axis + "}", seed="${seed}", digest=first.digest)
    # Hydra varies the first swept key slowest: batch sizes first, so the slow small-batch
    # cells start first and the fast ones fill the gaps at the end.
    return [f"task={first.task}", f"{first.batch_axis}={values('batch_size')}", f"norm={values('norm')}",
            f"seed={values('seed')}", f"run_id={run_id}", *first.fixed_overrides]
