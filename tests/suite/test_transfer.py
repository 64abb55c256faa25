"""model.init: a tiny pre-trained run (cls, bn) starts other runs' backbones, across norms, datasets and tasks.

Every check compares against the checkpoint file read independently with torch.load.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import norms
from suite.config import compose_config, validate
from suite.errors import UserError
from suite.run import run
from tests.conftest import FAST

PRETRAIN = ["task=cls", "norm=bn", "model.name=resnet10t", "data.channels=3", "data.image_size=16",
            "data.batch_size=16", "trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1", "trainer.checkpoint=true", "run_id=pre"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """(run dir, its checkpoint's state_dict): cls with bn on digits, 3 steps."""
    runs = tmp_path_factory.mktemp("pretrain") / "runs"
    run(compose_config([*FAST, f"paths.runs={runs}", *PRETRAIN]))
    run_dir = runs / "cls" / "bn" / "pre"
    state = torch.load(run_dir / "checkpoints" / "fit" / "last.ckpt", map_location="cpu", weights_only=False)
    return run_dir, state["state_dict"]


def write_image_tree(root, classes=3, per_class=4):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in range(classes):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def built_module(cfg):
    task = validate(cfg)
    return task.build_module(cfg, task.datamodule(cfg))


def batch_norm_layers(state: dict) -> list[str]:
    return [key[: -len(".running_mean")] for key in state if key.endswith(".running_mean")]


def test_a_run_with_a_normalization_batch_starts_others_with_plain_layers(make_config, tmp_path):
    """A run with trainer.norm_batch_size (a study cell on the normalization-batch axis) saved its bn layers
    inside norms.GhostBatch wrappers: model.init loads every tensor, and the new run's layers are unwrapped
    (its own normalization batch, or none, applies)."""
    runs = tmp_path / "runs"
    run(compose_config([*FAST, f"paths.runs={runs}", *PRETRAIN, "trainer.norm_batch_size=4", "run_id=ghost"]))
    run_dir = runs / "cls" / "bn" / "ghost"
    state = torch.load(run_dir / "checkpoints" / "fit" / "last.ckpt", map_location="cpu",
                       weights_only=False)["state_dict"]
    assert any(key.endswith(".norm.running_mean") for key in state)  # the wrapped names
    module = built_module(make_config("task=cls", "norm=bn", "model.name=resnet10t", "data.channels=3",
                                      "data.image_size=16", f"model.init={run_dir}"))
    assert not any(isinstance(layer, norms.GhostBatch) for layer in module.modules())
    loaded = module.state_dict()
    assert len(loaded) == len(state)
    for key, tensor in state.items():
        assert torch.equal(loaded[key.replace(".norm.", ".")], tensor), key


@pytest.mark.parametrize("norm", ["gn", "bgn"])
def test_bn_run_starts_a_run_on_other_data_with_another_norm(make_config, pretrained, tmp_path, norm):
    run_dir, state = pretrained
    root = write_image_tree(tmp_path / "tree")
    cfg = make_config("task=cls", f"norm={norm}", "norm.num_groups=8", "model.name=resnet10t", "data=imagefolder",
                      f"data.root={root}", "data.image_size=16", "data.batch_size=4", f"model.init={run_dir}")
    module = built_module(cfg)
    loaded = module.state_dict()
    head = "network.1.fc."
    convolutions = [key for key in state if key.endswith(".weight") and state[key].ndim == 4]
    assert len(convolutions) > 5
    for key in convolutions + ["network.0.mean", "network.0.std"]:
        assert torch.equal(loaded[key], state[key]), key
    target = norms.registry.NORMS.get(norm)
    for layer in batch_norm_layers(state):
        converted = module.get_submodule(layer)
        assert type(converted) is target, layer  # bn converted to the run's norm ...
        assert torch.equal(converted.weight, state[f"{layer}.weight"])  # ... keeping its affine parameters
        assert torch.equal(converted.bias, state[f"{layer}.bias"])
    assert loaded[head + "weight"].shape == (3, state[head + "weight"].shape[1])  # 3 classes: a fresh head


def test_same_class_count_keeps_the_head_and_bgn_gets_the_running_statistics(make_config, pretrained):
    run_dir, state = pretrained
    cfg = make_config("task=cls", "norm=bgn", "norm.num_groups=4096", "model.name=resnet10t", "data.channels=3",
                      "data.image_size=16", f"model.init={run_dir}/checkpoints/fit/last.ckpt")
    loaded = built_module(cfg).state_dict()
    for key in ("network.1.fc.weight", "network.1.fc.bias"):
        assert torch.equal(loaded[key], state[key])
    layer = batch_norm_layers(state)[0]  # bgn with one channel per group is bn: its statistics carry over
    assert torch.equal(loaded[f"{layer}.running_var"], state[f"{layer}.running_var"])


@pytest.mark.parametrize(("task", "backbone", "extra"), [
    ("adv", "network", ["model.name=resnet10t", "data.channels=3"]),
    ("uda", "features", ["model.name=resnet10t", "data.image_size=16", "task.target.image_size=16"]),
])
def test_other_tasks_take_the_backbone_of_a_cls_run(make_config, pretrained, task, backbone, extra):
    run_dir, state = pretrained
    cfg = make_config(f"task={task}", "norm=bn", *extra, f"model.init={run_dir}")
    loaded = built_module(cfg).state_dict()
    body = [key for key in state if key.startswith("network.") and not key.startswith("network.1.fc.")]
    for key in body:
        assert torch.equal(loaded[backbone + key[len("network"):]], state[key]), key


def test_a_checkpoint_that_does_not_fit_names_the_first_mismatching_layer(make_config, pretrained):
    run_dir, _ = pretrained
    cfg = make_config("task=cls", "model.name=resnet18", "data.channels=3", f"model.init={run_dir}")
    with pytest.raises(UserError) as error:
        built_module(cfg)
    message = str(error.value)
    assert "first mismatching layer network.1." in message and "\n" not in message


def test_frozen_norm_statistics_stay_those_of_the_checkpoint(make_config, pretrained):
    run_dir, state = pretrained
    cfg = make_config("task=cls", "model.name=resnet10t", "data.channels=3", "data.image_size=16",
                      "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                      "trainer.checkpoint=true", "model.freeze_norm_stats=true", f"model.init={run_dir}",
                      "run_id=frozen")
    run(cfg)
    tuned = torch.load(Path(cfg.paths.runs) / "cls" / "bn" / "frozen" / "checkpoints" / "fit" / "last.ckpt",
                       map_location="cpu", weights_only=False)["state_dict"]
    for layer in batch_norm_layers(state):
        for name in ("running_mean", "running_var", "weight", "bias"):
            assert torch.equal(tuned[f"{layer}.{name}"], state[f"{layer}.{name}"]), (layer, name)
    assert not torch.equal(tuned["network.1.fc.weight"], state["network.1.fc.weight"])  # the rest trained


@pytest.mark.parametrize(("overrides", "message"), [
    (["resume=x.ckpt"], "model.init and resume= together"),
    (["model.pretrained=true"], "model.init and model.pretrained=true together"),
    (["task=nas"], "task=nas cannot start from a pre-trained run"),
])
def test_refused_combinations_are_one_line_errors(make_config, pretrained, tmp_path, overrides, message):
    run_dir, _ = pretrained
    (tmp_path / "x.ckpt").write_bytes(b"")
    cfg = make_config(*[o.replace("x.ckpt", str(tmp_path / "x.ckpt")) for o in overrides], f"model.init={run_dir}")
    with pytest.raises(UserError, match=message):
        validate(cfg)


def test_missing_run_and_norm_without_statistics_are_one_line_errors(make_config, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        validate(make_config(f"model.init={tmp_path / 'nothing'}"))
    (tmp_path / "orphan.ckpt").write_bytes(b"")
    with pytest.raises(UserError, match="no metrics.json"):
        validate(make_config(f"model.init={tmp_path / 'orphan.ckpt'}"))
    with pytest.raises(UserError, match="norm=gn keeps no running statistics"):
        validate(make_config("norm=gn", "model.freeze_norm_stats=true"))


def test_fsl_starts_its_embedding_network_from_an_fsl_run(make_config, tmp_path):
    short = ["task=fsl", "task.train_episodes=4", "task.val_episodes=2", "task.test_episodes=2",
             "data.image_size=16", "model.channels=8"]
    run(make_config(*short, "trainer.checkpoint=true", "run_id=fslpre"))
    run_dir = tmp_path / "runs" / "fsl" / "bn" / "fslpre"
    state = torch.load(run_dir / "checkpoints" / "fit" / "last.ckpt", weights_only=False)["state_dict"]
    loaded = built_module(make_config(*short, "norm=gn", "norm.num_groups=4", f"model.init={run_dir}")).state_dict()
    weights = [key for key in state if key.startswith("network.") and key.endswith(".weight")]
    assert weights and all(torch.equal(loaded[key], state[key]) for key in weights)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["norm"] == "bn"


@pytest.mark.slow
def test_fine_tuning_from_mnist5k_beats_or_matches_scratch_on_digits(make_config, tmp_path):
    """The offline pair, short: 1 epoch of pre-training on mnist5k, 40 fine-tuning steps on digits."""
    common = ["task=cls", "norm=bn", "model.name=resnet10t", "data.image_size=32"]
    run(make_config(*common, "data=mnist5k", "trainer.checkpoint=true", "run_id=mnist"))
    short = [*common, "data=digits", "data.batch_size=16", "trainer.limit_train_batches=40"]
    scratch = run(make_config(*short, "run_id=scratch"))
    tuned = run(make_config(*short, f"model.init={tmp_path / 'runs' / 'cls' / 'bn' / 'mnist'}", "run_id=tuned"))
    assert tuned["test/acc"] >= scratch["test/acc"]
    assert tuned["test/acc"] > 0.5  # chance is 0.1


def test_backbone_lr_mult_covers_the_backbone_but_not_the_head(make_config):
    cfg = make_config("task=cls", "model.name=resnet10t", "model.backbone_lr_mult=0.1")
    module = built_module(cfg)
    assert module.backbone_lr_mult == 0.1
    chosen = {id(p) for p in module.backbone_parameters()}
    head = {id(p) for p in module.network[1].fc.parameters()}
    everything = {id(p) for p in module.network.parameters()}
    assert chosen == everything - head and head
