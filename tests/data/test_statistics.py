"""Training statistics: fitted on the training part only, saved and loaded unchanged."""

from __future__ import annotations

import numpy as np

from mtrec_tf.config import DataConfig
from mtrec_tf.data.examples import build_examples
from mtrec_tf.data.prepare import prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.data.splits import time_split
from mtrec_tf.data.statistics import DataStatistics, fit_statistics


def test_popularity_vocabulary_and_categories(tiny_events, tiny_items):
    split = time_split(tiny_events["timestamp"].to_numpy(), 0.0, 0.0)
    examples = build_examples(tiny_events, tiny_items, split)
    stats = fit_statistics(tiny_events, tiny_items, examples.parts["train"])
    assert stats.items == ("a", "b", "c")
    assert stats.item_popularity == (1, 1, 1)
    assert stats.categories == ("Electronics > Phones", "Home > Kitchen")
    assert stats.features["brand"].vocabulary == ("Apple", "Huawei")
    assert {"华", "phone", "pan", "tv"} <= set(stats.tokens)
    # Title tokens come first, query-only tokens after them.
    assert stats.tokens.index("tv") > stats.tokens.index("apple")
    assert np.isclose(stats.features["price"].mean, np.log1p([100.0, 300.0]).mean())


def test_save_and_load_round_trip(tmp_path, tiny_events, tiny_items):
    split = time_split(tiny_events["timestamp"].to_numpy(), 0.0, 0.0)
    stats = fit_statistics(tiny_events, tiny_items, build_examples(tiny_events, tiny_items, split).parts["train"])
    stats.save(tmp_path)
    assert DataStatistics.load(tmp_path) == stats
    assert (tmp_path / "tokens.txt").read_text(encoding="utf-8").splitlines()[0] == stats.tokens[0]


def test_nothing_from_validation_or_test_reaches_training(sample_world):
    """Changing every validation and test event leaves the training statistics unchanged."""
    config = DataConfig()
    data = load_data(sample_world.events, sample_world.items, sample_world.queries)
    baseline = prepare_data(data, config)
    later = baseline.split.part > 0
    assert later.sum() > 1_000

    events = data.events.copy()
    rare_item = events["item_id"][events["item_id"] != ""].value_counts().index[-1]
    events.loc[later & (events["event_type"] != "search"), "item_id"] = rare_item
    events.loc[later, "query"] = "leakedtoken 泄漏"
    events.loc[later & (events["event_type"] == "impression"), "event_type"] = "click"
    changed = prepare_data(load_data(events, data.items, data.queries), config)

    assert (changed.split.part == baseline.split.part).all()
    assert changed.statistics == baseline.statistics
    assert "leakedtoken" not in changed.statistics.tokens and "泄" not in changed.statistics.tokens
    train = changed.examples.parts["train"].to_pandas()
    assert not train["query"].str.contains("leakedtoken").any()
