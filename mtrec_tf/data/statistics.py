"""Vocabularies and statistics the model is built from, fitted on the training part only.

Popularity, the query-token vocabulary and normalisation statistics come from training
events and examples alone, so nothing from validation or test reaches training. Catalogue
vocabularies (item ids, the tokens of its text features, categories) and the items
features' statistics come from the catalogue itself, which is known at serving time.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig
from mtrec_tf.features.statistics import (
    EventFeatureTallies,
    FeatureStatistics,
    load_feature_statistics,
    save_feature_statistics,
)
from mtrec_tf.io_utils import join, read_json, write_json_atomic
from mtrec_tf.text.tokenizer import tokenize_to_lists
from mtrec_tf.text.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary, vocabulary_of_counts

_VOCABULARIES = ("items", "tokens", "categories")


@dataclasses.dataclass(frozen=True)
class DataStatistics:
    """What the model needs to know about the data.

    Attributes:
        items: catalogue item ids, in catalogue order.
        tokens: tokens of the catalogue's text features (titles), then query tokens of the
            training part.
        categories: category paths of the catalogue and of the training queries, sorted.
        item_popularity: training clicks per item (events of the click role), aligned with `items`.
        event_roles: the event types and their roles (`data.event_types`).
        time_gap_log_mean, time_gap_log_std: of log1p(seconds) over training histories.
        features: the configured features' statistics by name (`mtrec_tf.features.statistics`).
    """

    items: tuple[str, ...]
    tokens: tuple[str, ...]
    categories: tuple[str, ...]
    item_popularity: tuple[int, ...]
    time_gap_log_mean: float
    time_gap_log_std: float
    features: dict[str, FeatureStatistics] = dataclasses.field(default_factory=dict)
    event_roles: EventTypes = DEFAULT_EVENT_TYPES

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event-type vocabulary: every declared type, in declared order."""
        return self.event_roles.names

    def save(self, directory: str | os.PathLike) -> None:
        """Writes `<name>.txt` per vocabulary (and the event types') and `statistics.json` into `directory`."""
        for name in _VOCABULARIES + ("event_types",):
            save_vocabulary(getattr(self, name), join(directory, f"{name}.txt"))
        numbers = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if f.name not in _VOCABULARIES and f.name not in ("features", "event_roles")}
        numbers["item_popularity"] = list(self.item_popularity)
        numbers["event_roles"] = self.event_roles.to_mapping()
        write_json_atomic(join(directory, "statistics.json"), numbers)
        if self.features:
            save_feature_statistics(self.features, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> DataStatistics:
        values: dict[str, Any] = {name: load_vocabulary(join(directory, f"{name}.txt")) for name in _VOCABULARIES}
        numbers = read_json(join(directory, "statistics.json"))
        numbers["item_popularity"] = tuple(numbers["item_popularity"])
        roles = numbers.pop("event_roles", None)
        event_roles = DEFAULT_EVENT_TYPES if roles is None else EventTypes.from_mapping(roles)
        return cls(**values, **numbers, features=load_feature_statistics(directory), event_roles=event_roles)


def fit_statistics(
    train_events: pd.DataFrame,
    items: pd.DataFrame,
    train_examples: pa.Table,
    *,
    train_queries: pd.DataFrame | None = None,
    min_token_count: int = 1,
    features: Sequence[FeatureConfig] = DEFAULT_FEATURES,
    users: pd.DataFrame | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
) -> DataStatistics:
    """Fits vocabularies and statistics.

    Args:
        train_events: the events of the training part only.
        items: the catalogue.
        train_examples: the training examples (for history statistics).
        train_queries: explicitly labelled queries used for training.
        min_token_count: query tokens seen fewer times are left out of the vocabulary.
        features, users: the configuration's features and the users table they may read
            (`mtrec_tf.features.statistics.fit_feature_statistics`).
        event_types: the roles of the event types (`data.event_types`).
    """
    tallies = TrainingTallies.of(train_events, train_examples, features, event_types)
    return tallies.finish(items, train_queries=train_queries, min_token_count=min_token_count, users=users)


@dataclasses.dataclass
class TrainingTallies:
    """What the statistics take from the training part's events and examples, counted on a
    piece of the log (`of`) and summed over pieces (`merge`); `finish` adds the catalogue's
    and the labelled queries' share. A log grouped by user gets the statistics of the whole.

    Attributes:
        clicks: training clicks per item id.
        query_tokens: token counts of the training searches' queries.
        gap_count, gap_mean, gap_m2: count, mean and sum of squared deviations of log1p of
            the training histories' time gaps (merged as Chan et al.'s parallel variance).
        features: the events features' tallies and the users with a training event.
        event_types: the roles of the event types.
    """

    clicks: Counter[str]
    query_tokens: Counter[str]
    gap_count: int
    gap_mean: float
    gap_m2: float
    features: EventFeatureTallies
    event_types: EventTypes

    @classmethod
    def of(cls, train_events: pd.DataFrame, train_examples: pa.Table,
           features: Sequence[FeatureConfig] = DEFAULT_FEATURES,
           event_types: EventTypes = DEFAULT_EVENT_TYPES) -> TrainingTallies:
        clicks = train_events.loc[train_events["event_type"] == event_types.click, "item_id"].value_counts()
        searches = train_events.loc[train_events["event_type"] == event_types.search, "query"]
        tokens = Counter(t for row in tokenize_to_lists(list(searches[searches != ""])) for t in row)
        gaps = pc.list_flatten(train_examples.column("history_time_gaps")).to_numpy()
        log_gaps = np.log1p(np.maximum(gaps.astype(np.float64), 0.0))
        mean = float(log_gaps.mean()) if len(log_gaps) else 0.0
        return cls(Counter({str(k): int(v) for k, v in clicks.items()}), tokens, len(log_gaps), mean,
                   float(((log_gaps - mean) ** 2).sum()), EventFeatureTallies.of(features, train_events), event_types)

    def merge(self, other: TrainingTallies) -> TrainingTallies:
        """Both pieces' tallies in one; returns self."""
        self.clicks.update(other.clicks)
        self.query_tokens.update(other.query_tokens)
        count = self.gap_count + other.gap_count
        if count:
            delta = other.gap_mean - self.gap_mean
            self.gap_m2 += other.gap_m2 + delta * delta * self.gap_count * other.gap_count / count
            self.gap_mean += delta * other.gap_count / count
        self.gap_count = count
        self.features.merge(other.features)
        return self

    def finish(self, items: pd.DataFrame, *, train_queries: pd.DataFrame | None = None, min_token_count: int = 1,
               users: pd.DataFrame | None = None) -> DataStatistics:
        """The statistics, with the catalogue's vocabularies and the labelled queries'."""
        item_ids = tuple(items["item_id"])
        popularity = tuple(self.clicks.get(item_id, 0) for item_id in item_ids)
        features = self.features.features
        texts = [text for f in features if f.table == "items" and f.kind == "text"
                 for text in items[f.column].fillna("").astype(str)]
        title_tokens = build_vocabulary(t for row in tokenize_to_lists(texts) for t in row)
        query_counts = Counter(self.query_tokens)
        categories = set(items["category"])
        if train_queries is not None:
            query_counts.update(t for row in tokenize_to_lists(list(train_queries["query"])) for t in row)
            categories |= set(train_queries["category"])
        known = set(title_tokens)
        tokens = title_tokens + tuple(
            t for t in vocabulary_of_counts(query_counts, min_count=min_token_count) if t not in known)
        std = (self.gap_m2 / self.gap_count) ** 0.5 if self.gap_count else 0.0
        return DataStatistics(
            items=item_ids,
            tokens=tokens,
            categories=tuple(sorted(categories)),
            item_popularity=popularity,
            time_gap_log_mean=self.gap_mean,
            time_gap_log_std=float(max(std, 1e-6)),
            features=self.features.finish(items, users),
            event_roles=self.event_types,
        )
