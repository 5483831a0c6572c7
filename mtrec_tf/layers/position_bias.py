"""A shallow tower from the slot an item was shown in to a click logit (position bias)."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int, clone_initializer


@keras.saving.register_keras_serializable(package="mtrec_tf")
class PositionBias(keras.layers.Layer):
    """The logit of being looked at in a slot: added to a ranking task's logit in training,
    left out when serving, so that the task's own logit learns relevance rather than the
    slot an item happened to get.

    ```
    b      = clip(position, -1, buckets - 1) + 1       0: no position (-1)
    output = w . relu(E[b]) + c
    ```

    Positions from `buckets - 1` on share the last row. The output layer starts at zero,
    so the tower starts neutral and takes only the part of the click signal that the slot
    explains (Zhao et al. 2019, YouTube's shallow tower; Guo et al. 2019, PAL, factor the
    probability the same way).

    Args:
        buckets: positions 0 .. buckets - 1 have rows of their own.
        units: width of each position's embedding.
        embeddings_initializer: of `E`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        positions: int tensor `(batch,)`, 0 for the first slot, -1 when unknown.

    Returns:
        float tensor `(batch,)`: the logit of each example's slot.

    References:
        - [Zhao et al., 2019](https://dl.acm.org/doi/10.1145/3298689.3346997): recommending
          what video to watch next (a shallow tower for position bias).
        - [Guo et al., 2019](https://dl.acm.org/doi/10.1145/3298689.3347033): PAL, a
          position-bias aware learning framework for CTR prediction.
    """

    def __init__(self, buckets: int, units: int = 8, embeddings_initializer: Any = "uniform",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets = check_positive_int("PositionBias", "buckets", buckets)
        self.units = check_positive_int("PositionBias", "units", units)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embedding = keras.layers.Embedding(
            self.buckets + 1, self.units, embeddings_initializer=clone_initializer(self.embeddings_initializer),
            name="position_embedding")
        self.output_layer = keras.layers.Dense(1, kernel_initializer="zeros", name="position_logit")

    def build(self, input_shape: Any) -> None:
        with tf.name_scope(self.embedding.name):
            self.embedding.build(input_shape)
        with tf.name_scope(self.output_layer.name):
            self.output_layer.build(tf.TensorShape(input_shape).concatenate([self.units]))
        super().build(input_shape)

    def call(self, positions: tf.Tensor) -> tf.Tensor:
        buckets = tf.clip_by_value(tf.cast(positions, tf.int64), -1, self.buckets - 1) + 1
        hidden = tf.nn.relu(self.embedding(buckets))  # (batch, units)
        return tf.squeeze(self.output_layer(hidden), -1)

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape(input_shape[:1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(buckets=self.buckets, units=self.units,
                      embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer))
        return config
