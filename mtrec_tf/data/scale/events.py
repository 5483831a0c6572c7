"""The events table read piece by piece: validated, numbered in the log, with the derived
columns that features read, and the events pointing outside the catalogue counted."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtrec_tf.config import Config
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.examples import event_column_kinds
from mtrec_tf.data.membership import members
from mtrec_tf.data.readers import UnknownItems, check_not_empty, validated_chunks
from mtrec_tf.data.splits import EVENT_NUMBER, event_numbers
from mtrec_tf.data.validation import ExtraColumn, TableReport
from mtrec_tf.errors import DataValidationError
from mtrec_tf.features.columns import check_feature_columns, table_columns, with_derived_columns
from mtrec_tf.features.spec import FeatureConfig
from mtrec_tf.url_path import AnyPath, readable

# Bytes per event of a text (CSV, JSON Lines) events file, a low guess.
_TEXT_BYTES_PER_EVENT = 50


@dataclasses.dataclass
class EventReading:
    """How to read the events table: the settings `readers.load_data` takes for it."""

    catalogue: pa.Array
    bad_rows: str = "error"
    unknown_items: str = "keep"
    columns: Mapping[str, str | ExtraColumn] | None = None
    event_types: EventTypes = DEFAULT_EVENT_TYPES
    features: Sequence[FeatureConfig] = ()
    rows_per_chunk: int = 1_000_000


def event_reading(config: Config, catalogue: pa.Array | Iterable[str], labels: Mapping[str, pa.DataType],
                  rows_per_chunk: int) -> EventReading:
    """How to read `config`'s events table: its label columns (`examples.label_columns`) and
    the features' columns kept, the events of items outside `catalogue` as configured."""
    data = config.data
    columns: dict[str, str | ExtraColumn] = {**event_column_kinds(labels), **table_columns(config.features, "events")}
    return EventReading(members(catalogue), data.bad_rows, data.unknown_items, columns, data.event_types,
                        config.features, rows_per_chunk)


def default_buckets(files: Sequence[AnyPath], events_per_bucket: int) -> int:
    """Buckets of about `events_per_bucket` events: counted in Parquet footers, guessed from
    the size of text files (low: more buckets rather than fewer)."""
    return max(1, math.ceil(sum(map(_estimated_rows, files)) / events_per_bucket))


def rows_in(path: AnyPath) -> int:
    """Rows of a Parquet file from its footer (others: 0, they are read whole)."""
    if path.suffix.lower() not in (".parquet", ".pq"):
        return 0
    try:
        with readable(path) as opened:
            return int(pq.ParquetFile(opened).metadata.num_rows)
    except (pa.ArrowException, OSError) as err:
        raise DataValidationError(f"{path}: cannot read Parquet file ({err})") from err


def _estimated_rows(path: AnyPath) -> int:
    return rows_in(path) or path.stat().st_size // _TEXT_BYTES_PER_EVENT


class EventStream:
    """The events of `files` as normalised frames, each row numbered in the log
    (`splits.event_numbers`); `report` sums what reading did."""

    def __init__(self, files: Sequence[AnyPath], reading: EventReading, source: str):
        self.files = list(files)
        self.reading = reading
        self.report = TableReport(source, "events")
        self.unknown = UnknownItems()
        self.events = 0

    def __iter__(self) -> Iterator[tuple[pd.DataFrame, AnyPath]]:
        """Each piece with the file it came from."""
        for index, path in enumerate(self.files):
            for frame, report, unknown in read_pieces(path, index, self.reading):
                self.report = self.report.merge(report, self.report.source)
                self.unknown.merge(unknown)
                self.events += len(frame)
                yield frame, path

    def finish(self) -> TableReport:
        """The events table's report, once every piece was read; refuses an empty table."""
        return finished_report(self.report, self.unknown, self.reading.unknown_items)


def read_pieces(path: AnyPath, file_index: int, reading: EventReading
                ) -> Iterator[tuple[pd.DataFrame, TableReport, UnknownItems]]:
    """The pieces of the table's `file_index`-th file (`path`), each prepared
    (`prepared_piece`), with what reading it did."""
    for frame, report in validated_chunks(path, "events", bad_rows=reading.bad_rows, extra_columns=reading.columns,
                                          event_types=reading.event_types, rows_per_chunk=reading.rows_per_chunk):
        unknown = UnknownItems()
        yield prepared_piece(frame, file_index, str(path), reading, unknown), report, unknown


def prepared_piece(frame: pd.DataFrame, file_index: int, source: str, reading: EventReading,
                   unknown: UnknownItems) -> pd.DataFrame:
    """A validated piece (indexed by its rows in the file) numbered in the log, its events of
    items outside the catalogue counted into `unknown` (and dropped if so configured), with
    the derived columns that the features read."""
    frame[EVENT_NUMBER] = event_numbers(file_index, frame.index.to_numpy())
    frame = unknown.take(frame.reset_index(drop=True), reading.catalogue, reading.unknown_items)
    if reading.features:
        frame = with_derived_columns(frame, reading.features)
        check_feature_columns([f for f in reading.features if f.table == "events"], {"events": frame},
                              {"events": source})
    return frame


def finished_report(report: TableReport, unknown: UnknownItems, policy: str) -> TableReport:
    """The events table's report with what was done with unknown items; refuses an empty table."""
    unknown.report_to(report, policy)
    check_not_empty(report)
    return report
