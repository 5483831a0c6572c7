"""The features of the test shop (`conftest.feature_shop`): one of every kind and table, beside
the default set (title text, category, brand, price, image)."""

from __future__ import annotations

FEATURES = {
    "age": {"table": "users", "kind": "numeric", "transform": "quantile", "quantiles": 4},
    "age_z": {"table": "users", "column": "age", "kind": "numeric"},
    "city": {"table": "users", "kind": "categorical", "min_count": 2},
    "device": {"table": "events", "kind": "categorical"},
    "hour": {"table": "events", "column": "hour_of_day", "kind": "categorical"},
    "visitor": {"table": "events", "column": "user_id", "kind": "categorical", "buckets": 32, "side": "user"},
    "tags": {"table": "items", "kind": "multi_categorical"},
    "sales": {"table": "items", "kind": "numeric", "transform": "log"},
    "description": {"table": "items", "kind": "text"},
}


def feature_overrides(features: dict = FEATURES) -> list[str]:
    """`--set` overrides declaring `features`."""
    return [f"features.{name}.{key}={value}" for name, spec in features.items() for key, value in spec.items()]
