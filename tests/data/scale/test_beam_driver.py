"""The Beam driver on the DirectRunner gives the in-memory path's examples and statistics."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.data.scale.beam import write_examples_with_beam
from mtrec_tf.data.splits import PARTS
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.errors import DataValidationError

pytest.importorskip("apache_beam", reason="the beam extra is not installed (pip install -e '.[beam]')")

MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def tables(sample_world, tmp_path_factory):
    """The sample's events in three Parquet files, with its items and queries."""
    folder = tmp_path_factory.mktemp("tables")
    (folder / "events").mkdir()
    events = sample_world.events
    third = len(events) // 3
    for index, start in enumerate(range(0, len(events), third + 1)):
        events.iloc[start:start + third + 1].to_parquet(folder / "events" / f"part-{index}.parquet")
    sample_world.items.to_parquet(folder / "items.parquet")
    sample_world.queries.to_parquet(folder / "queries.parquet")
    return folder


def _config(tables, method, events=None):
    return load_config(None, [
        f"data.events={events or tables / 'events'}", f"data.items={tables / 'items.parquet'}",
        f"data.queries={tables / 'queries.parquet'}", f"data.split.method={method}", "data.history_length=20"])


@pytest.mark.parametrize("method, options", [("time", MULTI_PROCESS), ("random", IN_PROCESS),
                                             ("leave_last_out", IN_PROCESS)])
def test_the_beam_driver_writes_the_in_memory_examples_and_statistics(tables, tmp_path, method, options, parts_of,
                                                                       fixed_order):
    config = _config(tables, method)
    memory = write_prepared(prepare_configured(config), tmp_path / "memory")
    beam = write_examples_with_beam(config, tmp_path / "beam", pipeline_args=options, buckets=4,
                                    rows_per_chunk=10_000)

    for key in ("split", "examples", "skipped", "labels", "tables", "unknown_item_events"):
        assert beam[key] == memory[key], key
    assert beam["driver"]["runner"] == "DirectRunner" and beam["driver"]["buckets"] == 4
    assert not (tmp_path / "beam" / ".beam").exists()
    expected, built = parts_of(tmp_path / "memory"), parts_of(tmp_path / "beam")
    for part in PARTS:
        pd.testing.assert_frame_equal(fixed_order(built[part]), fixed_order(expected[part]))
    fitted = DataStatistics.load(tmp_path / "memory" / "vocab")
    combined = DataStatistics.load(tmp_path / "beam" / "vocab")
    for field in dataclasses.fields(DataStatistics):
        if field.name.startswith("time_gap_log_"):
            assert getattr(combined, field.name) == pytest.approx(getattr(fitted, field.name), rel=1e-12)
        else:
            assert getattr(combined, field.name) == getattr(fitted, field.name), field.name


def test_no_event_at_or_after_an_example_reaches_its_history(tables, sample_world, tmp_path, history_check,
                                                               parts_of):
    write_examples_with_beam(_config(tables, "time"), tmp_path, pipeline_args=IN_PROCESS, buckets=3)
    assert history_check(parts_of(tmp_path), sample_world.events, 20) > 500


def test_a_bad_row_fails_the_pipeline_naming_its_file_and_row(tables, sample_world, tmp_path):
    events = sample_world.events.head(500).copy()
    events["timestamp"] = events["timestamp"].astype(str)
    events.loc[321, "timestamp"] = "yesterday"
    events.to_parquet(tmp_path / "events.parquet")
    with pytest.raises(DataValidationError, match=r"events\.parquet row 322, column 'timestamp'"):
        write_examples_with_beam(_config(tables, "time", tmp_path / "events.parquet"), tmp_path / "out",
                                 pipeline_args=IN_PROCESS, rows_per_chunk=100)
