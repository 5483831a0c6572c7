"""All-position training's examples: one per stretch of each user's history, every click kept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mtrec_tf.data.positions import select_position_examples


def _rows(table, label="next_item"):
    mask = table.column(f"mask_{label}").to_numpy() > 0
    columns = ("user_id", "timestamp", f"label_{label}", "history_item_ids", "history_event_types",
               "history_time_gaps")
    values = {name: table.column(name).to_pylist() for name in columns}
    return [tuple(values[name][i] for name in columns) for i in np.flatnonzero(mask)]


def test_every_click_is_trained_once_by_the_kept_histories(tiny_prepared):
    train = tiny_prepared.examples.parts["train"]
    selection = select_position_examples(train, "next_item")
    kept, examples = _rows(selection.table), _rows(train)
    assert selection.examples == len(examples) and selection.histories == len(kept)
    assert len(kept) < len(examples) / 2  # the sample's users click many times
    # What the kept rows train: each click step after the first of a history, and the row's label.
    trained = []
    for user, time, label, items, types, gaps in kept:
        trained += [(user, time - gap, item) for item, kind, gap in zip(items[1:], types[1:], gaps[1:])
                    if kind == "click"]
        trained.append((user, time, label))
    with_history = [(user, time, label) for user, time, label, items, _, _ in examples if items]
    assert sorted(trained) == sorted(with_history)  # each click with events before it, once
    assert selection.without_history == len(examples) - len(with_history) > 0
    assert "first clicks with nothing before them train no step" in selection.line()


def test_examples_of_the_other_tasks_are_left_as_they_are(tiny_prepared):
    train = tiny_prepared.examples.parts["train"]
    others = ("ctr", "query_category", "image_category")
    selection = select_position_examples(train, "next_item", others)
    for label in others:
        assert pc.sum(selection.table.column(f"mask_{label}")).as_py() == pc.sum(train.column(f"mask_{label}")).as_py()
    other = (train.column("mask_next_item").to_numpy() == 0).sum()
    assert selection.table.num_rows == other + selection.histories
    # Alone, next_item reads its kept examples only.
    assert select_position_examples(train, "next_item").table.num_rows == selection.histories


def test_a_click_of_the_same_second_as_the_event_before_it_keeps_an_example_of_its_own():
    # One user: clicks a (t=10), b and c (both t=20), d (t=30). A click's history holds the
    # events strictly before it, so no step of d's history trains c (its step follows b's,
    # of the same second): c keeps its example, b (after a) is trained by d's history.
    events = [("a", 10), ("b", 20), ("c", 20), ("d", 30)]

    def row(item, time):
        before = [(i, t) for i, t in events if t < time]
        return {"user_id": "u", "timestamp": time, "label_next_item": item, "mask_next_item": 1.0,
                "history_item_ids": [i for i, _ in before], "history_event_types": ["click"] * len(before),
                "history_time_gaps": [float(time - t) for _, t in before]}

    rows = [row(item, time) for item, time in events]
    table = pa.table({name: [r[name] for r in rows] for name in rows[0]})
    selection = select_position_examples(table, "next_item")
    kept = selection.table.column("label_next_item").to_pylist()
    assert kept == ["c", "d"] and selection.without_history == 1  # a: the user's first click
