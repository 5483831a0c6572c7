"""Tests for mtrec_tf.data.inspect on a tiny hand-made dataset."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mtrec_tf.data.inspect import format_report, inspect_data
from mtrec_tf.data.readers import EcommerceData, load_data

DAY = 86_400
START = 1_704_067_200  # 2024-01-01T00:00:00Z


@pytest.fixture()
def data() -> EcommerceData:
    events = pd.DataFrame(
        [
            ("u1", START, "search", "", "red dress"),
            ("u1", START + 60, "impression", "i1", "red dress"),
            ("u1", START + 120, "click", "i1", "red dress"),
            ("u1", START + 180, "add_to_cart", "i1", ""),
            ("u2", START + 3600, "click", "i3", ""),
            ("u2", START + 7200, "purchase", "i3", ""),
            ("u3", START + DAY, "click", "ghost", ""),
            ("u3", START + DAY, "search", "", "shirt"),
            ("u3", START + 2 * DAY, "impression", "i2", ""),
        ],
        columns=["user_id", "timestamp", "event_type", "item_id", "query"],
    )
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4", "i5"],
            "title": ["Red dress", "Blue dress", "Shirt", "", "Sandals"],
            "category": ["Women > Dresses", "Women > Dresses", "Men > Shirts", "Shoes", ""],
        }
    )
    queries = pd.DataFrame({"query": ["red dress", "shirt"], "category": ["Dresses", "Shirts"]})
    return load_data(events, items, queries, bad_rows="skip")


def test_counts_equal_hand_computed_values(data: EcommerceData) -> None:
    report = inspect_data(data)
    assert report["rows"] == {"events": 9, "items": 4, "queries": 2}
    assert report["time_range"] == {
        "first": "2024-01-01T00:00:00Z",
        "last": "2024-01-03T00:00:00Z",
        "days": 2.0,
    }
    assert report["event_types"] == {"search": 2, "impression": 2, "click": 3, "add_to_cart": 1, "purchase": 1}
    assert report["users"] == 3
    assert report["items"] == {"catalogue": 4, "with_events": 3, "with_behaviour": 2, "with_title": 3,
                               "with_image": 0}
    assert report["interactions"] == 5
    assert report["user_item_pairs"] == 2  # (u1, i1), (u2, i3); the click on "ghost" is not in the catalogue
    assert report["sparsity"] == pytest.approx(1 - 2 / (3 * 4))
    assert report["queries"] == {"labelled": 2, "distinct_searched": 2}
    assert report["unknown_item_events"] == {"count": 1, "policy": "keep"}


def test_category_distribution(data: EcommerceData) -> None:
    categories = inspect_data(data)["categories"]
    assert categories["catalogue"] == {"Dresses": 2, "Shirts": 1, "Shoes": 1}
    assert list(categories["catalogue"]) == ["Dresses", "Shirts", "Shoes"]
    assert categories["events"] == {"Dresses": 4, "Shirts": 2}


def test_data_quality_lists_each_table(data: EcommerceData) -> None:
    quality = inspect_data(data)["data_quality"]
    assert [table["kind"] for table in quality] == ["events", "items", "queries"]
    assert quality[1]["dropped"] == {"empty category": 1}
    assert (quality[1]["rows_read"], quality[1]["rows_kept"]) == (5, 4)


def test_format_report_mentions_each_section(data: EcommerceData) -> None:
    text = format_report(inspect_data(data))
    headings = ("Tables", "Time range", "Event types", "Users and items", "Categories", "Queries", "Data quality")
    for heading in headings:
        assert f"\n{heading}" in "\n" + text
    assert "2024-01-01T00:00:00Z to 2024-01-03T00:00:00Z" in text
    assert "sparsity                       0.833333" in text
    assert "dropped           1  empty category" in text
    assert "items with a title             3" in text
    assert "unknown-item events: 1 (kept as out-of-vocabulary)" in text


def test_a_report_on_no_events() -> None:
    # load_data refuses an empty events table; a report is still made of one built directly.
    items = pd.DataFrame({"item_id": ["i1"], "title": ["Cup"], "category": ["Home"]})
    clean = load_data(pd.DataFrame({"user_id": ["u"], "timestamp": [1], "event_type": ["search"],
                                    "item_id": [""], "query": ["cup"]}), items)
    data = dataclasses.replace(clean, events=clean.events.iloc[:0])
    report = inspect_data(data)
    assert report["time_range"] is None and report["sparsity"] is None
    assert "(no events)" in format_report(report)
