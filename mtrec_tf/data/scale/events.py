"""The events table read piece by piece: validated, numbered in the log, with the derived
columns that features read, and the events pointing outside the catalogue counted."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.readers import check_not_empty, validated_chunks
from mtrec_tf.data.splits import EVENT_NUMBER
from mtrec_tf.data.validation import UNKNOWN_ITEM, ExtraColumn, TableReport
from mtrec_tf.features.columns import check_feature_columns, with_derived_columns
from mtrec_tf.features.spec import FeatureConfig

_SAMPLE_IDS = 3


@dataclasses.dataclass
class EventReading:
    """How to read the events table: the settings `readers.load_data` takes for it."""

    catalogue: frozenset[str]
    bad_rows: str = "error"
    unknown_items: str = "keep"
    columns: Mapping[str, str | ExtraColumn] | None = None
    event_types: EventTypes = DEFAULT_EVENT_TYPES
    features: Sequence[FeatureConfig] = ()
    rows_per_chunk: int = 1_000_000


@dataclasses.dataclass
class UnknownItems:
    """Events whose item is not in the catalogue, summed over pieces."""

    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)

    def add(self, item_ids: pd.Series) -> None:
        self.count += len(item_ids)
        for item_id in pd.unique(item_ids):
            if len(self.examples) >= _SAMPLE_IDS:
                break
            if item_id not in self.examples:
                self.examples.append(str(item_id))

    def report_to(self, report: TableReport, policy: str) -> None:
        """Says in `report` what was done with them, as `readers.load_data` does."""
        if not self.count:
            return
        sample = ", ".join(repr(item_id) for item_id in self.examples)
        summary = f"{self.count:,} events point at item_ids absent from the catalogue (e.g. {sample})"
        if policy == "drop":
            report.record(UNKNOWN_ITEM, self.count, [f"{report.source}: {summary}; dropped"])
        else:
            report.notes.append(f"{summary}; kept as out-of-vocabulary items")


class EventStream:
    """The events of `files` as normalised frames, each row numbered in the whole log
    (`splits.EVENT_NUMBER`, in file and row order); `report` sums what reading did."""

    def __init__(self, files: Sequence[Path], reading: EventReading, source: str):
        self.files = list(files)
        self.reading = reading
        self.report = TableReport(source, "events")
        self.unknown = UnknownItems()
        self.events = 0

    def __iter__(self) -> Iterator[tuple[pd.DataFrame, Path]]:
        """Each piece with the file it came from."""
        reading = self.reading
        for path in self.files:
            for frame, report in validated_chunks(path, "events", bad_rows=reading.bad_rows,
                                                  extra_columns=reading.columns, event_types=reading.event_types,
                                                  rows_per_chunk=reading.rows_per_chunk):
                self.report = self.report.merge(report, self.report.source)
                yield self._prepared(frame.reset_index(drop=True), str(path)), path

    def finish(self) -> TableReport:
        """The events table's report, once every piece was read; refuses an empty table."""
        self.unknown.report_to(self.report, self.reading.unknown_items)
        self.report.rows_kept -= self.unknown.count if self.reading.unknown_items == "drop" else 0
        check_not_empty(self.report)
        return self.report

    def _prepared(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        reading = self.reading
        item_ids = frame["item_id"]
        unknown = ((item_ids != "") & ~item_ids.isin(reading.catalogue)).to_numpy()
        if unknown.any():
            self.unknown.add(item_ids[unknown])
            if reading.unknown_items == "drop":
                frame = frame[~unknown].reset_index(drop=True)
        if reading.features:
            frame = with_derived_columns(frame, reading.features)
            check_feature_columns([f for f in reading.features if f.table == "events"], {"events": frame},
                                  {"events": source})
        frame[EVENT_NUMBER] = np.arange(self.events, self.events + len(frame), dtype=np.int64)
        self.events += len(frame)
        return frame
