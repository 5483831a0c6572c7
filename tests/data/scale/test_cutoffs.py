"""Exact order statistics over a column read in pieces."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.data.scale.cutoffs import kth_smallest


@pytest.mark.parametrize("span", [5, 1_000, 3_000_000_000])
def test_ranks_are_those_of_the_sorted_whole(span):
    rng = np.random.default_rng(span)
    values = 1_600_000_000 + rng.integers(0, span, size=50_000)
    pieces = np.array_split(values, 7)
    ranks = [0, 1, 12_345, 40_000, 49_999]
    ordered = np.sort(values)
    assert kth_smallest(lambda: iter(pieces), ranks) == [int(ordered[r]) for r in ranks]


def test_no_values_or_a_rank_outside_them_is_refused():
    with pytest.raises(ValueError, match="no values"):
        kth_smallest(lambda: iter([np.zeros(0, dtype=np.int64)]), [0])
    with pytest.raises(ValueError, match="outside 0 to 2"):
        kth_smallest(lambda: iter([np.array([3, 1, 2])]), [3])
