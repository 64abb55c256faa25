"""DARTS's retraining regularizers: cutout."""
from __future__ import annotations

import torch

from tasks.search.retrain_module import cutout


def test_cutout_zeroes_one_square_per_image_inside_the_image():
    torch.manual_seed(0)
    images = torch.ones(500, 2, 12, 12)
    out = cutout(images, 4)
    assert torch.equal(images, torch.ones(500, 2, 12, 12))  # input untouched
    zeros = (out == 0).all(dim=1)  # (N, H, W): both channels cut together
    for mask in zeros:
        rows, cols = mask.nonzero(as_tuple=True)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert mask.sum() == height * width  # a rectangle
        assert height <= 4 and width <= 4
    # A square centred away from the borders keeps all 4 x 4 pixels: about (12 - 4) / 12 of centres per axis.
    full = sum(int(mask.sum()) == 16 for mask in zeros) / len(zeros)
    assert abs(full - (9 / 12) ** 2) < 0.08
