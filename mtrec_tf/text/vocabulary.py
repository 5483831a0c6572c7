"""Vocabularies: ordered token lists, built deterministically and stored one token a line."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Mapping

from mtrec_tf.io_utils import read_text, write_text_atomic


def build_vocabulary(
    tokens: Iterable[str], min_count: int = 1, max_size: int | None = None
) -> tuple[str, ...]:
    """Tokens seen at least `min_count` times, most frequent first, ties in code point order.

    Empty strings are never part of a vocabulary: they are padding.
    """
    return vocabulary_of_counts(collections.Counter(tokens), min_count, max_size)


def vocabulary_of_counts(
    counts: Mapping[str, int], min_count: int = 1, max_size: int | None = None
) -> tuple[str, ...]:
    """`build_vocabulary` from tokens already counted (counts of pieces of a corpus add up)."""
    kept = [(token, n) for token, n in counts.items() if token and n >= min_count]
    kept.sort(key=lambda pair: (-pair[1], pair[0]))
    if max_size is not None:
        kept = kept[:max_size]
    return tuple(token for token, _ in kept)


def save_vocabulary(vocabulary: Iterable[str], path: str | os.PathLike) -> None:
    """Writes one token a line (UTF-8); tokens must not contain line breaks."""
    lines = []
    for token in vocabulary:
        if "\n" in token or "\r" in token:
            raise ValueError(f"{path}: vocabulary token {token!r} contains a line break")
        lines.append(token)
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def load_vocabulary(path: str | os.PathLike) -> tuple[str, ...]:
    """Reads a vocabulary written by `save_vocabulary`."""
    text = read_text(path)
    return tuple(text.split("\n")[:-1]) if text else ()
