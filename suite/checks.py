"""Rules for config values, checked from tables of key -> rule before anything is made or trained.

A rule is a function of the value that returns what the value must be (``"a positive integer"``)
when it breaks the rule, and None when it is fine. `check_values` applies a table such as
``{"data.batch_size": positive_int, "task.optim.lr": positive_number}`` to a config and raises one
`UserError` naming the key, the value and what to set instead. Keys absent from the config are
skipped, so one table serves every task. Tasks add their own tables in ``Task.validate``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

from omegaconf import OmegaConf

from suite.errors import UserError

Rule = Callable[[Any], "str | None"]

_ABSENT = object()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer_at_least(minimum: int) -> Rule:
    """An integer >= `minimum`."""
    need = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    return lambda value: None if _is_int(value) and value >= minimum else need


positive_int = integer_at_least(1)
non_negative_int = integer_at_least(0)


def positive_number(value) -> str | None:
    """A finite number > 0 (NaN and inf refused)."""
    return None if _is_number(value) and math.isfinite(value) and value > 0 else "a finite number > 0"


def non_negative_number(value) -> str | None:
    return None if _is_number(value) and math.isfinite(value) and value >= 0 else "a finite number >= 0"


def number_in(low: float, high: float, high_open: bool = False) -> Rule:
    """A finite number in [low, high] (or [low, high) with `high_open`)."""
    bracket = ")" if high_open else "]"

    def rule(value) -> str | None:
        inside = _is_number(value) and math.isfinite(value) and low <= value and (
            value < high if high_open else value <= high)
        return None if inside else f"a number in [{low:g}, {high:g}{bracket}"

    return rule


fraction = number_in(0.0, 1.0)


def one_of(*choices) -> Rule:
    return lambda value: None if value in choices else "one of " + ", ".join(str(choice) for choice in choices)


def boolean(value) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def optional(rule: Rule) -> Rule:
    """`rule`, or null."""

    def check(value) -> str | None:
        need = None if value is None else rule(value)
        return None if need is None else f"{need} or null"

    return check


def list_of(rule: Rule) -> Rule:
    """A non-empty list whose every item follows `rule`."""

    def check(value) -> str | None:
        items = OmegaConf.to_container(value) if OmegaConf.is_list(value) else value
        if isinstance(items, (list, tuple)) and items and all(rule(item) is None for item in items):
            return None
        return f"a list of {rule(None) or 'values'}, e.g. [1, 2]"

    return check


def limit_batches(value) -> str | None:
    """Lightning's ``limit_*_batches``: a fraction in (0, 1] or a positive number of batches."""
    if _is_int(value) and value >= 1 or _is_number(value) and math.isfinite(value) and 0 < value <= 1:
        return None
    return "a fraction in (0, 1] or a positive integer of batches"


def check_value(key: str, value, rule: Rule) -> None:
    """Raise the one-line `UserError` for `key` when `value` breaks `rule`."""
    need = rule(value)
    if need is not None:
        raise UserError(f"{key} must be {need}, got {value!r}: set {key}=<{need}>")


def check_values(cfg, rules: Mapping[str, Rule], prefix: str = "") -> None:
    """Apply a table of ``{key: rule}`` to `cfg` (keys relative to `prefix`; absent keys skipped)."""
    for key, rule in rules.items():
        full = f"{prefix}.{key}" if prefix else key
        value = OmegaConf.select(cfg, full, default=_ABSENT)
        if value is not _ABSENT:
            check_value(full, value, rule)


def check_items(key: str, values: Iterable, rule: Rule) -> None:
    """Every item of a plain list (a study profile's ``batch_sizes``, say) against `rule`."""
    for value in values:
        check_value(key, value, rule)
