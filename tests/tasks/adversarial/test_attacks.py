"""The PGD wrapper: torchattacks' PGD/FGSM reached with the right threat model, inputs checked."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tasks.adversarial.attacks import ThreatModel, adversarial_examples, check_pixel_range


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).double()


def batch():
    generator = torch.Generator().manual_seed(2)
    return torch.rand(8, 1, 4, 4, generator=generator, dtype=torch.float64), torch.arange(8) % 4


def pgd_reference(model, images, labels, epsilon, step_size, steps):
    """Madry et al.'s L∞ PGD by hand: uniform start in the ball, signed steps, projection on ball and [0, 1]."""
    adversarial = (images + torch.empty_like(images).uniform_(-epsilon, epsilon)).clamp(0, 1)
    for _ in range(steps):
        adversarial.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(adversarial), labels), adversarial)
        adversarial = adversarial.detach() + step_size * grad.sign()
        adversarial = (images + (adversarial - images).clamp(-epsilon, epsilon)).clamp(0, 1)
    return adversarial


def test_pgd_matches_an_independent_implementation_from_the_same_start():
    model, (images, labels) = linear_model(), batch()
    torch.manual_seed(5)
    crafted = adversarial_examples(model, images, labels, "pgd", ThreatModel(0.1, 0.03, 7), "eval", num_classes=4)
    torch.manual_seed(5)
    torch.testing.assert_close(crafted, pgd_reference(model, images, labels, 0.1, 0.03, 7))


def test_pgd_stays_in_the_ball_and_the_pixel_range_and_raises_the_loss():
    model, (images, labels) = linear_model(), batch()
    crafted = adversarial_examples(model, images, labels, "pgd", ThreatModel(0.2, 0.05, 10), "eval", num_classes=4)
    assert (crafted - images).abs().max() <= 0.2 + 1e-12
    assert crafted.min() >= 0 and crafted.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(crafted), labels) > F.cross_entropy(model(images), labels) + 0.1


def test_zero_epsilon_returns_the_images_and_parameter_gradients_stay_untouched():
    model, (images, labels) = linear_model(), batch()
    crafted = adversarial_examples(model, images, labels, "pgd", ThreatModel(0.0, 0.01, 3), "train", num_classes=4)
    assert torch.equal(crafted, images)
    assert all(parameter.grad is None for parameter in model.parameters())


@pytest.mark.parametrize("threat, message", [
    (dict(epsilon=1.5, step_size=0.1, steps=1), "epsilon must be in"),
    (dict(epsilon=-0.1, step_size=0.1, steps=1), "epsilon must be in"),
    (dict(epsilon=0.1, step_size=0.0, steps=1), "step_size must be positive"),
    (dict(epsilon=0.1, step_size=0.1, steps=0), "steps must be an integer >= 1"),
])
def test_bad_threat_models_are_errors(threat, message):
    with pytest.raises(ValueError, match=message):
        ThreatModel(**threat)


def test_images_outside_the_unit_range_are_an_error():
    images, labels = batch()
    with pytest.raises(ValueError, match=r"images in \[0, 1\]"):
        check_pixel_range(images * 2 - 1)
    with pytest.raises(ValueError, match="pixel space"):
        adversarial_examples(linear_model(), images + 0.5, labels, "fgsm", ThreatModel(0.1, 0.1, 1), "eval", 4)


def test_unknown_attack_is_an_error():
    images, labels = batch()
    with pytest.raises(ValueError, match="fgsm, pgd, autoattack"):
        adversarial_examples(linear_model(), images, labels, "cw", ThreatModel(0.1, 0.1, 1), "eval", 4)


def test_epsilon_warm_up_ramps_radius_and_step_linearly_then_holds():
    from tasks.adversarial.attacks import ThreatModel, warmed_up

    threat = ThreatModel(epsilon=0.2, step_size=0.05, steps=10)
    half = warmed_up(threat, epochs_done=2.5, warmup_epochs=5)
    assert (half.epsilon, half.step_size, half.steps) == (pytest.approx(0.1), pytest.approx(0.025), 10)
    assert warmed_up(threat, epochs_done=7, warmup_epochs=5) == threat
    assert warmed_up(threat, epochs_done=0, warmup_epochs=0) == threat
    assert warmed_up(threat, epochs_done=0.05, warmup_epochs=5).epsilon == pytest.approx(0.002)
