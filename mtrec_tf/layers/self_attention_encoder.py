"""Causal self-attention (SASRec) over a masked sequence, read at its last real step."""

from __future__ import annotations

import math
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import PooledSequenceOutputs, check_positive_int, check_rate, clone_initializer

NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POSITION_ORDERS = ("forward", "backward")
FREQUENCY_WINDOWS = ("causal", "whole")


@keras.saving.register_keras_serializable(package="mtrec_tf")
class CausalSelfAttentionEncoder(PooledSequenceOutputs, keras.layers.Layer):
    """Encodes a sequence with causal self-attention blocks (SASRec) and reads the last step.

    ```
    h^0_t  = x_t W_in + P[p_t]                          p_t = real steps before t (or after t)
    a^l    = h^(l-1) + Dropout(MHA(LN(h^(l-1))))        causal: step t sees steps s <= t
    h^l    = a^l + Dropout(FFN(LN(a^l)))                FFN(z) = W_2 Dropout(relu(W_1 z + b_1)) + b_2
    y_t    = LN(h^N_t)                                  (units wide; zero on padded steps)
    pooled = y_T                                        T = the row's last real step
    ```

    Each block is pre-LN: the layer norm sits at the input of the attention and of the
    feed-forward part, the residual path is left unnormalised and a final layer norm
    closes the stack. This is the block of the SASRec paper, `x + Dropout(g(LN(x)))`
    (its code normalises only the queries of the attention; here queries, keys and values
    all read the normalised input, as in the pre-LN Transformer). Pre-LN trains stably
    without a learning-rate warm-up (Xiong et al., 2020), which the fit loop does not have.

    Step `t` attends only to real steps `s <= t`, and every other operation is per step, so
    step `t`'s output never depends on a later step: `sequences[:, t]` can predict item
    `t + 1` when all positions are trained at once. Positions count the real steps before
    each step (`p_t = 0` for the oldest; see `position_order`), so padding anywhere in a row,
    and a prefix being cut from a longer history or not, changes nothing. The pooled vector
    is the output at each row's last real step: histories here are padded at the end with
    the most recent event last. Padded steps take no part in attention and output zero; a
    row with no real step gives an all-zero pooled vector and sequences, with finite gradients.

    `W_in` is a linear projection made only when the input width differs from `units`.

    Args:
        units: Width of the model (the residual stream, attention and outputs).
        max_length: Rows of the learned position table: the most real steps a row may have.
        num_heads: Attention heads; `units` must be a multiple of it.
        num_blocks: Stacked self-attention blocks.
        dropout: Dropout rate on the input sum, the attention weights, the feed-forward
            hidden layer and both residual branches, in `[0, 1)`.
        feedforward_units: Hidden width of the feed-forward part; `None` gives `units`
            (SASRec's choice).
        norm: `"pre"`, the pre-LN blocks above; or `"post"`, BERT's blocks, as BERT4Rec and
            BSARec use: the input sum is layer-normalised before its dropout, each block is
            `a = LN(h + Dropout(MHA(h)))`, `h' = LN(a + Dropout(FFN(a)))` (no dropout inside
            the feed-forward part), and no final layer norm.
        activation: Of the feed-forward hidden layer: `"relu"` (SASRec) or `"gelu"` (BERT).
        frequency_mix: Weight `alpha` in `[0, 1)` of a low-pass filter beside the attention of
            each post-LN block (BSARec's inductive bias, made causal); 0 turns it off:
            ```
            low_t = sum_{s <= t} k(p_t - p_s) h_s        k(d) = (1 + 2 sum_{j=1}^{J-1} cos(2 pi j d / L)) / L
            f     = LN(h + Dropout(low + beta^2 * (h - low)))         beta: per unit, learned
            a     = alpha * f + (1 - alpha) * LN(h + Dropout(MHA(h)))
            ```
            `k` keeps the `J` lowest frequencies of a window of `L = max_length` steps:
            `low_t` is what BSARec's FFT filter gives at the last step of the prefix ending
            at `t`, so step `t` still reads no later step. Needs `norm="post"`.
        frequency_bins: `J`, the frequencies the filter keeps (the zero frequency
            included), at most `max_length // 2`; BSARec's `c` is `2 J - 1`.
        frequency_window: Which steps the filter reads: `"causal"` (above); or `"whole"`,
            every real step of the row (`sum_s` over all of them), BSARec's FFT over the
            whole window. The last step's output is the same either way after one block, but
            earlier steps then read later ones, so from the second block on the last step
            sees more: train it on the last step alone (one example per prefix, as BSARec
            does), never on every step's output at once.
        position_order: `"forward"`, `p_t` counts the real steps before `t` (above); or
            `"backward"`, the real steps after `t`, so the newest step is always position 0,
            as in SASRec's and BSARec's left-padded windows. A step still reads no later
            step, but its position then counts them: a prefix encoded alone differs from
            the same steps within a longer row (the filter's kernel, which reads position
            differences, is the same either way).
        return_sequences: If `True`, return the per-step outputs as well.
        kernel_initializer: Initializer of the projections' kernels.
        position_initializer: Initializer of the position table; Keras' `Embedding`
            default, so positions start at the scale of the step embeddings they add to.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(batch, time, features)`.
        mask: Optional boolean tensor of shape `(batch, time)`, `True` for real steps.
            Taken from the Keras mask of `inputs` (e.g. `Embedding(mask_zero=True)`)
            when not given. A row may not have more than `max_length` real steps.
        training: Whether dropout is active.

    Returns:
        The pooled encoding, of shape `(batch, units)`. With `return_sequences=True`, the
        pair `(pooled, sequences)` where `sequences` has shape `(batch, time, units)`, is
        zero on masked steps and carries the input mask.

    Example:

    >>> x = tf.random.normal((2, 6, 8))
    >>> mask = tf.sequence_mask([4, 0], maxlen=6)
    >>> CausalSelfAttentionEncoder(units=16, max_length=6, num_heads=2)(x, mask=mask).shape
    TensorShape([2, 16])

    References:
        - [Kang & McAuley, 2018](https://arxiv.org/abs/1808.09781): Self-Attentive
          Sequential Recommendation (SASRec).
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762): the Transformer.
        - [Xiong et al., 2020](https://arxiv.org/abs/2002.04745): on layer normalization
          in the Transformer (pre-LN).
        - [Shin et al., 2024](https://arxiv.org/abs/2312.10325): an attentive inductive
          bias for sequential recommendation beyond the self-attention (BSARec's filter).
    """

    def __init__(
        self,
        units: int,
        max_length: int,
        num_heads: int = 1,
        num_blocks: int = 2,
        dropout: float = 0.0,
        feedforward_units: int | None = None,
        norm: str = "pre",
        activation: str = "relu",
        frequency_mix: float = 0.0,
        frequency_bins: int = 2,
        frequency_window: str = "causal",
        position_order: str = "forward",
        return_sequences: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        position_initializer: Any = "uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = "CausalSelfAttentionEncoder"
        self.units = check_positive_int(owner, "units", units)
        self.max_length = check_positive_int(owner, "max_length", max_length)
        self.num_heads = check_positive_int(owner, "num_heads", num_heads)
        self.num_blocks = check_positive_int(owner, "num_blocks", num_blocks)
        self.dropout = check_rate(owner, "dropout", dropout)
        self.feedforward_units = (
            None
            if feedforward_units is None
            else check_positive_int(owner, "feedforward_units", feedforward_units)
        )
        if norm not in NORMS:
            raise ValueError(f"{owner}: `norm` must be one of {', '.join(NORMS)}, got {norm!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"{owner}: `activation` must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if position_order not in POSITION_ORDERS:
            raise ValueError(
                f"{owner}: `position_order` must be one of {', '.join(POSITION_ORDERS)}, got {position_order!r}"
            )
        if frequency_window not in FREQUENCY_WINDOWS:
            raise ValueError(f"{owner}: `frequency_window` must be one of {', '.join(FREQUENCY_WINDOWS)}, "
                             f"got {frequency_window!r}")
        self.norm = norm
        self.activation = activation
        self.frequency_window = frequency_window
        self.position_order = position_order
        self.frequency_mix = check_rate(owner, "frequency_mix", frequency_mix)
        self.frequency_bins = check_positive_int(owner, "frequency_bins", frequency_bins)
        if self.frequency_mix and norm != "post":
            raise ValueError(f"{owner}: `frequency_mix` needs `norm='post'` (BSARec's blocks), got {norm!r}")
        if self.frequency_mix and self.frequency_bins > self.max_length // 2:
            raise ValueError(
                f"{owner}: `frequency_bins` ({self.frequency_bins}) must be at most "
                f"`max_length // 2` ({self.max_length // 2})"
            )
        if self.units % self.num_heads:
            raise ValueError(
                f"{owner}: `units` ({self.units}) must be a multiple of `num_heads` "
                f"({self.num_heads})"
            )
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.position_initializer = keras.initializers.get(position_initializer)
        self.supports_masking = True

        policy = self.dtype_policy
        hidden = self.feedforward_units or self.units

        def dense(width: int, name: str, activation: Any = None) -> keras.layers.Dense:
            return keras.layers.Dense(
                width,
                activation=activation,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=policy,
                name=name,
            )

        def layer_norm(name: str) -> keras.layers.LayerNormalization:
            # Keras' default epsilon (1e-3) is as large as the variance of freshly
            # initialised embeddings (about 1e-3), and would damp the normalisation.
            return keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy, name=name)

        self.input_projection: keras.layers.Dense | None = None  # made in build when needed
        self.attention_norms = [layer_norm(f"block_{i}_attention_norm") for i in range(num_blocks)]
        self.attentions = [
            keras.layers.MultiHeadAttention(
                self.num_heads,
                self.units // self.num_heads,
                dropout=self.dropout,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=policy,
                name=f"block_{i}_attention",
            )
            for i in range(num_blocks)
        ]
        self.feedforward_norms = [layer_norm(f"block_{i}_feedforward_norm") for i in range(num_blocks)]
        self.feedforward_inner = [
            dense(hidden, f"block_{i}_feedforward_inner", activation) for i in range(num_blocks)
        ]
        self.feedforward_outer = [
            dense(self.units, f"block_{i}_feedforward_outer") for i in range(num_blocks)
        ]
        filtered = range(num_blocks) if self.frequency_mix else range(0)
        self.frequency_norms = [layer_norm(f"block_{i}_frequency_norm") for i in filtered]
        # Pre-LN closes the stack with a layer norm; post-LN opens it with one.
        self.final_norm = layer_norm("final_norm") if self.norm == "pre" else None
        self.input_norm = layer_norm("input_norm") if self.norm == "post" else None
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=policy)

    def build(self, input_shape: tf.TensorShape) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[-1] is None:
            raise ValueError(
                "CausalSelfAttentionEncoder: expected input of shape (batch, time, features) "
                f"with a known `features`, got {input_shape}"
            )
        if int(input_shape[-1]) != self.units:
            self.input_projection = keras.layers.Dense(
                self.units,
                use_bias=False,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name="input_projection",
            )
            with tf.name_scope(self.input_projection.name):
                self.input_projection.build(input_shape)
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.max_length, self.units),
            initializer=clone_initializer(self.position_initializer),
        )
        steps = input_shape[:-1].concatenate([self.units])  # (batch, time, units)
        hidden = steps[:-1].concatenate([self.feedforward_units or self.units])
        for i in range(self.num_blocks):
            with tf.name_scope(self.attention_norms[i].name):
                self.attention_norms[i].build(steps)
            _build_attention(self.attentions[i], steps)  # names its own scope
            with tf.name_scope(self.feedforward_norms[i].name):
                self.feedforward_norms[i].build(steps)
            with tf.name_scope(self.feedforward_inner[i].name):
                self.feedforward_inner[i].build(steps)
            with tf.name_scope(self.feedforward_outer[i].name):
                self.feedforward_outer[i].build(hidden)
        self.frequency_scales = []
        for i, frequency_norm in enumerate(self.frequency_norms):
            with tf.name_scope(frequency_norm.name):
                frequency_norm.build(steps)
            # beta, drawn from N(0, 1) as in BSARec: the high band starts at about its own scale.
            self.frequency_scales.append(
                self.add_weight(name=f"block_{i}_frequency_scale", shape=(self.units,),
                                initializer=keras.initializers.RandomNormal(stddev=1.0))
            )
        for edge_norm in (self.final_norm, self.input_norm):
            if edge_norm is not None:
                with tf.name_scope(edge_norm.name):
                    edge_norm.build(steps)
        super().build(input_shape)

    def call(
        self, inputs: tf.Tensor, mask: tf.Tensor | None = None, training: bool | None = None
    ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        shape = tf.shape(inputs)
        if mask is None:
            mask = tf.ones(shape[:2], tf.bool)
        mask = tf.cast(mask, tf.bool)  # (batch, time)
        keep = tf.cast(mask, self.compute_dtype)[:, :, tf.newaxis]  # (batch, time, 1)

        # Position = the number of real steps before this one (0 for the oldest).
        count = tf.cumsum(tf.cast(mask, tf.int32), axis=1)  # (batch, time)
        check = tf.debugging.assert_less_equal(
            tf.reduce_max(count),  # the most real steps of a row (the minimum int if empty)
            self.max_length,
            message=f"CausalSelfAttentionEncoder: a row has more real steps than `max_length` "
            f"({self.max_length}); cut histories to their most recent {self.max_length}",
        )
        with tf.control_dependencies([check]):
            if self.position_order == "forward":
                positions = tf.maximum(count - 1, 0)
            else:  # the real steps after this one (0 for the newest)
                positions = tf.maximum(count[:, -1:] - count, 0)
        x = inputs if self.input_projection is None else self.input_projection(inputs)
        x = x + tf.gather(tf.cast(self.position_embedding, x.dtype), positions)
        if self.input_norm is not None:
            x = self.input_norm(x)
        x = self.dropout_layer(x, training=training) * keep  # (batch, time, units)

        # Step t attends to the real steps s <= t; a query with no such step (a padded
        # step before any real one) gets finite values that the `keep` product zeroes.
        causal = tf.linalg.band_part(tf.ones([shape[1], shape[1]], tf.bool), -1, 0)
        attention_mask = tf.logical_and(causal[tf.newaxis], mask[:, tf.newaxis, :])
        # attention_mask: (batch, time, time), [b, t, s] = may step t read step s
        if self.frequency_window == "whole":
            filter_mask = tf.logical_and(mask[:, :, tf.newaxis], mask[:, tf.newaxis, :])
        else:
            filter_mask = attention_mask
        low_pass = self._low_pass_kernel(positions, filter_mask) if self.frequency_mix else None
        block = self._post_ln_block if self.norm == "post" else self._pre_ln_block
        for i in range(self.num_blocks):
            x = block(i, x, attention_mask, training, low_pass) * keep
        sequences = (x if self.final_norm is None else self.final_norm(x)) * keep  # (batch, time, units)

        # The last real step of each row (step 0 of an empty row, whose output is zero).
        steps = tf.range(shape[1])[tf.newaxis, :]  # (1, time)
        last = tf.reduce_max(tf.where(mask, steps, tf.zeros_like(steps)), axis=1)  # (batch,)
        pooled = tf.gather(sequences, last, batch_dims=1)  # (batch, units)
        if self.return_sequences:
            return pooled, sequences
        return pooled

    def _low_pass_kernel(self, positions: tf.Tensor, filter_mask: tf.Tensor) -> tf.Tensor:
        """`(batch, time, time)`: `[b, t, s] = k(p_t - p_s)` where the filter of step t reads step s,
        else 0."""
        distance = tf.cast(positions[:, :, tf.newaxis] - positions[:, tf.newaxis, :], self.compute_dtype)
        angle = (2.0 * math.pi / self.max_length) * distance
        kernel = tf.ones_like(angle)
        for j in range(1, self.frequency_bins):
            kernel += 2.0 * tf.cos(j * angle)
        return tf.where(filter_mask, kernel / self.max_length, tf.zeros_like(kernel))

    def _pre_ln_block(
        self, i: int, x: tf.Tensor, attention_mask: tf.Tensor, training: bool | None, low_pass: tf.Tensor | None
    ) -> tf.Tensor:
        z = self.attention_norms[i](x)
        z = self.attentions[i](z, z, attention_mask=attention_mask, training=training)
        x = x + self.dropout_layer(z, training=training)
        z = self.feedforward_norms[i](x)
        z = self.feedforward_inner[i](z)  # (batch, time, feedforward_units)
        z = self.dropout_layer(z, training=training)
        z = self.feedforward_outer[i](z)  # (batch, time, units)
        return x + self.dropout_layer(z, training=training)

    def _post_ln_block(
        self, i: int, x: tf.Tensor, attention_mask: tf.Tensor, training: bool | None, low_pass: tf.Tensor | None
    ) -> tf.Tensor:
        z = self.attentions[i](x, x, attention_mask=attention_mask, training=training)
        attended = self.attention_norms[i](x + self.dropout_layer(z, training=training))
        if low_pass is not None:
            low = tf.einsum("bts,bsu->btu", low_pass, x)
            z = low + tf.square(tf.cast(self.frequency_scales[i], x.dtype)) * (x - low)
            filtered = self.frequency_norms[i](x + self.dropout_layer(z, training=training))
            attended = self.frequency_mix * filtered + (1.0 - self.frequency_mix) * attended
        x = attended
        z = self.feedforward_outer[i](self.feedforward_inner[i](x))
        return self.feedforward_norms[i](x + self.dropout_layer(z, training=training))

    @property
    def output_width(self) -> int:
        return self.units

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "max_length": self.max_length,
                "num_heads": self.num_heads,
                "num_blocks": self.num_blocks,
                "dropout": self.dropout,
                "feedforward_units": self.feedforward_units,
                "norm": self.norm,
                "activation": self.activation,
                "frequency_mix": self.frequency_mix,
                "frequency_bins": self.frequency_bins,
                "frequency_window": self.frequency_window,
                "position_order": self.position_order,
                "return_sequences": self.return_sequences,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "position_initializer": keras.initializers.serialize(self.position_initializer),
            }
        )
        return config


def _build_attention(attention: keras.layers.MultiHeadAttention, steps: tf.TensorShape) -> None:
    """Creates the weights of a self-attention `MultiHeadAttention` over `steps`.

    tf-keras' MultiHeadAttention makes its projections on the first call; a layer that
    holds one must have every weight after `build`, so that `.keras` files reload (weights
    are restored right after `build`). One call on a single zero step makes them.
    """
    with tf.init_scope():
        probe = tf.zeros([1, 1, int(steps[-1])], attention.compute_dtype)
        attention(probe, probe)
