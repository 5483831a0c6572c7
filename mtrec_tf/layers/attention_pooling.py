"""Additive attention pooling over the time axis of a masked sequence."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int, clone_initializer


def masked_softmax(scores: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """Softmax over the last axis that gives masked positions exactly zero weight.

    A row whose positions are all masked gets all-zero weights, and the gradient through
    it is zero rather than NaN: no `-inf` fill is used and the normaliser of an empty row
    is replaced by one.

    Args:
        scores: float tensor of shape `(..., time)`.
        mask: boolean tensor broadcastable to `scores` (`True` = keep), or `None`.

    Returns:
        A tensor shaped like `scores` whose unmasked entries in each row sum to one
        (empty rows sum to zero).
    """
    if mask is None:
        return tf.nn.softmax(scores, axis=-1)
    mask = tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(scores))
    zeros = tf.zeros_like(scores)
    row_max = tf.reduce_max(tf.where(mask, scores, scores.dtype.min), axis=-1, keepdims=True)
    any_kept = tf.reduce_any(mask, axis=-1, keepdims=True)
    row_max = tf.stop_gradient(tf.where(any_kept, row_max, tf.zeros_like(row_max)))
    # The inner `where` keeps exp() finite on masked entries, so their gradient is 0, not NaN.
    exp = tf.where(mask, tf.exp(tf.where(mask, scores - row_max, zeros)), zeros)
    total = tf.reduce_sum(exp, axis=-1, keepdims=True)  # >= 1 on a non-empty row, else 0
    return exp / tf.where(total > 0, total, tf.ones_like(total))


@keras.saving.register_keras_serializable(package="mtrec_tf")
class AttentionPooling(keras.layers.Layer):
    """Additive (Bahdanau-style) attention pooling of a sequence into one vector.

    Each step gets a score from a one-hidden-layer network, the scores are normalised
    with a softmax over the unmasked steps, and the output is the weighted sum:

    ```
    score_t = v . tanh(W h_t + b)
    alpha   = softmax(score) over the steps where mask_t is True
    output  = sum_t alpha_t h_t
    ```

    Masked steps get weight exactly zero, so their values never reach the output. A row
    whose steps are all masked gives an all-zero output and finite (zero) gradients.

    Args:
        units: Width of the hidden scoring layer (the rows of `v`).
        kernel_initializer: Initializer for `W` and `v`.
        bias_initializer: Initializer for `b`.
        kernel_regularizer: Optional regularizer for `W` and `v`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(batch, time, features)`.
        mask: Optional boolean tensor of shape `(batch, time)`, `True` for real steps.
            Taken from the Keras mask of `inputs` when not given.
        return_attention_scores: If `True`, also return the weights `alpha`.

    Returns:
        A tensor of shape `(batch, features)`; with `return_attention_scores=True`, the
        tuple `(output, alpha)` with `alpha` of shape `(batch, time)`.

    Example:

    >>> x = tf.random.normal((2, 5, 8))
    >>> mask = tf.constant([[True] * 3 + [False] * 2, [False] * 5])
    >>> AttentionPooling(units=4)(x, mask=mask).shape
    TensorShape([2, 8])

    References:
        - [Bahdanau et al., 2015](https://arxiv.org/abs/1409.0473): additive attention.
        - [Yang et al., 2016](https://aclanthology.org/N16-1174/): attention pooling of
          a recurrent encoder's states (hierarchical attention networks).
    """

    def __init__(
        self,
        units: int,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("AttentionPooling", "units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, input_shape: tf.TensorShape) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionPooling: expected input of shape (batch, time, features) with a "
                f"known `features`, got {input_shape}"
            )
        features = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(features, self.units),
            initializer=clone_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=clone_initializer(self.bias_initializer)
        )
        self.context = self.add_weight(
            name="context",
            shape=(self.units,),
            initializer=clone_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        super().build(input_shape)

    def call(
        self,
        inputs: tf.Tensor,
        mask: tf.Tensor | None = None,
        return_attention_scores: bool = False,
    ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        hidden = tf.tanh(tf.einsum("btf,fu->btu", inputs, self.kernel) + self.bias)
        # hidden: (batch, time, units)
        scores = tf.einsum("btu,u->bt", hidden, self.context)  # (batch, time)
        alpha = masked_softmax(scores, mask)  # (batch, time)
        outputs = tf.einsum("bt,btf->bf", alpha, inputs)  # (batch, features)
        if return_attention_scores:
            return outputs, alpha
        return outputs

    def compute_mask(self, inputs: tf.Tensor, mask: tf.Tensor | None = None) -> None:
        return None  # the time axis is pooled away

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        input_shape = tf.TensorShape(input_shape)
        return tf.TensorShape([input_shape[0], input_shape[-1]])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
