"""Example building: counts and labels on a hand-computed log, and no leakage on the sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from leakage import check_histories

from mtrec_tf.config import SplitConfig
from mtrec_tf.data.examples import DERIVED_LABELS, EXAMPLE_SCHEMA, build_examples, example_schema, label_columns
from mtrec_tf.data.splits import PARTS, split_events, time_split


def _all_train(events):
    return time_split(events["timestamp"].to_numpy(), 0.0, 0.0)


def test_counts_match_the_hand_computed_log(tiny_events, tiny_items):
    examples = build_examples(tiny_events, tiny_items, _all_train(tiny_events))
    # 3 searches, one (s4) never followed by a click; 6 impressions; 3 clicks; 2 items with images.
    assert examples.report.counts["train"] == {"query": 2, "impression": 6, "next_item": 3, "image": 2}
    assert examples.report.skipped["searches without a click on a catalogue item"] == 1
    assert examples.report.skipped["catalogue items without an image"] == 1
    assert examples.parts["validation"].num_rows == 0
    # The events carry no rating column: the examples have the derived labels only.
    assert examples.parts["train"].schema == example_schema(DERIVED_LABELS)
    rated = build_examples(tiny_events.assign(rating=np.nan), tiny_items, _all_train(tiny_events))
    assert rated.parts["train"].schema == EXAMPLE_SCHEMA


def test_labels_and_masks_match_the_hand_computed_log(tiny_events, tiny_items):
    frame = build_examples(tiny_events, tiny_items, _all_train(tiny_events)).parts["train"].to_pandas()

    queries = frame[frame["example_type"] == "query"].set_index("query")
    assert queries.loc["phone", "label_query_category"] == "Electronics > Phones"
    assert queries.loc["pan", "label_query_category"] == "Home > Kitchen"

    impressions = frame[frame["example_type"] == "impression"]
    labels = {(r.user_id, r.timestamp, r.item_id): (r.label_ctr, r.label_cvr) for r in impressions.itertuples()}
    assert labels == {
        ("u1", 101, "a"): (1.0, 1.0),  # clicked, then bought
        ("u1", 101, "b"): (0.0, 0.0),
        ("u2", 150, "a"): (0.0, 0.0),
        ("u2", 151, "c"): (1.0, 0.0),
        ("u1", 201, "c"): (0.0, 0.0),
        ("u1", 201, "b"): (1.0, 0.0),
    }
    targets = frame[frame["example_type"] == "next_item"]
    assert list(targets["label_next_item"]) == ["a", "c", "b"]
    assert (targets["item_id"] == "").all(), "the target must not be a feature of its own example"

    expected_masks = {
        "query": {"query_category"}, "impression": {"ctr", "cvr"},
        "next_item": {"next_item"}, "image": {"image_category"},
    }
    for row in frame.itertuples():
        on = {task for task in DERIVED_LABELS if getattr(row, f"mask_{task}") == 1.0}
        if row.example_type == "impression" and row.item_id in ("a", "b"):
            # Training impressions of items with a training image also teach the image task.
            assert on == {"ctr", "cvr", "image_category"}
            assert row.label_image_category == {"a": "Electronics > Phones", "b": "Home > Kitchen"}[row.item_id]
        else:
            assert on == expected_masks[row.example_type]


def test_histories_hold_earlier_behaviour_only(tiny_events, tiny_items):
    frame = build_examples(tiny_events, tiny_items, _all_train(tiny_events)).parts["train"].to_pandas()
    click_b = frame[(frame["example_type"] == "next_item") & (frame["label_next_item"] == "b")].iloc[0]
    assert list(click_b["history_item_ids"]) == ["a", "a", "a"]
    assert list(click_b["history_event_types"]) == ["click", "add_to_cart", "purchase"]
    assert list(click_b["history_time_gaps"]) == [100.0, 95.0, 85.0]
    # At 105 the click on a itself is not yet history.
    click_a = frame[(frame["example_type"] == "next_item") & (frame["label_next_item"] == "a")].iloc[0]
    assert len(click_a["history_item_ids"]) == 0


def test_history_is_cut_to_its_last_events(tiny_events, tiny_items):
    frame = build_examples(tiny_events, tiny_items, _all_train(tiny_events), history_length=2).parts["train"]
    frame = frame.to_pandas()
    row = frame[(frame["example_type"] == "next_item") & (frame["label_next_item"] == "b")].iloc[0]
    assert list(row["history_event_types"]) == ["add_to_cart", "purchase"]


def test_labels_come_only_from_the_examples_own_part(tiny_events, tiny_items):
    # Cut between the impression at 101 and its click at 105: the click is validation.
    split = time_split(tiny_events["timestamp"].to_numpy(), 0.0, 0.0)
    part = np.where(tiny_events["timestamp"].to_numpy() >= 105, 1, 0).astype(np.int8)
    split = type(split)(part, "time", 105, 10**9)
    train = build_examples(tiny_events, tiny_items, split).parts["train"].to_pandas()
    impression_a = train[(train["example_type"] == "impression") & (train["item_id"] == "a")]
    assert list(impression_a["label_ctr"]) == [0.0]
    assert (train["example_type"] != "next_item").all()


def test_held_out_images_never_label_training_impressions(sample_world):
    split = split_events(sample_world.events, SplitConfig())
    examples = build_examples(sample_world.events, sample_world.items, split)
    held_out = set()
    for part in ("validation", "test"):
        frame = examples.parts[part].to_pandas()
        held_out |= set(frame.loc[frame["example_type"] == "image", "item_id"])
        assert frame.loc[frame["example_type"] == "impression", "mask_image_category"].sum() == 0
    train = examples.parts["train"].to_pandas()
    labelled = train[(train["example_type"] == "impression") & (train["mask_image_category"] == 1)]
    assert len(held_out) > 100 and len(labelled) > 1_000
    assert not set(labelled["item_id"]) & held_out


def test_explicit_queries_join_training(tiny_events, tiny_items):
    queries = pd.DataFrame({"query": ["不粘锅"], "category": ["Home > Kitchen"]})
    examples = build_examples(tiny_events, tiny_items, _all_train(tiny_events), queries=queries)
    frame = examples.parts["train"].to_pandas()
    row = frame[frame["query"] == "不粘锅"].iloc[0]
    assert row["label_query_category"] == "Home > Kitchen" and row["mask_query_category"] == 1.0
    assert examples.report.counts["train"]["query"] == 3


def test_unknown_item_clicks_are_counted_not_targets(tiny_events, tiny_items):
    events = pd.concat([tiny_events, pd.DataFrame(
        [("u2", 400, "click", "zzz", "", "s9", 0)], columns=tiny_events.columns)], ignore_index=True)
    examples = build_examples(events, tiny_items, _all_train(events))
    assert examples.report.skipped["clicks on items outside the catalogue (no next_item target)"] == 1
    assert examples.report.counts["train"]["next_item"] == 3


@pytest.mark.parametrize("method", ["time", "leave_last_out"])
def test_no_event_at_or_after_an_example_reaches_its_history(sample_world, method):
    events = sample_world.events
    split = split_events(events, SplitConfig(method=method))
    examples = build_examples(events, sample_world.items, split, history_length=20)
    checked = check_histories({part: examples.parts[part].to_pandas() for part in PARTS}, events, 20)
    assert checked > 500


def test_ratings_label_their_impressions(tiny_events, tiny_items):
    events = tiny_events.assign(rating=np.nan)
    events.loc[(events["event_type"] == "impression") & (events["item_id"] == "a"), "rating"] = 4.5
    frame = build_examples(events, tiny_items, _all_train(events)).parts["train"].to_pandas()
    impressions = frame[frame["example_type"] == "impression"]
    rated = impressions[impressions["mask_rating"] == 1.0]
    assert sorted(rated["item_id"]) == ["a", "a"] and (rated["label_rating"] == 4.5).all()
    assert (frame.loc[frame["example_type"] != "impression", "mask_rating"] == 0).all()


def test_a_random_split_builds_histories_from_training_events_only(tiny_events, tiny_items):
    from mtrec_tf.data.splits import EventSplit

    # The click on a at 105 is held out: u1's later examples must not see it.
    part = np.where((tiny_events["timestamp"] == 105).to_numpy(), 2, 0).astype(np.int8)
    frame = build_examples(tiny_events, tiny_items, EventSplit(part, "random")).parts["train"].to_pandas()
    click_b = frame[(frame["example_type"] == "next_item") & (frame["label_next_item"] == "b")].iloc[0]
    assert list(click_b["history_event_types"]) == ["add_to_cart", "purchase"]


def test_a_task_label_that_is_a_column_of_the_events_labels_the_examples_of_its_events(tiny_events, tiny_items):
    from mtrec_tf.config import TaskConfig

    tasks = (TaskConfig("dwell", "regression", "dwell_seconds", ("user", "item")),
             TaskConfig("device", "multiclass", "device", ("user",)),
             TaskConfig("ctr", "binary", "ctr", ("user", "item")))
    columns = label_columns(tasks)
    assert set(columns) == {"rating", "dwell_seconds", "device"}  # ctr is derived from the log
    events = tiny_events.assign(dwell_seconds=np.nan, device="")
    clicks = events["event_type"] == "click"
    events.loc[clicks, "dwell_seconds"] = [30.0, 12.5, np.nan]
    events.loc[events["event_type"] == "search", "device"] = ["ios", "", "web"]
    frame = build_examples(events, tiny_items, _all_train(events), columns=columns).parts["train"].to_pandas()
    dwell = frame[frame["mask_dwell_seconds"] == 1.0]
    assert dwell["example_type"].tolist() == ["next_item", "next_item"]
    assert dwell["label_dwell_seconds"].tolist() == [30.0, 12.5]
    device = frame[frame["mask_device"] == 1.0]
    assert device["label_device"].tolist() == ["ios"] and device["example_type"].tolist() == ["query"]
    assert "label_rating" not in frame  # a column the events lack is left out
