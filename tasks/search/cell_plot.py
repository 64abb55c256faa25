"""A picture of the chosen normal and reduction cells (as in the DARTS paper's figures), with matplotlib.

Each cell is drawn as a DAG: the two cell inputs c_{k-2} and c_{k-1} on the left, the intermediate
nodes 0 .. num_nodes - 1 in a column, the output c_{k} (their concatenation) on the right; every chosen
operation is an arrow labelled with its name.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from tasks.search.architecture import CELL_TYPES, Edge, cell_edges  # noqa: E402
from tasks.search.darts_space import NUM_PREDECESSORS  # noqa: E402

INPUT_NAMES = ("c_{k-2}", "c_{k-1}")


def node_positions(num_nodes: int) -> dict[int, tuple[float, float]]:
    """(x, y) of the inputs (0, 1), the intermediate nodes (2 ..) and the output (-1)."""
    positions = {0: (0.0, 0.75 * num_nodes), 1: (0.0, 0.25 * num_nodes)}
    for index in range(num_nodes):
        positions[NUM_PREDECESSORS + index] = (2.0 + 0.6 * (index % 2), num_nodes - 0.5 - index)
    positions[-1] = (4.6, 0.5 * num_nodes)
    return positions


def node_label(node: int) -> str:
    if node == -1:
        return "$c_{k}$"
    return f"${INPUT_NAMES[node]}$" if node < NUM_PREDECESSORS else str(node - NUM_PREDECESSORS)


def draw_cell(axis, edges: list[Edge], num_nodes: int, title: str) -> None:
    """Draw one cell's DAG on ``axis``."""
    positions = node_positions(num_nodes)
    for offset, edge in enumerate(edges):
        start, end = positions[edge.source], positions[edge.node]
        bend = 0.25 if offset % 2 else -0.25
        axis.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={bend}", arrowstyle="-|>",
                                       mutation_scale=12, color="tab:blue", shrinkA=14, shrinkB=14))
        # The middle of matplotlib's arc3 Bezier curve: the chord's middle moved by bend / 2 times its normal.
        dx, dy = end[0] - start[0], end[1] - start[1]
        middle = ((start[0] + end[0]) / 2 + bend * dy / 2, (start[1] + end[1]) / 2 - bend * dx / 2)
        axis.text(*middle, edge.operation, fontsize=7, ha="center", va="center",
                  bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.85))
    for node in range(NUM_PREDECESSORS, NUM_PREDECESSORS + num_nodes):
        axis.add_patch(FancyArrowPatch(positions[node], positions[-1], arrowstyle="-|>", mutation_scale=10,
                                       color="0.6", linestyle="--", shrinkA=14, shrinkB=14))
    for node, (x, y) in positions.items():
        color = "palegreen" if node < NUM_PREDECESSORS else ("khaki" if node == -1 else "lightskyblue")
        axis.text(x, y, node_label(node), ha="center", va="center", fontsize=10,
                  bbox=dict(boxstyle="circle,pad=0.4" if 0 <= node else "round,pad=0.4", facecolor=color))
    axis.set_title(title)
    axis.set_xlim(-0.6, 5.2)
    axis.set_ylim(-0.4, num_nodes + 0.1)
    axis.axis("off")


def plot_cells(architecture: dict, num_nodes: int, path: Path) -> Path:
    """Save the normal and the reduction cell of ``architecture`` side by side as a PNG at ``path``."""
    figure, axes = plt.subplots(1, len(CELL_TYPES), figsize=(12, 0.9 * num_nodes + 1.5))
    for axis, cell in zip(axes, CELL_TYPES):
        draw_cell(axis, cell_edges(architecture, cell, num_nodes), num_nodes, f"{cell} cell")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
