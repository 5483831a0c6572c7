"""Frozen dataclass configuration, YAML files and `key=value` overrides.

No TensorFlow here: the command line resolves and writes a configuration before any
TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Sequence

import yaml

SPLIT_METHODS = ("time", "leave_last_out")
BAD_ROW_POLICIES = ("error", "skip")
UNKNOWN_ITEM_POLICIES = ("keep", "drop")


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names it."""


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How events are split into training, validation and test parts.

    Args:
        method: "time" cuts all events at two global timestamps (quantiles of the event
            times); "leave_last_out" holds out each user's last click for test and the one
            before it for validation, as sequential recommendation benchmarks do.
        validation_fraction: share of events after the first cutoff ("time" only).
        test_fraction: share of events after the second cutoff ("time" only).
        min_user_clicks: with "leave_last_out", users with fewer clicks stay in training.
    """

    method: str = "time"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    min_user_clicks: int = 3

    def __post_init__(self) -> None:
        _check_choice("data.split.method", self.method, SPLIT_METHODS)
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.split.{name} must be in [0, 1), got {value!r}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                "data.split.validation_fraction + data.split.test_fraction must be below 1, "
                f"got {self.validation_fraction} + {self.test_fraction}"
            )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data come from and how examples are built.

    Args:
        events, items, queries: files or folders of shards; all None means the built-in
            sample world.
        sample_scale, sample_seed: size and seed of the built-in sample world.
        bad_rows: "error" stops at the first bad row; "skip" drops or repairs bad rows and
            reports how many and why.
        unknown_items: events whose item is not in the catalogue are kept as
            out-of-vocabulary ("keep") or dropped ("drop"); counted either way.
        history_length: how many past behaviour events (click, add to cart, purchase) an
            example carries, most recent last.
        min_token_count: query tokens seen fewer times in training are out of vocabulary.
        image_validation_fraction, image_test_fraction: items held out for the image task.
        split: see `SplitConfig`.
    """

    events: str | None = None
    items: str | None = None
    queries: str | None = None
    sample_scale: int = 1
    sample_seed: int = 0
    bad_rows: str = "error"
    unknown_items: str = "keep"
    history_length: int = 50
    min_token_count: int = 1
    image_validation_fraction: float = 0.1
    image_test_fraction: float = 0.1
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)

    def __post_init__(self) -> None:
        _check_choice("data.bad_rows", self.bad_rows, BAD_ROW_POLICIES)
        _check_choice("data.unknown_items", self.unknown_items, UNKNOWN_ITEM_POLICIES)
        if self.history_length < 1:
            raise ConfigError(f"data.history_length must be at least 1, got {self.history_length}")
        if self.sample_scale < 1:
            raise ConfigError(f"data.sample_scale must be at least 1, got {self.sample_scale}")
        if (self.events is None) != (self.items is None):
            raise ConfigError("data.events and data.items go together: give both or neither")


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole configuration of a run; written into the run directory as config.yaml."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    seed: int = 42


def _check_choice(key: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of a dataclass configuration."""
    return dataclasses.asdict(config)


def from_dict(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Builds dataclass `cls` from a nested dict, rejecting unknown keys by their full name."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'} must be a mapping, got {values!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown configuration key {prefix}{unknown[0]}; "
            f"known keys here: {', '.join(prefix + name for name in fields)}"
        )
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value or {}, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Applies `key.sub=value` strings (values parsed as YAML scalars) to a nested dict."""
    result = _deep_copy(values)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {override!r}")
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return result


def _deep_copy(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in values.items()}


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Config:
    """Reads a YAML configuration (or the defaults) and applies `--set` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    return from_dict(Config, apply_overrides(values, overrides))


def dump_config(config: Config) -> str:
    """The configuration as YAML text that `load_config` reads back to an equal Config."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)
