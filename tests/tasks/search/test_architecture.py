"""Exported architectures: JSON round trip, checks against the space, edges, weight rows, the cell picture."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest

from tasks.search.architecture import (cell_edges, check_architecture, load_architecture, save_architecture,
                                       search_space_choices, weight_rows)
from tasks.search.cell_plot import plot_cells

# NNI's hub ``DARTS.load_searched_model("darts-v2")`` cells (the paper's second-order DARTS genotype).
DARTS_V2 = json.loads((Path(__file__).parent / "darts_v2.json").read_text())


def test_json_round_trip_is_exact(tmp_path):
    path = save_architecture(DARTS_V2, tmp_path / "architecture.json")
    assert load_architecture(path) == DARTS_V2
    assert json.loads(path.read_text()) == DARTS_V2


def test_space_has_exactly_the_darts_labels():
    assert set(search_space_choices(4)) == set(DARTS_V2)
    check_architecture(DARTS_V2, num_nodes=4)


@pytest.mark.parametrize("change,message", [
    ({"normal/op_2_0": "conv_7x7"}, "normal/op_2_0='conv_7x7' is not a choice"),
    ({"normal/input_3_1": [3]}, r"normal/input_3_1=\[3\] is not a choice"),
    ({"reduce/input_2_0": 0}, "reduce/input_2_0=0 is not a choice"),
    ({"normal/op_6_0": "sep_conv_3x3"}, "unknown keys"),
])
def test_architecture_that_does_not_fit_is_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        check_architecture({**DARTS_V2, **change}, num_nodes=4)


def test_architecture_for_another_cell_size_is_rejected():
    with pytest.raises(ValueError, match="missing"):
        check_architecture(DARTS_V2, num_nodes=5)
    with pytest.raises(ValueError, match="unknown keys"):
        check_architecture(DARTS_V2, num_nodes=3)


def test_cell_edges_read_the_sample():
    edges = cell_edges(DARTS_V2, "normal", 4)
    assert len(edges) == 8
    assert (edges[-1].node, edges[-1].source, edges[-1].operation) == (5, 2, "dil_conv_3x3")


def test_weight_rows_flatten_nni_probabilities():
    rows = weight_rows({"reduce/3_2": {"skip_connect": 0.75, "max_pool_3x3": 0.25}})
    assert rows == [["reduce", 3, 2, "skip_connect", 0.75], ["reduce", 3, 2, "max_pool_3x3", 0.25]]


def test_cell_picture_is_a_png(tmp_path):
    path = plot_cells(DARTS_V2, 4, tmp_path / "cells.png")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100
    assert image.std() > 0.05  # something is drawn
