"""The features' columns in the tables: what reading keeps, derived columns, presence checks, and
the values each example carries.

Values keep their raw form through the examples (text for categorical features, joined text for
multi-categorical ones, float32 with NaN for missing numbers); the model's feature input layer
turns them into vectors, so serving takes the same raw values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from mtrec_tf.data import schema
from mtrec_tf.data.splits import EVENT_NUMBER
from mtrec_tf.data.validation import LIST_SEPARATOR, ExtraColumn
from mtrec_tf.errors import DataValidationError
from mtrec_tf.features.spec import DERIVED_EVENT_COLUMNS, STORED_AS, FeatureConfig

_SECONDS_PER_DAY = 86_400
# 1970-01-01 was a Thursday: day 0 of the epoch is day 3 of a week that starts on Monday.
_EPOCH_WEEKDAY = 3
_ITEM_CONTRACT_COLUMNS = frozenset(schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL)
_DTYPES = {"categorical": pa.string(), "multi_categorical": pa.string(), "numeric": pa.float32()}


def feature_dtype(feature: FeatureConfig) -> pa.DataType:
    """How examples store the feature: text (multi-categorical values joined), or float32."""
    return _DTYPES[feature.kind]


def table_columns(features: Sequence[FeatureConfig], table: str) -> dict[str, ExtraColumn]:
    """The columns reading keeps in `table` for `features`, with what each must hold (the items
    table's contract columns are read and checked by the data contract itself)."""
    columns: dict[str, ExtraColumn] = {}
    for feature in features:
        if feature.table != table or (table == "events" and feature.column in DERIVED_EVENT_COLUMNS) or (
                table == "items" and feature.column in _ITEM_CONTRACT_COLUMNS):
            continue
        previous = columns.get(feature.column)
        required = not feature.optional or (previous is not None and previous.required)
        columns[feature.column] = ExtraColumn(STORED_AS[feature.kind], feature.separator, required=required,
                                              what=f"feature {feature.name!r}", expected=True)
    return columns


def with_derived_columns(events: pd.DataFrame, features: Sequence[FeatureConfig]) -> pd.DataFrame:
    """`events` with the derived columns that features read and the table lacks: hour_of_day
    (0-23) and day_of_week (0 Monday to 6 Sunday) of the UTC timestamp, as text."""
    wanted = {f.column for f in features if f.table == "events" and f.column in DERIVED_EVENT_COLUMNS}
    derived = {}
    seconds = events["timestamp"].to_numpy(dtype=np.int64)
    for column in sorted(wanted - set(events.columns)):
        if column == "hour_of_day":
            values = (seconds % _SECONDS_PER_DAY) // 3600
        else:
            values = (seconds // _SECONDS_PER_DAY + _EPOCH_WEEKDAY) % 7
        derived[column] = values.astype(str).astype(object)
    return events.assign(**derived) if derived else events


def check_feature_columns(features: Sequence[FeatureConfig], tables: Mapping[str, pd.DataFrame | None],
                          sources: Mapping[str, str]) -> None:
    """Raises DataValidationError naming the table, its source and the feature when a
    configured feature's column is not in its table."""
    for feature in features:
        frame = tables.get(feature.table)
        if frame is None:
            raise DataValidationError(f"feature {feature.name!r} reads the {feature.table} table, which was not "
                                      f"given (--{feature.table})")
        if feature.column not in frame.columns:
            own = sorted(set(frame.columns) - {"image", EVENT_NUMBER})
            raise DataValidationError(
                f"{sources.get(feature.table, feature.table)}: feature {feature.name!r} reads column "
                f"{feature.column!r}, which the {feature.table} table does not have; its columns: {', '.join(own)}")


def event_feature_values(features: Sequence[FeatureConfig], events: pd.DataFrame, rows: np.ndarray,
                         users: pd.DataFrame | None, user_ids: np.ndarray) -> dict[str, pa.Array]:
    """The value of each events or users feature for examples built from the event rows `rows`
    (-1: an example of no event) of users `user_ids`; missing where there is none."""
    from_event = rows >= 0
    values = {}
    profile = users.set_index("user_id") if users is not None else None
    for feature in features:
        if feature.table == "items":
            continue
        if feature.table == "events":
            source = events[feature.column].to_numpy()[np.where(from_event, rows, 0)] if len(events) else \
                np.full(len(rows), None, dtype=object)
            present = from_event
        else:
            assert profile is not None  # `check_feature_columns` saw the users table
            source = profile[feature.column].reindex(user_ids).to_numpy()
            present = np.ones(len(rows), dtype=bool)
        values[feature.name] = _as_arrow(source, present, feature)
    return values


def item_feature_values(features: Sequence[FeatureConfig], items: pd.DataFrame,
                        item_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Each items feature's values for `item_ids` (missing for ids not in `items`): text as a
    NumPy str array, numbers as float32 with NaN. Text and image features are the catalogue's
    own arrays (`mtrec_tf.data.catalogue`), not raw values."""
    frame = items.set_index("item_id")
    arrays = {}
    for feature in features:
        if feature.table != "items" or feature.encoded:
            continue
        source = frame[feature.column].reindex(list(item_ids)).to_numpy()
        if feature.kind == "numeric":
            arrays[feature.name] = pd.to_numeric(pd.Series(source), errors="coerce").to_numpy(np.float32)
        else:
            arrays[feature.name] = np.asarray([v if isinstance(v, str) else "" for v in source], dtype=str)
    return arrays


def _as_arrow(source: np.ndarray, present: np.ndarray, feature: FeatureConfig) -> pa.Array:
    if feature.kind == "numeric":
        numbers = pd.to_numeric(pd.Series(source), errors="coerce").to_numpy(dtype=np.float64)
        return pa.array(np.where(present, numbers, np.nan).astype(np.float32), type=pa.float32())
    text = [v if ok and isinstance(v, str) else "" for v, ok in zip(source, present)]
    return pa.array(text, type=pa.string())


def split_values(values: pd.Series | np.ndarray) -> list[list[str]]:
    """Multi-categorical values as lists ([] for a missing value)."""
    return [value.split(LIST_SEPARATOR) if value else [] for value in values]
