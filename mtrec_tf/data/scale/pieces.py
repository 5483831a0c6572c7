"""What either driver does with one piece of the log: a bucket of users' events, split and
turned into every task's examples and the statistics' tallies, by the in-memory builder."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from mtrec_tf.config import Config, DataConfig
from mtrec_tf.data.examples import (
    CatalogueLookups,
    build_examples,
    event_type_labels,
    label_columns,
    label_counts,
)
from mtrec_tf.data.readers import check_not_empty, read_table
from mtrec_tf.data.splits import PARTS, EventSplit, cut_at, split_events
from mtrec_tf.data.statistics import DataStatistics, TrainingTallies
from mtrec_tf.data.validation import TableReport
from mtrec_tf.features.columns import check_feature_columns, table_columns
from mtrec_tf.features.spec import FeatureConfig
from mtrec_tf.url_path import AnyPath


@dataclasses.dataclass(frozen=True)
class PieceSettings:
    """Everything a piece's examples depend on besides its events (small enough to hand to
    every worker).

    Attributes:
        items, queries, users: the catalogue, the labelled queries and the users table.
        data: the data settings (split, history length, event types, ...).
        seed: the run's seed (random split, image split).
        columns: the label columns of the events table (`examples.label_columns`).
        features: the configuration's features.
        event_labels: labels of event types (`examples.event_type_labels`).
        lookups: what every piece looks up in the catalogue (`examples.CatalogueLookups`).
        cutoffs: a time split's validation and test cutoffs, computed over the whole log.
    """

    items: pd.DataFrame
    queries: pd.DataFrame | None
    users: pd.DataFrame | None
    data: DataConfig
    seed: int
    columns: Mapping[str, pa.DataType]
    features: tuple[FeatureConfig, ...]
    event_labels: Mapping[str, str]
    lookups: CatalogueLookups
    cutoffs: tuple[int, int] | None = None

    def with_cutoffs(self, validation_start: int, test_start: int) -> PieceSettings:
        """These settings with the time split's cutoffs (as `splits.cut_at` reports them)."""
        split = self.data.split
        cut = cut_at(np.zeros(0, dtype=np.int64), validation_start, test_start, split.validation_fraction,
                     split.test_fraction)
        assert cut.validation_start is not None and cut.test_start is not None
        return dataclasses.replace(self, cutoffs=(cut.validation_start, cut.test_start))


def read_settings(config: Config) -> tuple[PieceSettings, list[TableReport]]:
    """The settings of every piece of `config`'s events, with the small tables (items, queries,
    users) read whole, and what reading each did."""
    data, features = config.data, config.features
    if data.events is None or data.items is None:
        raise ValueError("building by pieces reads tables: data.events and data.items must name them")
    items, items_report = read_table(data.items, "items", bad_rows=data.bad_rows,
                                     extra_columns=table_columns(features, "items"), image_bytes=False)
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
    lookups = CatalogueLookups.of(items, data.image_validation_fraction, data.image_test_fraction, config.seed)
    return PieceSettings(items, queries, users, data, config.seed, label_columns(config.tasks), tuple(features),
                         event_type_labels(config.tasks), lookups), reports


@dataclasses.dataclass
class PieceExamples:
    """A piece's examples of each part, with what counts and tallies they add up to."""

    parts: dict[str, pa.Table]
    counts: dict[str, dict[str, int]]
    skipped: dict[str, int]
    events: dict[str, int]
    tallies: TrainingTallies | None
    labels: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


def split_piece(events: pd.DataFrame, settings: PieceSettings) -> EventSplit:
    """The piece's split: the whole log's, since a user's events are all in one piece."""
    split = settings.data.split
    if split.method == "time":
        if settings.cutoffs is None:
            raise ValueError("a time split of a piece needs the whole log's cutoffs")
        return cut_at(events["timestamp"].to_numpy(), *settings.cutoffs, split.validation_fraction,
                      split.test_fraction)
    return split_events(events, split, settings.seed, settings.data.event_types)


def build_piece(events: pd.DataFrame, settings: PieceSettings, *, catalogue: bool = False) -> PieceExamples:
    """The examples of a piece's events; with `catalogue`, those of no event instead (the
    catalogue's images and the labelled queries), which `events` (empty) gives the columns of."""
    split = split_piece(events, settings)
    data = settings.data
    examples = build_examples(
        events, settings.items, split,
        queries=settings.queries,
        history_length=data.history_length,
        image_validation_fraction=data.image_validation_fraction,
        image_test_fraction=data.image_test_fraction,
        seed=settings.seed,
        columns=settings.columns,
        features=settings.features,
        users=settings.users,
        event_types=data.event_types,
        event_labels=settings.event_labels,
        history_searches=data.history_includes_searches,
        catalogue_examples=catalogue,
        lookups=settings.lookups,
    )
    tallies = None if catalogue else TrainingTallies.of(
        events[split.mask("train")], examples.parts["train"], settings.features, data.event_types)
    return PieceExamples(examples.parts, examples.report.counts, examples.report.skipped, split.counts(), tallies,
                         {part: label_counts(table) for part, table in examples.parts.items()})


@dataclasses.dataclass
class Totals:
    """The pieces' counts and tallies added up."""

    counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=lambda: {part: {} for part in PARTS})
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    events: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    tallies: TrainingTallies | None = None
    labels: dict[str, dict[str, int]] = dataclasses.field(default_factory=lambda: {part: {} for part in PARTS})

    def add(self, piece: PieceExamples | Totals) -> Totals:
        """Adds a piece's counts and tallies (or other totals'); returns self."""
        for part, counts in piece.counts.items():
            for kind, n in counts.items():
                self.counts[part][kind] = self.counts[part].get(kind, 0) + n
        for reason, n in piece.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        for part, n in piece.events.items():
            self.events[part] += n
        for part, found in piece.labels.items():
            for label, n in found.items():
                self.labels[part][label] = self.labels[part].get(label, 0) + n
        if piece.tallies is not None:
            self.tallies = piece.tallies if self.tallies is None else self.tallies.merge(piece.tallies)
        return self

    merge = add

    def statistics(self, settings: PieceSettings) -> DataStatistics:
        """The training statistics of the whole log."""
        if self.tallies is None:
            raise ValueError("no events were built into examples")
        return self.tallies.finish(settings.items, train_queries=settings.queries,
                                   min_token_count=settings.data.min_token_count, users=settings.users)


def write_piece(piece: PieceExamples, out_dir: AnyPath, name: str, fmt: str, examples_per_shard: int,
                shards: dict[str, list[str]]) -> None:
    """Writes each part's examples of a piece as `<out_dir>/<part>/<name>-*` shards and adds
    their names to `shards`; a part without examples gets none."""
    from mtrec_tf.data.pipeline import write_shards  # TensorFlow, for TFRecord shards

    for part, table in piece.parts.items():
        if table.num_rows:
            shards[part] += [path.name for path in write_shards(table, out_dir / part, fmt, examples_per_shard, name)]
