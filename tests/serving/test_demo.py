"""The quickstart demo's request: the latest user's behaviour and last search."""

from __future__ import annotations

import pandas as pd

from mtrec_tf.data.schema import BEHAVIOUR_EVENT_TYPES
from serving import demo


def test_the_demo_reads_the_contracts_behaviour_events():
    assert demo.BEHAVIOUR_EVENT_TYPES == BEHAVIOUR_EVENT_TYPES


def test_latest_user_keeps_every_behaviour_event_and_the_last_search():
    events = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u1", "u1", "u2"],
        "item_id": ["a", "b", "c", "", "d", "x"],
        "event_type": ["click", "add_to_cart", "purchase", "search", "impression", "click"],
        "timestamp": [10, 20, 30, 35, 50, 5],
        "query": ["", "", "", "red shoes", "", ""],
    })
    request = demo.latest_user(events, history_length=2)
    assert request.user_id == "u1"
    assert request.history == [("b", "add_to_cart", 30.0), ("c", "purchase", 20.0)]
    assert request.query == "red shoes"
