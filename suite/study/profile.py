"""Study profiles: ``configs/study/<profile>.yaml``, composed with Hydra.

``python -m suite.study profile=quick seeds=[0,1]`` composes the profile ``quick`` and
applies the other arguments as overrides of it. A profile may start from another with
``defaults: [default, _self_]`` and list only what it changes.
"""
from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from suite.config import CONFIG_DIR
from suite.errors import UserError

PROFILE_DIR = CONFIG_DIR / "study"


def profiles() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The composed profile `name`; its ``study_id`` defaults to the profile's name."""
    if name not in profiles():
        raise UserError(f"unknown study profile '{name}': set profile= one of {', '.join(profiles())}")
    try:
        with initialize_config_dir(config_dir=str(PROFILE_DIR), version_base="1.3"):
            profile = compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(f"study profile '{name}': {' '.join(str(error).split())}") from None
    OmegaConf.set_struct(profile, False)
    profile.profile = name
    if profile.get("study_id") is None:
        profile.study_id = name
    return profile
