"""Exact order statistics of a column read in pieces, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

_BINS = 1 << 20


def kth_smallest(pieces: Callable[[], Iterable[np.ndarray]], ranks: Sequence[int]) -> list[int]:
    """The values of the given 0-based ranks among all values of `pieces` (integers), exactly
    as `np.sort(all)[rank]` would give them.

    `pieces` is called for each of three passes: the range, a histogram of 2**20 bins over it,
    and the values in the bins the ranks fall in, which alone are held.
    """
    low, high, count = None, None, 0
    for values in pieces():
        if len(values):
            low = int(values.min()) if low is None else min(low, int(values.min()))
            high = int(values.max()) if high is None else max(high, int(values.max()))
            count += len(values)
    if low is None or high is None:
        raise ValueError("no values to take order statistics of")
    if any(not 0 <= rank < count for rank in ranks):
        raise ValueError(f"ranks {list(ranks)} are outside 0 to {count - 1}")
    width = high - low + 1
    bins = min(_BINS, width)

    def bin_of(values: np.ndarray) -> np.ndarray:
        return ((values.astype(np.int64) - low).astype(np.float64) * bins / width).astype(np.int64).clip(0, bins - 1)

    histogram = np.zeros(bins, dtype=np.int64)
    for values in pieces():
        histogram += np.bincount(bin_of(values), minlength=bins)
    ends = np.cumsum(histogram)
    wanted = {rank: int(np.searchsorted(ends, rank, side="right")) for rank in ranks}
    held: dict[int, list[np.ndarray]] = {b: [] for b in set(wanted.values())}
    for values in pieces():
        bin_index = bin_of(values)
        for b in held:
            held[b].append(values[bin_index == b])
    result = []
    for rank in ranks:
        b = wanted[rank]
        before = int(ends[b - 1]) if b else 0
        result.append(int(np.sort(np.concatenate(held[b]))[rank - before]))
    return result
