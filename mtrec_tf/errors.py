"""Errors that the command line reports as a message, defined apart from the modules that raise
them so that catching them imports neither TensorFlow nor pandas.

Each is also importable from where it is raised (`mtrec_tf.config`, `mtrec_tf.data.validation`,
`mtrec_tf.export`).
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names it."""


class DataValidationError(ValueError):
    """A table cannot be used as given; the message names the file, row and column."""


class OpAuditError(ValueError):
    """The SavedModel needs ops its target runtime does not have."""


def check_choice(key: str, value: object, allowed: Iterable[str], error: type[ValueError] = ValueError) -> None:
    """Raises `error` naming `key` and the allowed values unless `value` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
