import pytest
import torch
from omegaconf import OmegaConf

import norms
from suite.errors import UserError
from tasks.domain_adaptation.models import (build_domain_discriminator, build_feature_extractor,
                                            build_label_classifier, check_backbone)

MODEL = OmegaConf.create({"name": "dann_cnn", "pretrained": False, "kwargs": {}, "bottleneck": 0,
                          "classifier_hidden": [100, 100], "discriminator_hidden": [100], "dropout": 0.0})


@pytest.mark.parametrize("norm", norms.available())
@pytest.mark.parametrize("size", [8, 28])
def test_small_cnn_with_every_norm_gives_the_stated_shapes(norm, size):
    extractor = build_feature_extractor(MODEL, OmegaConf.create({"name": norm}), 3, size, (0.5,) * 3, (0.5,) * 3)
    features = extractor(torch.rand(4, 3, size, size))
    assert features.shape == (4, 64 * (size // 8) ** 2) == (4, extractor.num_features)
    assert build_label_classifier(MODEL, extractor.num_features, 10)(features).shape == (4, 10)
    assert build_domain_discriminator(MODEL, extractor.num_features)(features).shape == (4, 1)


def test_bottleneck_sets_the_feature_width():
    model = OmegaConf.merge(MODEL, {"name": "test_resnet", "bottleneck": 16, "dropout": 0.5})
    extractor = build_feature_extractor(model, OmegaConf.create({"name": "gn", "num_groups": 4}), 3, 32,
                                        (0.5,) * 3, (0.5,) * 3)
    assert extractor(torch.rand(2, 3, 32, 32)).shape == (2, 16) and extractor.num_features == 16


def test_check_backbone_rejects_tiny_images_and_unknown_models():
    check_backbone(MODEL, 8)
    with pytest.raises(UserError, match="at least 8 px"):
        check_backbone(MODEL, 7)
    with pytest.raises(UserError, match="unknown model 'nope'"):
        check_backbone(OmegaConf.merge(MODEL, {"name": "nope"}), 32)
