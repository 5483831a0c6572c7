"""Sub-sampling of frequent ids and the noise distribution of negative sampling.

Both follow word2vec (Mikolov et al. 2013). Sub-sampling uses the formula of the released
word2vec code rather than the paper's: an occurrence of id w with corpus frequency
f(w) = count(w) / total is kept with probability

    p_keep(w) = min(1, sqrt(t / f(w)) + t / f(w))

(the paper discards with probability 1 - sqrt(t / f(w)), i.e. keeps with sqrt(t / f(w));
the code's extra t / f(w) keeps slightly more of the mid-frequency ids). Negatives are
drawn from the unigram distribution raised to the power 3/4:

    P_noise(w) = count(w)^0.75 / sum_v count(v)^0.75

References:
    Mikolov et al., "Distributed Representations of Words and Phrases and their
    Compositionality", NeurIPS 2013.
"""

from __future__ import annotations

import numpy as np


def id_counts(sequences: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """Occurrences of each id in `sequences`, shape `(vocab_size,)`, int64."""
    if not sequences:
        return np.zeros(vocab_size, dtype=np.int64)
    return np.bincount(np.concatenate(sequences), minlength=vocab_size).astype(np.int64)


def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """Probability of keeping an occurrence of each id (word2vec code's formula).

    Args:
        counts: `(vocab,)` occurrences of each id.
        threshold: t; 0 turns sub-sampling off (every probability is 1).

    Returns:
        float64 `(vocab,)`; ids that never occur get 1.
    """
    counts = np.asarray(counts, dtype=np.float64)
    keep = np.ones_like(counts)
    total = counts.sum()
    if threshold <= 0 or total <= 0:
        return keep
    seen = counts > 0
    ratio = threshold / (counts[seen] / total)  # t / f(w)
    keep[seen] = np.minimum(1.0, np.sqrt(ratio) + ratio)
    return keep


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Unigram frequency to the power `power`, normalised; ids never seen get 0."""
    weights = np.power(np.asarray(counts, dtype=np.float64), power)
    weights[np.asarray(counts) <= 0] = 0.0
    total = weights.sum()
    if total <= 0:
        raise ValueError("the corpus is empty: no id to draw negatives from")
    return weights / total
