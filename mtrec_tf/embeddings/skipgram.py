"""Skip-gram (and CBOW) with negative sampling, on tf.data and tf-keras.

Training pairs are generated afresh each epoch in vectorised NumPy: frequent ids are
sub-sampled, each target gets a window drawn uniformly from 1..`window` (word2vec's
"reduced window"), and `negatives` noise ids per pair come from the unigram^0.75
distribution. The model scores a pair by the dot product of a target vector and a context
vector and minimises

    -log sigmoid(v_t . u_c) - sum_{n=1..k} log sigmoid(-v_t . u_n)

with a learning rate that decays linearly to `min_learning_rate_ratio` of its start.
In CBOW mode the mean of the context's target vectors predicts the centre id. The target
table is the result: row i is the model's id i.

References:
    Mikolov et al., "Efficient Estimation of Word Representations in Vector Space", 2013.
    Mikolov et al., "Distributed Representations of Words and Phrases and their
    Compositionality", NeurIPS 2013.
    Barkan and Koenigstein, "Item2Vec: Neural Item Embedding for Collaborative
    Filtering", 2016.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from mtrec_tf.backend import keras, tf
from mtrec_tf.embeddings.corpus import Corpus
from mtrec_tf.embeddings.sampling import id_counts, keep_probabilities, noise_distribution


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Settings of skip-gram pre-training.

    Args:
        dim: vector width (the model's `embedding_dim` for warm start).
        window: largest distance between a target and a context id.
        negatives: noise ids per positive pair.
        epochs: passes over the corpus.
        subsample: sub-sampling threshold t; 0 keeps every occurrence.
        cbow: continuous bag of words instead of skip-gram.
        batch_size: pairs per step.
        learning_rate: Adam's learning rate at the start.
        min_learning_rate_ratio: the learning rate at the end, as a share of the start.
        seed: seeds initial vectors, sub-sampling, windows and negatives.
    """

    dim: int = 32
    window: int = 5
    negatives: int = 5
    epochs: int = 3
    subsample: float = 1e-3
    cbow: bool = False
    batch_size: int = 256
    learning_rate: float = 0.01
    min_learning_rate_ratio: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negatives", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"pretrain {name} must be at least 1, got {getattr(self, name)}")
        if self.subsample < 0 or self.learning_rate <= 0:
            raise ValueError("pretrain subsample must be >= 0 and learning_rate > 0")


# Tuned on the built-in sample (bench/pretrain_quality.py): behaviour sessions are short and
# few, so items need more passes, a narrower window and no sub-sampling.
KIND_DEFAULTS = {
    "words": {"window": 5, "epochs": 5, "subsample": 1e-3},
    "items": {"window": 3, "epochs": 20, "subsample": 0.0},
}


def default_config(kind: str, **overrides: Any) -> PretrainConfig:
    """The settings for `kind`, with `overrides` (None values ignored) on top."""
    values = {**KIND_DEFAULTS[kind], **{k: v for k, v in overrides.items() if v is not None}}
    return PretrainConfig(**values)


@dataclasses.dataclass
class PretrainResult:
    """Trained vectors and how training went."""

    vectors: np.ndarray  # (vocab_size, dim) float32, rows are model ids
    counts: np.ndarray  # (vocab_size,) occurrences in the corpus
    pairs: int  # training pairs over all epochs
    seconds: float
    losses: list[float]

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0


def _flatten(sequences: list[np.ndarray], keep: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sampled ids and their sentence numbers, shape `(n,)` each."""
    if not sequences:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ids = np.concatenate(sequences)
    sentence = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    kept = rng.random(len(ids)) < keep[ids]
    return ids[kept], sentence[kept]


def skipgram_pairs(sequences: list[np.ndarray], window: int, keep: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(target, context) pairs within a reduced window, in random order.

    Returns:
        Two int64 arrays of shape `(pairs,)`.
    """
    ids, sentence = _flatten(sequences, keep, rng)
    reach = rng.integers(1, window + 1, size=len(ids))  # each target's own window
    targets, contexts = [], []
    for d in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        same = sentence[d:] == sentence[:-d]
        forward = same & (reach[:-d] >= d)  # target i, context i + d
        targets.append(ids[:-d][forward])
        contexts.append(ids[d:][forward])
        backward = same & (reach[d:] >= d)  # target i + d, context i
        targets.append(ids[d:][backward])
        contexts.append(ids[:-d][backward])
    if not targets:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    target, context = np.concatenate(targets), np.concatenate(contexts)
    order = rng.permutation(len(target))
    return target[order], context[order]


def cbow_examples(sequences: list[np.ndarray], window: int, keep: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context window) examples; missing context slots are -1.

    Returns:
        int64 `(n,)` centres and `(n, 2 * window)` contexts, in random order.
    """
    ids, sentence = _flatten(sequences, keep, rng)
    reach = rng.integers(1, window + 1, size=len(ids))
    n = len(ids)
    context = np.full((n, 2 * window), -1, dtype=np.int64)
    for d in range(1, window + 1):
        if d >= n:
            break
        ok = (sentence[d:] == sentence[:-d]) & (reach[:-d] >= d)
        context[:-d, window + d - 1] = np.where(ok, ids[d:], -1)  # right of the centre
        ok = (sentence[d:] == sentence[:-d]) & (reach[d:] >= d)
        context[d:, window - d] = np.where(ok, ids[:-d], -1)  # left of the centre
    has_context = (context >= 0).any(axis=1)
    order = rng.permutation(int(has_context.sum()))
    return ids[has_context][order], context[has_context][order]


class SkipGram(keras.Model):
    """Scores a positive id and k noise ids against a target (skip-gram) or context mean (CBOW).

    Args:
        vocab_size: rows of both tables.
        dim: vector width.
        cbow: read `context` as a window of ids (-1 padding) that predicts `target`.
        seed: seed of the target table's initializer.

    Call arguments:
        inputs: dict of int64 `target` `(batch,)`, `context` `(batch,)` (CBOW:
            `(batch, 2 * window)`) and `negatives` `(batch, k)`.

    Returns:
        Logits `(batch, 1 + k)`: the positive first, then the negatives.
    """

    def __init__(self, vocab_size: int, dim: int, cbow: bool = False, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.cbow = vocab_size, dim, cbow
        # word2vec's initialisation: small uniform input vectors, zero output vectors.
        self.target_embedding = keras.layers.Embedding(
            vocab_size, dim, name="target_embedding",
            embeddings_initializer=keras.initializers.RandomUniform(-0.5 / dim, 0.5 / dim, seed=seed))
        self.context_embedding = keras.layers.Embedding(vocab_size, dim, name="context_embedding",
                                                        embeddings_initializer="zeros")

    def call(self, inputs: dict) -> tf.Tensor:
        negatives = inputs["negatives"]  # (batch, k)
        if self.cbow:
            window = inputs["context"]  # (batch, 2 * window)
            mask = tf.cast(window >= 0, tf.float32)[..., None]
            summed = tf.reduce_sum(self.target_embedding(tf.maximum(window, 0)) * mask, axis=1)
            hidden = summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)  # (batch, dim)
            positive = inputs["target"]
        else:
            hidden = self.target_embedding(inputs["target"])  # (batch, dim)
            positive = inputs["context"]
        outputs = self.context_embedding(tf.concat([positive[:, None], negatives], axis=1))  # (batch, 1 + k, dim)
        return tf.einsum("bd,bkd->bk", hidden, outputs)  # (batch, 1 + k)


def negative_sampling_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Sum over the positive and its negatives of the sigmoid cross-entropy, per pair."""
    labels = tf.cast(labels, logits.dtype)
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)


def _dataset(target: np.ndarray, context: np.ndarray, negatives: np.ndarray, batch_size: int) -> tf.data.Dataset:
    labels = np.zeros((len(target), negatives.shape[1] + 1), dtype=np.float32)
    labels[:, 0] = 1.0
    inputs = {"target": target, "context": context, "negatives": negatives}
    return tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def pretrain(corpus: Corpus, config: PretrainConfig, verbose: int | str = "auto") -> PretrainResult:
    """Trains vectors on `corpus` and returns them with throughput and losses."""
    if not corpus.sequences:
        missing = ("no item has a title and the training part has no query" if corpus.kind == "words"
                   else "the training part has no behaviour event on a catalogue item")
        raise ValueError(f"the {corpus.kind} corpus is empty: {missing}")
    rng = np.random.default_rng(config.seed)
    counts = id_counts(corpus.sequences, corpus.vocab_size)
    keep = keep_probabilities(counts, config.subsample)
    noise = noise_distribution(counts)
    make = cbow_examples if config.cbow else skipgram_pairs

    model = SkipGram(corpus.vocab_size, config.dim, cbow=config.cbow, seed=config.seed)
    first = make(corpus.sequences, config.window, keep, rng)
    if not len(first[0]):
        raise ValueError(f"the {corpus.kind} corpus gives no training pairs: sentences are too short")
    total_steps = max(1, config.epochs * math.ceil(len(first[0]) / config.batch_size))
    schedule = keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, total_steps, config.learning_rate * config.min_learning_rate_ratio, power=1.0)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=negative_sampling_loss)

    pairs, seconds, losses = 0, 0.0, []
    for epoch in range(config.epochs):
        target, context = first if epoch == 0 else make(corpus.sequences, config.window, keep, rng)
        negatives = rng.choice(corpus.vocab_size, size=(len(target), config.negatives), p=noise)
        data = _dataset(target, context, negatives, config.batch_size)
        start = time.perf_counter()
        history = model.fit(data, initial_epoch=epoch, epochs=epoch + 1, verbose=verbose)
        seconds += time.perf_counter() - start
        pairs += len(target)
        losses.append(float(history.history["loss"][-1]))
    vectors = model.target_embedding.embeddings.numpy().astype(np.float32)
    return PretrainResult(vectors, counts, pairs, seconds, losses)
