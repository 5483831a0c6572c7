"""Sub-sampling and noise probabilities against word2vec's formulas."""

from __future__ import annotations

import math

import numpy as np

from mtrec_tf.embeddings.sampling import id_counts, keep_probabilities, noise_distribution


def test_keep_probability_is_word2vec_codes_formula():
    counts = np.array([0, 1, 10, 100, 1000, 10_000])
    t = 1e-3
    keep = keep_probabilities(counts, t)
    total = counts.sum()
    for count, p in zip(counts, keep):
        if count == 0:
            assert p == 1.0
            continue
        f = count / total
        assert math.isclose(p, min(1.0, math.sqrt(t / f) + t / f), rel_tol=1e-12)
    assert keep[-1] < keep[-2] < 1.0  # the most frequent ids are dropped most
    assert np.all(keep_probabilities(counts, 0.0) == 1.0)


def test_noise_is_unigram_to_the_three_quarters():
    counts = np.array([0, 0, 1, 16, 81])
    noise = noise_distribution(counts)
    expected = np.array([0, 0, 1, 8, 27]) / 36  # 16^0.75 = 8, 81^0.75 = 27
    np.testing.assert_allclose(noise, expected, rtol=1e-12)
    assert math.isclose(noise.sum(), 1.0)


def test_counts_cover_the_whole_table():
    counts = id_counts([np.array([2, 3, 3]), np.array([3])], vocab_size=5)
    assert counts.tolist() == [0, 0, 1, 3, 0]
