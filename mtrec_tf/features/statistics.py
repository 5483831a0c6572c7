"""What each feature's input layer is built from, fitted on the training part only.

Events features are fitted on training events; users features on the profiles of users with a
training event (all profiles when none matches); items features on the catalogue, which is
known at serving time (like the item vocabularies of `DataStatistics`).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtrec_tf.features.columns import split_values
from mtrec_tf.features.spec import FeatureConfig
from mtrec_tf.io_utils import exists, join, read_json, write_json_atomic

STATISTICS_FILE = "features.json"


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    """One feature's training statistics.

    Attributes:
        name: the feature's name.
        rows: training rows the statistics were fitted on.
        missing: how many of them had no value.
        vocabulary: categorical values seen at least `min_count` times, most frequent first
            (empty for hashed and numeric features).
        mean, std: numeric: of the values (of log1p of them for the "log" transform).
        boundaries: numeric "quantile": the bucket boundaries.
        distinct: categorical: how many distinct values training had.
    """

    name: str
    rows: int
    missing: int
    vocabulary: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    boundaries: tuple[float, ...] = ()
    distinct: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "vocabulary": list(self.vocabulary), "boundaries": list(self.boundaries)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureStatistics:
        return cls(**{**data, "vocabulary": tuple(data["vocabulary"]), "boundaries": tuple(data["boundaries"])})


def fit_feature_statistics(features: Sequence[FeatureConfig], train_events: pd.DataFrame, items: pd.DataFrame,
                           users: pd.DataFrame | None) -> dict[str, FeatureStatistics]:
    """Each feature's statistics, by name (see the module docstring for which rows)."""
    tallies = EventFeatureTallies.of(features, train_events)
    return tallies.finish(items, users)


@dataclasses.dataclass
class FeatureTally:
    """What one feature's statistics are computed from, summed over pieces of its rows."""

    feature: FeatureConfig
    rows: int = 0
    missing: int = 0
    counts: Counter[str] = dataclasses.field(default_factory=Counter)
    numbers: list[np.ndarray] = dataclasses.field(default_factory=list)

    def add(self, values: pd.Series) -> FeatureTally:
        """Counts `values` in; returns self."""
        feature = self.feature
        self.rows += len(values)
        if feature.encoded:  # text and images: the shared encoders' vocabularies are their own
            self.missing += len(values) - int(values.map(_has_content).sum())
        elif feature.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            known = numbers[np.isfinite(numbers)]
            self.missing += len(values) - len(known)
            self.numbers.append(np.log1p(np.maximum(known, 0.0)) if feature.transform == "log" else known)
        else:
            text = values.fillna("").astype(str).to_numpy()
            lists = split_values(text) if feature.kind == "multi_categorical" else [[v] if v else [] for v in text]
            self.counts.update(value for row in lists for value in row)
            self.missing += sum(1 for row in lists if not row)
        return self

    def merge(self, other: FeatureTally) -> FeatureTally:
        """Both tallies' rows in one; returns self."""
        self.rows += other.rows
        self.missing += other.missing
        self.counts.update(other.counts)
        self.numbers += other.numbers
        return self

    def finish(self) -> FeatureStatistics:
        """The statistics of the rows counted in."""
        feature = self.feature
        if feature.encoded:
            return FeatureStatistics(feature.name, self.rows, self.missing)
        if feature.kind == "numeric":
            known = np.concatenate(self.numbers) if self.numbers else np.zeros(0)
            boundaries: tuple[float, ...] = ()
            if feature.transform == "quantile" and len(known):
                cuts = np.quantile(known, np.linspace(0, 1, feature.quantiles + 1)[1:-1])
                boundaries = tuple(float(b) for b in np.unique(cuts))
            return FeatureStatistics(feature.name, self.rows, self.missing,
                                     mean=float(known.mean()) if len(known) else 0.0,
                                     std=float(max(known.std(), 1e-6)) if len(known) else 1.0, boundaries=boundaries)
        vocabulary: tuple[str, ...] = ()
        if not feature.hashed:
            ordered = sorted(self.counts.items(), key=lambda pair: (-pair[1], pair[0]))
            vocabulary = tuple(value for value, count in ordered if count >= feature.min_count)
        return FeatureStatistics(feature.name, self.rows, self.missing, vocabulary=vocabulary,
                                 distinct=len(self.counts))


@dataclasses.dataclass
class EventFeatureTallies:
    """What the features' statistics take from training events: the events features' tallies
    and the users with a training event (whose profiles the users features are fitted on);
    summed over pieces of the log with `merge`."""

    features: tuple[FeatureConfig, ...]
    tallies: dict[str, FeatureTally]
    users: set[str]

    @classmethod
    def of(cls, features: Sequence[FeatureConfig], train_events: pd.DataFrame) -> EventFeatureTallies:
        tallies = {f.name: FeatureTally(f).add(train_events[f.column]) for f in features if f.table == "events"}
        users = set(train_events["user_id"]) if any(f.table == "users" for f in features) else set()
        return cls(tuple(features), tallies, users)

    def merge(self, other: EventFeatureTallies) -> EventFeatureTallies:
        for name, tally in other.tallies.items():
            self.tallies[name].merge(tally)
        self.users |= other.users
        return self

    def finish(self, items: pd.DataFrame, users: pd.DataFrame | None) -> dict[str, FeatureStatistics]:
        """Each feature's statistics by name, the items and users features fitted here."""
        profiles = users
        if users is not None:
            trained = users[users["user_id"].isin(self.users)]
            profiles = trained if len(trained) else users
        fitted = {}
        for feature in self.features:
            if feature.table == "events":
                fitted[feature.name] = self.tallies[feature.name].finish()
                continue
            table = items if feature.table == "items" else profiles
            assert table is not None  # `with_features` checked that a feature's table is given
            fitted[feature.name] = fit_one(feature, table[feature.column])
        return fitted


def fit_one(feature: FeatureConfig, values: pd.Series) -> FeatureStatistics:
    """The statistics of one feature from its training values."""
    return FeatureTally(feature).add(values).finish()


def describe_features(features: Sequence[FeatureConfig], statistics: Mapping[str, FeatureStatistics]) -> list[str]:
    """One line per feature: what it is, what it feeds, and its training rows with how many
    missed the value (each gets the missing row or default, never a zero)."""
    lines = []
    for feature in features:
        stats = statistics.get(feature.name)
        if stats is None:
            continue
        if feature.kind == "numeric":
            what = f"numeric ({feature.transform}" + (f", {len(stats.boundaries) + 1} buckets)"
                                                       if feature.transform == "quantile" else ")")
        elif feature.encoded:
            what = feature.kind
        elif feature.hashed:
            what = f"{feature.kind} ({stats.distinct:,} values hashed into {feature.buckets:,} buckets)"
        else:
            what = f"{feature.kind} ({len(stats.vocabulary):,} of {stats.distinct:,} values in the vocabulary)"
        share = stats.missing / stats.rows if stats.rows else 0.0
        lines.append(f"{feature.name}: {feature.table} -> {feature.side}, {what}; fitted on {stats.rows:,} rows, "
                     f"{stats.missing:,} missing ({share:.1%})")
    return lines


def _has_content(value: object) -> bool:
    """Whether a text or image value is there (non-blank text, non-empty bytes)."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, (bytes, bytearray)) and bool(value)


def save_feature_statistics(statistics: Mapping[str, FeatureStatistics], directory: str | os.PathLike) -> None:
    """Writes `features.json` into `directory` (the run's `vocab/`)."""
    write_json_atomic(join(directory, STATISTICS_FILE), {name: s.to_json() for name, s in statistics.items()})


def load_feature_statistics(directory: str | os.PathLike) -> dict[str, FeatureStatistics]:
    """The statistics `save_feature_statistics` wrote; none for a run without features."""
    path = join(directory, STATISTICS_FILE)
    if not exists(path):
        return {}
    return {name: FeatureStatistics.from_json(value) for name, value in read_json(path).items()}
