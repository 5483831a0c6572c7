"""The local driver gives the in-memory path's examples and statistics, bucket by bucket."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from driver_outputs import assert_written_as_in_memory, write_sample_tables, written_parts

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.data.scale.local import write_examples_locally
from mtrec_tf.data.splits import event_numbers
from mtrec_tf.data.statistics import DataStatistics

FEATURES = """\
features:
  title: {table: items, kind: text}
  category: {table: items, kind: categorical}
  price: {table: items, kind: numeric, transform: log}
  image: {table: items, kind: image}
  hour: {table: events, column: hour_of_day, kind: categorical}
"""


@pytest.fixture(scope="module")
def tables(sample_world, tmp_path_factory):
    """The sample's events in two Parquet files, with its items and queries."""
    folder = write_sample_tables(sample_world, tmp_path_factory.mktemp("tables"), event_files=2)
    (folder / "config.yaml").write_text(FEATURES, encoding="utf-8")
    return folder


def _config(tables, method):
    return load_config(tables / "config.yaml", [
        f"data.events={tables / 'events'}", f"data.items={tables / 'items.parquet'}",
        f"data.queries={tables / 'queries.parquet'}", f"data.split.method={method}", "data.history_length=20"])


@pytest.mark.parametrize("method", ["time", "random", "leave_last_out"])
def test_the_local_driver_writes_the_in_memory_examples_and_statistics(tables, tmp_path, method):
    config = _config(tables, method)
    memory = write_prepared(prepare_configured(config), tmp_path / "memory")
    local = write_examples_locally(config, tmp_path / "local", buckets=5, rows_per_chunk=10_000)

    assert_written_as_in_memory(local, tmp_path / "local", memory, tmp_path / "memory")
    assert local["driver"] == {"runner": "local", "buckets": 5}
    assert not [path for path in (tmp_path / "local").iterdir() if path.name.startswith(".")]
    combined = DataStatistics.load(tmp_path / "local" / "vocab")
    assert combined.features["hour"].vocabulary and combined.features["hour"].rows == memory["split"]["events"]["train"]


@pytest.mark.parametrize("method", ["time", "leave_last_out"])
def test_no_event_at_or_after_an_example_reaches_its_history(tables, sample_world, tmp_path, method, history_check):
    write_examples_locally(_config(tables, method), tmp_path, buckets=3, rows_per_chunk=25_000)
    assert history_check(written_parts(tmp_path), sample_world.events, 20) > 500


def test_every_event_is_in_its_users_bucket_and_none_is_lost(tables, tmp_path, monkeypatch):
    import mtrec_tf.data.scale.local as local

    kept = {}

    class KeptStore(local.BucketStore):
        def __init__(self, directory, buckets):
            super().__init__(directory, buckets)
            kept["store"] = self

    monkeypatch.setattr(local, "BucketStore", KeptStore)
    monkeypatch.setattr(local.shutil, "rmtree", lambda *args, **kwargs: None)
    write_examples_locally(_config(tables, "time"), tmp_path, buckets=6, rows_per_chunk=10_000)
    store = kept["store"]
    frames = [store.read(bucket) for bucket in range(6)]
    users = [set(frame["user_id"]) for frame in frames if frame is not None]
    assert len(users) == 6 and sum(map(len, users)) == len(set().union(*users))
    numbers = np.concatenate([frame["event_number"].to_numpy() for frame in frames if frame is not None])
    files = sorted((tables / "events").iterdir())
    expected = [event_numbers(index, np.arange(pq.ParquetFile(path).metadata.num_rows))
                for index, path in enumerate(files)]
    assert np.array_equal(np.sort(numbers), np.concatenate(expected))
    for frame in frames:
        assert frame is not None and (np.diff(frame["event_number"].to_numpy()) > 0).all()  # log order


def test_a_catalogue_without_images_and_no_queries_adds_no_catalogue_examples(sample_world, tmp_path):
    events = sample_world.events
    events[events["event_type"].isin(["click", "purchase"])].drop(columns=["query"]).to_parquet(
        tmp_path / "events.parquet")
    sample_world.items[["item_id", "category"]].to_parquet(tmp_path / "items.parquet")
    config = load_config(None, [f"data.events={tmp_path / 'events.parquet'}",
                                f"data.items={tmp_path / 'items.parquet'}", "data.split.method=leave_last_out"])
    summary = write_examples_locally(config, tmp_path / "out", buckets=2)
    assert summary["examples"]["train"]["next_item"] > 0 and "image" not in summary["examples"]["train"]
    assert not any(name.startswith("catalogue") for names in summary["shards"].values() for name in names)
