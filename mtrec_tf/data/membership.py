"""Which values of a text column are in a large set (the catalogue's item ids, a piece's users).

pandas' `isin` on Arrow-backed text turns every member of the set into a Python object on
each call; against the catalogue, once per piece of the log, that cost more than the rest of
building the piece's examples. Here the set is an Arrow array, made once and matched by
Arrow's hash lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def members(values: Iterable[str] | pa.Array) -> pa.Array:
    """A set of strings as the array `is_in` matches against (made once, used for many columns)."""
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    if isinstance(values, pd.Series | pd.Index | np.ndarray):
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    return pa.array(list(values), type=pa.large_string())


def is_in(values: pd.Series, found: pa.Array | Iterable[str]) -> np.ndarray:
    """A boolean per value of the text column `values`: whether it is one of `found` (best made
    once with `members`); missing values are not."""
    found = members(found)
    column = pa.array(values, from_pandas=True).cast(pa.large_string())
    return pc.is_in(column, value_set=found).to_numpy(zero_copy_only=False).astype(bool, copy=False)
