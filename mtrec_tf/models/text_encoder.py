"""The shared text encoder: tokens of queries and titles to one vector per text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ModelConfig
from mtrec_tf.layers import SequenceEncoder
from mtrec_tf.text.tokenizer import ngram_ids, subword_ids, tokenize

# Stands in for an empty vocabulary, which lookups do not allow; it never occurs.
NEVER = "\x00never"


class TokenBatch(NamedTuple):
    """Token ids (n, tokens), 0 padding; hashed subword ids (n, tokens, max_subwords) or None;
    hashed n-gram ids (n, grams), 0 padding, or None."""

    ids: tf.Tensor
    subwords: tf.Tensor | None
    ngrams: tf.Tensor | None = None


@keras.saving.register_keras_serializable(package="mtrec_tf")
class TextEncoder(keras.layers.Layer):
    """Texts (queries, titles) to vectors: token embeddings (plus the mean of their hashed
    character trigrams', fastText's subwords) through a BiLSTM with attention pooling.

    Args:
        tokens: the token vocabulary (ids 2.., 0 padding, 1 unknown).
        config: `embedding_dim`, `text_encoder` ("bilstm", or "none": every text is the
            constant 1), `text_units`, `max_query_tokens`, `subword_buckets`, `max_subwords`
            and the n-gram settings of the query bag.

    Call arguments:
        queries: (batch,) strings.
        training: whether dropout is active.

    Returns:
        (batch, 2 * text_units) encodings, or (batch, 1) ones without a text encoder.
    """

    def __init__(self, tokens: Sequence[str], config: ModelConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_config = config
        d = config.embedding_dim
        vocabulary = list(tokens) or [NEVER]
        self.token_lookup = keras.layers.StringLookup(vocabulary=vocabulary, num_oov_indices=1, mask_token="")
        self.token_embedding = keras.layers.Embedding(len(vocabulary) + 2, d, name="token_embedding")
        self.subword_embedding = None
        self.token_subwords = None
        if config.subword_buckets:
            self.subword_embedding = keras.layers.Embedding(config.subword_buckets + 1, d, name="subword_embedding")
            # Row i holds the subwords of token id i (ids 0 and 1 are padding and unknown); a
            # constant, not checkpointed.
            self.token_subwords = subword_ids(tf.constant(["", ""] + vocabulary), config.subword_buckets,
                                              config.max_subwords)
        self.sequence_encoder = (SequenceEncoder(config.text_units, name="text_bilstm")
                                 if config.text_encoder == "bilstm" else None)

    def query_tokens(self, queries: tf.Tensor, ngrams: bool = False) -> TokenBatch:
        """(batch,) strings -> token ids (batch, <= max_query_tokens), their subword ids,
        computed from the strings so that unseen words get them too, and (with `ngrams`) the
        hashed n-grams of the kept tokens."""
        c = self.model_config
        tokens = tokenize(queries)[:, : c.max_query_tokens]
        ids = tf.ragged.map_flat_values(self.token_lookup, tokens).to_tensor(default_value=0)
        grams = ngram_ids(tokens, c.ngram_buckets, c.ngram_order, c.ngram_char_width) if ngrams else None
        if not c.subword_buckets:
            return TokenBatch(ids, None, grams)
        subwords = tf.ragged.map_flat_values(lambda t: subword_ids(t, c.subword_buckets, c.max_subwords), tokens)
        return TokenBatch(ids, subwords.to_tensor(default_value=0, shape=[None, None, c.max_subwords]), grams)

    def id_tokens(self, token_ids: tf.Tensor) -> TokenBatch:
        """Token ids already looked up (n, tokens) (catalogue titles), with their subword ids."""
        return TokenBatch(token_ids, None if self.token_subwords is None else tf.gather(self.token_subwords, token_ids))

    def encode(self, batches: Sequence[TokenBatch], training: bool | None = None) -> list[tf.Tensor]:
        """Token batches (n_i, tokens_i) -> encodings (n_i, 2 * text_units), all in one call of
        the BiLSTM, cut to the longest text present."""
        if self.sequence_encoder is None:
            return [tf.ones([tf.shape(b.ids)[0], 1]) for b in batches]
        widths = [tf.shape(b.ids)[1] for b in batches]
        width = tf.maximum(tf.reduce_max(tf.stack(widths)), 1)  # all texts empty: one padding step
        token_ids = tf.concat([tf.pad(tf.cast(b.ids, tf.int64), [[0, 0], [0, width - w]])
                               for b, w in zip(batches, widths)], axis=0)  # (sum n_i, width)
        mask = token_ids > 0
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        token_ids, mask = token_ids[:, :length], mask[:, :length]
        embedded = self.token_embedding(token_ids)  # (sum n_i, length, d)
        if self.subword_embedding is not None:
            subwords = tf.concat([tf.pad(b.subwords, [[0, 0], [0, width - w], [0, 0]])
                                  for b, w in zip(batches, widths)], axis=0)[:, :length]
            present = tf.cast(subwords > 0, embedded.dtype)[..., tf.newaxis]
            summed = tf.reduce_sum(self.subword_embedding(subwords) * present, axis=2)
            embedded += summed / tf.maximum(tf.reduce_sum(present, axis=2), 1.0)
        encoded = self.sequence_encoder(embedded, mask=mask, training=training)
        return tf.split(encoded, [tf.shape(b.ids)[0] for b in batches], axis=0)

    def call(self, queries: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return self.encode([self.query_tokens(queries)], training)[0]
