"""DIN local activation unit: attention of a target item over a behaviour sequence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import clone_initializer
from mtrec_tf.layers.attention_pooling import masked_softmax
from mtrec_tf.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="mtrec_tf")
class TargetAttention(keras.layers.Layer):
    """Target attention (the local activation unit of Deep Interest Network).

    Each behaviour `k_t` is weighted by a small network that sees the target `q`, the
    behaviour and their interactions; the output is the weighted sum of behaviours:

    ```
    w_t    = MLP([q, k_t, q - k_t, q * k_t])           (a scalar per step)
    w      = w * mask                                  (normalize=False, as in DIN)
    w      = softmax(w) over unmasked steps            (normalize=True)
    output = sum_t w_t k_t
    ```

    Without normalisation the weights are not forced to sum to one, which keeps the
    intensity of the user's interest (the DIN choice). Masked steps get weight zero
    either way, and a row whose steps are all masked gives an all-zero output.

    Args:
        hidden_units: Widths of the hidden layers of the scoring MLP; a final linear
            `Dense(1)` gives the score.
        activation: Activation of the hidden layers (DIN uses sigmoid/PReLU/Dice).
        normalize: If `True`, turn the scores into a softmax over the unmasked steps.
        dropout: Dropout rate after each hidden layer of the scoring MLP.
        kernel_initializer: Initializer for the scoring MLP's kernels.
        bias_initializer: Initializer for the scoring MLP's biases.
        kernel_regularizer: Optional regularizer for the scoring MLP's kernels.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: List `[query, keys]`:
            * query: float tensor of shape `(batch, dim)`, the target item.
            * keys: float tensor of shape `(batch, time, dim)`, the behaviours.
        mask: Optional boolean mask of the keys, shape `(batch, time)`, or the list
            `[query_mask, keys_mask]` that Keras passes (the query mask is ignored).
            Taken from the Keras mask of `keys` when not given.
        return_attention_scores: If `True`, also return the weights `w`.
        training: Whether dropout is active.

    Returns:
        A tensor of shape `(batch, dim)`; with `return_attention_scores=True`, the tuple
        `(output, w)` with `w` of shape `(batch, time)`.

    Example:

    >>> query = tf.random.normal((2, 8))
    >>> keys = tf.random.normal((2, 5, 8))
    >>> mask = tf.sequence_mask([3, 0], maxlen=5)
    >>> TargetAttention(hidden_units=[16])([query, keys], mask=mask).shape
    TensorShape([2, 8])

    References:
        - [Zhou et al., 2018](https://arxiv.org/abs/1706.06978): Deep Interest Network
          for Click-Through Rate Prediction.
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (64, 32),
        activation: Any = "sigmoid",
        normalize: bool = False,
        dropout: float = 0.0,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.normalize = bool(normalize)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True
        # The MLP validates `hidden_units`, `activation` and `dropout`.
        self.scorer = MLP(
            hidden_units,
            activation=activation,
            dropout=dropout,
            output_units=1,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="scorer",
        )
        self.hidden_units = self.scorer.hidden_units
        self.activation = self.scorer.activation
        self.dropout = self.scorer.dropout

    def build(self, input_shape: Sequence[tf.TensorShape]) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"TargetAttention: expected inputs [query, keys], got shapes {input_shape}"
            )
        query_shape, keys_shape = (tf.TensorShape(s) for s in input_shape)
        if query_shape.rank != 2 or keys_shape.rank != 3:
            raise ValueError(
                "TargetAttention: expected query (batch, dim) and keys (batch, time, dim), "
                f"got {query_shape} and {keys_shape}"
            )
        if keys_shape[-1] is None or query_shape[-1] != keys_shape[-1]:
            raise ValueError(
                "TargetAttention: query and keys need the same known last axis, got "
                f"{query_shape} and {keys_shape}"
            )
        with tf.name_scope(self.scorer.name):
            self.scorer.build(keys_shape[:-1].concatenate([4 * keys_shape[-1]]))
        super().build(input_shape)

    def call(
        self,
        inputs: Sequence[tf.Tensor],
        mask: tf.Tensor | Sequence[tf.Tensor | None] | None = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
    ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        query, keys = inputs  # (batch, dim), (batch, time, dim)
        if isinstance(mask, (list, tuple)):
            mask = mask[1]
        queries = tf.broadcast_to(query[:, tf.newaxis, :], tf.shape(keys))  # (batch, time, dim)
        features = tf.concat([queries, keys, queries - keys, queries * keys], axis=-1)
        # features: (batch, time, 4 * dim)
        scores = tf.squeeze(self.scorer(features, training=training), axis=-1)  # (batch, time)
        if self.normalize:
            weights = masked_softmax(scores, mask)
        elif mask is not None:
            weights = tf.where(tf.cast(mask, tf.bool), scores, tf.zeros_like(scores))
        else:
            weights = scores
        outputs = tf.einsum("bt,btd->bd", weights, keys)  # (batch, dim)
        if return_attention_scores:
            return outputs, weights
        return outputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # the time axis is pooled away

    def compute_output_shape(self, input_shape: Sequence[tf.TensorShape]) -> tf.TensorShape:
        return tf.TensorShape(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": keras.activations.serialize(self.activation),
                "normalize": self.normalize,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
