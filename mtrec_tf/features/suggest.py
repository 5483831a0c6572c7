"""`mtrec data inspect --suggest-features FILE`: a `features:` section inferred from the tables.

The items table's contract columns that hold values (title, category, brand, price, image)
come first, as the default feature set has them. Every column of the shop's own becomes a
feature, its kind read from its values: list values are multi-categorical, and so is text
that mostly holds a "|"; numbers are numeric (`log` when they are non-negative and skewed),
except whole numbers of few distinct values or written with leading zeros (codes), which are
categorical; other text is categorical, hashed when it looks like an id (many distinct
values, most rows different). The hour of day and the day of week of the request come with
every events table. Each feature's line says its cardinality and missing share, so that a
user can read it, edit two lines and train.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtrec_tf.data import schema
from mtrec_tf.data.event_types import ROLES, SINGLE_ROLES
from mtrec_tf.features.spec import DEFAULT_FEATURES, DERIVED_EVENT_COLUMNS, RESERVED_NAMES, written_settings

# Whole numbers with at most this many distinct values are codes (categorical).
MAX_CODES = 12
# Text with more distinct values than this, most rows different, is an id: hashed.
ID_DISTINCT = 1_000
ID_SHARE = 0.5
MULTI_SHARE = 0.2
CONTRACT_COLUMNS: dict[str, frozenset[str]] = {
    "events": frozenset(schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL),
    "items": frozenset(schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL),
    "users": frozenset(schema.USERS_REQUIRED),
}


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """One suggested feature: its settings and what its column holds."""

    name: str
    settings: dict[str, Any]
    distinct: int
    missing_share: float
    note: str = ""

    def line(self) -> str:
        values = ", ".join(f"{key}: {_scalar(value)}" for key, value in self.settings.items())
        about = f"{self.distinct:,} distinct, {self.missing_share:.1%} missing"
        about += f"; {self.note}" if self.note else ""
        return f"  {self.name}: {{{values}}}  # {about}"


def suggest_features(tables: Mapping[str, pd.DataFrame]) -> list[Suggestion]:
    """Suggestions for the own columns of `tables` (kind -> the table as read, before validation)."""
    suggestions: list[Suggestion] = []
    taken = set(RESERVED_NAMES)
    for table, frame in tables.items():
        if table not in CONTRACT_COLUMNS or frame is None:
            continue
        if table == "items":
            suggestions += _default_features(frame)
            taken |= {suggestion.name for suggestion in suggestions}
        own = [str(c) for c in frame.columns if str(c).strip() not in CONTRACT_COLUMNS[table]]
        for column in own:
            suggestion = _suggest(table, column.strip(), frame[column], taken)
            if suggestion is not None:
                taken.add(suggestion.name)
                suggestions.append(suggestion)
        if table == "events":
            for column in DERIVED_EVENT_COLUMNS:
                if column not in own:
                    name = _name(column, table, taken)
                    taken.add(name)
                    count = 24 if column == "hour_of_day" else 7
                    settings = {"table": table} | ({"column": column} if name != column else {})
                    suggestions.append(Suggestion(name, {**settings, "kind": "categorical"},
                                                  count, 0.0, "derived from the UTC timestamp"))
    return suggestions


def suggestions_yaml(suggestions: list[Suggestion], sources: Mapping[str, str],
                     event_roles: Mapping[str, Sequence[str]] | None = None) -> str:
    """The `features:` section as YAML text with a comment per feature, after the event
    types' roles (`data.event_types`, `mtrec_tf.data.event_types.suggest_roles`) when given."""
    lines = ["# Suggested by `mtrec data inspect --suggest-features` from "
             + ", ".join(f"{kind} ({source})" for kind, source in sources.items()) + ".",
             "# Edit the roles and kinds or remove lines, then: mtrec train --config THIS_FILE ..."]
    if event_roles:
        unplayed = [role for role in SINGLE_ROLES if not any(role in roles for roles in event_roles.values())]
        lines += ["data:", "  event_types:  # roles: " + ", ".join(ROLES)]
        lines += [f"    {name}: [{', '.join(roles)}]" for name, roles in event_roles.items()]
        lines += [f"    # no event type's name suggests the role {role!r}: give it to one" for role in unplayed]
    lines += ["features:" if suggestions else "features: {}"]
    lines += [suggestion.line() for suggestion in suggestions]
    return "\n".join(lines) + "\n"


def _default_features(items: pd.DataFrame) -> list[Suggestion]:
    """The default set's features whose column the items table has with some value."""
    columns = {str(c).strip(): c for c in items.columns}
    suggestions = []
    for feature in DEFAULT_FEATURES:
        if feature.column not in columns:
            continue
        values = items[columns[feature.column]]
        missing = values.map(_is_missing)
        if missing.all():
            continue
        settings = written_settings(feature)
        distinct = int(values[~missing].map(lambda v: v if isinstance(v, (str, bytes)) else str(v)).nunique())
        suggestions.append(Suggestion(feature.name, settings, distinct, float(missing.mean()),
                                      "the data contract's column"))
    return suggestions


def _suggest(table: str, column: str, values: pd.Series, taken: set[str]) -> Suggestion | None:
    name = _name(column, table, taken)
    base = {"table": table} | ({"column": column} if name != column else {})
    present = values[~values.map(_is_missing)]
    missing = 1.0 - len(present) / max(len(values), 1)
    if not len(present):
        return None
    if present.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).all():
        distinct = len({str(x) for v in present for x in v})
        return Suggestion(name, {**base, "kind": "multi_categorical"}, distinct, missing, "list values")
    text = present.map(lambda v: v if isinstance(v, str) else str(v)).str.strip()
    numbers = pd.to_numeric(present, errors="coerce")
    distinct = int(text.nunique())
    if numbers.notna().all():
        whole = bool((numbers == np.floor(numbers)).all())
        if whole and distinct <= MAX_CODES:
            return Suggestion(name, {**base, "kind": "categorical"}, distinct, missing, "whole numbers: codes")
        if whole and text.str.match(r"0\d").any():
            return Suggestion(name, {**base, "kind": "categorical"}, distinct, missing, "leading zeros: codes")
        skewed = bool((numbers >= 0).all() and numbers.max() > 20 * max(float(numbers.median()), 1e-9))
        transform = "log" if skewed else "zscore"
        return Suggestion(name, {**base, "kind": "numeric", "transform": transform}, distinct, missing)
    if text.str.contains("|", regex=False).mean() >= MULTI_SHARE:
        parts = {p.strip() for value in text for p in value.split("|") if p.strip()}
        return Suggestion(name, {**base, "kind": "multi_categorical", "separator": "|"}, len(parts), missing)
    if distinct > ID_DISTINCT and distinct > ID_SHARE * len(text):
        buckets = int(min(2 ** 20, 2 ** int(np.ceil(np.log2(distinct)))))
        return Suggestion(name, {**base, "kind": "categorical", "buckets": buckets}, distinct, missing,
                          "id-like: hashed")
    min_count = 2 if distinct > ID_DISTINCT else 1
    settings = {**base, "kind": "categorical"} | ({"min_count": min_count} if min_count > 1 else {})
    return Suggestion(name, settings, distinct, missing)


def _name(column: str, table: str, taken: set[str]) -> str:
    """An identifier for `column` that no other feature or input has."""
    name = re.sub(r"\W+", "_", column).strip("_").lower() or "column"
    if name[0].isdigit() or name in taken or name.startswith(("label_", "mask_")):
        name = f"{table}_{name}"
    while name in taken:
        name += "_"
    return name


def _is_missing(value: Any) -> bool:
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0
    return value is None or (isinstance(value, str) and not value.strip()) or bool(pd.isna(value))


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"' if not re.fullmatch(r"[A-Za-z_][\w]*", value) else value
    return str(value)
