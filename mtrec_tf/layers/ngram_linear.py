"""A linear classifier over a bag of hashed n-grams (the "wide" half of a text head)."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int


@keras.saving.register_keras_serializable(package="mtrec_tf")
class HashedNgramLinear(keras.layers.Layer):
    """Scores of a bag of hashed n-gram ids: one weight row per hash bucket, summed.

    ```
    output = sum_{j: ids_j > 0} W[ids_j] / sqrt(#{j: ids_j > 0})
    ```

    This is fastText's classifier with the embedding folded into the output layer, or a
    linear model over L2-normalised n-gram counts (what TF-IDF + linear SVM sees). Added to
    a recurrent encoder's logits it gives the head the exact n-gram evidence that a
    sequence model learns slowly. The gradient touches only the rows present in a batch.

    Args:
        units: width of the output (the number of classes).
        buckets: hash buckets; ids run from 1 to `buckets`, 0 is padding.
        initializer: of `W`; zeros by default, so the layer starts neutral.
        **kwargs: base layer keyword arguments.

    Call arguments:
        ids: int tensor `(batch, n)` of bucket ids, 0 padding.

    Returns:
        float tensor `(batch, units)`; a row of padding only gives zeros.

    References:
        - [Joulin et al., 2017](https://arxiv.org/abs/1607.01759): bag of tricks for
          efficient text classification.
    """

    def __init__(self, units: int, buckets: int, initializer: Any = "zeros", **kwargs: Any):
        super().__init__(**kwargs)
        self.units = check_positive_int("HashedNgramLinear", "units", units)
        self.buckets = check_positive_int("HashedNgramLinear", "buckets", buckets)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(name="table", shape=(self.buckets + 1, self.units),
                                     initializer=self.initializer, trainable=True)
        super().build(input_shape)

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        ids = tf.cast(ids, tf.int64)
        present = tf.cast(ids > 0, self.compute_dtype)[..., tf.newaxis]
        summed = tf.reduce_sum(tf.gather(self.table, ids) * present, axis=1)
        return summed / tf.maximum(tf.sqrt(tf.reduce_sum(present, axis=1)), 1.0)

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape([input_shape[0], self.units])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, buckets=self.buckets,
                      initializer=keras.initializers.serialize(self.initializer))
        return config
