"""From cells' metrics.json files to the study's tables.

The task's main metric (``task.main_metric``, e.g. ``test/acc``) is tabulated; higher
is better. Seeds are aggregated as mean and sample standard deviation (ddof=1, so a
single seed has no std).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.results import CorruptFile, read_metrics
from suite.study.grid import Cell

COLUMNS = ["task", "norm", "batch_size", "seed", "status", "main_metric", "value", "train_mode_value", "wall_time_s",
           "error", "cell_id", "run_dir", "wandb_url"]
TRAIN_MODE_SUFFIX = "_train_mode"  # <main metric>_train_mode: the same test metric with norms on batch statistics


def cell_record(cell: Cell, runs_dir: Path) -> dict | None:
    """The cell's metrics.json record; None when the cell has not run; for a corrupt file a ``failed`` record
    whose error names it (the study runs the cell again: suite.study.cell.cell_status)."""
    path = cell.metrics_path(runs_dir)
    if not path.is_file():
        return None
    try:
        return read_metrics(path)
    except CorruptFile as error:
        return {"status": "failed", "error": str(error), "metrics": {}}


def cell_row(cell: Cell, runs_dir: Path) -> dict:
    """One row of cells.csv: the grid coordinates (``task``: the cell's table, ``norm``: its row) and what the
    cell's metrics.json says (status ``missing`` when the cell has not run)."""
    row = {"task": cell.table or cell.task, "norm": cell.label or cell.norm, "batch_size": cell.batch_size,
           "seed": cell.seed,
           "status": "missing", "main_metric": None, "value": float("nan"), "train_mode_value": float("nan"),
           "wall_time_s": float("nan"), "error": None, "cell_id": cell.cell_id, "wandb_url": None,
           "run_dir": str(cell.metrics_path(runs_dir).parent)}
    record = cell_record(cell, runs_dir)
    if record is None:
        return row
    row.update(status=record["status"], main_metric=record.get("main_metric"), error=record.get("error"),
               wall_time_s=record.get("wall_time_s", float("nan")), wandb_url=record.get("wandb_url"))
    metric = row["main_metric"]
    if record["status"] == "failed" and "FloatingPointError" in str(record.get("error")):
        row["status"] = "diverged"  # the loss stopped being finite (suite.module's guard)
    if record["status"] == "finished":
        if metric in record.get("metrics", {}):
            row["value"] = float(record["metrics"][metric])
            row["train_mode_value"] = float(record["metrics"].get(f"{metric}{TRAIN_MODE_SUFFIX}", float("nan")))
        else:
            row.update(status="failed", error=f"the run finished without its main metric '{metric}'")
    return row


def collect(cells: list[Cell], runs_dir: Path) -> pd.DataFrame:
    """Every cell of the grid, in grid order."""
    return pd.DataFrame([cell_row(cell, runs_dir) for cell in cells], columns=COLUMNS)


def curve_metric(main: str | None, recorded) -> str | None:
    """The val metric whose curve stands for a task: its main metric's val counterpart (``test/acc`` ->
    ``val/acc``) where recorded, else ``val/acc``; None when neither is."""
    counterpart = f"val/{main.split('/', 1)[-1]}" if main else None
    return next((name for name in (counterpart, "val/acc") if name in recorded), None)


def curves(cells: list[Cell], runs_dir: Path) -> pd.DataFrame:
    """The per-epoch `curve_metric` of every finished cell that recorded its history (`suite.history`; its
    last phase: nas's retraining): columns task, norm (the cell's table and row), batch_size, seed, metric,
    epoch, value."""
    rows = []
    for cell in cells:
        record = cell_record(cell, runs_dir)
        if not record or record["status"] != "finished" or not record.get("history"):
            continue
        epochs = list(record["history"].values())[-1]
        metric = curve_metric(record.get("main_metric"), {key for row in epochs for key in row})
        rows += [{"task": cell.table or cell.task, "norm": cell.label or cell.norm, "batch_size": cell.batch_size,
                  "seed": cell.seed, "metric": metric, "epoch": row["epoch"], "value": row[metric]}
                 for row in epochs if metric in row]
    return pd.DataFrame(rows, columns=["task", "norm", "batch_size", "seed", "metric", "epoch", "value"])


def main_metric(frame: pd.DataFrame, task: str) -> str | None:
    """The name of `task`'s main metric (from its cells' records; None before any cell has one)."""
    names = frame[frame.task == task].main_metric.dropna()
    return names.iloc[0] if not names.empty else None


def batch_statistics(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per norm and batch size of `task`: mean, std and count of the finished seeds, and
    the number of seeds planned in the grid. Norms keep their grid order."""
    rows = frame[frame.task == task]
    index = pd.MultiIndex.from_product([list(dict.fromkeys(rows.norm)), sorted(rows.batch_size.unique())],
                                       names=["norm", "batch_size"])
    finished = rows[rows.status == "finished"]
    stats = finished.groupby(["norm", "batch_size"]).value.agg(["mean", "std", "count"]).reindex(index)
    stats["count"] = stats["count"].fillna(0).astype(int)
    stats["planned"] = rows.groupby(["norm", "batch_size"]).size().reindex(index).fillna(0).astype(int)
    for status in ("failed", "diverged"):
        stats[status] = (rows[rows.status == status].groupby(["norm", "batch_size"]).size()
                         .reindex(index).fillna(0).astype(int))
    return stats


def format_cell(mean: float, std: float, count: float, planned: float, failed: float = 0, diverged: float = 0) -> str:
    """``mean ± std``, ``(k/n)`` when only k of n seeds finished, and how many of the others failed or
    diverged; ``no result`` when none finished and none failed (not run)."""
    count, planned, failed, diverged = int(count), int(planned), int(failed), int(diverged)
    problems = ", ".join(f"{number} {word}" for number, word in ((failed, "failed"), (diverged, "diverged")) if number)
    if count == 0:
        return problems or "no result"
    text = f"{mean:.3f}" if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"
    if count == planned:
        return text
    return f"{text} ({count}/{planned}" + (f"; {problems})" if problems else ")")


Grid = tuple[dict[str, list[str]], list[str]]  # a table of formatted cells: rows by name, column headers


def batch_columns(sizes) -> list[str]:
    """Column headers of a table over batch sizes."""
    return [f"batch {size}" for size in sizes]


def markdown_grid(header: str, rows: dict[str, list[str]], columns: list[str]) -> str:
    """A Markdown table: first column `header`, one row per key of `rows`."""
    lines = [f"| {header} | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    return "\n".join(lines + [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()])


def table_cells(frame: pd.DataFrame, task: str) -> Grid:
    """Rows norms, columns batch sizes of `task`: each cell `format_cell` of its seeds."""
    stats = batch_statistics(frame, task)
    sizes = [int(size) for size in sorted(stats.index.get_level_values("batch_size").unique())]
    rows = {norm: [format_cell(*stats.loc[(norm, size), ["mean", "std", "count", "planned", "failed", "diverged"]])
                   for size in sizes]
            for norm in dict.fromkeys(stats.index.get_level_values("norm"))}
    return rows, batch_columns(sizes)


def markdown_table(frame: pd.DataFrame, task: str) -> str:
    """Rows norms, columns batch sizes, cells ``mean ± std`` of the task's main metric;
    ``(k/n)`` marks cells where only k of n seeds finished (with the others' failures), ``no
    result`` those never run (see cells.csv)."""
    return markdown_grid("norm", *table_cells(frame, task))


def degradation(frame: pd.DataFrame, task: str, threshold: float) -> pd.DataFrame:
    """Per norm of `task`: its best batch size and mean, its mean at the smallest batch
    size it finished, the drop between the two, and ``below_best``: the batch sizes
    whose mean is more than `threshold` below the best (empty: the norm holds up)."""
    stats = batch_statistics(frame, task)
    rows = []
    for norm in dict.fromkeys(stats.index.get_level_values("norm")):
        finished = stats.loc[norm, "mean"].dropna()
        if finished.empty:
            rows.append({"norm": norm, "best_batch": None, "best": float("nan"), "smallest_batch": None,
                         "at_smallest": float("nan"), "drop": float("nan"), "below_best": []})
            continue
        best = finished.max()
        smallest = int(min(finished.index))
        rows.append({"norm": norm, "best_batch": int(finished.idxmax()), "best": best, "smallest_batch": smallest,
                     "at_smallest": finished[smallest], "drop": best - finished[smallest],
                     "below_best": [int(size) for size in finished.index if best - finished[size] > threshold]})
    return pd.DataFrame(rows)


def train_mode_gaps(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per norm and batch size of `task`, over finished seeds that measured it: the mean of
    (main metric with norms on the test batch's statistics) − (main metric on running statistics).
    Only batch-statistics norms measure it; rows norms, columns batch sizes, NaN where not measured."""
    rows = frame[(frame.task == task) & (frame.status == "finished")].dropna(subset=["train_mode_value"])
    gaps = (rows.train_mode_value - rows.value).rename("gap")
    table = pd.concat([rows[["norm", "batch_size"]], gaps], axis=1).groupby(["norm", "batch_size"]).gap.mean()
    return table.unstack("batch_size") if not table.empty else pd.DataFrame()
