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


def test_auxiliary_loss_is_added_with_its_weight():
    import torch.nn.functional as F
    from omegaconf import OmegaConf

    from tasks.search.darts_space import DartsSpace, build_network
    from tasks.search.retrain_module import RetrainModule
    from tests.tasks.search.test_darts_space import first_architecture, norm_factory

    torch.manual_seed(0)
    space = DartsSpace(3, 5, norm_factory("bn"), width=4, num_cells=3)
    network = build_network(first_architecture(space), in_channels=3, num_classes=5, norm_layer=norm_factory("bn"),
                            width=4, num_cells=3, auxiliary=True, input_pool=2).eval()
    optim = OmegaConf.create(dict(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.0, warmup_fraction=0.0,
                                  scale_lr=False, base_batch_size=4))
    module = RetrainModule(network, 5, optim, 4, auxiliary_weight=0.4)
    images, labels = torch.rand(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    logits, auxiliary = network.forward_with_auxiliary(images)
    expected = F.cross_entropy(logits, labels) + 0.4 * F.cross_entropy(auxiliary, labels)
    assert torch.allclose(module.training_step((images, labels), 0), expected)
