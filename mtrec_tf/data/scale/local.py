"""The local driver: examples of a log of any size in this process, in bounded memory.

Pass 1 reads the events file by file (Parquet in row chunks), validates and numbers them,
and writes each into its user's bucket on disk; the time split's cutoffs are then exact
ranks over the buckets' timestamps. Pass 2 builds each bucket's examples and tallies in
turn and writes them as shards. Memory holds one piece of input or one bucket at a time,
with the catalogue, the labelled queries and the users table.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mtrec_tf import progress
from mtrec_tf.config import Config
from mtrec_tf.data.examples import event_column_kinds, event_type_labels, label_columns
from mtrec_tf.data.prepare import examples_summary, shard_name
from mtrec_tf.data.readers import check_not_empty, read_table, table_files
from mtrec_tf.data.scale.buckets import BucketStore
from mtrec_tf.data.scale.cutoffs import kth_smallest
from mtrec_tf.data.scale.events import EventReading, EventStream
from mtrec_tf.data.scale.pieces import PieceExamples, PieceSettings, Totals, build_piece
from mtrec_tf.data.splits import PARTS, cut_at, cutoff_ranks
from mtrec_tf.data.validation import ExtraColumn, TableReport
from mtrec_tf.features.columns import check_feature_columns, table_columns

# Events per bucket, and per piece read, when not given: what the process holds at a time.
EVENTS_PER_BUCKET = 250_000
# Bytes per event of a text (CSV, JSON Lines) events file, a low guess: more buckets than needed.
_TEXT_BYTES_PER_EVENT = 50


def write_examples_locally(config: Config, out_dir: str | os.PathLike, *, fmt: str = "parquet",
                           examples_per_shard: int = 100_000, buckets: int | None = None,
                           rows_per_chunk: int = EVENTS_PER_BUCKET) -> dict:
    """Writes what `prepare.write_prepared` writes for `config`'s tables (`<part>/` shards,
    `vocab/`, `examples.json`), one bucket of users at a time; returns the summary written
    to `examples.json`. `buckets` defaults to one per `EVENTS_PER_BUCKET` events (counted in
    Parquet footers, guessed from the size of text files)."""
    from mtrec_tf.data.pipeline import write_shards  # TensorFlow, for TFRecord shards

    data = config.data
    if data.events is None or data.items is None:
        raise ValueError("the local driver reads tables: data.events and data.items must name them")
    out_dir = Path(out_dir)
    settings, reports = _settings(config)
    files = table_files(data.events)
    size = sum(path.stat().st_size for path in files)
    buckets = buckets or max(1, math.ceil(sum(map(_estimated_rows, files)) / EVENTS_PER_BUCKET))
    work = out_dir / ".buckets"
    shutil.rmtree(work, ignore_errors=True)
    store = BucketStore(work, buckets)
    columns: dict[str, str | ExtraColumn] = {**event_column_kinds(settings.columns),
                                             **table_columns(config.features, "events")}
    stream = EventStream(files, EventReading(frozenset(settings.items["item_id"]), data.bad_rows, data.unknown_items,
                                             columns, data.event_types, config.features, rows_per_chunk),
                         str(data.events))
    with progress.step("partitioning events by user") as done:
        meter = progress.Meter("partitioning events by user", total=size)
        for frame, path in stream:
            store.add(frame)
            meter.advance(len(frame), work=path.stat().st_size * len(frame) / max(_rows_in(path), len(frame)))
        reports.insert(0, stream.finish())
        done.report(f"{stream.events:,} events into {_buckets(buckets)}", stream.events, "events")
    if data.split.method == "time":
        ranks = cutoff_ranks(stream.events, data.split.validation_fraction, data.split.test_fraction)
        validation_start, test_start = kth_smallest(store.timestamps, ranks)
        settings = _with_cutoffs(settings, validation_start, test_start)

    totals = Totals()
    shards: dict[str, list[str]] = {part: [] for part in PARTS}

    def write(piece: PieceExamples, name: str) -> None:
        totals.add(piece)
        for part, table in piece.parts.items():
            if table.num_rows:
                shards[part] += [p.name for p in write_shards(table, out_dir / part, fmt, examples_per_shard, name)]

    template = None
    with progress.step("building examples") as done:
        meter = progress.Meter("building examples", total=stream.events, unit="events")
        for bucket in range(buckets):
            events = store.read(bucket)
            if events is None:
                continue
            template = events.head(0) if template is None else template
            write(build_piece(events, settings), shard_name(bucket))
            meter.advance(len(events))
        assert template is not None  # the events table is not empty
        write(build_piece(template, settings, catalogue=True), "catalogue")
        examples = sum(sum(counts.values()) for counts in totals.counts.values())
        done.report(f"{stream.events:,} events -> {examples:,} examples in {_buckets(buckets)}", stream.events,
                    "events")
    shutil.rmtree(work, ignore_errors=True)

    statistics = totals.statistics(settings)
    statistics.save(out_dir / "vocab")
    cutoffs = settings.cutoffs or (None, None)
    return examples_summary(out_dir, method=data.split.method, events=totals.events, cutoffs=cutoffs,
                            counts=totals.counts, skipped=totals.skipped, shards=shards, reports=reports,
                            driver={"runner": "local", "buckets": buckets})


def _settings(config: Config) -> tuple[PieceSettings, list[TableReport]]:
    """The settings of every piece, with the small tables read whole, and their reports."""
    data, features = config.data, config.features
    assert data.items is not None
    items, items_report = read_table(data.items, "items", bad_rows=data.bad_rows,
                                     extra_columns=table_columns(features, "items"))
    reports = [items_report]
    queries = users = None
    if data.queries is not None:
        queries, report = read_table(data.queries, "queries", bad_rows=data.bad_rows)
        reports.append(report)
    if data.users is not None:
        users, report = read_table(data.users, "users", bad_rows=data.bad_rows,
                                   extra_columns=table_columns(features, "users"))
        reports.append(report)
    for report in reports:
        check_not_empty(report)
    sources = {report.kind: report.source for report in reports}
    check_feature_columns([f for f in features if f.table != "events"], {"items": items, "users": users}, sources)
    return PieceSettings(items, queries, users, data, config.seed, label_columns(config.tasks), tuple(features),
                         event_type_labels(config.tasks)), reports


def _with_cutoffs(settings: PieceSettings, validation_start: int, test_start: int) -> PieceSettings:
    """`settings` with the time split's cutoffs (as `splits.cut_at` reports them)."""
    split = settings.data.split
    cut = cut_at(np.zeros(0, dtype=np.int64), validation_start, test_start, split.validation_fraction,
                 split.test_fraction)
    assert cut.validation_start is not None and cut.test_start is not None
    return dataclasses.replace(settings, cutoffs=(cut.validation_start, cut.test_start))


def _buckets(count: int) -> str:
    return f"{count} bucket" + ("s" if count > 1 else "")


def _rows_in(path: Path) -> int:
    """Rows of a Parquet file from its footer (others: 0, read whole)."""
    if path.suffix.lower() not in (".parquet", ".pq"):
        return 0
    return pq.ParquetFile(path).metadata.num_rows


def _estimated_rows(path: Path) -> int:
    return _rows_in(path) or path.stat().st_size // _TEXT_BYTES_PER_EVENT
