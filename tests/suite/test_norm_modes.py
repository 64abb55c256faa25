"""suite.norm_modes.norms_in_mode: every registered norm switched explicitly, running statistics and flags restored."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import norms
from tasks.adversarial.attacks import ThreatModel, adversarial_examples
from suite.norm_modes import norms_in_mode, normalization_layers

BUILD_KW = {"gn": {"num_groups": 4}, "bgn": {"num_groups": 4}, "evonorm_s0": {"num_groups": 4}}
RUNNING_STATISTICS_NORMS = ["bn", "bgn", "brn"]


def small_model(norm_name: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), norms.build(norm_name, 8, **BUILD_KW.get(norm_name, {})),
                         nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(8 * 6 * 6, 3)).double()


def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 6, 6, generator=generator, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])


def with_unusual_running_statistics(model: nn.Module) -> nn.Module:
    """Running statistics far from any batch's, so eval and train modes give clearly different functions."""
    norm = model[1]
    with torch.no_grad():
        norm.running_mean.uniform_(-1.0, 1.0)
        norm.running_var.uniform_(0.2, 3.0)
        norm.num_batches_tracked.fill_(7)
    return model


def record_training_flags(model: nn.Module) -> dict[str, list[bool]]:
    """Hooks that note, for the norm and the dropout, the ``training`` flag at every forward."""
    seen = {"norm": [], "dropout": []}
    model[1].register_forward_pre_hook(lambda module, args: seen["norm"].append(module.training))
    model[3].register_forward_pre_hook(lambda module, args: seen["dropout"].append(module.training))
    return seen


@pytest.mark.parametrize("name", norms.available())
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("model_training", [True, False])
def test_attack_leaves_buffers_bit_identical_and_restores_modes(name, mode, model_training):
    model = small_model(name).train(model_training)
    if name in RUNNING_STATISTICS_NORMS:
        with_unusual_running_statistics(model)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    seen = record_training_flags(model)
    images, labels = batch()
    adversarial_examples(model, images, labels, "pgd", ThreatModel(0.1, 0.05, 3), mode, num_classes=3)
    assert seen["norm"] == [mode == "train"] * 3  # the registered norm is switched, whatever its class name
    assert seen["dropout"] == [False] * 3         # everything else crafts in eval mode
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(module.training == model_training for module in model.modules())


@pytest.mark.parametrize("name", RUNNING_STATISTICS_NORMS)
def test_attack_without_the_restore_would_have_moved_the_running_statistics(name):
    """Guards the test above: a train-mode forward pass does move these buffers."""
    model = with_unusual_running_statistics(small_model(name)).train()
    before = model[1].running_mean.clone()
    model(batch()[0])
    assert not torch.equal(model[1].running_mean, before)


def fgsm_reference(model: nn.Module, images, labels, epsilon: float) -> torch.Tensor:
    """FGSM by hand with plain autograd (Goodfellow et al. 2015), on whatever modes ``model`` is in."""
    images = images.clone().requires_grad_(True)
    loss = F.cross_entropy(model(images), labels)
    (grad,) = torch.autograd.grad(loss, images)
    return (images + epsilon * grad.sign()).clamp(0.0, 1.0).detach()


@pytest.mark.parametrize("name", RUNNING_STATISTICS_NORMS)
def test_eval_mode_crafts_on_running_statistics_and_train_mode_on_batch_statistics(name):
    model = with_unusual_running_statistics(small_model(name)).train()
    images, labels = batch()
    threat = ThreatModel(0.2, 0.2, 1)

    eval_reference = copy.deepcopy(model).eval()
    train_reference = copy.deepcopy(model).eval()
    train_reference[1].train()  # batch statistics in the norm only; dropout off

    crafted_eval = adversarial_examples(model, images, labels, "fgsm", threat, "eval", num_classes=3)
    crafted_train = adversarial_examples(model, images, labels, "fgsm", threat, "train", num_classes=3)
    torch.testing.assert_close(crafted_eval, fgsm_reference(eval_reference, images, labels, 0.2))
    torch.testing.assert_close(crafted_train, fgsm_reference(train_reference, images, labels, 0.2))
    assert not torch.equal(crafted_eval, crafted_train)


def test_modes_and_buffers_are_restored_after_an_error():
    model = with_unusual_running_statistics(small_model("bgn")).train()
    before = model[1].running_var.clone()
    with pytest.raises(RuntimeError, match="inside"):
        with norms_in_mode(model, "train"):
            model(batch()[0])
            raise RuntimeError("inside the attack")
    assert torch.equal(model[1].running_var, before) and all(module.training for module in model.modules())


def test_norms_are_found_by_type_not_name():
    """timm's BatchNormAct2d (a _BatchNorm) and torch's GroupNorm are norms; a module named like one is not."""
    from timm.layers import BatchNormAct2d

    class BatchNormLookalike(nn.Identity):
        pass

    model = nn.Sequential(BatchNormAct2d(4), nn.GroupNorm(2, 4), BatchNormLookalike(), norms.build("pn", 4))
    assert normalization_layers(model) == [model[0], model[1], model[3]]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="eval, train"):
        with norms_in_mode(nn.Identity(), "batch"):
            pass
