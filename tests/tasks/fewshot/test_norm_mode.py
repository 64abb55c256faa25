"""eval_norm_mode: running statistics, or the episode's own, without changing the model."""
import copy

import pytest
import torch
from torch import nn

import norms
from tasks.fewshot.norm_mode import evaluation_statistics


def small_model(norm: str) -> nn.Sequential:
    options = {"num_groups": 4} if norm in ("bgn", "gn") else {}
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), norms.build(norm, 8, **options), nn.Dropout(0.5), nn.Flatten())
    model.train()
    for _ in range(3):  # running statistics away from their initial values
        model(torch.randn(6, 2, 5, 5) * 3 + 1)
    return model.eval()


def group_batch_norm(x: torch.Tensor, groups: int, layer) -> torch.Tensor:
    """Batch (group) normalization with the batch's own biased statistics, written out."""
    grouped = x.reshape(x.shape[0], groups, -1)
    mean = grouped.mean(dim=(0, 2), keepdim=True)
    var = grouped.var(dim=(0, 2), unbiased=False, keepdim=True)
    normalized = ((grouped - mean) / torch.sqrt(var + layer.eps)).view_as(x)
    return normalized * layer.weight.view(1, -1, 1, 1) + layer.bias.view(1, -1, 1, 1)


@pytest.mark.parametrize("norm, groups", [("bn", 8), ("bgn", 4)])
def test_episode_mode_uses_the_episode_statistics_and_restores_everything(norm, groups):
    model = small_model(norm)
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(10, 2, 5, 5) * 2 - 1
    with torch.no_grad():
        expected = group_batch_norm(model[0](x), groups, model[1]).flatten(1)
        with evaluation_statistics(model, "episode"):
            assert model[1].training and not model[2].training, "only the norm switches to train mode"
            episode = model(x)
        running = model(x)
    assert torch.allclose(episode, expected, atol=1e-5)
    assert not torch.allclose(running, expected, atol=1e-3), "running statistics should differ from the episode's"
    assert not any(module.training for module in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed during evaluation"


@pytest.mark.parametrize(("norm", "mode", "tolerance"), [("bn", "running", 0.0), ("gn", "episode", 1e-8)],
                         ids=["running-mode-is-plain-eval", "batch-independent-norms-are-unaffected"])
def test_mode_that_changes_nothing_gives_plain_eval_outputs(norm, mode, tolerance):
    model = small_model(norm)
    x = torch.randn(4, 2, 5, 5)
    with torch.no_grad():
        plain = model(x)
        with evaluation_statistics(model, mode):
            assert torch.allclose(model(x), plain, rtol=tolerance, atol=tolerance)  # tolerance 0: bit-equal


def test_restored_after_an_error():
    model = small_model("bn")
    with pytest.raises(RuntimeError):
        with evaluation_statistics(model, "episode"):
            model(torch.randn(4, 3, 5, 5))  # wrong channels
    assert not model[1].training


def test_unknown_mode():
    with pytest.raises(ValueError, match="running, episode"):
        evaluation_statistics(nn.Identity(), "transductive")
