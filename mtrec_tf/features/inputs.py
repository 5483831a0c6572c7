"""The input layer of the configuration's features: raw values to one vector per row.

Everything a feature needs (its vocabulary, hashing, normalisation statistics and bucket
boundaries) is inside the layer, so a SavedModel takes the raw values that the tables hold.

- categorical: index 0 is "missing" (""), 1 out of vocabulary, 2.. the training
  vocabulary; hashed features map "" to 0 and values to 1..buckets; an embedding of `dim`.
- multi_categorical: a (batch,) string of values joined with `LIST_SEPARATOR`, or a
  (batch, n) string tensor padded with ""; the mean of the values' embeddings, the missing
  row's embedding for a row without values.
- numeric: NaN is missing. "zscore" and "log" give the normalised value (clipped to
  +-`CLIP`), a learned default where it is missing, and a missing indicator; "quantile" an
  embedding of the bucket (0 missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.features.spec import LIST_SEPARATOR, FeatureConfig
from mtrec_tf.features.statistics import FeatureStatistics

CLIP = 8.0
# A vocabulary entry that no value is: lookups need at least one.
_NEVER = "\x00never"


@keras.saving.register_keras_serializable(package="mtrec_tf")
class FeatureInputs(keras.layers.Layer):
    """Features of one side of the model (user, item or context) to one vector per row.

    Args:
        features: the features, in the order their parts are concatenated.
        statistics: each feature's training statistics, by name.
        embedding_dim: the width of the features whose `dim` is 0.

    Call arguments:
        values: the features' raw values by name: (batch,) strings or float32, or (batch, n)
            strings for a multi-categorical feature.
        training: unused (no dropout).

    Returns:
        (batch, output_dim) float32.
    """

    def __init__(self, features: Sequence[FeatureConfig], statistics: Mapping[str, FeatureStatistics],
                 embedding_dim: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = tuple(features)
        self.lookups: dict[str, keras.layers.Layer] = {}
        self.embeddings: dict[str, keras.layers.Embedding] = {}
        self.defaults: dict[str, tf.Variable] = {}
        self.stats = {f.name: statistics[f.name] for f in self.features}
        width = 0
        for feature in self.features:
            stats = self.stats[feature.name]
            if feature.kind == "numeric" and not feature.embedded:
                width += 2  # the value and the missing indicator
                continue
            if feature.kind == "numeric":
                rows = len(stats.boundaries) + 2  # 0 missing, 1.. the buckets
            elif feature.hashed:
                self.lookups[feature.name] = keras.layers.Hashing(feature.buckets + 1, mask_value="",
                                                                  name=f"{feature.name}_hashing")
                rows = feature.buckets + 1
            else:
                self.lookups[feature.name] = keras.layers.StringLookup(
                    vocabulary=list(stats.vocabulary) or [_NEVER], mask_token="", num_oov_indices=1,
                    name=f"{feature.name}_lookup")
                rows = max(len(stats.vocabulary), 1) + 2
            dim = feature.dim or embedding_dim
            self.embeddings[feature.name] = keras.layers.Embedding(rows, dim, name=f"{feature.name}_embedding")
            width += dim
        self.output_dim = width

    def build(self, input_shape: Any = None) -> None:
        for feature in self.features:
            if feature.kind == "numeric" and not feature.embedded:
                self.defaults[feature.name] = self.add_weight(name=f"{feature.name}_default", shape=(),
                                                              initializer="zeros")
        super().build(input_shape)

    def lookup_layers(self) -> list[keras.layers.StringLookup]:
        """The vocabulary lookups, whose tables an export must carry."""
        return [layer for layer in self.lookups.values() if isinstance(layer, keras.layers.StringLookup)]

    def call(self, values: Mapping[str, tf.Tensor], training: bool | None = None) -> tf.Tensor:
        if not self.built:
            self.build()
        parts = []
        for feature in self.features:
            if feature.name not in values:
                raise ValueError(f"FeatureInputs: no values for feature {feature.name!r}")
            value = values[feature.name]
            if feature.kind == "numeric":
                parts.append(self._numeric(feature, tf.cast(value, tf.float32)))
            elif feature.kind == "multi_categorical":
                parts.append(self._pooled(feature, value))
            else:
                parts.append(self.embeddings[feature.name](self.lookups[feature.name](value)))
        if not parts:
            return tf.zeros([0, 0])
        return tf.concat(parts, axis=-1)

    def _numeric(self, feature: FeatureConfig, value: tf.Tensor) -> tf.Tensor:
        stats = self.stats[feature.name]
        missing = tf.math.is_nan(value)
        known = tf.where(missing, tf.zeros_like(value), value)
        if feature.embedded:
            boundaries = list(stats.boundaries)
            bucket = tf.raw_ops.Bucketize(input=known, boundaries=boundaries) if boundaries else tf.zeros_like(
                known, tf.int32)
            index = tf.where(missing, tf.constant(0, tf.int64), tf.cast(bucket, tf.int64) + 1)
            return self.embeddings[feature.name](index)
        if feature.transform == "log":
            known = tf.math.log1p(tf.maximum(known, 0.0))
        normalised = tf.clip_by_value((known - stats.mean) / stats.std, -CLIP, CLIP)
        filled = tf.where(missing, tf.fill(tf.shape(value), self.defaults[feature.name]), normalised)
        return tf.stack([filled, tf.cast(missing, tf.float32)], axis=-1)

    def _pooled(self, feature: FeatureConfig, value: tf.Tensor) -> tf.Tensor:
        if value.shape.rank == 1:
            value = tf.strings.split(value, LIST_SEPARATOR).to_tensor("")
        index = self.lookups[feature.name](value)  # (batch, n), 0 padding
        vectors = self.embeddings[feature.name](index)
        weights = tf.cast(index > 0, vectors.dtype)[..., tf.newaxis]
        count = tf.reduce_sum(weights, axis=1)
        pooled = tf.math.divide_no_nan(tf.reduce_sum(vectors * weights, axis=1), count)
        missing_row = self.embeddings[feature.name](tf.zeros_like(index[:, 0]))
        return tf.where(count > 0, pooled, missing_row)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, int]:
        return (None, self.output_dim)


def side_features(features: Sequence[FeatureConfig], side: str) -> tuple[FeatureConfig, ...]:
    """The features that feed `side` ("user", "item" or "context")."""
    return tuple(feature for feature in features if feature.side == side)
