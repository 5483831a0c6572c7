"""A linear classifier over a bag of hashed n-grams (the "wide" half of a text head)."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int, check_rate


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

    With `dropout`, each n-gram of a training batch is left out of its bag at that rate
    and the output is scaled by `1 / sqrt(1 - dropout)`, so that its expected size matches
    inference, when every n-gram counts. This regularises a linear text model
    better than an L2 penalty does (Wager et al. 2013): no single n-gram can carry a
    training example on its own.

    Args:
        units: width of the output (the number of classes).
        buckets: hash buckets; ids run from 1 to `buckets`, 0 is padding.
        initializer: of `W`; zeros by default, so the layer starts neutral.
        dropout: share of the n-grams of each training example left out, in `[0, 1)`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        ids: int tensor `(batch, n)` of bucket ids, 0 padding.
        training: whether dropout is active.

    Returns:
        float tensor `(batch, units)`; a row of padding only gives zeros.

    References:
        - [Joulin et al., 2017](https://arxiv.org/abs/1607.01759): bag of tricks for
          efficient text classification.
        - [Wager et al., 2013](https://arxiv.org/abs/1307.1493): dropout training as
          adaptive regularization.
    """

    def __init__(self, units: int, buckets: int, initializer: Any = "zeros", dropout: float = 0.0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.units = check_positive_int("HashedNgramLinear", "units", units)
        self.buckets = check_positive_int("HashedNgramLinear", "buckets", buckets)
        self.initializer = keras.initializers.get(initializer)
        self.dropout = check_rate("HashedNgramLinear", "dropout", dropout)

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(name="table", shape=(self.buckets + 1, self.units),
                                     initializer=self.initializer, trainable=True)
        super().build(input_shape)

    def call(self, ids: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        ids = tf.cast(ids, tf.int64)
        scale = 1.0
        if training and self.dropout:
            ids = ids * tf.cast(tf.random.uniform(tf.shape(ids)) >= self.dropout, ids.dtype)
            # sum / sqrt(count) of a random share (1 - dropout) of the n-grams is sqrt(1 - dropout)
            # times the full bag's, in expectation.
            scale = 1.0 / (1.0 - self.dropout) ** 0.5
        present = tf.cast(ids > 0, self.compute_dtype)[..., tf.newaxis]
        summed = tf.reduce_sum(tf.gather(self.table, ids) * present, axis=1)
        return scale * summed / tf.maximum(tf.sqrt(tf.reduce_sum(present, axis=1)), 1.0)

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape([input_shape[0], self.units])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, buckets=self.buckets,
                      initializer=keras.initializers.serialize(self.initializer), dropout=self.dropout)
        return config
