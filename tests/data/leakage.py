"""The leakage check every example builder passes: no event at or after an example's time in
its history, and the history exactly the user's last behaviour events before it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES
from mtrec_tf.data.splits import PARTS


def check_histories(parts: Mapping[str, pd.DataFrame], events: pd.DataFrame, history_length: int,
                    per_part: int = 300) -> int:
    """Checks a sample of each part's examples against the events; returns how many."""
    behaviour = events[events["event_type"].isin(DEFAULT_EVENT_TYPES.behaviour)]
    by_user = {u: g.sort_values("timestamp", kind="stable") for u, g in behaviour.groupby("user_id")}
    checked = 0
    for part in PARTS:
        frame = parts[part]
        frame = frame[frame["user_id"] != ""].sample(n=min(per_part, len(frame)), random_state=0)
        for row in frame.itertuples():
            gaps = np.asarray(row.history_time_gaps)
            assert (gaps > 0).all(), f"{part} {row.example_type} at {row.timestamp} sees its own time or later"
            user = by_user.get(row.user_id)
            earlier = user[user["timestamp"] < row.timestamp].tail(history_length) if user is not None else user
            expected = [] if earlier is None else list(earlier["item_id"])
            assert sorted(row.history_item_ids) == sorted(expected)
            checked += 1
    return checked
