"""Validation and normalisation of the user's tables into the form documented in `schema`.

Every rule is checked on whole columns with masks; messages are built only for the rows
that are reported. A row breaking a rule either stops validation (`bad_rows="error"`, at
the first such row in the table) or is dropped or repaired (`bad_rows="skip"`), and
counted by reason in a `TableReport`.

Example:
    >>> frame = pd.DataFrame({"query": ["red dress", ""], "category": ["Dresses", "Shoes"]})
    >>> clean, report = validate_table(frame, "queries", source="DataFrame queries", bad_rows="skip")
    >>> report.dropped
    {'empty query': 1}
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtrec_tf.data import schema
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.schema import BAD_ROW_POLICIES
from mtrec_tf.errors import DataValidationError, check_choice
from mtrec_tf.io_utils import is_url, join, read_bytes

# Where image paths are relative to: a local folder or a URL.
Folder = str | os.PathLike[str]

# Image formats that training and serving decode (`tf.io.decode_image`), by PIL's names.
IMAGE_FORMAT_NAMES = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
DECODED_IMAGE_FORMATS = frozenset(IMAGE_FORMAT_NAMES) | {"MPO"}  # MPO: a JPEG with extra frames
# What a column of the shop's own holds (`extra_columns`): "number" (float64), "text", or
# "list" (values joined with `LIST_SEPARATOR`).
EXTRA_COLUMN_KINDS: tuple[str, ...] = ("number", "text", "list")
LIST_SEPARATOR = "\x1f"
MAX_EXAMPLES = 10
EXAMPLES_PER_REASON = 3
TEXT_DTYPE: Final = "str"

# Reasons under which rows are counted in a report.
MALFORMED_ROW = "malformed row"
INVALID_UTF8 = "invalid UTF-8"
EMPTY_USER_ID = "empty user_id"
UNKNOWN_EVENT_TYPE = "unknown event_type"
BAD_TIMESTAMP = "bad timestamp"
EMPTY_ITEM_ID = "empty item_id"
BAD_POSITION = "position not an integer"
EMPTY_CATEGORY = "empty category"
BAD_PRICE = "price not a number"
NEGATIVE_PRICE = "negative price"
BAD_RATING = "rating not a number"
MISSING_IMAGE = "image file not found"
EMPTY_IMAGE = "image file empty"
BAD_IMAGE = "image not decodable"
EMPTY_QUERY = "empty query"
UNKNOWN_ITEM = "item_id not in catalogue"

COLUMNS: dict[str, tuple[str, ...]] = {
    "events": schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL,
    "items": schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL,
    "queries": schema.QUERIES_REQUIRED,
    "users": schema.USERS_REQUIRED,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "events": schema.EVENTS_REQUIRED,
    "items": schema.ITEMS_REQUIRED,
    "queries": schema.QUERIES_REQUIRED,
    "users": schema.USERS_REQUIRED,
}


@dataclass(frozen=True)
class ExtraColumn:
    """A column of the shop's own to keep: what it holds and whether a row may miss it.

    Attributes:
        kind: one of `EXTRA_COLUMN_KINDS`.
        separator: "list" only: what splits a text value into values (a list value is kept).
        required: a row without a value is a bad row (dropped with bad_rows="skip").
        what: how messages name the column's use, e.g. "feature 'age'".
        expected: a table without the column is an error (a feature's column); else it is
            not added (a task's label column).
    """

    kind: str
    separator: str = "|"
    required: bool = False
    what: str = ""
    expected: bool = False

_TIMESTAMP_EXPECTED = "epoch seconds or ISO-8601"
# The epoch seconds that pandas timestamps can represent (years 1677 to 2262).
_MIN_SECONDS = math.ceil(pd.Timestamp.min.timestamp())
_MAX_SECONDS = math.floor(pd.Timestamp.max.timestamp())
_EPOCH = pd.Timestamp(0, tz="UTC")
_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_PREVIEW_CHARS = 60


@dataclass
class TableReport:
    """What reading and validating one table did.

    Attributes:
        source: the file, folder or "DataFrame <name>" the table came from.
        kind: one of `schema.TABLE_KINDS`.
        rows_read: data rows found in the source.
        rows_kept: rows in the normalised table.
        dropped: reason -> rows dropped for it (each dropped row counted once).
        repaired: reason -> kept rows whose value was repaired.
        examples: the first messages for dropped and repaired rows.
        notes: other findings worth reporting (e.g. events kept with unknown items).
    """

    source: str
    kind: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def record(self, reason: str, count: int, messages: Iterable[str], *, repaired: bool = False) -> None:
        """Counts `count` rows under `reason` and keeps the first messages as examples."""
        if count <= 0:
            return
        counts = self.repaired if repaired else self.dropped
        counts[reason] = counts.get(reason, 0) + count
        room = MAX_EXAMPLES - len(self.examples)
        self.examples.extend(list(messages)[: min(room, EXAMPLES_PER_REASON)])

    def merge(self, other: TableReport, source: str | None = None) -> TableReport:
        """A new report adding up this one and `other` (same kind)."""
        if other.kind != self.kind:
            raise ValueError(f"cannot merge a {self.kind!r} report with a {other.kind!r} report")
        return TableReport(
            source=source or self.source,
            kind=self.kind,
            rows_read=self.rows_read + other.rows_read,
            rows_kept=self.rows_kept + other.rows_kept,
            dropped=_add_counts(self.dropped, other.dropped),
            repaired=_add_counts(self.repaired, other.repaired),
            examples=(self.examples + other.examples)[:MAX_EXAMPLES],
            notes=self.notes + other.notes,
        )

    def summary_lines(self) -> list[str]:
        """Plain-text lines: counts, then reasons, then example messages and notes."""
        lines = [
            f"{self.kind} from {self.source}: {self.rows_read:,} rows read, {self.rows_kept:,} kept"
        ]
        lines += [f"  dropped {n:,}: {reason}" for reason, n in self.dropped.items()]
        lines += [f"  repaired {n:,}: {reason}" for reason, n in self.repaired.items()]
        lines += [f"  e.g. {message}" for message in self.examples]
        lines += [f"  note: {note}" for note in self.notes]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "repaired": dict(self.repaired),
            "examples": list(self.examples),
            "notes": list(self.notes),
        }


def _add_counts(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    total = dict(left)
    for reason, count in right.items():
        total[reason] = total.get(reason, 0) + count
    return total


@dataclass(frozen=True)
class RowLocator:
    """Names a frame row in messages: "events.csv row 17 (line 18)".

    Row numbers are 1-based data rows of the source. By default row = position + 1 +
    `row_offset` and line = row + `line_offset` (no line when `line_offset` is None);
    `rows` and `lines` give them explicitly per position instead (multi-line records,
    blank lines, JSON Lines).
    """

    source: str
    row_offset: int = 0
    line_offset: int | None = None
    rows: np.ndarray | None = None
    lines: np.ndarray | None = None

    def row(self, position: int) -> int:
        if self.rows is not None:
            return int(self.rows[position])
        return position + 1 + self.row_offset

    def line(self, position: int) -> int | None:
        if self.lines is not None:
            return int(self.lines[position])
        if self.line_offset is None:
            return None
        return self.row(position) + self.line_offset

    def describe(self, position: int) -> str:
        line = self.line(position)
        where = f"{self.source} row {self.row(position)}"
        return where if line is None else f"{where} (line {line})"


@dataclass(frozen=True)
class Problem:
    """Rows of a frame that break one rule.

    Attributes:
        reason: the key under which the rows are counted in a report.
        positions: sorted 0-based positions of the rows in the frame.
        detail: the message for one position, after its row and column.
        column: the column concerned, a function of the position, or None for the whole row.
        repairable: whether "skip" keeps the row (with a repaired value) rather than dropping it.
    """

    reason: str
    positions: np.ndarray
    detail: Callable[[int], str]
    column: str | Callable[[int], str | None] | None = None
    repairable: bool = False

    def message(self, position: int, locator: RowLocator) -> str:
        column = self.column(position) if callable(self.column) else self.column
        where = locator.describe(position)
        if column is not None:
            where = f"{where}, column '{column}'"
        return f"{where}: {self.detail(position)}"


def validate_table(
    frame: pd.DataFrame,
    kind: str,
    *,
    source: str,
    bad_rows: str = "error",
    row_offset: int = 0,
    line_offset: int | None = None,
    base_dir: Folder | None = None,
    extra_columns: Mapping[str, str | ExtraColumn] | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
) -> tuple[pd.DataFrame, TableReport]:
    """Validates a table and returns it in normalised form with a report.

    Args:
        frame: the table as read; extra columns are ignored.
        kind: one of `schema.TABLE_KINDS`.
        source: names the table in messages, e.g. "events.csv" or "DataFrame events".
        bad_rows: "error" raises at the first bad row; "skip" drops or repairs bad rows.
        row_offset: data rows of the source before the first row of `frame`.
        line_offset: line number minus row number (1 for a CSV file with a header);
            None when the source has no lines.
        base_dir: folder that relative image paths are resolved against (default: the
            working directory).
        extra_columns: columns of the shop's own to keep beside the schema's, each "number",
            "text" or "list", or an `ExtraColumn` (a task's label column, a feature's);
            absent ones are not added.
        event_types: the event types an events table may hold (`data.event_types`); an
            event of another type is a bad row naming the declared ones.

    Returns:
        The normalised table (columns and dtypes of `schema`, index 0..n-1) and its report.

    Raises:
        DataValidationError: a required column is missing, an item_id is repeated, or
            (with bad_rows="error") a row breaks a rule.
    """
    locator = RowLocator(source, row_offset=row_offset, line_offset=line_offset)
    clean, report = validate_located(frame, kind, locator, bad_rows=bad_rows, base_dir=base_dir,
                                     extra_columns=extra_columns, event_types=event_types)
    return clean.reset_index(drop=True), report


def validate_located(
    frame: pd.DataFrame,
    kind: str,
    locator: RowLocator,
    *,
    bad_rows: str = "error",
    base_dir: Folder | None = None,
    problems: Iterable[Problem] = (),
    extra_columns: Mapping[str, str | ExtraColumn] | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
) -> tuple[pd.DataFrame, TableReport]:
    """`validate_table` with a given locator and problems already found by a reader.

    The returned frame keeps the positions of its rows in `frame` as index.
    """
    check_choice("kind", kind, schema.TABLE_KINDS)
    check_choice("bad_rows", bad_rows, BAD_ROW_POLICIES)
    raw = _with_clean_names(frame, kind, locator.source)
    _check_required(raw, kind, locator.source)
    found = list(problems)
    if kind == "events":
        normalised = _normalise_events(raw, found, base_dir, event_types)
    else:
        normalised = _NORMALISERS[kind](raw, found, base_dir)
    for name, kind_of_value in (extra_columns or {}).items():
        if name in raw.columns and name not in normalised.columns:
            normalised[name] = _extra_column(raw, name, kind_of_value, found)
        elif isinstance(kind_of_value, ExtraColumn) and kind_of_value.expected and name not in raw.columns:
            raise DataValidationError(
                f"{locator.source}: {kind_of_value.what or 'the configuration'} reads column {name!r}, which the "
                f"{kind} table does not have; its columns: {', '.join(map(str, raw.columns)) or 'none'}")
    report = TableReport(source=locator.source, kind=kind, rows_read=len(raw))
    clean = _apply_policy(normalised, found, locator, bad_rows, report)
    if kind in _KEYS:
        check_unique_keys(clean[_KEYS[kind]], lambda i: locator.describe(int(clean.index[i])), kind)
    report.rows_kept = len(clean)
    return clean, report


def _extra_column(raw: pd.DataFrame, name: str, spec: str | ExtraColumn, problems: list[Problem]) -> Any:
    """A column of the shop's own kept beside the schema's: numbers (a value that is not one
    is repairable to NaN), text, or lists of text values (joined with `LIST_SEPARATOR`)."""
    column = spec if isinstance(spec, ExtraColumn) else ExtraColumn(spec)
    check_choice(f"the kind of column {name!r}", column.kind, EXTRA_COLUMN_KINDS)
    if column.kind == "number":
        values = _optional_numbers(raw, name, f"{name} not a number", problems)
        missing = np.isnan(values)
    elif column.kind == "list":
        values = raw[name].map(lambda value: _joined_list(value, column.separator)).to_numpy(dtype=object)
        missing = values == ""
    else:
        values = _text_column(raw, name).to_numpy(dtype=object)
        missing = values == ""
    if column.required:
        what = column.what or f"column {name!r}"
        problems.append(Problem(f"missing {name}", _positions(missing),
                                lambda i: f"no value, and {what} is not optional", name))
    return values


def _joined_list(value: object, separator: str) -> str:
    """A list value (or text split on `separator`) as its stripped, non-empty values joined
    with `LIST_SEPARATOR` ("" for none)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        parts = [_scalar_text(v) for v in value]
    elif _is_missing(value):
        return ""
    else:
        parts = _scalar_text(value).split(separator)
    return LIST_SEPARATOR.join(p for p in (part.strip().replace(LIST_SEPARATOR, " ") for part in parts) if p)


# The key column of each table whose rows must be unique.
_KEYS = {"items": "item_id", "users": "user_id"}


def check_unique_keys(keys: pd.Series, describe: Callable[[int], str], kind: str) -> None:
    """Raises DataValidationError naming both rows of the first repeated key of a table."""
    if kind == "items":
        check_unique_item_ids(keys, describe)
        return
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        second = int(np.argmax(repeated))
        first = int(np.flatnonzero((keys == keys.iloc[second]).to_numpy())[0])
        raise DataValidationError(
            f"{describe(second)}, column '{_KEYS[kind]}': duplicate {_KEYS[kind]} {_preview(keys.iloc[second])}, "
            f"first seen at {describe(first)}; the {kind} table has one row per {_KEYS[kind]}")


def check_unique_item_ids(item_ids: pd.Series, describe: Callable[[int], str]) -> None:
    """Raises DataValidationError naming both rows of the first repeated item_id.

    `describe` names the row at a position of `item_ids`.
    """
    repeated = item_ids.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    second = int(np.argmax(repeated))
    value = item_ids.iloc[second]
    first = int(np.flatnonzero((item_ids == value).to_numpy())[0])
    raise DataValidationError(
        f"{describe(second)}, column 'item_id': duplicate item_id {_preview(value)}, "
        f"first seen at {describe(first)}; item_id must be unique in the catalogue"
    )


def _with_clean_names(frame: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """The frame with stripped column names; a repeated column of the schema is an error."""
    names = [str(name).lstrip("\ufeff").strip() for name in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1} & set(COLUMNS[kind]))
    if repeated:
        raise DataValidationError(f"{source}: column {_preview(repeated[0])} appears more than once")
    raw = frame.set_axis(names, axis=1)
    raw = raw.loc[:, ~raw.columns.duplicated()]
    return raw.reset_index(drop=True)


def _check_required(raw: pd.DataFrame, kind: str, source: str) -> None:
    missing = [name for name in REQUIRED[kind] if name not in raw.columns]
    if missing:
        found = ", ".join(map(repr, raw.columns)) or "none"
        raise DataValidationError(
            f"{source}: missing required column {', '.join(map(repr, missing))} for the {kind} "
            f"table (required: {', '.join(REQUIRED[kind])}); found columns: {found}"
        )


def _apply_policy(
    frame: pd.DataFrame,
    problems: list[Problem],
    locator: RowLocator,
    bad_rows: str,
    report: TableReport,
) -> pd.DataFrame:
    """Raises at the first bad row, or drops and counts bad rows (each under its first reason)."""
    problems = [problem for problem in problems if len(problem.positions)]
    if not problems:
        return frame
    if bad_rows == "error":
        first = min(problems, key=lambda problem: int(problem.positions[0]))
        raise DataValidationError(first.message(int(first.positions[0]), locator))
    dropped = np.zeros(len(frame), dtype=bool)
    for problem in (p for p in problems if not p.repairable):
        fresh = problem.positions[~dropped[problem.positions]]
        dropped[fresh] = True
        _record(report, problem, fresh, locator, repaired=False)
    for problem in (p for p in problems if p.repairable):
        kept = problem.positions[~dropped[problem.positions]]
        _record(report, problem, kept, locator, repaired=True)
    return frame[~dropped]


def _record(
    report: TableReport, problem: Problem, positions: np.ndarray, locator: RowLocator, *, repaired: bool
) -> None:
    messages = [problem.message(int(p), locator) for p in positions[:EXAMPLES_PER_REASON]]
    report.record(problem.reason, len(positions), messages, repaired=repaired)


# ---------------------------------------------------------------------------------------------
# Column conversions. Each returns the converted values and, where values can be bad, a mask.


def as_text(values: pd.Series) -> pd.Series:
    """Strings without surrounding whitespace; missing values become ""."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    holds_strings = isinstance(values.dtype, pd.StringDtype) or (
        values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"))
    if holds_strings:
        text = values
    elif pd.api.types.is_integer_dtype(values.dtype):
        text = values.astype(str)
    else:
        text = values.map(_scalar_text)
    return text.fillna("").astype(TEXT_DTYPE).str.strip()


def _scalar_text(value: object) -> str:
    """One value as text: ids stored as integral floats lose their ".0"."""
    if _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, dict, tuple, np.ndarray)) and bool(pd.isna(value)))


def _parse_decimals(text: pd.Series) -> np.ndarray:
    """Floats from stripped strings; NaN where a string is not a decimal number."""
    array = pa.array(text)
    try:
        numbers = pc.cast(array, pa.float64())
    except pa.ArrowInvalid:
        valid = pc.match_substring_regex(array, _DECIMAL)
        numbers = pc.cast(pc.if_else(valid, array, pa.scalar(None, array.type)), pa.float64())
    return np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of missing values (NaN, None or empty text)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(len(values), np.nan), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return numbers, np.isnan(numbers)
    text = as_text(values)
    return _parse_decimals(text), (text == "").to_numpy()


def epoch_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds (int64, UTC) and a mask of values that are neither epoch seconds nor ISO-8601.

    Numbers and numeric strings are epoch seconds (fractions are floored); other strings are
    ISO-8601, with or without a UTC offset (naive times are taken as UTC); datetime columns
    are converted likewise.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _datetime_seconds(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=np.int64), np.ones(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _float_seconds(values.to_numpy(dtype=np.float64, na_value=np.nan))
    text = as_text(values)
    seconds, bad = _float_seconds(_parse_decimals(text))
    retry = bad & (text != "").to_numpy()
    if retry.any():
        parsed = pd.to_datetime(text[retry], utc=True, format="ISO8601", errors="coerce")
        seconds[retry], bad[retry] = _datetime_seconds(parsed)
    return seconds, bad


def _float_seconds(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        bad = ~((numbers >= _MIN_SECONDS) & (numbers <= _MAX_SECONDS))
    seconds = np.floor(np.where(bad, 0.0, numbers)).astype(np.int64)
    return seconds, bad


def _datetime_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    seconds = (values - _EPOCH) // pd.Timedelta(seconds=1)
    bad = seconds.isna().to_numpy()
    return seconds.fillna(0).to_numpy(dtype=np.int64), bad


def _timestamp_detail(raw: pd.Series) -> Callable[[int], str]:
    def detail(position: int) -> str:
        value = raw.iloc[position]
        if _is_missing(value) or str(value).strip() == "":
            return f"missing value; expected {_TIMESTAMP_EXPECTED}"
        number = _as_float(value)
        if number is not None and math.isfinite(number):
            return (
                f"{_preview(value)} is out of range for epoch seconds (years 1677 to 2262); "
                "expected seconds, not milliseconds"
            )
        return f"cannot parse {_preview(value)} as {_TIMESTAMP_EXPECTED}"

    return detail


def _as_float(value: object) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str) and re.match(_DECIMAL, value.strip()):
        return float(value)
    return None


def _preview(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."


def _value_detail(raw: pd.Series, expected: str) -> Callable[[int], str]:
    return lambda position: f"expected {expected}, got {_preview(raw.iloc[position])}"


def _positions(mask: np.ndarray | pd.Series) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


def _empty_problem(values: pd.Series, column: str, reason: str) -> Problem:
    return Problem(reason, _positions((values == "").to_numpy()), lambda _: f"{column} is empty", column)


def _text_column(raw: pd.DataFrame, name: str) -> pd.Series:
    if name in raw.columns:
        return as_text(raw[name])
    return pd.Series([""] * len(raw), dtype=TEXT_DTYPE)


# ---------------------------------------------------------------------------------------------
# One normaliser per table kind: builds the normalised columns and appends the problems found.


def _normalise_events(raw: pd.DataFrame, problems: list[Problem], base_dir: Folder | None,
                      event_types: EventTypes) -> pd.DataFrame:
    user_id = _text_column(raw, "user_id")
    event_type = _text_column(raw, "event_type").str.lower()
    item_id = _text_column(raw, "item_id")
    seconds, bad_time = epoch_seconds(raw["timestamp"])
    unknown_type = ~event_type.isin(event_types.names).to_numpy()
    needs_item = (item_id == "").to_numpy() & ~event_type.isin(event_types.itemless).to_numpy()
    allowed = ", ".join(event_types.names) + " (data.event_types)"
    problems += [
        _empty_problem(user_id, "user_id", EMPTY_USER_ID),
        Problem(
            UNKNOWN_EVENT_TYPE,
            _positions(unknown_type),
            lambda i: f"unknown event_type {_preview(raw['event_type'].iloc[i])}; expected one of {allowed}",
            "event_type",
        ),
        Problem(BAD_TIMESTAMP, _positions(bad_time), _timestamp_detail(raw["timestamp"]), "timestamp"),
        Problem(
            EMPTY_ITEM_ID,
            _positions(needs_item),
            lambda i: f"item_id is empty on a {event_type.iloc[i]!r} event (only searches, "
                      f"{event_types.search!r}, and types without a role may have none)",
            "item_id",
        ),
    ]
    position = _optional_integers(raw, "position", -1, problems)
    return pd.DataFrame(
        {
            "user_id": user_id,
            "timestamp": seconds,
            "event_type": event_type,
            "item_id": item_id,
            "query": _text_column(raw, "query"),
            "session_id": _text_column(raw, "session_id"),
            "position": position,
            "rating": _optional_numbers(raw, "rating", BAD_RATING, problems),
        }
    )


def _optional_integers(raw: pd.DataFrame, name: str, default: int, problems: list[Problem]) -> np.ndarray:
    """Integers of an optional column; missing values take `default`, bad ones are repairable."""
    if name not in raw.columns:
        return np.full(len(raw), default, dtype=np.int64)
    if pd.api.types.is_integer_dtype(raw[name].dtype) and not raw[name].hasnans:
        return raw[name].to_numpy(dtype=np.int64)
    numbers, missing = _numbers(raw[name])
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers)) & (np.abs(numbers) < 2**53)
    bad = ~missing & ~whole
    problems.append(
        Problem(BAD_POSITION, _positions(bad), _value_detail(raw[name], "an integer"), name, repairable=True)
    )
    return np.where(missing | bad, default, np.where(whole, numbers, 0)).astype(np.int64)


def _normalise_items(raw: pd.DataFrame, problems: list[Problem], base_dir: Folder | None) -> pd.DataFrame:
    item_id = _text_column(raw, "item_id")
    category = _text_column(raw, "category")
    problems += [
        _empty_problem(item_id, "item_id", EMPTY_ITEM_ID),
        _empty_problem(category, "category", EMPTY_CATEGORY),
    ]
    return pd.DataFrame(
        {
            "item_id": item_id,
            "category": category,
            # Optional: an item without a title (or a table without the column) is fine.
            "title": _text_column(raw, "title"),
            "brand": _text_column(raw, "brand"),
            "price": _prices(raw, problems),
            "image": _images(raw, item_id, problems, base_dir),
        }
    )


def _prices(raw: pd.DataFrame, problems: list[Problem]) -> np.ndarray:
    """Prices: like `_optional_numbers`, and a negative price is repairable to unknown (NaN)."""
    prices = _optional_numbers(raw, "price", BAD_PRICE, problems)
    with np.errstate(invalid="ignore"):
        negative = prices < 0
    problems.append(Problem(NEGATIVE_PRICE, _positions(negative),
                            _value_detail(raw.get("price", pd.Series(dtype=object)), "a price of 0 or more"),
                            "price", repairable=True))
    return np.where(negative, np.nan, prices)


def _optional_numbers(raw: pd.DataFrame, name: str, reason: str, problems: list[Problem]) -> np.ndarray:
    """Floats of an optional column: missing values are NaN; other non-numbers are repairable to NaN."""
    if name not in raw.columns:
        return np.full(len(raw), np.nan)
    numbers, missing = _numbers(raw[name])
    bad = ~missing & ~np.isfinite(numbers)
    problems.append(
        Problem(reason, _positions(bad), _value_detail(raw[name], "a number"), name, repairable=True)
    )
    return np.where(bad, np.nan, numbers)


def _images(raw: pd.DataFrame, item_id: pd.Series, problems: list[Problem], base_dir: Folder | None) -> pd.Series:
    """Image bytes: bytes are kept, paths are read relative to `base_dir`.

    Every image is opened and verified; a missing, empty or undecodable image is
    repairable: the item is then taken as having no image.
    """
    if "image" not in raw.columns:
        return pd.Series([None] * len(raw), dtype=object)
    folder = os.fspath(base_dir) if base_dir is not None else ""
    images: list[bytes | None] = []
    bad: dict[str, dict[int, str]] = {MISSING_IMAGE: {}, EMPTY_IMAGE: {}, BAD_IMAGE: {}}
    for position, value in enumerate(raw["image"].to_numpy(dtype=object)):
        content, path = _image_bytes(value, folder)
        where = f"item_id {_preview(item_id.iloc[position])}: "
        if content is None and path is not None:
            bad[MISSING_IMAGE][position] = f"{where}image file not found: {path} (given {_preview(value)})"
        elif content == b"" and path is not None:
            bad[EMPTY_IMAGE][position] = f"{where}image file {path} is empty (0 bytes); expected a PNG or JPEG"
            content = None
        elif content:
            error = image_error(content)
            if error is not None:
                named = path if path is not None else f"{len(content):,} bytes"
                bad[BAD_IMAGE][position] = f"{where}cannot decode image {named}: {error}; expected a PNG or JPEG"
                content = None
        images.append(content or None)
    for reason, messages in bad.items():
        positions = np.array(sorted(messages), dtype=np.int64)
        problems.append(Problem(reason, positions, messages.__getitem__, "image", repairable=True))
    return pd.Series(images, dtype=object)


def image_error(content: bytes) -> str | None:
    """None when `content` opens and verifies as an image, else what is wrong with it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as picture:
            picture.verify()
            if picture.format not in DECODED_IMAGE_FORMATS:
                return f"{picture.format} is not a format TensorFlow decodes ({', '.join(IMAGE_FORMAT_NAMES)})"
    except Image.DecompressionBombError as error:
        return str(error)
    except (OSError, SyntaxError, ValueError) as error:
        return re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(error)) or type(error).__name__
    return None


def _image_bytes(value: object, folder: str) -> tuple[bytes | None, str | None]:
    """The bytes of an image value (None when there is none or the file cannot be read) and
    the path it was read from (None for bytes or no value)."""
    if isinstance(value, dict):  # {"bytes": ..., "path": ...} as written by some dataset tools
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), None
    if _is_missing(value) or not str(value).strip():
        return None, None
    path = str(value).strip()
    path = path if is_url(path) or not folder else join(folder, path)
    try:
        if is_url(path):
            return read_bytes(path), path
        with open(path, "rb") as handle:  # without loading TensorFlow
            return handle.read(), path
    except OSError:
        return None, path


def _normalise_queries(raw: pd.DataFrame, problems: list[Problem], base_dir: Folder | None) -> pd.DataFrame:
    query = _text_column(raw, "query")
    category = _text_column(raw, "category")
    problems += [
        _empty_problem(query, "query", EMPTY_QUERY),
        _empty_problem(category, "category", EMPTY_CATEGORY),
    ]
    return pd.DataFrame({"query": query, "category": category})


def _normalise_users(raw: pd.DataFrame, problems: list[Problem], base_dir: Folder | None) -> pd.DataFrame:
    user_id = _text_column(raw, "user_id")
    problems.append(_empty_problem(user_id, "user_id", EMPTY_USER_ID))
    return pd.DataFrame({"user_id": user_id})


# Events are normalised against the declared event types, apart.
_NORMALISERS: dict[str, Callable[[pd.DataFrame, list[Problem], Folder | None], pd.DataFrame]] = {
    "items": _normalise_items,
    "queries": _normalise_queries,
    "users": _normalise_users,
}
