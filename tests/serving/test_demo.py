"""The quickstart demo's request: the latest user's behaviour and last search."""

from __future__ import annotations

import pandas as pd

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES
from serving import demo


def test_the_demos_defaults_are_the_default_event_roles():
    assert DEFAULT_EVENT_TYPES.behaviour == demo.BEHAVIOUR_EVENT_TYPES
    assert DEFAULT_EVENT_TYPES.search == demo.SEARCH_EVENT_TYPE


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


def test_latest_user_reads_the_contracts_roles_and_can_send_searches_as_steps():
    events = pd.DataFrame({
        "user_id": ["u1"] * 4,
        "item_id": ["a", "", "b", "c"],
        "event_type": ["view", "query", "view", "impression"],
        "timestamp": [10, 20, 30, 40],
        "query": ["", "red shoes", "", ""],
    })
    plain = demo.latest_user(events, history_length=5, behaviour=("view",), search="query")
    assert plain.history == [("a", "view", 30.0), ("b", "view", 10.0)]
    assert plain.query == "red shoes"
    mixed = demo.latest_user(events, history_length=5, behaviour=("view",), search="query", history_searches=True)
    assert mixed.history == [("a", "view", 30.0), ("red shoes", "query", 20.0), ("b", "view", 10.0)]
