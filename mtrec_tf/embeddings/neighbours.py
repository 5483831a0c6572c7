"""Cosine nearest neighbours among pre-trained vectors."""

from __future__ import annotations

import numpy as np

from mtrec_tf.embeddings.store import StoredVectors


def cosine_neighbours(vectors: np.ndarray, rows: np.ndarray, k: int,
                      candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The `k` rows most cosine-similar to each of `rows`, itself excluded.

    Args:
        vectors: `(n, dim)`.
        rows: `(q,)` query row numbers.
        k: neighbours per query.
        candidates: boolean `(n,)`; only these rows can be neighbours (default: all).

    Returns:
        int64 `(q, k')` neighbour rows, most similar first, and float `(q, k')` similarities;
        k' = min(k, number of candidates other than the query).
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    rows = np.asarray(rows, dtype=np.int64)
    scores = unit[rows] @ unit.T  # (q, n)
    allowed = np.ones(len(vectors), bool) if candidates is None else np.asarray(candidates, bool).copy()
    scores[:, ~allowed] = -np.inf
    scores[np.arange(len(rows)), rows] = -np.inf
    k = int(min(k, max(allowed.sum() - 1, 0)))
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(scores, top, axis=1)


def find_row(stored: StoredVectors, query: str) -> np.ndarray:
    """Rows of `query`: its vocabulary entry, or (words) the tokens the model's tokenizer makes of it."""
    index = {name: stored.offset + j for j, name in enumerate(stored.vocabulary)}
    if query in index:
        return np.array([index[query]])
    if stored.kind == "words":
        from mtrec_tf.text.tokenizer import tokenize_to_lists

        tokens = tokenize_to_lists([query])[0]
        rows = [index[t] for t in tokens if t in index]
        if rows:
            return np.array(rows)
    raise KeyError(f"{query!r} is not in the {stored.kind} vocabulary")


def neighbours_of(stored: StoredVectors, query: str, k: int = 10) -> list[tuple[str, float]]:
    """The `k` nearest vocabulary entries to `query` (several tokens: to their mean vector)."""
    rows = find_row(stored, query)
    vectors = stored.vectors
    candidates = stored.counts > 0
    candidates[: stored.offset] = False
    if len(rows) > 1:  # a phrase: its mean vector as an extra row
        mean = (vectors[rows] / np.maximum(np.linalg.norm(vectors[rows], axis=1, keepdims=True), 1e-12)).mean(0)
        vectors = np.vstack([vectors, mean])
        candidates = np.r_[candidates, False]
        candidates[rows] = False
        query_row = len(vectors) - 1
    else:
        query_row = int(rows[0])
    top, scores = cosine_neighbours(vectors, np.array([query_row]), k, candidates)
    labels = stored.labels()
    return [(labels[r], float(s)) for r, s in zip(top[0], scores[0])]
