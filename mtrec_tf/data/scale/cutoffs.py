"""Exact order statistics of a column read in pieces, in bounded memory.

Three passes over the pieces: their range (`ValueRange`, merged over pieces), a histogram of
2**20 bins over it (`histogram`, summed over pieces), then the values of the bins the
ranks fall in (`in_bins`), which alone are held and sorted (`pick`). The local driver runs
them in turn (`kth_smallest`); the Beam driver as combines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

_BINS = 1 << 20


@dataclasses.dataclass(frozen=True)
class ValueRange:
    """The smallest and largest of some integers, and how many there are."""

    low: int
    high: int
    count: int

    @classmethod
    def of(cls, values: np.ndarray) -> ValueRange | None:
        return cls(int(values.min()), int(values.max()), len(values)) if len(values) else None

    def merge(self, other: ValueRange | None) -> ValueRange:
        if other is None:
            return self
        return ValueRange(min(self.low, other.low), max(self.high, other.high), self.count + other.count)

    @property
    def bins(self) -> int:
        return min(_BINS, self.high - self.low + 1)

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin: monotone in the value."""
        width = self.high - self.low + 1
        scaled = (values.astype(np.int64) - self.low).astype(np.float64) * self.bins / width
        return scaled.astype(np.int64).clip(0, self.bins - 1)


def histogram(values: np.ndarray, value_range: ValueRange) -> np.ndarray:
    """How many of `values` fall in each bin of `value_range`."""
    return np.bincount(value_range.bin_of(values), minlength=value_range.bins)


def rank_bins(counts: np.ndarray, ranks: Sequence[int]) -> dict[int, tuple[int, int]]:
    """For each 0-based rank: its bin and its rank among that bin's values."""
    ends = np.cumsum(counts)
    if any(not 0 <= rank < int(ends[-1]) for rank in ranks):
        raise ValueError(f"ranks {list(ranks)} are outside 0 to {int(ends[-1]) - 1}")
    found = {}
    for rank in ranks:
        b = int(np.searchsorted(ends, rank, side="right"))
        found[rank] = (b, rank - (int(ends[b - 1]) if b else 0))
    return found


def in_bins(values: np.ndarray, value_range: ValueRange, bins: Iterable[int]) -> dict[int, np.ndarray]:
    """The values that fall in each of `bins`."""
    bin_index = value_range.bin_of(values)
    return {b: values[bin_index == b] for b in bins}


def pick(held: Mapping[int, Sequence[np.ndarray]], wanted: Mapping[int, tuple[int, int]],
         ranks: Sequence[int]) -> list[int]:
    """The value of each rank, from the values held in its bin (`rank_bins`'s answer)."""
    result = []
    for rank in ranks:
        b, within = wanted[rank]
        result.append(int(np.sort(np.concatenate(held[b]))[within]))
    return result


def kth_smallest(pieces: Callable[[], Iterable[np.ndarray]], ranks: Sequence[int]) -> list[int]:
    """The values of the given 0-based ranks among all values of `pieces` (integers), exactly
    as `np.sort(all)[rank]` would give them; `pieces` is called once for each pass."""
    value_range: ValueRange | None = None
    for values in pieces():
        found = ValueRange.of(values)
        value_range = found if value_range is None else value_range.merge(found)
    if value_range is None:
        raise ValueError("no values to take order statistics of")
    counts = np.zeros(value_range.bins, dtype=np.int64)
    for values in pieces():
        counts += histogram(values, value_range)
    wanted = rank_bins(counts, ranks)
    bins = {b for b, _ in wanted.values()}
    held: dict[int, list[np.ndarray]] = {b: [] for b in bins}
    for values in pieces():
        for b, found_values in in_bins(values, value_range, bins).items():
            held[b].append(found_values)
    return pick(held, wanted, ranks)
