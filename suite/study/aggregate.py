"""From cells' metrics.json files to the study's tables.

The task's main metric (``task.main_metric``, e.g. ``test/acc``) is tabulated; higher
is better. Seeds are aggregated as mean and sample standard deviation (ddof=1, so a
single seed has no std).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.results import read_metrics
from suite.study.grid import Cell

COLUMNS = ["task", "norm", "batch_size", "seed", "status", "main_metric", "value", "wall_time_s", "error", "cell_id"]


def cell_row(cell: Cell, runs_dir: Path) -> dict:
    """One row of cells.csv: the grid coordinates and what the cell's metrics.json says
    (status ``missing`` when the cell has not run)."""
    row = {"task": cell.task, "norm": cell.norm, "batch_size": cell.batch_size, "seed": cell.seed,
           "status": "missing", "main_metric": None, "value": float("nan"), "wall_time_s": float("nan"),
           "error": None, "cell_id": cell.cell_id}
    path = cell.metrics_path(runs_dir)
    if not path.is_file():
        return row
    record = read_metrics(path)
    row.update(status=record["status"], main_metric=record.get("main_metric"), error=record.get("error"),
               wall_time_s=record.get("wall_time_s", float("nan")))
    metric = row["main_metric"]
    if record["status"] == "finished":
        if metric in record.get("metrics", {}):
            row["value"] = float(record["metrics"][metric])
        else:
            row.update(status="failed", error=f"the run finished without its main metric '{metric}'")
    return row


def collect(cells: list[Cell], runs_dir: Path) -> pd.DataFrame:
    """Every cell of the grid, in grid order."""
    return pd.DataFrame([cell_row(cell, runs_dir) for cell in cells], columns=COLUMNS)


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
    return stats


def format_cell(mean: float, std: float, count: float, planned: float) -> str:
    count, planned = int(count), int(planned)  # a row of `batch_statistics` holds them as floats
    if count == 0:
        return "no result"
    text = f"{mean:.3f}" if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"
    return text if count == planned else f"{text} ({count}/{planned})"


def markdown_table(frame: pd.DataFrame, task: str) -> str:
    """Rows norms, columns batch sizes, cells ``mean ± std`` of the task's main metric;
    ``(k/n)`` marks cells where only k of n seeds finished, ``no result`` those
    where none did (failed or not run: see cells.csv)."""
    stats = batch_statistics(frame, task)
    sizes = sorted(stats.index.get_level_values("batch_size").unique())
    lines = ["| norm | " + " | ".join(f"batch {size}" for size in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for norm in dict.fromkeys(stats.index.get_level_values("norm")):
        cells = [format_cell(*stats.loc[(norm, size), ["mean", "std", "count", "planned"]]) for size in sizes]
        lines.append(f"| {norm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
