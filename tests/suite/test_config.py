"""The CLI's errors: one line, naming the problem and the fix, before training starts."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from suite.cli import main
from suite.config import compose_config, validate
from suite.errors import UserError


# (overrides, expected part of the message). Every value a user can type wrongly; `{tmp}` is a
# temporary directory holding `a_file` (a plain file) and `images/` (an image tree with one corrupt file).
BAD_INPUTS = [
    (["task=nope"], "unknown task 'nope': choose task= one of"),
    (["norm=batchnorm"], "unknown norm 'batchnorm': choose norm= one of"),
    (["data=mnist9"], "unknown data 'mnist9'"),
    (["trainer.max_epoch=3"], "unknown config key 'trainer.max_epoch'"),
    (["norm=gn", "norm.momentum=0.1"], "unknown config key 'norm.momentum'"),
    (["model.kwargs={drop_rate: 0.1}"], "add them with ++model.kwargs={drop_rate: 0.1}"),
    (["norm.name=whitening"], "unknown norm 'whitening': set norm= one of"),
    (["model.name=resnet_9000"], "unknown timm model 'resnet_9000'"),
    (["data=imagefolder"], "data.root is required: set data.root="),
    (["resume=/no/such/last.ckpt"], "resume must be auto, never or the path of an existing checkpoints/"),
    (["resume=sometimes"], "resume must be auto, never or the path of an existing"),
    (["logger.mode=sometimes"], "logger.mode must be one of"),
    (["task.optim.lr=abc"], "task.optim.lr must be a finite number > 0, got 'abc'"),
    (["task.optim.lr=-0.1"], "task.optim.lr must be a finite number > 0, got -0.1"),
    (["task.optim.lr=nan"], "task.optim.lr must be a finite number > 0, got nan"),
    (["task.optim.lr=inf"], "task.optim.lr must be a finite number > 0, got inf"),
    (["task.optim.momentum=1.5"], "task.optim.momentum must be a number in [0, 1), got 1.5"),
    (["task.optim.weight_decay=-1"], "task.optim.weight_decay must be a finite number >= 0"),
    (["task.optim.warmup_fraction=abc"], "task.optim.warmup_fraction must be a number in [0, 1)"),
    (["seed=abc"], "seed must be a non-negative integer, got 'abc'"),
    (["seed=-1"], "seed must be a non-negative integer, got -1"),
    (["data.batch_size=0"], "data.batch_size must be a positive integer, got 0"),
    (["data.batch_size=abc"], "data.batch_size must be a positive integer, got 'abc'"),
    (["data.eval_batch_size=2.5"], "data.eval_batch_size must be a positive integer, got 2.5"),
    (["data.num_workers=-1"], "data.num_workers must be a non-negative integer"),
    (["trainer.max_epochs=-1"], "trainer.max_epochs must be a positive integer"),
    (["trainer.max_epochs=1.5"], "trainer.max_epochs must be a positive integer, got 1.5"),
    (["trainer.devices=0"], "trainer.devices must be a positive integer"),
    (["trainer.limit_train_batches=0"], "trainer.limit_train_batches must be a fraction in (0, 1]"),
    (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val must be a finite number > 0 or null"),
    (["trainer.deterministic=maybe"], "trainer.deterministic must be true or false"),
    (["trainer.accelerator=tpu"], "trainer.accelerator must be one of auto, cpu, gpu"),
    (["norm=bgn", "norm.num_groups=0"], "norm.num_groups must be a positive integer"),
    (["norm.eps=0"], "norm.eps must be a finite number > 0, got 0"),
    (["norm.eps=nan"], "norm.eps must be a finite number > 0, got nan"),
    (["norm=brn", "norm.r_max=0.5"], "norm=brn: r_max must be at least 1"),
    (["norm=brn", "norm.d_max=-1"], "norm=brn: d_max must be at least 0"),
    (["norm=brn", "norm.r_max_at=2"], "norm=brn: r_max_at must be a fraction of the run"),
    (["norm=bgn", "norm.group_layout=strided"], "norm=bgn: group_layout='strided' is not a BGN group layout"),
    (["norm=gn", "norm.channels_per_group=0"], "norm=gn: channels_per_group must be a positive integer"),
    (["run_id=a/b"], "run_id must be a name without '/'"),
    (["model.backbone_lr_mult=-0.1"], "model.backbone_lr_mult must be a finite number >= 0, got -0.1"),
    (["model.freeze_norm_stats=yes"], "model.freeze_norm_stats must be true or false, got 'yes'"),
    (["data.batch_size=1", "norm=bn"], "data.batch_size=1 with norm=bn: batch statistics of 1 image(s)"),
    (["data.batch_size=1", "norm=bgn", "norm.num_groups=64"], "data.batch_size=1 with norm=bgn"),
    (["data=omniglot"], "data=omniglot cannot be used with task=cls: use it with task=fsl"),
    (["data=imagefolder", "data.root={tmp}/images"], "has 1 unreadable image(s), first {tmp}/images/train/b/bad.png"),
    (["paths.runs={tmp}/a_file/runs"], "paths.runs={tmp}/a_file/runs lies below the file {tmp}/a_file"),
    (["paths.runs=/proc/normsuite-runs"], "paths.runs=/proc/normsuite-runs is not writable"),
    (["logger.mode=offline", "logger.save_dir={tmp}/a_file"], "logger.save_dir={tmp}/a_file lies below the file"),
    (["logger.mode=online"], "logger.mode=online needs a W&B API key"),
    (["logger.mode=auto", "WANDB_MODE=online"], "WANDB_MODE=online needs a W&B API key"),
    (["task=nas", "task.search_epochs=0"], "task.search_epochs must be a positive integer, got 0"),
    (["task=nas", "model.search.width=abc"], "model.search.width must be a positive integer, got 'abc'"),
    (["task=nas", "task.search_optim.lr=nan"], "task.search_optim.lr must be a finite number > 0, got nan"),
    (["task=fsl", "task.train_ways=abc"], "task.train_ways must be a positive integer, got 'abc'"),
    (["task=adv", "task.train_steps=0"], "task.train_steps must be a positive integer, got 0"),
    (["task=adv", "task.eval_pgd_steps=[0]"], "task.eval_pgd_steps must be a list of a positive integer"),
    (["task=adv", "task.adv_ratio=2"], "task.adv_ratio must be a number in [0, 1], got 2"),
]
if not torch.cuda.is_available():
    BAD_INPUTS.append((["trainer.accelerator=gpu"], "trainer.accelerator=gpu but this machine has no CUDA GPU"))


@pytest.fixture
def bad_input_files(tmp_path, monkeypatch):
    """`tmp_path` with a plain file and an image tree holding one corrupt image; no W&B credentials."""
    (tmp_path / "a_file").write_text("not a directory")
    for cls in ("a", "b"):
        folder = tmp_path / "images" / "train" / cls
        folder.mkdir(parents=True)
        for index in range(2):
            Image.new("RGB", (8, 8), (index * 90, 0, 0)).save(folder / f"{index}.png")
    (tmp_path / "images" / "train" / "b" / "bad.png").write_bytes(b"\x00not a png at all")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a W&B key
    return tmp_path


def split_case(overrides: list[str], tmp) -> tuple[list[str], dict[str, str]]:
    """(config overrides, environment variables) of a `BAD_INPUTS` row, with `{tmp}` filled in."""
    filled = [item.replace("{tmp}", str(tmp)) for item in overrides]
    environment = dict(item.split("=", 1) for item in filled if item.split("=", 1)[0].isupper())
    return [item for item in filled if item.split("=", 1)[0] not in environment], environment


@pytest.mark.parametrize(("overrides", "expected"), BAD_INPUTS, ids=[" ".join(case[0]) for case in BAD_INPUTS])
def test_bad_input_is_a_one_line_error_naming_the_fix(make_config, bad_input_files, monkeypatch, overrides, expected):
    overrides, environment = split_case(overrides, bad_input_files)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError) as caught:
        validate(make_config(*overrides))
    message = str(caught.value)
    assert expected.replace("{tmp}", str(bad_input_files)) in message
    assert "\n" not in message
    assert not (bad_input_files / "runs").exists()  # refused before any run directory


@pytest.mark.parametrize("overrides", [["data.batch_size=1", "norm=gn"], ["data.batch_size=1", "norm=ln"],
                                       ["logger.mode=offline"], ["task.optim.lr=1e-3", "seed=7"]])
def test_good_input_passes(make_config, tmp_path, overrides):
    validate(make_config(*overrides, f"logger.save_dir={tmp_path}"))


def test_cli_prints_one_line_and_exits_2_without_traceback(capsys):
    assert main(["norm=xyz", "logger.mode=disabled"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normsuite: error: unknown norm 'xyz'")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_group_option_lists_every_existing_option():
    with pytest.raises(UserError) as caught:
        compose_config(["norm=nope"])
    for name in ("bgn", "bn", "gn", "in", "ln", "none", "pn"):
        assert name in str(caught.value)


def test_overrides_reach_the_composed_config(make_config):
    cfg = make_config("task=cls", "norm=bgn", "norm.num_groups=8", "data.batch_size=4", "model.name=resnet10t")
    assert (cfg.norm.name, cfg.norm.num_groups, cfg.data.batch_size, cfg.model.name) == ("bgn", 8, 4, "resnet10t")
    assert validate(cfg).__class__.__name__ == "ClassificationTask"
