"""The study grid: tasks x norms x batch sizes x seeds, expanded into cells.

A cell is one `suite.run.run` with the overrides ``task=<t> norm=<n> <batch-axis>=<b>
seed=<s> run_id=<cell id>`` plus the profile's fixed overrides. The cell id is
deterministic, ``<norm>-bs<b>-s<s>-<digest>``, where the digest hashes the cell's task and its fixed
overrides: ids (also the cells' W&B run ids) are unique across task, norm, batch size, seed and
overrides; re-running a study finds its cells again (and continues unfinished ones), and changing a
profile's settings (epochs, say) gives new ids instead of mixing old results in.

On the normalization-batch axis a per-sample norm (gn, ln, in, pn, frn, evonorm_s0: nothing a ghost
batch changes) is run once per seed, at the largest batch size, and that run fills its cells at every
batch size (``Cell.run_batch_size``; ``share_per_sample: false`` in a profile runs every cell).

``sweeps`` in a profile add tables of one norm with one setting varied (the BGN group count)::

    sweeps:
      - {task: cls, norm: bgn, key: norm.num_groups, values: [1, 4, 16, 64]}

Their cells are the task's cells with ``<key>=<value>`` added, tabulated as their own table
``<task>:<norm> <key>`` with one row per value; ``table`` and ``labels`` name the table and its rows
(entries with one ``table`` share it), a ``null`` value is the task's own row (its runs are not repeated)::

      - {task: cls, norm: gn, key: model.weight_standardization, values: [null, true],
         table: "cls:weight standardization", labels: [gn without WS, gn + WS]}

A sweep only adds cells: the ids of the cells a profile had before do not change, so a study resumed with
a grown profile runs only the new ones.

``transfer`` adds pre-train -> fine-tune tables (the GN paper's section 6; `suite.transfer`)::

    transfer:
      - {task: cls, overrides: [data=digits, data.batch_size=32], batch_sizes: [2, 8, 32], scratch: true}

Pre-training is the task's own cell at the largest batch size (norm and seed alike: no extra run when it is
in the grid), tabulated as ``<table>, pre-training``; each starts fine-tuning cells, the task's cells with
``overrides`` added and ``model.init`` the pre-training cell's run directory, at the entry's batch sizes
(default: the profile's), rows ``<norm> pre-trained``; ``scratch: true`` adds the same cells without
``model.init`` (rows ``<norm> from scratch``). A fine-tuning cell has ``stage`` 1: its sweep runs after
those of its task's stage-0 cells, the pre-training among them; a pre-trained one names its pre-training
cell's run id (``source``), whose weights it needs (`suite.study.ledger`).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

import norms
from norms.registry import build_with_group_rule
from suite.config import compose_config, group_options
from suite.checks import check_items, non_negative_int, positive_int
from suite.errors import UserError


# A cell's run id; the sweep fills it with interpolations of the swept keys.
CELL_ID = "{norm}-bs{batch}-s{seed}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One point of the grid; `batch_axis` is the override key the batch size sets."""

    task: str
    norm: str
    batch_size: int
    seed: int
    batch_axis: str | None
    fixed_overrides: tuple[str, ...]
    run_batch_size: int | None = None   # the batch size the run uses when it serves several cells
    table: str | None = None            # the report table it is in (None: its task's)
    label: str | None = None            # its row in that table (None: its norm)
    stage: int = 0                      # 1: starts from a stage-0 cell's run (transfer), so it runs after them
    source: str | None = None           # stage 1: the run id of that cell (same task, norm and seed)

    @property
    def run_batch(self) -> int:
        return self.run_batch_size or self.batch_size

    @property
    def digest(self) -> str:
        return settings_digest(self.task, self.batch_axis, self.fixed_overrides)

    @property
    def cell_id(self) -> str:
        return CELL_ID.format(norm=self.norm, batch=self.run_batch, seed=self.seed, digest=self.digest)

    def overrides(self) -> list[str]:
        """The overrides that define this cell's run (output paths and logging come on top)."""
        batch = [f"{self.batch_axis}={self.run_batch}"] if self.batch_axis else []
        return [f"task={self.task}", f"norm={self.norm}", *batch, f"seed={self.seed}", f"run_id={self.cell_id}",
                *self.fixed_overrides]

    def metrics_path(self, runs_dir: Path) -> Path:
        """Where `suite.session.RunSession` writes this cell's metrics.json."""
        return Path(runs_dir) / self.task / self.norm / self.cell_id / "metrics.json"


def settings_digest(task: str, batch_axis: str, fixed_overrides: tuple[str, ...]) -> str:
    """8 hex digits identifying a task's settings in a study (not its norm, batch or seed)."""
    text = "\n".join([task, batch_axis or "", *fixed_overrides])
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def task_overrides(profile, task: str, norm: str) -> tuple[str, ...]:
    """The profile's overrides for every cell, then those for `task`, then those for `norm` on `task`
    (``norm_overrides``: each norm's learning rate chosen on validation data); later ones win."""
    per_task = profile.task_overrides.get(task) or []
    return tuple(str(item) for item in [*profile.overrides, *per_task, *norm_overrides(profile, task, norm)])


def norm_overrides(profile, task: str, norm: str) -> list[str]:
    return [str(item) for item in ((profile.get("norm_overrides") or {}).get(task) or {}).get(norm) or []]


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


@functools.cache
def uses_batch_statistics(norm: str) -> bool:
    """Whether a layer of `norm` (a registry name; built with its config's options) mixes samples in
    training mode; unknown names count as batch-statistics norms (their cells fail on their own). Cached:
    composing the norm's config is most of a grid's expansion time."""
    if norm not in norms.available():
        return True
    options = {key: value for key, value in compose_config([f"norm={norm}"]).norm.items() if key != "name"}
    return norms.uses_batch_statistics(build_with_group_rule(norm, 64, "the study grid", **options))


def task_cells(profile, task: str, norm_names, extra: tuple[str, ...] = (), table: str | None = None,
               label=None) -> list[Cell]:
    """`task`'s cells for `norm_names` x batch sizes x seeds, with `extra` overrides on top of its own."""
    axis = axis_key(profile, task)
    sizes = sorted(int(size) for size in profile.batch_sizes)
    cells = []
    for norm in map(str, norm_names):
        fixed = (*task_overrides(profile, task, norm), *extra)
        clashing = [item for item in fixed if axis and item.split("=", 1)[0] == axis]
        if clashing:
            raise UserError(f"the overrides of task {task} set {axis}, the key its batch sizes set under axis="
                            f"{profile.get('axis', 'optimizer')}: remove {clashing[0]} from "
                            + (f"norm_overrides.{task}.{norm}" if clashing[0] in norm_overrides(profile, task, norm)
                               else f"task_overrides.{task}"))
        shared = axis == NORM_BATCH_KEY and profile.get("share_per_sample", True) and not uses_batch_statistics(norm)
        cells += [Cell(task, norm, size, int(seed), axis, fixed, max(sizes) if shared else None, table, label)
                  for size in sizes for seed in profile.seeds]
    return cells


def sweep_cells(profile, sweep) -> list[Cell]:
    """The cells of one entry of ``sweeps``: its norm on its task, one row per value of its key (``null``: the
    key not set, i.e. the task's own cells, whose runs are shared, not run twice), in the table ``table``
    (default ``<task>:<norm> <key>``), rows labelled ``labels`` (default ``<norm> <key's last part>=<value>``)."""
    missing = [key for key in ("task", "norm", "key", "values") if not sweep.get(key)]
    if missing:
        raise UserError(f"each entry of sweeps needs task, norm, key and values; one lacks {', '.join(missing)}")
    table = str(sweep.get("table") or f"{sweep.task}:{sweep.norm} {sweep.key}")
    values = [str(value).lower() if isinstance(value, bool) else value for value in sweep["values"]]  # YAML's spelling
    labels = [str(label) for label in sweep.get("labels") or
              [f"{sweep.norm} {str(sweep.key).rsplit('.', 1)[-1]}={value}" for value in values]]
    if len(labels) != len(values):
        raise UserError(f"sweeps: table '{table}' has {len(values)} values but {len(labels)} labels: give one "
                        f"label per value, or no labels")
    return [cell for value, label in zip(values, labels)
            for cell in task_cells(profile, str(sweep.task), [sweep.norm],
                                   () if value is None else (f"{sweep.key}={value}",), table, label)]


def transfer_cells(profile, entry) -> list[Cell]:
    """The cells of one entry of ``transfer`` (module docstring): pre-training cells, then per norm its
    fine-tuning cells from them (and from scratch with ``scratch: true``)."""
    if not entry.get("task") or not entry.get("overrides"):
        raise UserError("each entry of transfer needs task and overrides (the fine-tuning settings on top of the "
                        "task's, e.g. [data=digits]); one lacks them")
    task, table = str(entry.task), str(entry.get("table") or f"{entry.task}:transfer")
    norm_names = [str(norm) for norm in entry.get("norms") or profile.norms]
    largest = max(int(size) for size in profile.batch_sizes)
    pretraining = [cell for norm in norm_names
                   for cell in task_cells(profile, task, [norm], (), f"{table}, pre-training", f"{norm} pre-training")
                   if cell.batch_size == largest]
    digests = {cell.norm: cell.digest for cell in pretraining}  # a norm's own overrides change its digest

    def source_id(norm: str, seed, written_norm: str | None = None) -> str:
        """The run id of `norm`'s pre-training cell for `seed` (its norm written as `written_norm`)."""
        return CELL_ID.format(norm=written_norm or norm, batch=largest, seed=seed, digest=digests[norm])

    def starts(norm: str) -> dict[str, tuple[str, ...]]:
        run_id = source_id(norm, "${seed}", "${norm.name}")
        return {"pre-trained": (f"model.init=${{paths.runs}}/{task}/${{norm.name}}/{run_id}",),
                **({"from scratch": ()} if entry.get("scratch") else {})}

    tuning = OmegaConf.merge(profile, {"batch_sizes": list(entry.get("batch_sizes") or profile.batch_sizes)})
    overrides = tuple(str(item) for item in entry.overrides)
    return pretraining + [dataclasses.replace(cell, stage=1, source=source_id(norm, cell.seed) if init else None)
                          for norm in norm_names
                          for start, init in starts(norm).items()
                          for cell in task_cells(tuning, task, [norm], (*overrides, *init), table, f"{norm} {start}")]


def expand_grid(profile) -> list[Cell]:
    """Every cell of `profile`, task-major, then norm, batch size (small first: slowest), seed; then the
    cells of its ``sweeps``, then of its ``transfer`` entries. Per-sample norms' cells on the norm axis share
    runs (`Cell.run_batch_size`)."""
    for key in ("tasks", "norms", "batch_sizes", "seeds"):
        if not profile[key]:
            raise UserError(f"the study grid needs at least one entry in {key}")
    check_items("batch_sizes", profile.batch_sizes, positive_int)
    check_items("seeds", profile.seeds, non_negative_int)
    cells = [cell for task in profile.tasks for cell in task_cells(profile, str(task), profile.norms)]
    cells += [cell for sweep in profile.get("sweeps") or [] for cell in sweep_cells(profile, sweep)]
    return cells + [cell for entry in profile.get("transfer") or [] for cell in transfer_cells(profile, entry)]


def runs(cells: list[Cell]) -> list[Cell]:
    """One cell per run (cells of one task and norm sharing a run id are one run), in grid order."""
    return list({(cell.task, cell.norm, cell.cell_id): cell for cell in reversed(cells)}.values())[::-1]


def sweep_groups(cells: list[Cell]) -> list[list[Cell]]:
    """`cells` (runs of one task) cut into groups that one Hydra sweep covers: same settings, and per norm
    the same batch sizes and seeds, so the sweep's product of norms x batch sizes x seeds stays in the grid;
    groups of stage-0 cells first (transfer: pre-training before the fine-tuning that starts from it)."""
    groups: dict[tuple, list[Cell]] = {}
    for norm in dict.fromkeys(cell.norm for cell in cells):
        for settings in dict.fromkeys(cell.fixed_overrides for cell in cells if cell.norm == norm):
            mine = [cell for cell in cells if cell.norm == norm and cell.fixed_overrides == settings]
            key = (settings, tuple(sorted({cell.run_batch for cell in mine})),
                   tuple(sorted({cell.seed for cell in mine})))
            groups.setdefault(key, []).extend(mine)
    return sorted(groups.values(), key=lambda group: group[0].stage)  # stable: grid order within a stage


def sweep_overrides(cells: list[Cell]) -> list[str]:
    """Hydra multirun overrides covering `cells` of one task: comma-separated norms, batch
    sizes and seeds, and a run id interpolated from the swept values (= each `Cell.cell_id`)."""
    first = cells[0]
    if any((cell.task, cell.batch_axis, cell.fixed_overrides) != (first.task, first.batch_axis, first.fixed_overrides)
           for cell in cells):
        raise ValueError("one sweep covers the cells of one task with the same settings")

    def values(attribute: str) -> str:
        return ",".join(str(value) for value in dict.fromkeys(getattr(cell, attribute) for cell in cells))

    run_id = CELL_ID.format(norm="${norm.name}", batch="${" + first.batch_axis + "}", seed="${seed}",
                            digest=first.digest)
    # Hydra varies the first swept key slowest: batch sizes first, so the slow small-batch
    # cells start first and the fast ones fill the gaps at the end.
    return [f"task={first.task}", f"{first.batch_axis}={values('run_batch')}", f"norm={values('norm')}",
            f"seed={values('seed')}", f"run_id={run_id}", *first.fixed_overrides]
