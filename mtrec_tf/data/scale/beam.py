"""The Beam driver: the local driver's passes as an Apache Beam pipeline.

    read files ──> validate, number, bucket ──> GroupByKey(bucket) ──> build and write shards ──> totals
                               └── timestamps ──> range, histogram, held bins ──> cutoffs (side input)

Each events file is read (Parquet in row chunks), validated and numbered by the same code as
locally (`events.read_pieces`), and its rows are keyed by their user's bucket. A time
split's cutoffs are exact ranks over all timestamps, computed by three combines
(`cutoffs`). Each bucket's events, put back in log order, are built into examples by the
in-memory builder (`pieces.build_piece`) and written as shards by the worker; their counts
and tallies are combined into one result that the launching process turns into `vocab/`
and `examples.json`, after it has written the catalogue's examples.

Apache Beam is an optional extra: `pip install "mtrec-tf[beam]"` (add `apache-beam[gcp]`
for Dataflow).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from mtrec_tf import progress
from mtrec_tf.config import Config
from mtrec_tf.data.prepare import examples_summary, shard_name
from mtrec_tf.data.readers import UnknownItems, describe_source, table_files
from mtrec_tf.data.scale.buckets import by_bucket
from mtrec_tf.data.scale.cutoffs import ValueRange, histogram, in_bins, pick, rank_bins
from mtrec_tf.data.scale.events import (
    EventReading,
    default_buckets,
    event_reading,
    finished_report,
    read_pieces,
)
from mtrec_tf.data.scale.local import EVENTS_PER_BUCKET
from mtrec_tf.data.scale.pieces import PieceSettings, Totals, build_piece, read_settings, write_piece
from mtrec_tf.data.splits import EVENT_NUMBER, PARTS, cutoff_ranks
from mtrec_tf.data.validation import TableReport
from mtrec_tf.errors import ConfigError, DataValidationError
from mtrec_tf.io_utils import rmtree
from mtrec_tf.url_path import AnyPath, path_of

_RESULT = "result.pickle"


@dataclasses.dataclass
class _Built:
    """What the buckets' examples add up to: totals, shard names, and the events' columns."""

    totals: Totals = dataclasses.field(default_factory=Totals)
    shards: dict[str, list[str]] = dataclasses.field(default_factory=lambda: {part: [] for part in PARTS})
    template: pd.DataFrame | None = None

    def merge(self, other: _Built) -> _Built:
        self.totals.merge(other.totals)
        for part, names in other.shards.items():
            self.shards[part] += names
        self.template = self.template if self.template is not None else other.template
        return self


@dataclasses.dataclass
class _Reading:
    """What reading the events files did, summed over pieces."""

    report: TableReport | None = None
    unknown: UnknownItems = dataclasses.field(default_factory=UnknownItems)

    def merge(self, other: _Reading) -> _Reading:
        if other.report is not None:
            self.report = other.report if self.report is None else self.report.merge(other.report)
        self.unknown.merge(other.unknown)
        return self


def write_examples_with_beam(config: Config, out_dir: str | os.PathLike, *, runner: str = "DirectRunner",
                             pipeline_args: Sequence[str] = (), fmt: str = "parquet",
                             examples_per_shard: int = 100_000, buckets: int | None = None,
                             rows_per_chunk: int = EVENTS_PER_BUCKET) -> dict:
    """Writes what `local.write_examples_locally` writes, as a Beam pipeline on `runner` with
    the pipeline options `pipeline_args` (such as `--direct_num_workers=2`, or Dataflow's
    `--project`, `--region`, `--temp_location`); returns the summary in `examples.json`."""
    beam, options = _pipeline_options(runner, pipeline_args)
    data = config.data
    out_dir = path_of(out_dir)
    settings, reports = read_settings(config)
    assert data.events is not None  # read_settings checked
    paths = table_files(data.events)
    files = [str(path) for path in paths]
    buckets = buckets or default_buckets(paths, EVENTS_PER_BUCKET)
    reading = event_reading(config, settings.lookups.item_ids, settings.columns, rows_per_chunk)
    work = out_dir / ".beam"  # where the pipeline leaves its result for this process
    rmtree(work)
    work.mkdir(parents=True)
    with progress.step(f"building examples on {runner}") as done:
        try:
            with beam.Pipeline(options=options) as pipeline:
                _build(beam, pipeline, files, reading, buckets, settings, out_dir, fmt, examples_per_shard, work)
        except Exception as error:  # a worker's error reaches here wrapped by the runner
            found = _data_error(error)
            if found is None:
                raise
            raise found from error
        built, read, cutoffs = pickle.loads((work / _RESULT).read_bytes())
        done.report(f"{sum(built.totals.events.values()):,} events in {buckets} buckets",
                    sum(built.totals.events.values()), "events")
    rmtree(work)
    if read.report is None:  # no file gave a piece
        raise DataValidationError(f"{data.events}: the events table has no data rows")
    read.report.source = describe_source(data.events, paths)
    reports.insert(0, finished_report(read.report, read.unknown, data.unknown_items))
    if cutoffs is not None:
        settings = settings.with_cutoffs(*cutoffs)
    catalogue = build_piece(built.template, settings, catalogue=True)
    built.totals.add(catalogue)
    write_piece(catalogue, out_dir, "catalogue", fmt, examples_per_shard, built.shards)
    built.totals.statistics(settings).save(out_dir / "vocab")
    return examples_summary(out_dir, method=data.split.method, events=built.totals.events,
                            cutoffs=settings.cutoffs or (None, None), counts=built.totals.counts,
                            skipped=built.totals.skipped, labels=built.totals.labels, shards=built.shards,
                            reports=reports, unknown_items={"count": read.unknown.count, "policy": data.unknown_items},
                            driver={"runner": runner, "buckets": buckets, "pipeline_options": list(pipeline_args)})


def _pipeline_options(runner: str, pipeline_args: Sequence[str]) -> tuple[Any, Any]:
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError as error:
        raise ConfigError(f"--runner {runner} needs Apache Beam: pip install \"mtrec-tf[beam]\"") from error
    return beam, PipelineOptions([f"--runner={runner}", *pipeline_args])


def _build(beam: Any, pipeline: Any, files: list[str], reading: EventReading, buckets: int, settings: PieceSettings,
           out_dir: AnyPath, fmt: str, examples_per_shard: int, work: AnyPath) -> None:
    """The pipeline's transforms."""
    from apache_beam.pvalue import AsSingleton, TaggedOutput

    def read_file(indexed: tuple[int, str]) -> Iterator[Any]:
        index, path = indexed
        for frame, report, unknown in read_pieces(path_of(path), index, reading):
            yield TaggedOutput("reading", _Reading(report, unknown))
            yield from by_bucket(frame, buckets)

    read = (pipeline
            | "Files" >> beam.Create(list(enumerate(files)))
            | "Spread files" >> beam.Reshuffle()
            | "Read, validate, bucket" >> beam.FlatMap(read_file).with_outputs("reading", main="events"))
    events = read.events
    cutoffs = None
    split = settings.data.split
    if split.method == "time":
        timestamps = events | "Timestamps" >> beam.Map(lambda keyed: keyed[1]["timestamp"].to_numpy())
        cutoffs = _cutoffs(beam, timestamps, split.validation_fraction, split.test_fraction)

    def build(keyed: tuple[int, Iterable[pd.DataFrame]], cut: tuple[int, ...] | None) -> _Built:
        bucket, frames = keyed
        piece_events = pd.concat(list(frames), ignore_index=True).sort_values(EVENT_NUMBER, kind="stable")
        piece_events = piece_events.reset_index(drop=True)
        piece = build_piece(piece_events, settings if cut is None else settings.with_cutoffs(*cut))
        built = _Built(template=piece_events.head(0))
        write_piece(piece, out_dir, shard_name(bucket), fmt, examples_per_shard, built.shards)
        built.totals.add(dataclasses.replace(piece, parts={}))
        return built

    grouped = events | "Group by bucket" >> beam.GroupByKey()
    if cutoffs is None:
        built = grouped | "Build buckets" >> beam.Map(build, None)
    else:
        built = grouped | "Build buckets" >> beam.Map(build, AsSingleton(cutoffs))
    totals = built | "Add up" >> beam.CombineGlobally(_merge_all, _Built)
    reading_totals = read.reading | "Add up reading" >> beam.CombineGlobally(_merge_all, _Reading)

    def save(result: _Built, read_total: _Reading, cut: tuple[int, ...] | None) -> None:
        (work / _RESULT).write_bytes(pickle.dumps((result, read_total, cut)))

    cut_input = AsSingleton(cutoffs) if cutoffs is not None else None
    totals | "Save" >> beam.Map(save, AsSingleton(reading_totals), cut_input)


def _cutoffs(beam: Any, timestamps: Any, validation_fraction: float, test_fraction: float) -> Any:
    """The time split's cutoffs over every timestamp, as a single-element collection."""
    from apache_beam.pvalue import AsSingleton

    def merge_ranges(ranges: Iterable[ValueRange | None]) -> ValueRange | None:
        found: ValueRange | None = None
        for value_range in ranges:
            found = value_range if found is None else found.merge(value_range)
        return found

    def ranks(value_range: ValueRange) -> list[int]:
        return list(cutoff_ranks(value_range.count, validation_fraction, test_fraction))

    def bins_of_ranks(counts: np.ndarray | None, r: ValueRange | None) -> dict[int, tuple[int, int]]:
        return {} if counts is None or r is None else rank_bins(counts, ranks(r))

    def cut(held: dict[int, list[np.ndarray]], found: dict, r: ValueRange | None) -> tuple[int, ...] | None:
        return None if r is None else tuple(pick(held, found, ranks(r)))

    # The merged range is None only where there are no timestamps, and then these never run;
    # Beam checks each side input against its parameter's hint, hence the optional ones.
    def histogram_of(values: np.ndarray, r: ValueRange | None) -> np.ndarray:
        return histogram(values, cast(ValueRange, r))

    value_range = (timestamps | "Range" >> beam.Map(ValueRange.of)
                   | "Merge ranges" >> beam.CombineGlobally(merge_ranges))
    counts = (timestamps | "Histogram" >> beam.Map(histogram_of, AsSingleton(value_range))
              | "Sum histograms" >> beam.CombineGlobally(_sum_arrays))
    wanted = counts | "Rank bins" >> beam.Map(bins_of_ranks, AsSingleton(value_range))

    def held_values(values: np.ndarray, r: ValueRange | None, found: dict) -> dict[int, list[np.ndarray]]:
        return {b: [v] for b, v in in_bins(values, cast(ValueRange, r), {b for b, _ in found.values()}).items()}

    def merge_held(pieces: Iterable[dict[int, list[np.ndarray]]]) -> dict[int, list[np.ndarray]]:
        merged: dict[int, list[np.ndarray]] = {}
        for piece in pieces:
            for b, values in piece.items():
                merged.setdefault(b, []).extend(values)
        return merged

    held = (timestamps | "Values in rank bins" >> beam.Map(held_values, AsSingleton(value_range), AsSingleton(wanted))
            | "Merge held values" >> beam.CombineGlobally(merge_held))
    return held | "Cutoffs" >> beam.Map(cut, AsSingleton(wanted), AsSingleton(value_range))


def _sum_arrays(arrays: Iterable[np.ndarray | None]) -> np.ndarray | None:
    total = None
    for array in arrays:
        if array is not None:
            total = array.copy() if total is None else total + array
    return total


def _merge_all(values: Iterable[Any], kind: type) -> Any:
    merged = kind()
    for value in values:
        merged.merge(value)
    return merged


def _data_error(error: BaseException) -> DataValidationError | None:
    """The data error a worker raised, when a runner wrapped it in another exception."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, DataValidationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    marker = "DataValidationError: "
    text = str(error)
    if marker in text:
        return DataValidationError(text[text.index(marker) + len(marker):].splitlines()[0].strip())
    return None
