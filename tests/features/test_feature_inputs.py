"""The feature input layer: raw values to vectors, missing values kept apart from zeros."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_tf.backend import tf
from mtrec_tf.features.inputs import FeatureInputs
from mtrec_tf.features.spec import LIST_SEPARATOR, FeatureConfig
from mtrec_tf.features.statistics import FeatureStatistics, fit_one

CITY = FeatureConfig("city", "users", "categorical", dim=4)
AGE = FeatureConfig("age", "users", "numeric")
BAND = FeatureConfig("band", "users", "numeric", column="age", transform="quantile", dim=3)
TAGS = FeatureConfig("tags", "items", "multi_categorical", dim=4)
HASHED = FeatureConfig("shop", "items", "categorical", buckets=8, dim=2)


def _layer(*features: FeatureConfig) -> FeatureInputs:
    stats = {
        "city": FeatureStatistics("city", 3, 0, vocabulary=("bj", "sh")),
        "age": FeatureStatistics("age", 3, 0, mean=40.0, std=10.0),
        "band": FeatureStatistics("band", 3, 0, boundaries=(30.0, 50.0)),
        "tags": FeatureStatistics("tags", 3, 0, vocabulary=("red", "big")),
        "shop": FeatureStatistics("shop", 3, 0),
    }
    return FeatureInputs(features, stats)


def test_categorical_values_missing_and_unknown_have_rows_of_their_own() -> None:
    layer = _layer(CITY)
    out = layer({"city": tf.constant(["bj", "", "paris", "bj"])}).numpy()
    table = layer.embeddings["city"].embeddings.numpy()
    np.testing.assert_allclose(out, table[[2, 0, 1, 2]])  # 0 missing, 1 out of vocabulary, 2.. vocabulary


def test_a_missing_number_is_a_learned_default_with_an_indicator_not_a_zero() -> None:
    layer = _layer(AGE)
    out = layer({"age": tf.constant([50.0, np.nan, 1e9])}).numpy()
    np.testing.assert_allclose(out[0], [1.0, 0.0])
    np.testing.assert_allclose(out[1], [layer.defaults["age"].numpy(), 1.0])
    assert out[2, 0] == 8.0  # clipped
    assert any(v is layer.defaults["age"] for v in layer.trainable_variables)


def test_quantile_buckets_and_missing_numbers_are_embedded() -> None:
    layer = _layer(BAND)
    out = layer({"band": tf.constant([10.0, 30.0, 70.0, np.nan])}).numpy()
    table = layer.embeddings["band"].embeddings.numpy()
    np.testing.assert_allclose(out, table[[1, 2, 3, 0]])


def test_multi_categorical_values_are_mean_pooled_from_joined_text_or_padded_lists() -> None:
    layer = _layer(TAGS)
    joined = layer({"tags": tf.constant([f"red{LIST_SEPARATOR}big", "", "big"])}).numpy()
    table = layer.embeddings["tags"].embeddings.numpy()
    padded = layer({"tags": tf.constant([["red", "big"], ["", ""], ["big", ""]])}).numpy()
    expected = np.stack([(table[2] + table[3]) / 2, table[0], table[3]])
    np.testing.assert_allclose(joined, expected, rtol=1e-6)
    np.testing.assert_allclose(padded, expected, rtol=1e-6)


def test_hashed_values_share_buckets_and_the_missing_value_keeps_bucket_zero() -> None:
    layer = _layer(HASHED, CITY)
    out = layer({"shop": tf.constant(["s1", "", "s1"]), "city": tf.constant(["bj", "bj", "bj"])}).numpy()
    assert out.shape == (3, 2 + 4) and layer.output_dim == 6
    np.testing.assert_allclose(out[0], out[2])
    np.testing.assert_allclose(out[1, :2], layer.embeddings["shop"].embeddings.numpy()[0])


def test_fit_one_counts_missing_values_and_keeps_values_seen_often_enough() -> None:
    feature = FeatureConfig("city", "users", "categorical", min_count=2)
    stats = fit_one(feature, pd.Series(["bj", "sh", "bj", "", None, "sh", "gz"]))
    assert stats.vocabulary == ("bj", "sh") and stats.missing == 2 and stats.rows == 7 and stats.distinct == 3
    log = fit_one(FeatureConfig("sales", "items", "numeric", transform="log"), pd.Series([0.0, np.e - 1, np.nan]))
    assert log.missing == 1 and log.mean == np.float64(0.5)


def test_dim_zero_is_the_models_embedding_width() -> None:
    stats = {"city": FeatureStatistics("city", 3, 0, vocabulary=("bj", "sh"))}
    wide = FeatureInputs([FeatureConfig("city", "users", "categorical", dim=0)], stats, embedding_dim=24)
    assert wide.output_dim == 24 and wide({"city": tf.constant(["bj"])}).shape == (1, 24)
