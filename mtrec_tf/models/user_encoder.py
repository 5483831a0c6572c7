"""The user encoder: a behaviour history (and optionally the hashed user id) to one vector."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import DataConfig, ModelConfig
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.layers import CausalSelfAttentionEncoder, SequenceEncoder
from mtrec_tf.models.item_encoder import ItemEncoder

TIME_GAP_BUCKETS = 16


@keras.saving.register_keras_serializable(package="mtrec_tf")
class UserEncoder(keras.layers.Layer):
    """The user vector from the history: each step is the item's embedding (shared with the
    item encoder) plus its event type's and its time gap's, through the history encoder
    (`model.history_encoder`): a BiLSTM with attention pooling, or causal self-attention
    read at the most recent event; the hashed user id's embedding is appended when
    `user_buckets` is set.

    Time gaps are bucketed on the z-score of log1p(seconds) from training statistics.

    Args:
        statistics: event types and the time gaps' statistics.
        config: `embedding_dim`, `history_encoder` and its settings, `user_buckets`.
        item_encoder: the item encoder whose id lookup and embedding the history shares.
        history_length: the most events a history holds (`data.history_length`): the
            transformer's position table has this many rows.

    Call arguments:
        features: `user_id` (batch,), `history_item_ids`, `history_event_types` (batch, time)
            strings, `history_time_gaps` (batch, time) seconds.
        training: whether dropout is active.

    Returns:
        The user vector (batch, output_dim), the history's item embeddings
        (batch, time', embedding_dim) and their mask (batch, time'), the history cut to its
        longest row.
    """

    def __init__(self, statistics: DataStatistics, config: ModelConfig, item_encoder: ItemEncoder,
                 history_length: int = DataConfig.history_length, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        d = config.embedding_dim
        self.item_encoder = item_encoder
        self.event_type_lookup = keras.layers.StringLookup(vocabulary=list(statistics.event_types),
                                                           num_oov_indices=1, mask_token=None)
        self.event_type_embedding = keras.layers.Embedding(len(statistics.event_types) + 1, d,
                                                           name="event_type_embedding")
        self.time_gap_embedding = keras.layers.Embedding(TIME_GAP_BUCKETS + 1, d, name="time_gap_embedding")
        if config.history_encoder == "transformer":
            self.sequence_encoder = CausalSelfAttentionEncoder(
                config.history_units, history_length, num_heads=config.history_heads,
                num_blocks=config.history_blocks, dropout=config.history_dropout, name="history_transformer")
        else:
            self.sequence_encoder = SequenceEncoder(config.history_units, name="history_bilstm")
        self.output_dim = (int(self.sequence_encoder.compute_output_shape((None, None, d))[-1])
                           + (d if config.user_buckets else 0))
        self.user_hashing = None
        if config.user_buckets:
            self.user_hashing = keras.layers.Hashing(config.user_buckets)
            self.user_embedding = keras.layers.Embedding(config.user_buckets, d, name="user_embedding")
        self.gap_mean, self.gap_std = statistics.time_gap_log_mean, statistics.time_gap_log_std

    def call(self, features: dict[str, tf.Tensor],
             training: bool | None = None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        ids = features["history_item_ids"]
        mask = tf.not_equal(ids, "")
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        ids, mask = ids[:, :length], mask[:, :length]
        types = features["history_event_types"][:, :length]
        gaps = tf.cast(features["history_time_gaps"][:, :length], tf.float32)
        gap_z = (tf.math.log1p(tf.maximum(gaps, 0.0)) - self.gap_mean) / self.gap_std
        gap_bucket = tf.clip_by_value(tf.cast(tf.floor((gap_z + 3.0) / 6.0 * TIME_GAP_BUCKETS), tf.int64),
                                      0, TIME_GAP_BUCKETS - 1) + 1
        items = self.item_encoder.item_embedding(self.item_encoder.item_lookup(ids))  # (batch, time, d)
        steps = items + self.event_type_embedding(self.event_type_lookup(types)) + self.time_gap_embedding(gap_bucket)
        user = self.sequence_encoder(steps, mask=mask, training=training)  # (batch, history encoder's width)
        if self.user_hashing is not None:
            user = tf.concat([user, self.user_embedding(self.user_hashing(features["user_id"]))], axis=-1)
        return user, items, mask
