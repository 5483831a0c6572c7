"""The local driver: examples of a log of any size in this process, in bounded memory.

Pass 1 reads the events file by file (Parquet in row chunks), validates and numbers them,
and writes each into its user's bucket on disk; the time split's cutoffs are then exact
ranks over the buckets' timestamps. Pass 2 builds each bucket's examples and tallies in
turn and writes them as shards. Memory holds one piece of input or one bucket at a time,
with the catalogue, the labelled queries and the users table.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mtrec_tf import progress
from mtrec_tf.config import Config
from mtrec_tf.data.prepare import examples_summary, shard_name
from mtrec_tf.data.readers import describe_source, table_files
from mtrec_tf.data.scale.buckets import BucketStore
from mtrec_tf.data.scale.cutoffs import kth_smallest
from mtrec_tf.data.scale.events import EventStream, default_buckets, event_reading, rows_in
from mtrec_tf.data.scale.pieces import PieceExamples, PieceSettings, Totals, build_piece, read_settings, write_piece
from mtrec_tf.data.splits import PARTS, cutoff_ranks
from mtrec_tf.data.validation import TableReport
from mtrec_tf.url_path import AnyPath, path_of

# Events per bucket, and per piece read, when not given: what the process holds at a time.
EVENTS_PER_BUCKET = 250_000


def write_examples_locally(config: Config, out_dir: str | os.PathLike, *, fmt: str = "parquet",
                           examples_per_shard: int = 100_000, buckets: int | None = None,
                           rows_per_chunk: int = EVENTS_PER_BUCKET) -> dict:
    """Writes what `prepare.write_prepared` writes for `config`'s tables (`<part>/` shards,
    `vocab/`, `examples.json`), one bucket of users at a time; returns the summary written
    to `examples.json`. `buckets` defaults to one per `EVENTS_PER_BUCKET` events (counted in
    Parquet footers, guessed from the size of text files)."""
    data = config.data
    out_dir = path_of(out_dir)
    settings, reports = read_settings(config)
    assert data.events is not None  # read_settings checked
    files = table_files(data.events)
    buckets = buckets or default_buckets(files, EVENTS_PER_BUCKET)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The buckets stay on this machine's disk, whether the output is local or in a bucket.
    work = Path(tempfile.mkdtemp(prefix=".buckets-", dir=out_dir if isinstance(out_dir, Path) else None))
    store = BucketStore(work, buckets)
    try:
        return _write(config, out_dir, settings, reports, files, store, fmt, examples_per_shard, rows_per_chunk)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write(config: Config, out_dir: AnyPath, settings: PieceSettings, reports: list[TableReport],
           files: list[AnyPath], store: BucketStore, fmt: str, examples_per_shard: int, rows_per_chunk: int) -> dict:
    data, buckets = config.data, store.buckets
    assert data.events is not None  # read_settings checked
    size = sum(path.stat().st_size for path in files)
    stream = EventStream(files, event_reading(config, settings.lookups.item_ids, settings.columns, rows_per_chunk),
                         describe_source(data.events, files))
    with progress.step("partitioning events by user") as done:
        meter = progress.Meter("partitioning events by user", total=size)
        for frame, path in stream:
            store.add(frame)
            meter.advance(len(frame), work=path.stat().st_size * len(frame) / max(rows_in(path), len(frame)))
        reports.insert(0, stream.finish())
        done.report(f"{stream.events:,} events into {_buckets(buckets)}", stream.events, "events")
    if data.split.method == "time":
        ranks = cutoff_ranks(stream.events, data.split.validation_fraction, data.split.test_fraction)
        validation_start, test_start = kth_smallest(store.timestamps, ranks)
        settings = settings.with_cutoffs(validation_start, test_start)

    totals = Totals()
    shards: dict[str, list[str]] = {part: [] for part in PARTS}

    def write(piece: PieceExamples, name: str) -> None:
        totals.add(piece)
        write_piece(piece, out_dir, name, fmt, examples_per_shard, shards)

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

    statistics = totals.statistics(settings)
    statistics.save(out_dir / "vocab")
    cutoffs = settings.cutoffs or (None, None)
    return examples_summary(out_dir, method=data.split.method, events=totals.events, cutoffs=cutoffs,
                            counts=totals.counts, skipped=totals.skipped, labels=totals.labels, shards=shards,
                            reports=reports,
                            unknown_items={"count": stream.unknown.count, "policy": data.unknown_items},
                            driver={"runner": "local", "buckets": buckets})


def _buckets(count: int) -> str:
    return f"{count} bucket" + ("s" if count > 1 else "")
