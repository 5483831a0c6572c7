"""Time and leave-last-out splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_tf.config import SplitConfig
from mtrec_tf.data.splits import leave_last_out_split, split_events, time_split


def test_time_split_orders_parts_strictly_in_time():
    timestamps = np.random.default_rng(0).integers(0, 1_000, size=5_000)
    split = time_split(timestamps, 0.1, 0.2)
    train, validation, test = (timestamps[split.part == i] for i in range(3))
    assert train.max() < validation.min() <= validation.max() < test.min()
    counts = split.counts()
    assert abs(counts["test"] / 5_000 - 0.2) < 0.01
    assert abs(counts["validation"] / 5_000 - 0.1) < 0.01
    assert split.validation_start == validation.min() and split.test_start == test.min()


def test_time_split_puts_ties_at_a_cutoff_in_the_later_part():
    split = time_split(np.array([1, 2, 3, 3, 3, 4]), 0.0, 0.5)
    assert split.part.tolist() == [0, 0, 2, 2, 2, 2]


def test_time_split_without_holdout_is_all_training():
    assert time_split(np.arange(10), 0.0, 0.0).counts() == {"train": 10, "validation": 0, "test": 0}


def test_leave_last_out_holds_out_each_users_last_clicks():
    events = pd.DataFrame({
        "user_id": ["a"] * 6 + ["b"] * 3,
        "timestamp": [1, 2, 3, 4, 5, 6, 1, 2, 3],
        "event_type": ["click", "impression", "click", "impression", "click", "add_to_cart",
                       "click", "click", "impression"],
    })
    split = leave_last_out_split(events, min_user_clicks=3)
    # a: clicks at 1, 3, 5 -> validation from 3, test from 5; b has 2 clicks -> all training.
    assert split.part.tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 0]
    assert split.validation_start is None


def test_split_events_dispatches_on_method(tiny_events):
    assert split_events(tiny_events, SplitConfig(method="time")).method == "time"
    split = split_events(tiny_events, SplitConfig(method="leave_last_out", min_user_clicks=2))
    # u1 clicks at 105 and 205: validation from 105, test from 205.
    u1 = tiny_events["user_id"].to_numpy() == "u1"
    ts = tiny_events["timestamp"].to_numpy()
    assert (split.part[u1 & (ts >= 205)] == 2).all()
    assert (split.part[u1 & (ts < 105)] == 0).all()


def test_random_split_is_seeded_and_proportional():
    from mtrec_tf.data.splits import random_split

    split = random_split(10_000, 0.1, 0.2, seed=3)
    assert (split.part == random_split(10_000, 0.1, 0.2, seed=3).part).all()
    counts = split.counts()
    assert abs(counts["test"] - 2_000) < 150 and abs(counts["validation"] - 1_000) < 120
