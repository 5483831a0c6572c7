"""Reading the user's tables: CSV, Parquet, JSON Lines, folders of shards, or DataFrames.

Each file is read as text first (no type guessing), its invalid UTF-8 and malformed rows
are located, and the table is validated and normalised by `validation`, so that messages
name the file, the row and (for text files) the line.

Example:
    >>> data = load_data("shop/events.csv", "shop/items.parquet", bad_rows="skip")  # doctest: +SKIP
    >>> data.events.dtypes["timestamp"]  # doctest: +SKIP
    dtype('int64')
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from mtrec_tf.data import schema
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.membership import is_in, members
from mtrec_tf.data.schema import UNKNOWN_ITEM_POLICIES
from mtrec_tf.data.splits import EVENT_NUMBER, event_numbers
from mtrec_tf.data.validation import (
    BAD_ROW_POLICIES,
    INVALID_UTF8,
    MALFORMED_ROW,
    UNKNOWN_ITEM,
    DataValidationError,
    ExtraColumn,
    Problem,
    RowLocator,
    TableReport,
    check_unique_keys,
    validate_located,
    validate_table,
)
from mtrec_tf.errors import check_choice
from mtrec_tf.url_path import AnyPath, path_of, readable

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".json": "jsonl",
}
# Columns whose values are labels: a row whose label cannot be read is dropped, not repaired.
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {"items": ("category",), "queries": ("category",)}
IGNORED_FOLDERS: tuple[str, ...] = ("truth", "images")

PathLike = str | os.PathLike[str]
TableSource = PathLike | pd.DataFrame | Sequence[PathLike]

_HEADER_SCAN_CHARS = 1 << 20
# What `read_table(image_bytes=False)` holds in place of an item's verified image.
VERIFIED_IMAGE = b"verified image"
_ITEMS_PER_PIECE = 2_000
_UNKNOWN_EXAMPLES = 3
# Columns that pyarrow must not read as dates: all but `timestamp`. A JSON string such as
# "2024-01-01" in a text or number column (query, position, price, rating, ...) is then kept
# as written, so that it is stored as text or reported with the value the file holds.
_NOT_DATES = frozenset(
    schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL + schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL
) - {"timestamp"}


@dataclass
class EcommerceData:
    """The user's tables in normalised form (see `schema`) and what reading them did.

    Attributes:
        events: one row per event.
        items: the catalogue, one row per item_id.
        queries: explicit query labels, or None.
        reports: one report per table, in the order events, items, queries, users.
        unknown_item_events: events whose item_id is not in the catalogue.
        unknown_items_policy: "keep" (kept as out-of-vocabulary) or "drop".
    """

    events: pd.DataFrame
    items: pd.DataFrame
    queries: pd.DataFrame | None
    reports: list[TableReport]
    unknown_item_events: int
    unknown_items_policy: str
    users: pd.DataFrame | None = None


@dataclass
class RawTable:
    """A file as read, before validation.

    Attributes:
        frame: every column as found in the file.
        locator: names the frame's rows in messages.
        problems: rows already found bad while reading (malformed, invalid UTF-8).
        file_issues: problems not tied to a row: fatal with bad_rows="error", else noted.
    """

    frame: pd.DataFrame
    locator: RowLocator
    problems: list[Problem] = field(default_factory=list)
    file_issues: list[str] = field(default_factory=list)


def load_data(
    events: TableSource,
    items: TableSource,
    queries: TableSource | None = None,
    *,
    bad_rows: str = "error",
    unknown_items: str = "keep",
    event_columns: Mapping[str, str | ExtraColumn] | None = None,
    users: TableSource | None = None,
    item_columns: Mapping[str, str | ExtraColumn] | None = None,
    user_columns: Mapping[str, str | ExtraColumn] | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
) -> EcommerceData:
    """Reads, validates and normalises the events, items and optional queries tables.

    Args:
        events, items, queries: a file, a folder of shards, a list of either, or a DataFrame.
        bad_rows: "error" raises at the first bad row; "skip" drops or repairs bad rows
            and counts them in the reports.
        unknown_items: what to do with events whose item_id is not in the catalogue:
            "keep" (as out-of-vocabulary items) or "drop". They are counted either way.
        event_columns: columns of the shop's own to keep in the events table, each "number",
            "text" or "list", or an `ExtraColumn` (the label columns of tasks, the features).
        users: the optional users table (`user_id` and profile columns).
        item_columns, user_columns: columns of the shop's own to keep in the items and users
            tables (the features).
        event_types: the event types the events table may hold (`data.event_types`).

    Returns:
        The normalised tables and their reports.
    """
    check_choice("bad_rows", bad_rows, BAD_ROW_POLICIES)
    check_choice("unknown_items", unknown_items, UNKNOWN_ITEM_POLICIES)
    event_frame, event_report = read_table(events, "events", bad_rows=bad_rows, extra_columns=event_columns,
                                           event_types=event_types)
    item_frame, item_report = read_table(items, "items", bad_rows=bad_rows, extra_columns=item_columns)
    reports = [event_report, item_report]
    query_frame = user_frame = None
    if queries is not None:
        query_frame, query_report = read_table(queries, "queries", bad_rows=bad_rows)
        reports.append(query_report)
    if users is not None:
        user_frame, user_report = read_table(users, "users", bad_rows=bad_rows, extra_columns=user_columns)
        reports.append(user_report)
    for report in reports:
        check_not_empty(report)
    event_frame, unknown = _handle_unknown_items(event_frame, item_frame, unknown_items, event_report)
    return EcommerceData(event_frame, item_frame, query_frame, reports, unknown, unknown_items, user_frame)


def check_not_empty(report: TableReport) -> None:
    """Raises DataValidationError naming the table when it has no rows left."""
    if report.rows_kept:
        return
    if not report.rows_read:
        raise DataValidationError(f"{report.source}: the {report.kind} table has no data rows")
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in report.dropped.items())
    raise DataValidationError(
        f"{report.source}: all {report.rows_read:,} rows of the {report.kind} table were dropped as bad "
        f"({reasons}); nothing is left"
    )


def _handle_unknown_items(
    events: pd.DataFrame, items: pd.DataFrame, policy: str, report: TableReport
) -> tuple[pd.DataFrame, int]:
    """Counts events pointing at items absent from the catalogue; drops them if asked."""
    unknown = UnknownItems()
    events = unknown.take(events, members(items["item_id"]), policy)
    unknown.report_to(report, policy)
    return events, unknown.count


@dataclass
class UnknownItems:
    """Events whose item is not in the catalogue, summed over pieces of the events table."""

    count: int = 0
    ids: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def take(self, events: pd.DataFrame, catalogue: pa.Array, policy: str) -> pd.DataFrame:
        """Counts the events of `events` outside `catalogue` (the item ids, as `membership.members`)
        in; returns `events` without them for the "drop" policy, else as they are."""
        item_ids = events["item_id"]
        outside = (item_ids != "").to_numpy() & ~is_in(item_ids, catalogue)
        if not outside.any():
            return events
        self.count += int(outside.sum())
        for item_id in map(str, pd.unique(item_ids[outside])):
            if item_id not in self.ids and len(self.examples) < _UNKNOWN_EXAMPLES:
                self.examples.append(item_id)
            self.ids.add(item_id)
        return events[~outside].reset_index(drop=True) if policy == "drop" else events

    def merge(self, other: UnknownItems) -> UnknownItems:
        """Both tallies in one (the examples of this one first); returns self."""
        self.count += other.count
        self.examples += [item_id for item_id in other.examples if item_id not in self.ids][
            :_UNKNOWN_EXAMPLES - len(self.examples)]
        self.ids |= other.ids
        return self

    def report_to(self, report: TableReport, policy: str) -> None:
        """Says in `report` what was done with them (dropped rows leave `rows_kept`)."""
        if not self.count:
            return
        sample = ", ".join(repr(item_id) for item_id in self.examples)
        summary = (f"{self.count:,} events point at {len(self.ids):,} item_ids absent from the catalogue "
                   f"(e.g. {sample})")
        if policy == "drop":
            report.record(UNKNOWN_ITEM, self.count, [f"{report.source}: {summary}; dropped"])
            report.rows_kept -= self.count
        else:
            report.notes.append(f"{summary}; kept as out-of-vocabulary items")


def read_table(
    source: TableSource,
    kind: str,
    *,
    bad_rows: str = "error",
    name: str | None = None,
    extra_columns: Mapping[str, str | ExtraColumn] | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
    image_bytes: bool = True,
    images: Callable[[pd.DataFrame], None] | None = None,
) -> tuple[pd.DataFrame, TableReport]:
    """Reads one table and returns it in normalised form with its report.

    Args:
        source: a file (.csv, .parquet/.pq, .jsonl/.json), a folder of such shards (all
            files of known extension inside, in name order), a list of files and folders,
            or a DataFrame.
        kind: one of `schema.TABLE_KINDS`.
        bad_rows: "error" or "skip", as in `validation.validate_table`.
        name: how a DataFrame is named in messages (default: `kind`).
        extra_columns, event_types: as in `validation.validate_table`.
        image_bytes: False reads the items files in pieces and replaces each image, once
            verified, by `VERIFIED_IMAGE`: a catalogue for building examples, which only ask
            whether an item has an image, in memory that does not hold the images.
        images: with `image_bytes=False`, given each piece of the items table before its
            images are dropped (to keep them elsewhere, such as `catalogue_images`).

    Returns:
        One frame for all shards and one report for all of them; messages keep each file's
        own row and line numbers.
    """
    check_choice("kind", kind, schema.TABLE_KINDS)
    check_choice("bad_rows", bad_rows, BAD_ROW_POLICIES)
    if isinstance(source, pd.DataFrame):
        frame, report = validate_table(source, kind, source=f"DataFrame {name or kind}", bad_rows=bad_rows,
                                       extra_columns=extra_columns, event_types=event_types)
        return (_numbered(frame, 0) if kind == "events" else frame), report
    files = table_files(source)
    if kind == "items" and not image_bytes:
        parts = _items_without_images(files, bad_rows, extra_columns, images)
    else:
        parts = [_read_and_validate(path, kind, bad_rows, extra_columns, event_types) for path in files]
    frames = [_numbered(frame, index) if kind == "events" else frame for index, (frame, _, _) in enumerate(parts)]
    table = frames[0] if len(frames) == 1 else pd.concat(frames)
    if kind in ("items", "users") and len(parts) > 1:
        _check_unique_across(table, frames, [locator for _, _, locator in parts], kind)
    report = parts[0][1]
    for _, other, _ in parts[1:]:
        report = report.merge(other)
    report.source = describe_source(source, files)
    return table.reset_index(drop=True), report


def _items_without_images(files: list[AnyPath], bad_rows: str, extra_columns: Mapping[str, str | ExtraColumn] | None,
                          images: Callable[[pd.DataFrame], None] | None,
                          ) -> list[tuple[pd.DataFrame, TableReport, RowLocator]]:
    """The items files validated in pieces, each piece handed to `images`, then each verified
    image replaced by `VERIFIED_IMAGE`."""
    parts = []
    for path in files:
        for frame, report in validated_chunks(path, "items", bad_rows=bad_rows, extra_columns=extra_columns,
                                              rows_per_chunk=_ITEMS_PER_PIECE):
            if images is not None:
                images(frame)
            frame["image"] = frame["image"].map(lambda image: None if image is None else VERIFIED_IMAGE)
            parts.append((frame, report, RowLocator(str(path))))  # the frame's index is its rows in the file
    return parts


def _numbered(events: pd.DataFrame, file_index: int) -> pd.DataFrame:
    """`events` (indexed by their rows in the file) with their numbers in the log."""
    return events.assign(**{EVENT_NUMBER: event_numbers(file_index, events.index.to_numpy())})


def _read_and_validate(path: AnyPath, kind: str, bad_rows: str, extra_columns: Mapping[str, str | ExtraColumn] | None,
                       event_types: EventTypes) -> tuple[pd.DataFrame, TableReport, RowLocator]:
    raw = read_raw(path)
    if raw.file_issues and bad_rows == "error":
        raise DataValidationError(raw.file_issues[0])
    frame, report = validate_located(
        raw.frame, kind, raw.locator, bad_rows=bad_rows, base_dir=path.parent,
        problems=_label_repairs_dropped(raw.problems, kind), extra_columns=extra_columns, event_types=event_types,
    )
    report.notes.extend(raw.file_issues)
    return frame, report, raw.locator


def validated_chunks(path: AnyPath, kind: str, *, bad_rows: str = "error",
                     extra_columns: Mapping[str, str | ExtraColumn] | None = None,
                     event_types: EventTypes = DEFAULT_EVENT_TYPES,
                     rows_per_chunk: int = 1_000_000) -> Iterator[tuple[pd.DataFrame, TableReport]]:
    """One file of a table, validated and normalised piece by piece, with each piece's report:
    Parquet files in pieces of `rows_per_chunk` rows (messages name each row's place in the
    file), other formats whole. A table's rows can be validated independently of each other;
    `read_table` checks the items' and users' keys across rows as well. Each frame is indexed
    by the rows' 0-based places in the file."""
    for raw in read_raw_chunks(path, rows_per_chunk):
        if raw.file_issues and bad_rows == "error":
            raise DataValidationError(raw.file_issues[0])
        frame, report = validate_located(
            raw.frame, kind, raw.locator, bad_rows=bad_rows, base_dir=path.parent,
            problems=_label_repairs_dropped(raw.problems, kind), extra_columns=extra_columns,
            event_types=event_types,
        )
        report.notes.extend(raw.file_issues)
        frame.index = frame.index + raw.locator.row_offset
        yield frame, report


def read_raw_chunks(path: AnyPath, rows_per_chunk: int) -> Iterator[RawTable]:
    """`read_raw` in pieces: a Parquet file `rows_per_chunk` rows at a time, others whole."""
    if _check_format(path) != "parquet":
        yield read_raw(path)
        return
    source = str(path)
    try:
        with readable(path) as opened:
            yield from _parquet_chunks(pq.ParquetFile(opened), source, rows_per_chunk)
    except (pa.ArrowException, OSError) as err:
        raise DataValidationError(f"{source}: cannot read Parquet file ({err})") from err


def _parquet_chunks(parquet: pq.ParquetFile, source: str, rows_per_chunk: int) -> Iterator[RawTable]:
    if parquet.num_row_groups == 0:  # the columns are still checked
        yield RawTable(parquet.schema_arrow.empty_table().to_pandas(), RowLocator(source))
    offset = 0
    # Row group by row group, without read-ahead: memory holds one row group at a time.
    for group in range(parquet.num_row_groups):
        for batch in parquet.iter_batches(batch_size=rows_per_chunk, row_groups=[group], use_threads=False):
            frame = _parquet_frame(pa.Table.from_batches([batch], schema=parquet.schema_arrow))
            yield RawTable(frame, RowLocator(source, row_offset=offset))
            offset += batch.num_rows


def _check_unique_across(table: pd.DataFrame, frames: list[pd.DataFrame], locators: list[RowLocator],
                         kind: str) -> None:
    shard = np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])
    position = np.concatenate([frame.index.to_numpy() for frame in frames])
    check_unique_keys(
        table["item_id" if kind == "items" else "user_id"].reset_index(drop=True),
        lambda i: locators[shard[i]].describe(int(position[i])), kind,
    )


def describe_source(source: PathLike | Sequence[PathLike], files: list[AnyPath]) -> str:
    """How a table read from `source` (its `files`) is named in reports."""
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if len(sources) == 1:
        return str(sources[0])
    return f"{files[0]} and {len(files) - 1} more files"


def table_files(source: PathLike | Sequence[PathLike]) -> list[AnyPath]:
    """The files of a table: a file, a folder of shards, or a list of files and folders."""
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not sources:
        raise ValueError("no files given for the table")
    files: list[AnyPath] = []
    for path in map(path_of, sources):
        if path.is_dir():
            shards = shard_files(path)
            if not shards:
                raise DataValidationError(f"{path}: no {', '.join(FORMATS)} files in this folder")
            files += shards
        elif path.is_file():
            _check_format(path)
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


def shard_files(folder: AnyPath) -> list[AnyPath]:
    """Files of known format directly inside `folder`, by name; hidden and `_` files skipped."""
    return sorted(
        (
            path
            for path in folder.iterdir()
            if path.is_file()
            and path.suffix.lower() in FORMATS
            and not path.name.startswith((".", "_"))
        ),
        key=lambda path: path.name,
    )


def _check_format(path: AnyPath) -> str:
    table_format = FORMATS.get(path.suffix.lower())
    if table_format is None:
        raise DataValidationError(
            f"{path}: unknown file type {path.suffix!r}; expected one of {', '.join(FORMATS)}"
        )
    return table_format


def found_event_types(source: PathLike | Sequence[PathLike] | pd.DataFrame) -> list[str]:
    """The distinct event types of an events table as validation reads them (lower-cased,
    trimmed), most frequent first; nothing is validated."""
    frames = [source] if isinstance(source, pd.DataFrame) else [read_raw(p).frame for p in table_files(source)]
    values = pd.concat([f["event_type"] for f in frames if "event_type" in f.columns] or [pd.Series(dtype=object)])
    values = values.dropna().astype(str).str.strip().str.lower()
    return [str(name) for name in values[values != ""].value_counts().index]


def read_raw(path: AnyPath) -> RawTable:
    """Reads one file without validating it; the file is named as `str(path)`."""
    readers: dict[str, Callable[[AnyPath, str], RawTable]] = {
        "csv": _read_csv,
        "parquet": _read_parquet,
        "jsonl": _read_jsonl,
    }
    return readers[_check_format(path)](path, str(path))


# ---------------------------------------------------------------------------------------------
# Text: UTF-8 decoding with the offsets of invalid bytes.


def decode_utf8(data: bytes, start: int = 0) -> tuple[str, list[int]]:
    """Decodes `data[start:]`, replacing invalid sequences with U+FFFD.

    Returns:
        The text and the byte offsets (in `data`) of the invalid sequences.
    """
    view = memoryview(data)
    parts: list[str] = []
    offsets: list[int] = []
    while True:
        try:
            parts.append(codecs.utf_8_decode(view[start:], "strict", True)[0])
            return "".join(parts), offsets
        except UnicodeDecodeError as err:
            parts.append(codecs.utf_8_decode(view[start : start + err.start], "strict", True)[0])
            parts.append("\ufffd")
            offsets.append(start + err.start)
            start += err.end


def _strip_bom(data: bytes) -> int:
    return len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0


def _nonblank_line_numbers(body: bytes) -> np.ndarray:
    """1-based numbers of the lines of `body` that are not empty (a lone "\r" counts as empty)."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    lengths = np.concatenate((newlines, [len(raw)])) - starts
    first = raw[np.minimum(starts, len(raw) - 1)] if len(raw) else np.zeros(len(starts), dtype=np.uint8)
    blank = (lengths == 0) | ((lengths == 1) & (first == ord("\r")))
    return np.flatnonzero(~blank) + 1


def _utf8_problems(
    data: bytes, offsets: list[int], record_lines: np.ndarray | None, frame: pd.DataFrame, source: str
) -> tuple[list[Problem], list[str]]:
    """Rows holding invalid UTF-8 (repairable), and messages for bytes outside any row."""
    if not offsets:
        return [], []
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    lines = np.searchsorted(newlines, offsets, side="right") + 1
    if record_lines is None:
        positions = np.full(len(offsets), -1)
    else:
        positions = np.searchsorted(record_lines, lines, side="right") - 1
    first: dict[int, tuple[int, int]] = {}
    for offset, line, position in zip(offsets, lines.tolist(), positions.tolist()):
        first.setdefault(position, (offset, line))
    outside = " (header)" if record_lines is not None else ""
    file_issues = [
        f"{source} line {line}{outside}: invalid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset}"
        for offset, line, position in zip(offsets, lines.tolist(), positions.tolist())
        if position < 0
    ][:1]

    def detail(position: int) -> str:
        offset, line = first[position]
        return f"invalid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line})"

    def columns(position: int) -> list[str | None]:
        row = frame.iloc[position]
        return [str(name) for name, value in row.items() if "\ufffd" in str(value)] or [None]

    # A row is counted under each column that holds invalid UTF-8.
    by_column: dict[str | None, list[int]] = {}
    for position in sorted(p for p in first if p >= 0):
        for name in columns(position):
            by_column.setdefault(name, []).append(position)
    problems = [
        Problem(invalid_utf8_reason(name), np.array(rows, dtype=np.int64), detail, name, repairable=True)
        for name, rows in by_column.items()
    ]
    return problems, file_issues


def invalid_utf8_reason(column: str | None) -> str:
    """The reason under which rows with invalid UTF-8 in `column` are counted."""
    return INVALID_UTF8 if column is None else f"{INVALID_UTF8} in {column}"


def _label_repairs_dropped(problems: list[Problem], kind: str) -> list[Problem]:
    """Invalid UTF-8 in a label column (a category) drops the row: a repaired value would be
    a new category that no other row shares."""
    labels = {invalid_utf8_reason(name) for name in LABEL_COLUMNS.get(kind, ())}
    return [replace(p, repairable=False) if p.reason in labels else p for p in problems]


# ---------------------------------------------------------------------------------------------
# CSV: pyarrow parses (all columns as strings) and reports malformed rows by record number; line
# numbers come from the blank-line structure, or from the csv module when records span lines.


def _read_csv(path: AnyPath, source: str) -> RawTable:
    data = path.read_bytes()
    bom = _strip_bom(data)
    text, bad_offsets = decode_utf8(data, bom)
    body = text.encode("utf-8") if bad_offsets else data[bom:]
    header = _csv_header(text, source)
    frame, malformed = _parse_csv(body, header, source)
    lines = _csv_record_lines(body, text, len(frame))
    locator = RowLocator(source, lines=lines)
    width = len(header)
    problem = Problem(
        MALFORMED_ROW,
        np.array(sorted(malformed), dtype=np.int64),
        lambda i: f"expected {width} fields as in the header, found {malformed[i]}",
    )
    utf8, file_issues = _utf8_problems(data, bad_offsets, lines, frame, source)
    return RawTable(frame, locator, [problem, *utf8], file_issues)


def _csv_header(text: str, source: str) -> list[str]:
    for record in csv.reader(io.StringIO(text[:_HEADER_SCAN_CHARS], newline="")):
        if record:
            return record
    raise DataValidationError(f"{source}: the file is empty; expected a header row")


def _parse_csv(body: bytes, header: list[str], source: str) -> tuple[pd.DataFrame, dict[int, int]]:
    """All columns as strings, one row per record, and position -> fields of malformed records.

    Malformed records are kept as empty rows so that positions match record numbers.
    """
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = _arrow_csv(body, convert)
        return table.to_pandas(), {}
    except pa.ArrowInvalid:
        pass
    malformed: dict[int, int] = {}

    def skip(row: pa_csv.InvalidRow) -> str:
        if row.number is None:
            return "error"
        malformed[row.number - 2] = row.actual_columns  # number counts the header as record 1
        return "skip"

    try:
        table = _arrow_csv(body, convert, skip)
    except pa.ArrowInvalid as err:
        raise DataValidationError(f"{source}: cannot parse CSV ({err})") from err
    return _with_empty_rows(table, sorted(malformed)).to_pandas(), malformed


def _arrow_csv(
    body: bytes, convert: pa_csv.ConvertOptions, on_invalid: Callable[[pa_csv.InvalidRow], str] | None = None
) -> pa.Table:
    """Reads with threads when invalid rows are errors; one thread numbers the invalid rows."""
    return pa_csv.read_csv(
        pa.py_buffer(body),
        read_options=pa_csv.ReadOptions(use_threads=on_invalid is None),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=convert,
    )


def _with_empty_rows(table: pa.Table, positions: list[int]) -> pa.Table:
    """`table` with null rows inserted at `positions` of the result."""
    size = table.num_rows + len(positions)
    kept = np.ones(size, dtype=bool)
    kept[positions] = False
    take = np.zeros(size, dtype=np.int64)
    take[kept] = np.arange(table.num_rows)
    return table.take(pa.array(take, mask=~kept))


def _csv_record_lines(body: bytes, text: str, rows: int) -> np.ndarray | None:
    """The first line of each data record, or None when it cannot be told."""
    lines = _nonblank_line_numbers(body)
    if len(lines) != rows + 1:
        lines = _csv_record_starts(text)
    return lines[1:] if len(lines) == rows + 1 else None


def _csv_record_starts(text: str) -> np.ndarray:
    """The first line of each non-empty record (header included), as the csv module splits them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts: list[int] = []
    previous = 0
    try:
        for record in reader:
            if record:
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error:
        return np.zeros(0, dtype=np.int64)
    return np.array(starts, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# JSON Lines (and a JSON array of objects in a .json file).


def _read_jsonl(path: AnyPath, source: str) -> RawTable:
    data = path.read_bytes()
    bom = _strip_bom(data)
    text, bad_offsets = decode_utf8(data, bom)
    if text.lstrip().startswith("["):
        return _read_json_array(text, source)
    body = text.encode("utf-8") if bad_offsets else data[bom:]
    frame = _jsonl_regular(body)
    problems: list[Problem] = []
    lines = _nonblank_line_numbers(body)
    if frame is None or len(frame) != len(lines):
        bodies, lines = _nonblank_lines(text)
        if frame is None or len(frame) != len(bodies):
            frame, problems = _json_records(bodies)
    locator = RowLocator(source, lines=lines)
    utf8, file_issues = _utf8_problems(data, bad_offsets, lines, frame, source)
    return RawTable(frame, locator, problems + utf8, file_issues)


def _jsonl_regular(body: bytes) -> pd.DataFrame | None:
    """The table, or None unless every line is an object with consistently typed fields."""
    try:
        table = pa_json.read_json(io.BytesIO(body))
    except pa.ArrowInvalid:
        return None
    if any(f.name in _NOT_DATES and pa.types.is_timestamp(f.type) for f in table.schema):
        return None
    return table.to_pandas()


def _nonblank_lines(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.split("\n")
    numbers = [i for i, line in enumerate(lines) if line and not line.isspace()]
    return [lines[i] for i in numbers], np.array(numbers, dtype=np.int64) + 1


def _json_records(bodies: list[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per line; lines that are not JSON objects become empty, malformed rows."""
    values = _parse_json_values(bodies)
    bad = {i: _not_an_object(value) for i, value in enumerate(values) if not isinstance(value, dict)}
    records = [value if isinstance(value, dict) else {} for value in values]
    frame = pd.DataFrame(records, dtype=object)
    positions = np.array(sorted(bad), dtype=np.int64)
    return frame, [Problem(MALFORMED_ROW, positions, bad.__getitem__)]


class _InvalidJSON:
    def __init__(self, error: json.JSONDecodeError) -> None:
        self.message = f"invalid JSON ({error.msg} at column {error.colno})"


def _parse_json_values(bodies: list[str]) -> list[object]:
    try:
        values = json.loads("[" + ",".join(bodies) + "]")
        if len(values) == len(bodies):
            return values
    except ValueError:
        pass
    return [_loads(body) for body in bodies]


def _loads(body: str) -> object:
    try:
        return json.loads(body)
    except json.JSONDecodeError as err:
        return _InvalidJSON(err)


def _not_an_object(value: object) -> str:
    if isinstance(value, _InvalidJSON):
        return value.message
    return f"expected a JSON object, got {type(value).__name__}"


def _read_json_array(text: str, source: str) -> RawTable:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataValidationError(f"{source} line {err.lineno}: invalid JSON ({err.msg})") from err
    if not isinstance(values, list):
        raise DataValidationError(f"{source}: expected JSON Lines or a JSON array of objects")
    bad = {i: _not_an_object(value) for i, value in enumerate(values) if not isinstance(value, dict)}
    records = [value if isinstance(value, dict) else {} for value in values]
    frame = pd.DataFrame(records, dtype=object)
    problem = Problem(MALFORMED_ROW, np.array(sorted(bad), dtype=np.int64), bad.__getitem__)
    return RawTable(frame, RowLocator(source), [problem])


# ---------------------------------------------------------------------------------------------
# Parquet.


def _read_parquet(path: AnyPath, source: str) -> RawTable:
    try:
        with readable(path) as opened:
            table = pq.read_table(opened)
    except (pa.ArrowException, OSError) as err:
        raise DataValidationError(f"{source}: cannot read Parquet file ({err})") from err
    return RawTable(_parquet_frame(table), RowLocator(source))


def _parquet_frame(table: pa.Table) -> pd.DataFrame:
    """A Parquet table as a frame; a named pandas index written with it becomes columns."""
    frame = table.to_pandas()
    named_index = any(name is not None for name in frame.index.names)
    return frame.reset_index(drop=not named_index)


# ---------------------------------------------------------------------------------------------
# Finding the tables of a dataset for `mtrec data inspect`.


def find_tables(paths: Sequence[PathLike]) -> dict[str, list[AnyPath]]:
    """Sorts files and folders into events, items and queries tables.

    A file or folder whose name starts with "events", "items" or "queries" is that table (a
    folder being a folder of shards, listed as one entry); another file is classified by its
    columns (event_type: events; item_id and category, or title: items; query and category:
    queries); another folder is searched inside, skipping folders named "truth" or "images"
    and files of unknown type.

    Returns:
        kind -> tables (files or shard folders), for the kinds found, each list in path order.

    Raises:
        DataValidationError: a file cannot be classified or has an unknown type.
        FileNotFoundError: a path does not exist.
    """
    found: dict[str, set[AnyPath]] = {kind: set() for kind in schema.TABLE_KINDS}
    for path in map(path_of, paths):
        if path.is_dir():
            _classify_folder(path, found)
        elif path.is_file():
            _check_format(path)
            found[_classify_file(path)].add(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return {kind: sorted(tables, key=str) for kind, tables in found.items() if tables}


def _classify_folder(folder: AnyPath, found: dict[str, set[AnyPath]]) -> None:
    kind = _kind_from_name(folder.name)
    if kind is not None:
        if not shard_files(folder):
            raise DataValidationError(f"{folder}: no {', '.join(FORMATS)} files in this {kind} folder")
        found[kind].add(folder)
        return
    entries: list[AnyPath] = sorted(folder.iterdir(), key=str)
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            if entry.name.lower() not in IGNORED_FOLDERS:
                _classify_folder(entry, found)
        elif entry.suffix.lower() in FORMATS:
            found[_classify_file(entry)].add(entry)


def _kind_from_name(name: str) -> str | None:
    stem = name.split(".", 1)[0].lower()
    return next((kind for kind in schema.TABLE_KINDS if stem.startswith(kind)), None)


def _classify_file(path: AnyPath) -> str:
    kind = _kind_from_name(path.name)
    if kind is not None:
        return kind
    columns = set(read_columns(path))
    if "event_type" in columns:
        return "events"
    if "title" in columns or {"item_id", "category"} <= columns:
        return "items"
    if {"query", "category"} <= columns:
        return "queries"
    raise DataValidationError(
        f"{path}: cannot tell which table this is: its name does not start with "
        f"{', '.join(schema.TABLE_KINDS)} and its columns ({', '.join(sorted(columns)) or 'none'}) "
        "have neither event_type (events), item_id and category or title (items) nor query and "
        "category (queries)"
    )


def read_columns(path: AnyPath) -> list[str]:
    """The column names of a table file, read from its header or first record."""
    table_format = _check_format(path)
    if table_format == "parquet":
        try:
            with readable(path) as opened:
                return list(pq.read_schema(opened).names)
        except (pa.ArrowException, OSError) as err:
            raise DataValidationError(f"{path}: cannot read Parquet file ({err})") from err
    with path.open("rb") as handle:
        head = handle.read(_HEADER_SCAN_CHARS)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if table_format == "csv":
        return [name.strip() for name in _csv_header(text, str(path))]
    return _json_columns(text, path)


def _json_columns(text: str, path: AnyPath) -> list[str]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        stripped = stripped[1:].lstrip()
    decoder = json.JSONDecoder()
    try:
        first, _ = decoder.raw_decode(stripped)
    except json.JSONDecodeError:
        first = None
    if not isinstance(first, dict):
        raise DataValidationError(f"{path}: cannot read the first JSON object to find its columns")
    return [str(name) for name in first]
