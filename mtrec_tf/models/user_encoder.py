"""The user encoder: a behaviour history (and optionally the hashed user id) to one vector."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import DataConfig, ModelConfig
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.features.inputs import FeatureInputs
from mtrec_tf.layers import CausalSelfAttentionEncoder, SequenceEncoder
from mtrec_tf.models.item_encoder import ItemEncoder
from mtrec_tf.models.text_encoder import TextEncoder

TIME_GAP_BUCKETS = 16
# log2 buckets of seconds the transformer's time gaps fall in: 1 s to about 68 years.
STEP_GAP_BUCKETS = 32


@keras.saving.register_keras_serializable(package="mtrec_tf")
class UserEncoder(keras.layers.Layer):
    """The user vector from the history: each step is the item's embedding (shared with the
    item encoder) plus its event type's and its time gap's, through the history encoder
    (`model.history_encoder`): a BiLSTM with attention pooling, or causal self-attention
    read at the most recent event; the hashed user id's embedding is appended when
    `user_buckets` is set, and the user-side features of the configuration (the profile,
    request features fed to the user) when there are some.

    With a `text_encoder`, histories may hold past searches (`data.history_includes_searches`):
    a step of the search event type holds the query's text instead of an item id, and its
    item embedding is replaced by the query's encoding from the shared text encoder,
    projected to the item embedding's width; its event type and time gap add as for any step.

    The BiLSTM reads at each step the time from the event to the request, bucketed on the
    z-score of log1p(seconds) from training statistics. The transformer reads only what a
    causal step may know: at each step the time since the previous event, and, added to
    each step's output, the time from the step to the event it predicts (the next step's,
    or the request for the most recent step), both in log2 buckets of seconds. So the
    output at step t is the user vector of the history cut after step t, which lets
    all-position training (`tasks.<name>.positions`) train every step at once.

    Args:
        statistics: event types and the time gaps' statistics.
        config: `embedding_dim`, `history_encoder` and its settings, `user_buckets`.
        item_encoder: the item encoder whose id lookup and embedding the history shares.
        history_length: the most events a history holds (`data.history_length`): the
            transformer's position table has this many rows.
        features: the input layer of the user-side features, or None.
        text_encoder: the shared text encoder, when history steps may be past searches (of
            the event type `statistics.event_roles.search`); None when they may not.

    Call arguments:
        features: `user_id` (batch,), `history_item_ids` (an item id, or a search step's
            query), `history_event_types` (batch, time) strings, `history_time_gaps`
            (batch, time) seconds.
        training: whether dropout is active.
        steps: also return the user vector after each step (the transformer only).

    Returns:
        The user vector (batch, output_dim), the history's step embeddings (items, and
        searches' projected encodings) (batch, time', embedding_dim) and their mask
        (batch, time'), the history cut to its
        longest row; with `steps`, the user vectors after each step (batch, time', output_dim)
        as well, zero on padded steps.
    """

    def __init__(self, statistics: DataStatistics, config: ModelConfig, item_encoder: ItemEncoder,
                 history_length: int = DataConfig.history_length, features: FeatureInputs | None = None,
                 text_encoder: TextEncoder | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features if features is not None and features.features else None
        d = config.embedding_dim
        self.item_encoder = item_encoder
        self.event_type_lookup = keras.layers.StringLookup(vocabulary=list(statistics.event_types),
                                                           num_oov_indices=1, mask_token=None)
        self.event_type_embedding = keras.layers.Embedding(len(statistics.event_types) + 1, d,
                                                           name="event_type_embedding")
        self.causal = config.history_encoder == "transformer"
        # Row 0 of the transformer's table: the oldest step, with no event before it.
        buckets = STEP_GAP_BUCKETS if self.causal else TIME_GAP_BUCKETS
        self.time_gap_embedding = keras.layers.Embedding(buckets + 1, d, name="time_gap_embedding")
        self.sequence_encoder: CausalSelfAttentionEncoder | SequenceEncoder
        if self.causal:
            self.sequence_encoder = CausalSelfAttentionEncoder(
                config.history_units, history_length, num_heads=config.history_heads,
                num_blocks=config.history_blocks, dropout=config.history_dropout, return_sequences=True,
                feedforward_units=config.history_feedforward_units or None, norm=config.history_norm,
                activation=config.history_activation, frequency_mix=config.history_frequency_mix,
                frequency_bins=config.history_frequency_bins, frequency_window=config.history_frequency_window,
                position_order=config.history_positions,
                name="history_transformer",
                **_initializers(config.history_init_stddev))
            self.ahead_gap_embedding = keras.layers.Embedding(STEP_GAP_BUCKETS + 1, config.history_units,
                                                              name="ahead_gap_embedding")
        else:
            self.sequence_encoder = SequenceEncoder(config.history_units, name="history_bilstm")
        pooled = self.sequence_encoder.compute_output_shape((None, None, d))
        self.output_dim = (int((pooled[0] if self.causal else pooled)[-1])
                           + (d if config.user_buckets else 0)
                           + (self.features.output_dim if self.features is not None else 0))
        self.user_hashing = None
        if config.user_buckets:
            self.user_hashing = keras.layers.Hashing(config.user_buckets)
            self.user_embedding = keras.layers.Embedding(config.user_buckets, d, name="user_embedding")
        self.gap_mean, self.gap_std = statistics.time_gap_log_mean, statistics.time_gap_log_std
        self.text_encoder = text_encoder
        self.search_type = statistics.event_roles.search if text_encoder is not None else None
        if text_encoder is not None:
            self.search_projection = keras.layers.Dense(d, name="search_step_projection")

    def call(self, features: dict[str, tf.Tensor], training: bool | None = None,
             steps: bool = False) -> tuple[tf.Tensor, ...]:
        if steps and not self.causal:
            raise ValueError("UserEncoder: per-step user vectors need the causal (transformer) history encoder")
        ids = features["history_item_ids"]
        mask = tf.not_equal(ids, "")
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        ids, mask = ids[:, :length], mask[:, :length]
        types = features["history_event_types"][:, :length]
        gaps = tf.maximum(tf.cast(features["history_time_gaps"][:, :length], tf.float32), 0.0) * tf.cast(
            mask, tf.float32)
        items = self.item_encoder.item_embedding(self.item_encoder.item_lookup(ids))  # (batch, time, d)
        if self.search_type is not None:
            items = self._with_search_steps(items, ids, tf.logical_and(tf.equal(types, self.search_type), mask),
                                            training)
        inputs = items + self.event_type_embedding(self.event_type_lookup(types)) + self.time_gap_embedding(
            self._step_gap_buckets(gaps) if self.causal else self._request_gap_buckets(gaps))
        if self.causal:
            _, outputs = self.sequence_encoder(inputs, mask=mask, training=training)  # (batch, time, units)
            # Time from each step to the event it predicts: the next step's (padding is 0 s
            # from the request, so the most recent step gets its own gap to the request).
            ahead = gaps - tf.concat([gaps[:, 1:], tf.zeros_like(gaps[:, :1])], axis=1)
            outputs = (outputs + self.ahead_gap_embedding(_log2_buckets(ahead))) * tf.cast(mask, outputs.dtype)[
                ..., tf.newaxis]
            last = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1, 0)
            user = tf.gather(outputs, last, batch_dims=1)  # (batch, units)
        else:
            user = self.sequence_encoder(inputs, mask=mask, training=training)  # (batch, 2 * units)
        constant = []  # per-user parts, the same at every step
        if self.user_hashing is not None:
            constant.append(self.user_embedding(self.user_hashing(features["user_id"])))  # (batch, d)
        if self.features is not None:
            constant.append(self.features(features, training=training))
        for embedding in constant:
            user = tf.concat([user, embedding], axis=-1)
            if steps:
                repeated = tf.repeat(embedding[:, tf.newaxis], tf.shape(outputs)[1], axis=1)
                outputs = tf.concat([outputs, repeated * tf.cast(mask, repeated.dtype)[..., tf.newaxis]], axis=-1)
        if steps:
            return user, items, mask, outputs
        return user, items, mask

    def _with_search_steps(self, items: tf.Tensor, ids: tf.Tensor, searches: tf.Tensor,
                           training: bool | None) -> tf.Tensor:
        """`items` with each search step (`searches`, (batch, time)) replaced by the projected
        encoding of its query (`ids` holds the query there); each distinct query is encoded once."""
        assert self.text_encoder is not None
        where = tf.where(searches)  # (n, 2)
        queries, position = tf.unique(tf.gather_nd(ids, where))
        encoded = self.search_projection(self.text_encoder(queries, training=training))  # (distinct, d)
        steps = tf.scatter_nd(where, tf.gather(encoded, position), tf.shape(items, out_type=tf.int64))
        return tf.where(searches[..., tf.newaxis], steps, items)  # (batch, time, d)

    def _request_gap_buckets(self, gaps: tf.Tensor) -> tf.Tensor:
        """1..TIME_GAP_BUCKETS: the z-score of log1p(gap) on the training statistics."""
        gap_z = (tf.math.log1p(gaps) - self.gap_mean) / self.gap_std
        return tf.clip_by_value(tf.cast(tf.floor((gap_z + 3.0) / 6.0 * TIME_GAP_BUCKETS), tf.int64),
                                0, TIME_GAP_BUCKETS - 1) + 1

    @staticmethod
    def _step_gap_buckets(gaps: tf.Tensor) -> tf.Tensor:
        """The time since the previous step (gaps to the request, oldest first): bucket 0 for
        the oldest step, else its log2 bucket."""
        since_previous = gaps[:, :-1] - gaps[:, 1:]
        return tf.concat([tf.zeros_like(gaps[:, :1], tf.int64), _log2_buckets(since_previous)], axis=1)


def _log2_buckets(seconds: tf.Tensor) -> tf.Tensor:
    """1..STEP_GAP_BUCKETS: 1 + floor(log2(1 + seconds)), negative times as 0."""
    log2 = tf.math.log1p(tf.maximum(seconds, 0.0)) / tf.math.log(2.0)
    return tf.clip_by_value(tf.cast(tf.floor(log2), tf.int64), 0, STEP_GAP_BUCKETS - 1) + 1


def _initializers(stddev: float) -> dict[str, Any]:
    """The transformer's kernel and position initializers: N(0, stddev^2), or its defaults for 0."""
    if not stddev:
        return {}
    normal = keras.initializers.RandomNormal(stddev=stddev)
    return {"kernel_initializer": normal, "position_initializer": normal}
