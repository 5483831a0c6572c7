"""The shop's event types (`data.event_types`): roles, validation, histories, labels and inspection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mtrec_tf.config import Config, load_config
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes, suggest_roles
from mtrec_tf.data.examples import build_examples, event_type_labels, label_columns
from mtrec_tf.data.inspect import format_report, inspect_data
from mtrec_tf.data.readers import found_event_types, load_data
from mtrec_tf.data.sample import generate_sample
from mtrec_tf.data.sample_events import EXTENDED_EVENT_TYPES
from mtrec_tf.data.schema import EVENT_TYPES
from mtrec_tf.data.splits import time_split
from mtrec_tf.errors import ConfigError, DataValidationError

EXTENDED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sample_extended_events.yaml"
SHOP_TYPES = EventTypes.from_mapping({
    "query": ["search"], "shown": ["impression"], "view": ["behaviour"],
    "tap": ["click", "behaviour", "next_item"], "wishlist": ["behaviour"], "order": ["purchase", "behaviour"],
})
SHOP_ROWS = [  # user, time, type, item, query, session, position
    ("u1", 100, "query", "", "phone", "s1", -1),
    ("u1", 101, "shown", "a", "phone", "s1", 0),
    ("u1", 101, "shown", "b", "phone", "s1", 1),
    ("u1", 103, "view", "b", "phone", "s1", 1),
    ("u1", 105, "tap", "a", "phone", "s1", 0),
    ("u1", 108, "wishlist", "a", "phone", "s1", 0),
    ("u1", 120, "order", "a", "phone", "s1", 0),
    ("u1", 200, "shown", "c", "", "s2", 0),
    ("u1", 201, "shown", "b", "", "s2", 1),
    ("u1", 205, "tap", "b", "", "s2", 1),
]


@pytest.fixture
def shop_events() -> pd.DataFrame:
    return pd.DataFrame(SHOP_ROWS, columns=["user_id", "timestamp", "event_type", "item_id", "query",
                                            "session_id", "position"])


@pytest.fixture
def shop_items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["Phones", "Kitchen", "Phones"]})


def test_the_default_roles_are_the_contracts_five_types():
    assert DEFAULT_EVENT_TYPES.names == EVENT_TYPES
    assert DEFAULT_EVENT_TYPES.behaviour == ("click", "add_to_cart", "purchase")
    assert (DEFAULT_EVENT_TYPES.click, DEFAULT_EVENT_TYPES.next_item, DEFAULT_EVENT_TYPES.search) == (
        "click", "click", "search")
    assert Config().data.event_types == DEFAULT_EVENT_TYPES


@pytest.mark.parametrize("roles, message", [
    ({"search": ["search"], "shown": ["impression"], "tap": ["click", "behaviour", "next_item"]},
     "exactly one event type plays the role 'purchase'; got none"),
    ({**EXTENDED_EVENT_TYPES.to_mapping(), "buy": ["purchase"]},
     "exactly one event type plays the role 'purchase'; got purchase, buy"),
    ({**EXTENDED_EVENT_TYPES.to_mapping(), "view": ["browse"]}, "data.event_types.view: unknown role 'browse'"),
    ({**EXTENDED_EVENT_TYPES.to_mapping(), "search": ["search", "behaviour"]}, "a search has no item"),
    ({**EXTENDED_EVENT_TYPES.to_mapping(), "View": ["behaviour"]}, "must be non-empty lower-case text"),
])
def test_roles_are_checked_by_name(roles, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        EventTypes.from_mapping(roles)


def test_event_types_load_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text("data:\n  event_types:\n" + "".join(
        f"    {name}: [{', '.join(roles)}]\n" for name, roles in SHOP_TYPES.roles), encoding="utf-8")
    config = load_config(path)
    assert config.data.event_types == SHOP_TYPES
    # A type given null is left out; the default set takes overrides too.
    trimmed = load_config(None, ["data.event_types.add_to_cart=null"])
    assert trimmed.data.event_types.names == ("search", "impression", "click", "purchase")
    assert load_config(None, ['data.event_types.favorite=["behaviour"]']).data.event_types.behaviour == (
        "click", "add_to_cart", "purchase", "favorite")


def test_an_undeclared_type_fails_by_name_with_the_declared_ones(shop_events, shop_items):
    with pytest.raises(DataValidationError, match=r"row 4.*'view'.*query, shown, tap, wishlist, order"):
        load_data(shop_events, shop_items, event_types=EventTypes.from_mapping(
            {name: list(roles) for name, roles in SHOP_TYPES.roles if name != "view"}))
    # With every type declared the same table loads.
    assert len(load_data(shop_events, shop_items, event_types=SHOP_TYPES).events) == len(shop_events)


def test_histories_labels_and_targets_follow_the_declared_roles(shop_events, shop_items):
    data = load_data(shop_events, shop_items, event_types=SHOP_TYPES)
    split = time_split(data.events["timestamp"].to_numpy(), 0.0, 0.0)
    examples = build_examples(data.events, data.items, split, event_types=SHOP_TYPES,
                              event_labels={"wished": "wishlist"}).parts["train"].to_pandas()

    # The query is labelled by the tap after it (the click role), the taps are next-item targets.
    queries = examples[examples["example_type"] == "query"]
    assert list(queries["label_query_category"]) == ["Phones"]
    targets = examples[examples["example_type"] == "next_item"]
    assert list(targets["label_next_item"]) == ["a", "b"]
    # Histories hold the behaviour types (view, tap, wishlist, order), strictly before the example.
    last = targets.iloc[-1]
    assert list(last["history_item_ids"]) == ["b", "a", "a", "a"]
    assert list(last["history_event_types"]) == ["view", "tap", "wishlist", "order"]
    assert all(gap > 0 for gap in last["history_time_gaps"])

    impressions = examples[examples["example_type"] == "impression"].set_index(["timestamp", "item_id"])
    assert impressions["label_ctr"].to_dict() == {(101, "a"): 1.0, (101, "b"): 0.0, (200, "c"): 0.0,
                                                  (201, "b"): 1.0}
    assert impressions["label_cvr"].to_dict() == {(101, "a"): 1.0, (101, "b"): 0.0, (200, "c"): 0.0,
                                                  (201, "b"): 0.0}
    # A task labelled by an event type: the wishlist after the shown item, on impressions only.
    assert impressions["label_wished"].to_dict() == {(101, "a"): 1.0, (101, "b"): 0.0, (200, "c"): 0.0,
                                                     (201, "b"): 0.0}
    assert (impressions["mask_wished"] == 1.0).all()
    assert (examples.loc[examples["example_type"] != "impression", "mask_wished"] == 0.0).all()


def test_a_task_labelled_by_an_event_type_is_checked_against_the_declared_types():
    task = 'tasks.favorite={"type": "binary", "label": "favorite", "inputs": ["user", "item"], ' \
           '"event_type": "favorite"}'
    with pytest.raises(ConfigError, match=r"tasks.favorite.event_type 'favorite' is not a declared event type"):
        load_config(None, [task])
    config = load_config(str(EXTENDED_CONFIG), [task])
    assert event_type_labels(config.tasks) == {"favorite": "favorite"}
    assert "favorite" not in label_columns(config.tasks)  # not read from the events table
    with pytest.raises(ConfigError, match="labels binary tasks"):
        load_config(str(EXTENDED_CONFIG),
                    ['tasks.fav={"type": "regression", "label": "fav", "inputs": ["user"], "event_type": "favorite"}'])
    with pytest.raises(ConfigError, match="'ctr' is a label the log derives"):
        load_config(str(EXTENDED_CONFIG),
                    ['tasks.fav={"type": "binary", "label": "ctr", "inputs": ["user"], "event_type": "favorite"}'])


def test_the_extended_sample_adds_views_and_favorites_and_keeps_the_rest():
    default = generate_sample(scale=1, seed=3)
    extended = generate_sample(scale=1, seed=3, event_types="extended")
    added = extended.events["event_type"].isin(["view", "favorite"])
    assert added.sum() > 1000
    pd.testing.assert_frame_equal(extended.events[~added].reset_index(drop=True), default.events)
    assert extended.events["timestamp"].is_monotonic_increasing
    # A favorite of a carted click lies strictly between the click and the cart.
    events = extended.events
    favorites = events[events["event_type"] == "favorite"].merge(
        events[events["event_type"] == "add_to_cart"], on=["session_id", "item_id"], suffixes=("", "_cart"))
    assert len(favorites) and (favorites["timestamp"] < favorites["timestamp_cart"]).all()
    # A view shows an item of the clicked item's category, one second before the click.
    category = extended.items.set_index("item_id")["category"]
    views = events[events["event_type"] == "view"].reset_index(drop=True)
    clicks = events[events["event_type"] == "click"].set_index(["session_id", "timestamp"])
    clicked = clicks.loc[list(zip(views["session_id"], views["timestamp"] + 1)), "item_id"]
    assert (views["item_id"].map(category).to_numpy() == clicked.map(category).to_numpy()).all()


def test_inspect_lists_found_types_with_their_roles_and_the_undeclared(shop_events, shop_items):
    declared = DEFAULT_EVENT_TYPES
    readable = declared.with_undeclared(found_event_types(shop_events))
    report = inspect_data(load_data(shop_events, shop_items, event_types=readable), declared)
    assert report["undeclared_event_types"] == ["order", "query", "shown", "tap", "view", "wishlist"]
    assert report["event_types"]["shown"] == 4 and report["event_types"]["click"] == 0
    assert report["event_roles"]["click"] == ["click", "behaviour", "next_item"]
    text = format_report(report)
    assert "  view                    1   10.0%  not declared" in text
    assert "declare order, query, shown, tap, view, wishlist in data.event_types" in text


def test_roles_are_suggested_from_the_type_names():
    assert EventTypes.from_mapping(suggest_roles(list(EVENT_TYPES))) == DEFAULT_EVENT_TYPES
    assert EventTypes.from_mapping(suggest_roles(["search", "impression", "view", "click", "favorite",
                                                 "add_to_cart", "purchase"])) == EXTENDED_EVENT_TYPES
    roles = suggest_roles(["exposure", "search", "click", "like", "buy"])
    assert roles == {"exposure": ["impression"], "search": ["search"], "click": ["click", "behaviour", "next_item"],
                     "like": ["behaviour"], "buy": ["purchase", "behaviour"]}
