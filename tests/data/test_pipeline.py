"""The tf.data pipeline: same batches from a table, TFRecord shards and Parquet shards."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mtrec_tf.data.examples import DERIVED_LABELS, build_examples
from mtrec_tf.data.pipeline import make_dataset, output_signature, table_to_arrays, write_shards
from mtrec_tf.data.splits import time_split


@pytest.fixture
def tiny_table(tiny_events, tiny_items):
    split = time_split(tiny_events["timestamp"].to_numpy(), 0.0, 0.0)
    return build_examples(tiny_events, tiny_items, split).parts["train"]


def _rows(dataset) -> list[tuple]:
    """Every example of a dataset as a hashable tuple, in the order produced."""
    rows = []
    for features, labels, masks in dataset:
        n = features["user_id"].shape[0]
        for i in range(n):
            rows.append((
                features["example_type"][i].numpy(), features["timestamp"][i].numpy(),
                features["item_id"][i].numpy(), tuple(features["history_item_ids"][i].numpy()),
                tuple(np.round(features["history_time_gaps"][i].numpy(), 3)),
                labels["next_item"][i].numpy(), float(labels["ctr"][i]), float(masks["cvr"][i]),
            ))
    return rows


@pytest.mark.parametrize("fmt", ["tfrecord", "parquet"])
def test_shards_give_the_same_examples_as_the_table(tmp_path, tiny_table, fmt):
    paths = write_shards(tiny_table, tmp_path, fmt, examples_per_shard=4)
    assert len(paths) == 4 and all(p.exists() for p in paths)
    assert not list(tmp_path.glob(".*.tmp"))
    from_table = _rows(make_dataset(tiny_table, batch_size=5, history_length=3))
    from_shards = _rows(make_dataset(paths, batch_size=5, history_length=3))
    assert len(from_table) == tiny_table.num_rows
    assert sorted(from_shards) == sorted(from_table)


def test_batches_match_the_output_signature(tiny_table):
    dataset = make_dataset(tiny_table, batch_size=4, history_length=3)
    features, labels, masks = next(iter(dataset))
    spec_features, spec_labels, spec_masks = output_signature(3, tiny_table.schema)
    for got, spec in ((features, spec_features), (labels, spec_labels), (masks, spec_masks)):
        assert set(got) == set(spec)
        for name, tensor in got.items():
            assert tensor.dtype == spec[name].dtype, name
            assert spec[name].shape.is_compatible_with(tensor.shape), name
    assert set(masks) == set(DERIVED_LABELS)


def test_histories_are_cut_to_the_last_events_and_padded(tiny_table):
    arrays = table_to_arrays(tiny_table, history_length=2)
    types = arrays["history_event_types"]
    gaps = arrays["history_time_gaps"]
    assert types.shape == (tiny_table.num_rows, 2)
    row = np.flatnonzero(arrays["label_next_item"] == "b")[0]
    assert list(types[row]) == ["add_to_cart", "purchase"]
    assert list(gaps[row]) == [95.0, 85.0]
    empty = np.flatnonzero(arrays["label_next_item"] == "a")[0]
    assert list(types[empty]) == ["", ""] and list(gaps[empty]) == [0.0, 0.0]


def test_shuffled_repeated_dataset_keeps_every_example(tmp_path, tiny_table):
    paths = write_shards(tiny_table, tmp_path, "tfrecord", examples_per_shard=5)
    dataset = make_dataset(paths, batch_size=3, history_length=3, shuffle_buffer=100, seed=1, repeat=True)
    rows = _rows(dataset.take(2 * -(-tiny_table.num_rows // 3) + 5))
    assert set(rows) == set(_rows(make_dataset(tiny_table, batch_size=3, history_length=3)))


def test_length_sorted_batches_hold_about_one_history_length_each(tmp_path, tiny_table):
    table = pa.concat_tables([tiny_table] * 8)

    def batches(window):
        return make_dataset(table, batch_size=4, history_length=3, shuffle_buffer=1, seed=2,
                            length_sorted_batches=window)

    def lengths(dataset):
        return [(features["history_item_ids"].numpy() != b"").sum(axis=1) for features, _, _ in dataset]

    sorted_lengths, uniform_lengths = lengths(batches(3)), lengths(batches(0))
    assert len({tuple(b) for b in sorted_lengths}) > 1  # not one length throughout
    assert sorted(_rows(batches(3))) == sorted(_rows(batches(0)))  # every example, once
    assert all(np.all(np.diff(b) >= 0) for b in sorted_lengths)  # a slice of a sorted window
    spread = [np.mean([b.max() - b.min() for b in found]) for found in (sorted_lengths, uniform_lengths)]
    assert spread[0] < 0.5 * spread[1], spread
    assert _rows(batches(3)) == _rows(batches(3))  # the seed fixes the order
    assert _rows(batches(3)) != _rows(make_dataset(table, batch_size=4, history_length=3, shuffle_buffer=1,
                                                   seed=3, length_sorted_batches=3))
    paths = write_shards(tiny_table, tmp_path, "parquet", examples_per_shard=5)
    with pytest.raises(ValueError, match="sort an in-memory table of examples, not shard files"):
        make_dataset(paths, batch_size=4, history_length=3, length_sorted_batches=3)


def test_example_type_batches_hold_one_type_each_but_at_a_groups_edge(tmp_path, tiny_table):
    table = pa.concat_tables([tiny_table] * 8)
    types_in_table = len(set(table.column("example_type").to_pylist()))
    assert types_in_table >= 3

    def batches(window, length_sorted=0):
        return make_dataset(table, batch_size=4, history_length=3, shuffle_buffer=1, seed=2,
                            example_type_batches=window, length_sorted_batches=length_sorted)

    def types(dataset):
        return [features["example_type"].numpy() for features, _, _ in dataset]

    grouped, mixed = types(batches(5)), types(batches(0))
    assert sorted(_rows(batches(5))) == sorted(_rows(batches(0)))  # every example, once
    assert len(grouped) == len(mixed) == -(-table.num_rows // 4)  # as many batches as uniform batching
    windows = -(-len(grouped) // 5)
    mixed_batches = sum(len(set(b)) > 1 for b in grouped)
    assert mixed_batches <= windows * (types_in_table - 1)  # only where one type's group ends in a window
    assert mixed_batches < sum(len(set(b)) > 1 for b in mixed)
    assert _rows(batches(5)) != _rows(make_dataset(table, batch_size=4, history_length=3, shuffle_buffer=1,
                                                   seed=3, example_type_batches=5))
    # With length sorting too, a batch of one type holds its histories in length order.
    for features, _, _ in batches(5, length_sorted=2):
        kinds = features["example_type"].numpy()
        if len(set(kinds)) == 1:
            lengths = (features["history_item_ids"].numpy() != b"").sum(axis=1)
            assert np.all(np.diff(lengths) >= 0)
    paths = write_shards(tiny_table, tmp_path, "parquet", examples_per_shard=5)
    with pytest.raises(ValueError, match="example_type_batches sort an in-memory table of examples"):
        make_dataset(paths, batch_size=4, history_length=3, example_type_batches=3)


def test_bad_arguments_are_named(tmp_path, tiny_table):
    with pytest.raises(ValueError, match="fmt must be one of"):
        write_shards(tiny_table, tmp_path, "csv")
    with pytest.raises(ValueError, match="no shard files"):
        make_dataset([], batch_size=2, history_length=2)
    with pytest.raises(ValueError, match="must all be .tfrecord or all .parquet"):
        make_dataset([tmp_path / "a.tfrecord", tmp_path / "b.parquet"], batch_size=2, history_length=2)


@pytest.mark.parametrize("fmt", ["tfrecord", "parquet"])
def test_label_columns_of_the_shop_travel_through_shards(tmp_path, tiny_events, tiny_items, fmt):
    import pyarrow as pa

    events = tiny_events.assign(dwell=np.where(tiny_events["event_type"] == "click", 9.5, np.nan))
    split = time_split(events["timestamp"].to_numpy(), 0.0, 0.0)
    table = build_examples(events, tiny_items, split, columns={"dwell": pa.float32()}).parts["train"]
    paths = write_shards(table, tmp_path, fmt, examples_per_shard=5)
    for source in (table, paths):
        _, labels, masks = next(iter(make_dataset(source, batch_size=100, history_length=3)))
        assert set(labels) == set(DERIVED_LABELS) | {"dwell"}
        assert float(masks["dwell"].numpy().sum()) == 3
        assert set(labels["dwell"].numpy()[masks["dwell"].numpy() > 0]) == {9.5}
