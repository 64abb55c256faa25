"""data.download parsing, shared by cifar, the torchvision digits and the few-shot benchmarks."""
import pytest
from omegaconf import OmegaConf

from suite.data.download import download_mode, should_download
from suite.errors import UserError


@pytest.mark.parametrize(("value", "mode"), [("auto", "auto"), (True, "true"), (False, "false"), ("FALSE", "false")])
def test_modes_parse_yaml_booleans_and_strings(value, mode):
    assert download_mode(OmegaConf.create({"download": value})) == mode


def test_an_unknown_mode_is_a_one_line_error_naming_the_key():
    with pytest.raises(UserError, match="data.download must be auto, true or false, got 'sometimes'"):
        download_mode(OmegaConf.create({"download": "sometimes"}))


@pytest.mark.parametrize(("mode", "present", "expected"), [("true", True, True), ("true", False, True),
                                                            ("auto", True, False), ("auto", False, True),
                                                            ("false", True, False), ("false", False, False)])
def test_download_only_when_asked_or_missing_under_auto(mode, present, expected):
    assert should_download(mode, present) is expected
