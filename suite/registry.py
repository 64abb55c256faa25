"""A name -> object registry with lazy entries, for tasks and datasets.

Entries may be registered eagerly (``@REGISTRY.register("name")``) or lazily as
``"package.module:attribute"`` strings, so that ``task=cls`` does not import NNI,
learn2learn or torchattacks.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from suite.errors import UserError


class Registry:
    """Maps a short lowercase name to an object; `kind` names the family in errors."""

    def __init__(self, kind: str, config_key: str):
        self.kind = kind
        self.config_key = config_key
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        def decorator(obj: Any) -> Any:
            self._add(name, obj)
            return obj

        return decorator

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"module:attribute"``, imported on first `get`."""
        self._add(name, target)

    def _add(self, name: str, obj: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered; pick another name")
        self._entries[name] = obj

    def available(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UserError(
                f"unknown {self.kind} '{name}': set {self.config_key}= one of {', '.join(self.available())}"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            module_name, attribute = entry.split(":")
            entry = getattr(importlib.import_module(module_name), attribute)
            self._entries[name] = entry
        return entry
