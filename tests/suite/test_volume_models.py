"""MONAI 3-D classifiers: every registered norm in every layer on (N, C, D, H, W), the group rule per layer;
task=cls data=nifti learns a synthetic signal."""
import json
from pathlib import Path

import pytest
import torch

import norms
from suite.errors import UserError
from suite.run import run
from suite.volume_models import VOLUME_MODELS, build_volume_model
from tests.suite.data.nifti_tree import write_nifti_tree

TINY_KWARGS = {"monai_resnet10": "{block_inplanes:[4,8,12,24]}", "monai_resnet18": "{block_inplanes:[4,8,12,24]}",
               "monai_resnet34": "{block_inplanes:[4,8,12,24]}",
               "monai_densenet121": "{init_features:8,growth_rate:6,block_config:[2,2],bn_size:2}"}


def test_every_registered_model_has_a_tiny_form():
    assert sorted(TINY_KWARGS) == VOLUME_MODELS.names()


@pytest.mark.parametrize("model_name", ["monai_resnet10", "monai_densenet121"])
@pytest.mark.parametrize("norm", norms.available())
def test_every_norm_in_every_layer_of_3d_models(make_config, model_name, norm):
    cfg = make_config("data=nifti", "data.root=unused", f"norm={norm}", f"model.name={model_name}",
                      f"++model.kwargs={TINY_KWARGS[model_name]}")
    model = build_volume_model(cfg.model, cfg.norm, in_channels=1, num_classes=3)
    target = norms.registry.NORMS.get(norm)
    layers = [(name, module) for name, module in model.named_modules() if norms.is_norm_layer(module)]
    assert len(layers) >= 5 and all(type(module) is target for _, module in layers), layers
    requested = cfg.norm.get("num_groups")
    for _, channels, groups in norms.group_assignments(model):
        if requested is not None:  # the group rule, per layer, against its definition
            assert groups == max(d for d in range(1, channels + 1) if channels % d == 0 and d <= requested)
    model.train()
    volumes = torch.randn(2, 1, 64, 40, 40, requires_grad=True)  # 2x2x2 positions after 32x downsampling
    logits = model(volumes)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert torch.isfinite(volumes.grad).all() and volumes.grad.abs().sum() > 0
    model.eval()
    assert torch.isfinite(model(volumes[:1])).all()


def test_model_and_data_dimensions_must_agree(make_config):
    from tasks.cls import check_model_fits_data

    with pytest.raises(UserError, match="gives 3-D volumes but model.name=resnet18 is 2-D"):
        check_model_fits_data(make_config("data=nifti", "data.root=x"))
    with pytest.raises(UserError, match="is a 3-D model but data=digits"):
        check_model_fits_data(make_config("model.name=monai_resnet10"))


def test_volume_classification_learns_where_the_blob_is(make_config, tmp_path):
    root = write_nifti_tree(tmp_path / "tree", {"train": 24, "val": 6, "test": 10})
    cfg = make_config("task=cls", "data=nifti", f"data.root={root}", "data.volume_size=[12,12,12]",
                      "data.num_workers=0", "data.batch_size=4", "model.name=monai_resnet10",
                      f"++model.kwargs={TINY_KWARGS['monai_resnet10']}", "norm=gn", "norm.num_groups=4",
                      "trainer.max_epochs=4", "task.optim.lr=0.02", "run_id=vol")
    metrics = run(cfg)
    written = json.loads((Path(cfg.paths.runs) / "cls" / "gn" / "vol" / "metrics.json").read_text())
    assert written["data"] == "nifti" and written["metrics"]["test/acc"] == pytest.approx(metrics["test/acc"])
    assert metrics["test/acc"] >= 0.8  # 20 test volumes, chance 0.5
    # peak memory of the run itself, sampled in this process (suite.memory)
    assert written["peak_memory_source"] == "cpu_rss_sampled"
    assert written["metrics"]["memory/peak_mb"] >= written["metrics"]["memory/start_mb"] > 50
