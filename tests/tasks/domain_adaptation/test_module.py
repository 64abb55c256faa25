import torch
from torch import nn

from suite.optim import scale_learning_rate


def test_scale_learning_rate_moves_only_the_chosen_parameters_and_keeps_their_decay():
    backbone, head = nn.Linear(3, 4), nn.Linear(4, 2)
    optimizer = torch.optim.SGD([
        {"params": [backbone.weight, head.weight], "weight_decay": 1e-3},
        {"params": [backbone.bias, head.bias], "weight_decay": 0.0},
    ], lr=0.1, momentum=0.9)
    scale_learning_rate(optimizer, list(backbone.parameters()), 0.1)
    by_parameter = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    assert sum(len(group["params"]) for group in optimizer.param_groups) == 4
    assert by_parameter[id(head.weight)]["lr"] == 0.1 and by_parameter[id(head.bias)]["lr"] == 0.1
    assert abs(by_parameter[id(backbone.weight)]["lr"] - 0.01) < 1e-12
    assert by_parameter[id(backbone.weight)]["weight_decay"] == 1e-3
    assert by_parameter[id(backbone.bias)]["weight_decay"] == 0.0
    assert by_parameter[id(backbone.weight)]["momentum"] == 0.9
