"""The features' columns: read and checked against their kind, statistics from training only,
carried by the examples and the catalogue; every bad input named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from feature_shop import feature_overrides

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.errors import DataValidationError
from mtrec_tf.features.columns import with_derived_columns
from mtrec_tf.features.spec import LIST_SEPARATOR, FeatureConfig


def test_examples_carry_the_events_and_users_features_and_the_catalogue_the_items_ones(feature_prepared,
                                                                                       feature_config) -> None:
    train = feature_prepared.examples.parts["train"]
    users = feature_prepared.data.users.set_index("user_id")
    frame = train.select(["example_type", "user_id", "age", "city", "device", "hour", "visitor"]).to_pandas()
    impressions = frame[frame["example_type"] == "impression"]
    expected_age = users["age"].reindex(impressions["user_id"]).to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(impressions["age"].to_numpy(), expected_age)  # NaN where the profile has none
    assert set(impressions["device"]) <= {"ios", "android", "web"}
    assert set(impressions["hour"]) <= {str(h) for h in range(24)}
    assert (impressions["visitor"] == impressions["user_id"]).all()
    images = frame[frame["example_type"] == "image"]
    assert (images["device"] == "").all() and np.isnan(images["age"]).all()  # examples of no event miss them
    assert "tags" not in train.column_names  # items features stay in the catalogue

    from mtrec_tf.data.catalogue import build_catalogue

    catalogue = build_catalogue(feature_prepared.data.items, feature_prepared.statistics, 12, images=False,
                                features=feature_config.features)
    items = feature_prepared.data.items.set_index("item_id").reindex(list(feature_prepared.statistics.items))
    assert catalogue.features["tags"][0] == "" and np.isnan(catalogue.features["sales"][0])  # row 0: unknown
    assert list(catalogue.features["tags"][1:]) == list(items["tags"])
    assert LIST_SEPARATOR in "".join(catalogue.features["tags"])  # several tags joined


def test_statistics_come_from_training_and_count_missing_values(feature_prepared) -> None:
    stats = feature_prepared.statistics.features
    train_users = set(feature_prepared.data.events.loc[feature_prepared.split.mask("train"), "user_id"])
    profiles = feature_prepared.data.users[feature_prepared.data.users["user_id"].isin(train_users)]
    assert stats["age"].rows == len(profiles) and stats["age"].missing == int(profiles["age"].isna().sum())
    assert len(stats["age"].boundaries) == 3  # 4 quantile buckets
    assert stats["age_z"].mean == pytest.approx(profiles["age"].mean())
    cities = profiles["city"].fillna("").astype(str)
    counts = cities[cities != ""].value_counts()
    assert set(stats["city"].vocabulary) == set(counts[counts >= 2].index)  # min_count 2
    assert stats["city"].missing == int((cities == "").sum()) > 0
    assert stats["visitor"].vocabulary == ()  # hashed
    train_events = feature_prepared.data.events[feature_prepared.split.mask("train")]
    assert stats["device"].rows == len(train_events)


def test_hour_of_day_and_day_of_week_come_from_the_utc_timestamp() -> None:
    events = pd.DataFrame({"timestamp": [0, 86_400 * 4 + 3_600 * 13 + 59]})  # Thu 00:00, Mon 13:00:59
    features = [FeatureConfig("h", "events", "categorical", column="hour_of_day"),
                FeatureConfig("d", "events", "categorical", column="day_of_week")]
    derived = with_derived_columns(events, features)
    assert list(derived["hour_of_day"]) == ["0", "13"] and list(derived["day_of_week"]) == ["3", "0"]


def _config(shop, features, extra=()):
    tables = [f"data.{kind}={path}" for kind, path in shop.items()]
    return load_config(None, tables + feature_overrides(features) + list(extra), preset="tiny")


def test_a_feature_whose_column_is_missing_names_the_table_and_column(feature_shop) -> None:
    config = _config(feature_shop, {"income": {"table": "users", "kind": "numeric"}})
    with pytest.raises(DataValidationError, match=r"users\.csv: feature 'income' reads column 'income', which the "
                                                  r"users table does not have; its columns: user_id, age, city"):
        prepare_configured(config)


def test_a_value_that_does_not_fit_a_numeric_feature_names_file_row_and_column(feature_shop, tmp_path) -> None:
    users = pd.read_csv(feature_shop["users"])
    users["age"] = users["age"].astype(object)
    users.loc[3, "age"] = "thirty"
    shop = {**feature_shop, "users": tmp_path / "users.csv"}
    users.to_csv(shop["users"], index=False)
    config = _config(shop, {"age": {"table": "users", "kind": "numeric"}})
    with pytest.raises(DataValidationError,
                       match=r"users\.csv row 4 \(line 5\), column 'age': expected a number, got 'thirty'"):
        prepare_configured(config)
    skipped = prepare_configured(dataclasses.replace(config, data=dataclasses.replace(config.data, bad_rows="skip")))
    report = next(r for r in skipped.data.reports if r.kind == "users")
    assert report.repaired == {"age not a number": 1} and np.isnan(skipped.data.users["age"].iloc[3])


def test_a_required_feature_without_a_value_is_a_bad_row(feature_shop) -> None:
    config = _config(feature_shop, {"age": {"table": "users", "kind": "numeric", "optional": False}})
    with pytest.raises(DataValidationError, match=r"users\.csv row 1 \(line 2\), column 'age': no value, and "
                                                  r"feature 'age' is not optional"):
        prepare_configured(config)
    skipped = prepare_configured(dataclasses.replace(config, data=dataclasses.replace(config.data, bad_rows="skip")))
    report = next(r for r in skipped.data.reports if r.kind == "users")
    assert report.dropped == {"missing age": int(pd.read_csv(feature_shop["users"])["age"].isna().sum())}


def test_a_repeated_user_id_names_both_rows(feature_shop, tmp_path) -> None:
    users = pd.read_csv(feature_shop["users"])
    users.loc[5, "user_id"] = users.loc[2, "user_id"]
    shop = {**feature_shop, "users": tmp_path / "users.csv"}
    users.to_csv(shop["users"], index=False)
    with pytest.raises(DataValidationError, match=r"users\.csv row 6 \(line 7\), column 'user_id': duplicate "
                                                  r"user_id .* first seen at .*row 3"):
        prepare_configured(_config(shop, {"city": {"table": "users", "kind": "categorical"}}))


def test_a_multi_categorical_column_may_hold_lists_or_delimited_text() -> None:
    from mtrec_tf.data.validation import ExtraColumn, validate_table

    frame = pd.DataFrame({"query": ["a", "b", "c"], "category": ["x", "y", "z"],
                          "tags": [["red", " big "], "small; green", None]})
    clean, _ = validate_table(frame, "queries", source="q", extra_columns={"tags": ExtraColumn("list", ";")})
    assert [value.split(LIST_SEPARATOR) if value else [] for value in clean["tags"]] == [
        ["red", "big"], ["small", "green"], []]
