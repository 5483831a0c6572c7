"""Pair generation, and vectors that separate two disjoint topics."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.embeddings.corpus import Corpus
from mtrec_tf.embeddings.neighbours import cosine_neighbours
from mtrec_tf.embeddings.skipgram import PretrainConfig, cbow_examples, pretrain, skipgram_pairs


def test_pairs_stay_in_their_sentence_and_window():
    sequences = [np.arange(1, 8), np.arange(10, 14)]
    target, context = skipgram_pairs(sequences, window=2, keep=np.ones(20), rng=np.random.default_rng(0))
    position = {i: (s, j) for s, seq in enumerate(sequences) for j, i in enumerate(seq)}
    assert len(target) > 0
    for t, c in zip(target, context):
        (st, jt), (sc, jc) = position[t], position[c]
        assert st == sc and 1 <= abs(jt - jc) <= 2


def test_cbow_contexts_are_the_centres_neighbours():
    centre, context = cbow_examples([np.arange(1, 6)], window=2, keep=np.ones(6), rng=np.random.default_rng(0))
    for c, row in zip(centre, context):
        ids = row[row >= 0]
        assert len(ids) and c not in ids and np.all(np.abs(ids - c) <= 2)


def _two_topics(seed: int = 0) -> Corpus:
    """Items 1-6 only ever co-occur with each other, items 7-12 likewise."""
    rng = np.random.default_rng(seed)
    topics = (np.arange(1, 7), np.arange(7, 13))
    sequences = [rng.choice(topics[s % 2], size=8) for s in range(300)]
    return Corpus("items", sequences, tuple(f"i{j}" for j in range(12)))


@pytest.mark.parametrize("cbow", [False, True])
def test_vectors_separate_two_disjoint_topics(cbow):
    corpus = _two_topics()
    result = pretrain(corpus, PretrainConfig(dim=8, window=3, negatives=3, epochs=3, subsample=0.0,
                                             batch_size=128, learning_rate=0.02, cbow=cbow), verbose=0)
    assert result.vectors.shape == (13, 8) and result.pairs > 0 and result.pairs_per_second > 0
    topic = np.array([-1] + [0] * 6 + [1] * 6)
    rows = np.arange(1, 13)
    top, _ = cosine_neighbours(result.vectors, rows, k=5, candidates=topic >= 0)
    assert np.all(topic[top] == topic[rows][:, None])


def test_an_empty_word_corpus_says_why():
    """Data without text (no titles, no queries) give no words to pre-train on."""
    with pytest.raises(ValueError, match="the words corpus is empty: no item has a title and the training part "
                                         "has no query"):
        pretrain(Corpus("words", [], ()), PretrainConfig())
