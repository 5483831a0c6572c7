"""Bidirectional LSTM over a masked sequence, pooled with additive attention."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import PooledSequenceOutputs, check_positive_int, check_rate
from mtrec_tf.layers.attention_pooling import AttentionPooling


@keras.saving.register_keras_serializable(package="mtrec_tf")
class SequenceEncoder(PooledSequenceOutputs, keras.layers.Layer):
    """Encodes a variable-length sequence with a BiLSTM and attention pooling.

    ```
    h_t    = [LSTM_fwd(x)_t ; LSTM_bwd(x)_t]                    (2 * units wide)
    alpha  = softmax_t(v . tanh(W h_t + b)) over the unmasked steps
    output = sum_t alpha_t h_t
    ```

    Padded steps (mask `False`) are skipped by both LSTM directions and get zero attention
    weight, so their values never reach the output. A row with no real step gives an
    all-zero output and all-zero sequences, with finite gradients. Internally such a row is
    shown to the LSTM with its first step unmasked (and then zeroed): this keeps a
    right-padded mask eligible for the cuDNN kernel on GPU, which tf-keras otherwise
    refuses for batches holding an empty row.

    The sub-layers are built from this layer's arguments, so `get_config` is the
    arguments and `from_config` rebuilds the same structure; the weights of the
    bidirectional LSTM and of the pooling are saved with the layer.

    Args:
        units: Width of each LSTM direction; the output is `2 * units` wide.
        dropout: Dropout rate on the LSTM inputs, in `[0, 1)` (no recurrent dropout, so
            the fused kernels stay usable).
        pooling_units: Width of the attention scoring layer; defaults to `units`.
        return_sequences: If `True`, return the per-step BiLSTM outputs as well.
        fused: If `True`, each direction is a `keras.layers.LSTM`, whose cuDNN kernel is
            the fastest on a GPU; if `False`, a generic `keras.layers.RNN(LSTMCell)`, which
            on a CPU traces about 4x and runs about 1.5x faster. The weights are the same.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(batch, time, features)`.
        mask: Optional boolean tensor of shape `(batch, time)`, `True` for real steps.
            Taken from the Keras mask of `inputs` (e.g. `Embedding(mask_zero=True)`)
            when not given.
        training: Whether dropout is active.

    Returns:
        The pooled encoding, of shape `(batch, 2 * units)`. With `return_sequences=True`,
        the pair `(pooled, sequences)` where `sequences` has shape
        `(batch, time, 2 * units)`, is zero on masked steps and carries the input mask.

    Example:

    >>> x = tf.random.normal((2, 6, 8))
    >>> mask = tf.sequence_mask([4, 0], maxlen=6)
    >>> SequenceEncoder(units=16)(x, mask=mask).shape
    TensorShape([2, 32])

    References:
        - [Hochreiter & Schmidhuber, 1997](https://doi.org/10.1162/neco.1997.9.8.1735): LSTM.
        - [Schuster & Paliwal, 1997](https://doi.org/10.1109/78.650093): bidirectional RNNs.
        - [Yang et al., 2016](https://aclanthology.org/N16-1174/): BiRNN + attention pooling.
    """

    def __init__(
        self,
        units: int,
        dropout: float = 0.0,
        pooling_units: int | None = None,
        return_sequences: bool = False,
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("SequenceEncoder", "units", units)
        self.dropout = check_rate("SequenceEncoder", "dropout", dropout)
        self.pooling_units = (
            None
            if pooling_units is None
            else check_positive_int("SequenceEncoder", "pooling_units", pooling_units)
        )
        self.return_sequences = bool(return_sequences)
        self.fused = bool(fused)
        self.supports_masking = True
        if self.fused:
            recurrent = keras.layers.LSTM(
                self.units, return_sequences=True, dropout=self.dropout, dtype=self.dtype_policy
            )
        else:
            recurrent = keras.layers.RNN(
                keras.layers.LSTMCell(self.units, dropout=self.dropout, dtype=self.dtype_policy),
                return_sequences=True,
                dtype=self.dtype_policy,
            )
        self.bilstm = keras.layers.Bidirectional(
            recurrent, merge_mode="concat", dtype=self.dtype_policy, name="bilstm"
        )
        self.pooling = AttentionPooling(
            self.pooling_units or self.units, dtype=self.dtype_policy, name="pooling"
        )

    def build(self, input_shape: tf.TensorShape) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[-1] is None:
            raise ValueError(
                "SequenceEncoder: expected input of shape (batch, time, features) with a "
                f"known `features`, got {input_shape}"
            )
        with tf.name_scope(self.bilstm.name):
            self.bilstm.build(input_shape)
        with tf.name_scope(self.pooling.name):
            self.pooling.build(input_shape[:-1].concatenate([2 * self.units]))
        super().build(input_shape)

    def call(
        self, inputs: tf.Tensor, mask: tf.Tensor | None = None, training: bool | None = None
    ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        if mask is None:
            lstm_mask = None
        else:
            mask = tf.cast(mask, tf.bool)  # (batch, time)
            # Empty rows get their first step unmasked for the LSTM only (zeroed below).
            empty = tf.logical_not(tf.reduce_any(mask, axis=1, keepdims=True))  # (batch, 1)
            first = tf.equal(tf.range(tf.shape(mask)[1]), 0)[tf.newaxis, :]  # (1, time)
            lstm_mask = tf.logical_or(mask, tf.logical_and(empty, first))
        sequences = self.bilstm(inputs, mask=lstm_mask, training=training)
        # sequences: (batch, time, 2 * units)
        if mask is not None:
            sequences = sequences * tf.cast(mask, sequences.dtype)[:, :, tf.newaxis]
        pooled = self.pooling(sequences, mask=mask)  # (batch, 2 * units)
        if self.return_sequences:
            return pooled, sequences
        return pooled

    @property
    def output_width(self) -> int:
        return 2 * self.units

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "dropout": self.dropout,
                "pooling_units": self.pooling_units,
                "return_sequences": self.return_sequences,
                "fused": self.fused,
            }
        )
        return config
