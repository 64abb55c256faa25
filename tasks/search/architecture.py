"""Exported DARTS architectures: NNI's sample dict, its JSON file, its check against the space, its edges.

An architecture is what ``NasExperiment.export_top_models(formatter="dict")`` returns for `DartsSpace`:
for each cell type (``normal``, ``reduce``), node ``i`` (2 .. num_nodes + 1; 0 and 1 are the cell's
inputs) and operation ``k`` (0, 1), the keys ``<cell>/op_<i>_<k>`` (an operation name) and
``<cell>/input_<i>_<k>`` (a one-element list: the node it reads). The JSON file holds exactly this
dict, so NNI's own exports (e.g. the ``darts-v2`` cells of ``nni.nas.hub.pytorch.DARTS``) load as is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from suite.results import write_text_atomic
from tasks.search.darts_space import DARTS_OPS, NUM_OPS_PER_NODE, NUM_PREDECESSORS, DartsSpace

CELL_TYPES = ("normal", "reduce")


@dataclass(frozen=True)
class Edge:
    """One chosen operation: node ``node`` applies ``operation`` to node ``source``."""

    cell: str
    node: int
    source: int
    operation: str


def search_space_choices(num_nodes: int, operations: tuple[str, ...] = DARTS_OPS) -> dict:
    """The labelled choices (``nni.mutable`` objects) of a `DartsSpace` with this cell structure.

    The choices depend only on the cell structure, not on widths, depth or norms, so a minimal space
    (identity norms, width 2, three cells) is built to read them.
    """
    space = DartsSpace(1, 2, lambda channels: nn.Identity(), width=2, num_cells=3, num_nodes=num_nodes,
                       operations=tuple(operations))
    return space.simplify()


def check_architecture(architecture: dict, num_nodes: int, operations: tuple[str, ...] = DARTS_OPS) -> None:
    """Raise ValueError, naming the first bad key and what fits, unless ``architecture`` fits the space."""
    choices = search_space_choices(num_nodes, operations)
    missing = sorted(set(choices) - set(architecture))
    unknown = sorted(set(architecture) - set(choices))
    if missing or unknown:
        detail = f"missing {missing[:4]}" if missing else f"unknown keys {unknown[:4]}"
        raise ValueError(f"the architecture does not fit a DARTS space with {num_nodes} nodes per cell: {detail}")
    for label, choice in choices.items():
        value, allowed = architecture[label], list(choice.values)
        if "/input_" in label:  # NNI's InputChoice of one input: a one-element list
            fits = isinstance(value, list) and len(value) == 1 and value[0] in allowed
            expected = f"[i] with i in {allowed}"
        else:
            fits, expected = value in allowed, f"one of {', '.join(allowed)}"
        if not fits:
            raise ValueError(f"{label}={value!r} is not a choice of the space: expected {expected}")


def save_architecture(architecture: dict, path: Path) -> Path:
    """Write ``architecture`` as JSON (keys sorted, atomically); `load_architecture` reads it back unchanged."""
    return write_text_atomic(path, json.dumps(architecture, indent=2, sort_keys=True) + "\n")


def load_architecture(path: Path) -> dict:
    """The architecture dict in the JSON file at ``path`` (not checked: see `check_architecture`)."""
    architecture = json.loads(Path(path).read_text())
    if not isinstance(architecture, dict):
        raise ValueError(f"{path} holds a JSON {type(architecture).__name__}, not an architecture object")
    return architecture


def cell_edges(architecture: dict, cell: str, num_nodes: int) -> list[Edge]:
    """The 2 x ``num_nodes`` chosen edges of one cell type, by node then operation index."""
    return [Edge(cell, node, architecture[f"{cell}/input_{node}_{k}"][0], architecture[f"{cell}/op_{node}_{k}"])
            for node in range(NUM_PREDECESSORS, NUM_PREDECESSORS + num_nodes)
            for k in range(NUM_OPS_PER_NODE)]


def weight_rows(edge_weights: dict[str, dict[str, float]]) -> list[list]:
    """Rows ``[cell, node, source, operation, weight]`` of the softmaxed architecture weights per edge.

    ``edge_weights`` is NNI's ``export_probs()`` of the DARTS supernet: ``{"normal/3_1": {op: weight}}``.
    """
    rows = []
    for edge, weights in sorted(edge_weights.items()):
        cell, nodes = edge.split("/")
        node, source = (int(index) for index in nodes.split("_"))
        rows += [[cell, node, source, operation, float(weight)] for operation, weight in weights.items()]
    return rows
