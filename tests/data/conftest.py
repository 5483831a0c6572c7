"""A tiny hand-made event log whose examples are counted by hand in the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

TINY_COLUMNS = ["user_id", "timestamp", "event_type", "item_id", "query", "session_id", "position"]
TINY_ROWS = [
    ("u1", 100, "search", "", "phone", "s1", -1),
    ("u1", 101, "impression", "a", "phone", "s1", 0),
    ("u1", 101, "impression", "b", "phone", "s1", 1),
    ("u1", 105, "click", "a", "phone", "s1", 0),
    ("u1", 110, "add_to_cart", "a", "phone", "s1", 0),
    ("u1", 120, "purchase", "a", "phone", "s1", 0),
    ("u2", 150, "impression", "a", "", "s3", 0),
    ("u2", 151, "impression", "c", "", "s3", 1),
    ("u2", 160, "click", "c", "", "s3", 1),
    ("u1", 200, "search", "", "pan", "s2", -1),
    ("u1", 201, "impression", "c", "pan", "s2", 0),
    ("u1", 201, "impression", "b", "pan", "s2", 1),
    ("u1", 205, "click", "b", "pan", "s2", 1),
    ("u2", 300, "search", "", "tv", "s4", -1),
]


@pytest.fixture
def tiny_events() -> pd.DataFrame:
    return pd.DataFrame(TINY_ROWS, columns=TINY_COLUMNS)


@pytest.fixture
def tiny_items() -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": ["a", "b", "c"],
        "title": ["华为 phone", "steel pan", "apple phone"],
        "category": ["Electronics > Phones", "Home > Kitchen", "Electronics > Phones"],
        "brand": ["Huawei", "", "Apple"],
        "price": [100.0, np.nan, 300.0],
        "image": [b"png-a", b"png-b", None],
    })


@pytest.fixture
def history_check():
    """`leakage.check_histories`, for the tests of every example builder."""
    from leakage import check_histories

    return check_histories
