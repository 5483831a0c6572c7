"""From the user's tables (or the built-in sample) to split examples and statistics."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import pyarrow as pa

from mtrec_tf import progress
from mtrec_tf.config import Config, DataConfig
from mtrec_tf.data.examples import (
    Examples,
    build_examples,
    event_column_kinds,
    event_type_labels,
    label_columns,
    label_counts,
)
from mtrec_tf.data.readers import EcommerceData, load_data
from mtrec_tf.data.sample import generate_sample
from mtrec_tf.data.splits import PARTS, EventSplit, split_events
from mtrec_tf.data.statistics import DataStatistics, fit_statistics
from mtrec_tf.data.validation import ExtraColumn, TableReport
from mtrec_tf.features.columns import check_feature_columns, table_columns, with_derived_columns
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig
from mtrec_tf.io_utils import join, write_json_atomic
from mtrec_tf.url_path import path_of


@dataclasses.dataclass
class PreparedData:
    """Validated tables, the split, the examples of each part and the training statistics."""

    data: EcommerceData
    split: EventSplit
    examples: Examples
    statistics: DataStatistics


def prepare_configured(config: Config) -> PreparedData:
    """The data a configuration names, split, with every configured task's examples: a task's
    label that the log does not derive is a column of the events table."""
    columns = label_columns(config.tasks)
    data = load_configured_data(config.data, columns, config.features)
    return prepare_data(data, config.data, seed=config.seed, columns=columns, features=config.features,
                        event_labels=event_type_labels(config.tasks))


def load_configured_data(config: DataConfig, columns: Mapping[str, pa.DataType] | None = None,
                         features: Sequence[FeatureConfig] = DEFAULT_FEATURES) -> EcommerceData:
    """The tables that `config` names, or the built-in sample world when it names none;
    `columns` (label columns, `examples.label_columns`) are kept from the events table, and
    the columns of `features` from their tables, checked to be there."""
    kinds: dict[str, str | ExtraColumn] = {**event_column_kinds(columns or {}), **table_columns(features, "events")}
    item_columns, user_columns = table_columns(features, "items"), table_columns(features, "users")
    if config.events is None:
        with progress.step("generating the sample shop") as done:
            world = generate_sample(scale=config.sample_scale, seed=config.sample_seed,
                                    event_types=config.sample_event_types)
            data = load_data(world.events, world.items, world.queries, event_columns=kinds,
                             item_columns=item_columns, user_columns=user_columns, event_types=config.event_types)
            done.report(_table_sizes(data), len(data.events), "events")
    else:
        assert config.items is not None  # DataConfig names both tables or neither
        with progress.step("reading tables") as done:
            data = load_data(
                config.events, config.items, config.queries,
                bad_rows=config.bad_rows, unknown_items=config.unknown_items, event_columns=kinds,
                users=config.users, item_columns=item_columns, user_columns=user_columns,
                event_types=config.event_types,
            )
            done.report(_table_sizes(data), len(data.events), "events")
    return with_features(data, features)


def with_features(data: EcommerceData, features: Sequence[FeatureConfig]) -> EcommerceData:
    """`data` with the derived events columns that `features` read, each feature's column
    checked to be in its table."""
    if not features:
        return data
    data = dataclasses.replace(data, events=with_derived_columns(data.events, features))
    sources = {report.kind: report.source for report in data.reports}
    check_feature_columns(features, {"events": data.events, "items": data.items, "users": data.users}, sources)
    return data


def _table_sizes(data: EcommerceData) -> str:
    sizes = f"{len(data.events):,} events, {len(data.items):,} items"
    sizes += f", {len(data.queries):,} labelled queries" if data.queries is not None else ""
    return sizes + (f", {len(data.users):,} users" if data.users is not None else "")


def prepare_data(data: EcommerceData, config: DataConfig, seed: int = 0,
                 columns: Mapping[str, pa.DataType] | None = None,
                 features: Sequence[FeatureConfig] = DEFAULT_FEATURES,
                 event_labels: Mapping[str, str] | None = None) -> PreparedData:
    """Splits the events, builds every task's examples and fits statistics on training.

    `columns` are the label columns of the events table (`examples.label_columns`; default the
    standard ones); `features` the configuration's own features, which `data` holds the
    columns of (`with_features`); `event_labels` the labels of event types
    (`examples.event_type_labels`).
    """
    with progress.step("preparing data") as done:
        prepared = _prepare(data, config, seed, columns, features, event_labels)
        examples = _example_count(prepared.examples)
        done.report(f"{len(data.events):,} events -> {examples:,} examples", examples, "examples")
    return prepared


def _prepare(data: EcommerceData, config: DataConfig, seed: int, columns: Mapping[str, pa.DataType] | None,
             features: Sequence[FeatureConfig], event_labels: Mapping[str, str] | None) -> PreparedData:
    split = split_events(data.events, config.split, seed, config.event_types)
    examples = build_examples(
        data.events, data.items, split,
        queries=data.queries,
        history_length=config.history_length,
        image_validation_fraction=config.image_validation_fraction,
        image_test_fraction=config.image_test_fraction,
        seed=seed,
        columns=columns,
        features=features,
        users=data.users,
        event_types=config.event_types,
        event_labels=event_labels,
        history_searches=config.history_includes_searches,
    )
    statistics = fit_statistics(
        data.events[split.mask("train")], data.items, examples.parts["train"],
        train_queries=data.queries, min_token_count=config.min_token_count, features=features, users=data.users,
        event_types=config.event_types,
    )
    return PreparedData(data, split, examples, statistics)


def write_prepared(prepared: PreparedData, out_dir: str | os.PathLike, fmt: str = "parquet",
                   examples_per_shard: int = 100_000) -> dict:
    """Writes `<part>/` shards, `vocab/` and `examples.json` (counts and cutoffs) into out_dir."""
    from mtrec_tf.data.pipeline import write_shards

    out_dir = path_of(out_dir)
    with progress.step("writing examples") as done:
        shards = {
            part: [p.name for p in write_shards(prepared.examples.parts[part], out_dir / part, fmt,
                                                examples_per_shard)]
            for part in PARTS
        }
        examples = _example_count(prepared.examples)
        done.report(f"{examples:,} examples in {sum(map(len, shards.values()))} {fmt} shards", examples, "examples")
    prepared.statistics.save(out_dir / "vocab")
    split = prepared.split
    return examples_summary(out_dir, method=split.method, events=split.counts(),
                            cutoffs=(split.validation_start, split.test_start),
                            counts=prepared.examples.report.counts, skipped=prepared.examples.report.skipped,
                            labels={part: label_counts(table) for part, table in prepared.examples.parts.items()},
                            shards=shards, reports=prepared.data.reports,
                            unknown_items={"count": prepared.data.unknown_item_events,
                                           "policy": prepared.data.unknown_items_policy},
                            driver={"runner": "memory"})


def examples_summary(out_dir: str | os.PathLike, *, method: str, events: Mapping[str, int],
                     cutoffs: tuple[int | None, int | None], counts: Mapping[str, Mapping[str, int]],
                     skipped: Mapping[str, int], labels: Mapping[str, Mapping[str, int]],
                     shards: Mapping[str, list[str]], reports: Sequence[TableReport],
                     unknown_items: Mapping[str, object], driver: Mapping[str, object]) -> dict:
    """Writes `examples.json` into `out_dir`: the split (method, events per part, cutoffs),
    examples per part and kind, what was skipped, the examples of each part that carry each
    label, the shards, what reading each table did (with the events on items outside the
    catalogue: their count and the policy applied) and the driver that built them; returns it."""
    summary = {
        "split": {"method": method, "events": dict(events), "validation_start": cutoffs[0],
                  "test_start": cutoffs[1]},
        "examples": {part: dict(kinds) for part, kinds in counts.items()},
        "labels": {part: dict(found) for part, found in labels.items()},
        "skipped": dict(skipped),
        "shards": {part: list(names) for part, names in shards.items()},
        "tables": [report.to_dict() for report in reports],
        "unknown_item_events": dict(unknown_items),
        "driver": dict(driver),
    }
    write_json_atomic(join(out_dir, "examples.json"), summary)
    return summary


def shard_name(bucket: int) -> str:
    """The name of a bucket's shards (`pipeline.write_shards`)."""
    return f"bucket-{bucket:05d}"


def _example_count(examples: Examples) -> int:
    return sum(table.num_rows for table in examples.parts.values())
