"""Suite's registries (tasks, datasets): `norms.registry.Registry` with plug-ins and one-line errors.

Plug-in packages (``configs/plugins.yaml``, e.g. ``tasks``) register their entries when imported;
suite imports them on the first lookup, so it never names them in code.
"""
from __future__ import annotations

import functools
import importlib

from omegaconf import OmegaConf

from norms.registry import Registry as NameRegistry
from norms.registry import UnknownNameError
from suite.errors import UserError
from suite.paths import CONFIG_DIR

PLUGINS_FILE = CONFIG_DIR / "plugins.yaml"


@functools.cache
def load_plugins() -> tuple[str, ...]:
    """Import every package listed in ``configs/plugins.yaml`` (once); returns their names."""
    packages = tuple(str(name) for name in OmegaConf.load(PLUGINS_FILE).packages)
    for package in packages:
        importlib.import_module(package)
    return packages


class Registry(NameRegistry):
    """A `NameRegistry` whose lookups see the plug-ins' entries and whose unknown name is a
    `UserError` naming the config key to set (``config_key``) and the choices."""

    def __init__(self, kind: str, config_key: str):
        super().__init__(kind)
        self.config_key = config_key

    def get(self, name: str):
        load_plugins()
        try:
            return super().get(name)
        except UnknownNameError as error:
            raise UserError(f"unknown {self.kind} '{name}': set {self.config_key}= one of "
                            f"{', '.join(error.available)}") from None

    def names(self) -> list[str]:
        load_plugins()
        return super().names()

    def __contains__(self, name: str) -> bool:
        load_plugins()
        return super().__contains__(name)

    available = names
