"""The study's figures per task: main metric against batch size, one line per norm; and, where the cells
recorded their epochs, the val metric against epoch, a panel per norm, a line per batch size."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the study runs headless
import matplotlib.pyplot as plt  # noqa: E402

from suite.results import atomic_path  # noqa: E402
from suite.study.aggregate import batch_statistics, main_metric  # noqa: E402


def plot_task(frame, task: str, path: Path) -> Path:
    """A PNG of mean ± std (error bars) of `task`'s main metric over seeds, batch size on
    a log2 axis, as in the GN paper's Figure 1; norms without finished cells are left out."""
    stats = batch_statistics(frame, task)
    metric = main_metric(frame, task) or "main metric"
    figure, axes = plt.subplots(figsize=(6, 4))
    for norm in dict.fromkeys(stats.index.get_level_values("norm")):
        curve = stats.loc[norm].dropna(subset=["mean"])
        if curve.empty:
            continue
        axes.errorbar(curve.index, curve["mean"], yerr=curve["std"].fillna(0), marker="o", capsize=3, label=norm)
    sizes = sorted(stats.index.get_level_values("batch_size").unique())
    axes.set_xscale("log", base=2)
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel("batch size")
    axes.set_ylabel(metric)
    axes.set_title(f"{task}: {metric} against batch size")
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend(title="norm")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120)
    plt.close(figure)
    return path


def plot_curves(curves, task: str, path: Path) -> Path:
    """A PNG of `task`'s val metric per epoch (`suite.study.aggregate.curves`): a panel per norm, a line per
    batch size, mean over seeds with a ± std band: whether training had plateaued (the GN paper's protocol
    trains every batch size for equal epochs)."""
    rows = curves[curves.task == task]
    norm_names = list(dict.fromkeys(rows.norm))
    columns = min(5, len(norm_names))
    panel_rows = math.ceil(len(norm_names) / columns)
    figure, axes = plt.subplots(panel_rows, columns, squeeze=False, figsize=(3 * columns, 2.6 * panel_rows),
                                sharex=True, sharey=True)
    for panel, norm in zip(axes.flat, norm_names):
        stats = rows[rows.norm == norm].groupby(["batch_size", "epoch"]).value.agg(["mean", "std"])
        for size in sorted(stats.index.get_level_values("batch_size").unique()):
            curve = stats.loc[size]
            panel.plot(curve.index, curve["mean"], marker=".", label=str(size))
            panel.fill_between(curve.index, curve["mean"] - curve["std"].fillna(0),
                               curve["mean"] + curve["std"].fillna(0), alpha=0.2)
        panel.set_title(norm)
        panel.grid(alpha=0.3)
    for panel in list(axes.flat)[len(norm_names):]:
        panel.axis("off")
    axes[0, 0].legend(title="batch", fontsize="small")
    figure.supxlabel("epoch")
    figure.supylabel(", ".join(dict.fromkeys(rows.metric)))
    figure.suptitle(f"{task}: validation curves")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return path
