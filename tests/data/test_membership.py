"""`membership.is_in` answers what pandas' `isin` answers, for every kind of text column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data.membership import is_in, members


@pytest.mark.parametrize("dtype", ["str", object, "string[pyarrow]"])
def test_is_in_answers_as_pandas_isin(dtype):
    rng = np.random.default_rng(0)
    catalogue = [f"item{i}" for i in range(500)]
    values = pd.Series(rng.choice([f"item{i}" for i in range(700)] + ["", "商品"], 5_000), dtype=dtype)
    values[7] = None
    found = members(pd.Series(catalogue + ["商品"]))

    assert np.array_equal(is_in(values, found), values.isin(catalogue + ["商品"]).to_numpy())
    assert not is_in(values, found)[7] and is_in(values, found).dtype == bool


def test_members_come_from_any_collection_of_strings():
    values = pd.Series(["a", "b", "c"])
    for collection in (["a", "c"], frozenset({"a", "c"}), np.array(["a", "c"], dtype=object), pd.Index(["a", "c"])):
        assert is_in(values, members(collection)).tolist() == [True, False, True]
    assert is_in(values, []).tolist() == [False, False, False]
