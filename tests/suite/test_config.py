"""The CLI's errors: one line, naming the problem and the fix, before training starts."""
from __future__ import annotations

import pytest

from suite.cli import main
from suite.config import compose_config, validate
from suite.errors import UserError


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["task=nope"], "unknown task 'nope': choose task= one of"),
        (["norm=batchnorm"], "unknown norm 'batchnorm': choose norm= one of"),
        (["data=mnist9"], "unknown data 'mnist9'"),
        (["trainer.max_epoch=3"], "unknown config key 'trainer.max_epoch'"),
        (["norm=gn", "norm.momentum=0.1"], "unknown config key 'norm.momentum'"),
        (["data.batch_size=0"], "data.batch_size must be a positive integer, got 0"),
        (["norm=bgn", "norm.num_groups=0"], "norm.num_groups must be a positive integer"),
        (["trainer.max_epochs=-1"], "trainer.max_epochs must be a positive integer"),
        (["norm.eps=0"], "norm.eps must be positive"),
        (["norm=brn", "norm.r_max=0.5"], "norm=brn: r_max must be at least 1"),
        (["norm=brn", "norm.d_max=-1"], "norm=brn: d_max must be at least 0"),
        (["norm=brn", "norm.r_max_at=2"], "norm=brn: r_max_at must be a fraction of the run"),
        (["logger.mode=sometimes"], "logger.mode must be one of"),
        (["data=imagefolder"], "data.root is required: set data.root="),
        (["resume=/no/such/last.ckpt"], "resume=/no/such/last.ckpt is not a file"),
        (["model.name=resnet_9000"], "unknown timm model 'resnet_9000'"),
        (["norm.name=whitening"], "unknown norm 'whitening': set norm= one of"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_fix(make_config, overrides, expected):
    with pytest.raises(UserError) as caught:
        validate(make_config(*overrides))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


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
