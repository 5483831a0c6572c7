"""Vocabularies and statistics the model is built from, fitted on the training part only.

Popularity, the query-token vocabulary and normalisation statistics come from training
events and examples alone, so nothing from validation or test reaches training. Catalogue
vocabularies (item ids, the tokens of its text features, categories) and the items
features' statistics come from the catalogue itself, which is known at serving time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig
from mtrec_tf.features.statistics import (
    FeatureStatistics,
    fit_feature_statistics,
    load_feature_statistics,
    save_feature_statistics,
)
from mtrec_tf.io_utils import join, read_json, write_json_atomic
from mtrec_tf.text.tokenizer import tokenize_to_lists
from mtrec_tf.text.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary

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
    item_ids = tuple(items["item_id"])
    clicks = train_events.loc[train_events["event_type"] == event_types.click, "item_id"].value_counts()
    popularity = tuple(int(n) for n in clicks.reindex(item_ids, fill_value=0))

    texts = [text for f in features if f.table == "items" and f.kind == "text"
             for text in items[f.column].fillna("").astype(str)]
    title_tokens = build_vocabulary(t for row in tokenize_to_lists(texts) for t in row)
    searches = train_events.loc[train_events["event_type"] == event_types.search, "query"]
    query_texts = list(searches[searches != ""])
    if train_queries is not None:
        query_texts += list(train_queries["query"])
    query_tokens = build_vocabulary(
        (t for row in tokenize_to_lists(query_texts) for t in row), min_count=min_token_count
    )
    known = set(title_tokens)
    tokens = title_tokens + tuple(t for t in query_tokens if t not in known)

    categories = set(items["category"])
    if train_queries is not None:
        categories |= set(train_queries["category"])

    gaps = pc.list_flatten(train_examples.column("history_time_gaps")).to_numpy()
    log_gaps = np.log1p(np.maximum(gaps, 0.0)) if len(gaps) else np.zeros(1)
    return DataStatistics(
        items=item_ids,
        tokens=tokens,
        categories=tuple(sorted(categories)),
        item_popularity=popularity,
        time_gap_log_mean=float(log_gaps.mean()),
        time_gap_log_std=float(max(log_gaps.std(), 1e-6)),
        features=fit_feature_statistics(features, train_events, items, users),
        event_roles=event_types,
    )
