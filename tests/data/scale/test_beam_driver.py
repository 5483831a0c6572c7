"""The Beam driver on the DirectRunner gives the in-memory path's examples and statistics."""

from __future__ import annotations

import pytest
from driver_outputs import assert_written_as_in_memory, write_sample_tables, written_parts

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.data.scale.beam import write_examples_with_beam
from mtrec_tf.errors import DataValidationError

MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def tables(sample_world, tmp_path_factory):
    """The sample's events in three Parquet files, with its items and queries."""
    return write_sample_tables(sample_world, tmp_path_factory.mktemp("tables"), event_files=3)


def _config(tables, method, events=None):
    return load_config(None, [
        f"data.events={events or tables / 'events'}", f"data.items={tables / 'items.parquet'}",
        f"data.queries={tables / 'queries.parquet'}", f"data.split.method={method}", "data.history_length=20"])


@pytest.mark.parametrize("method, options", [("time", MULTI_PROCESS), ("random", IN_PROCESS),
                                             ("leave_last_out", IN_PROCESS)])
def test_the_beam_driver_writes_the_in_memory_examples_and_statistics(tables, tmp_path, method, options):
    config = _config(tables, method)
    memory = write_prepared(prepare_configured(config), tmp_path / "memory")
    beam = write_examples_with_beam(config, tmp_path / "beam", pipeline_args=options, buckets=4,
                                    rows_per_chunk=10_000)

    assert_written_as_in_memory(beam, tmp_path / "beam", memory, tmp_path / "memory")
    assert beam["driver"]["runner"] == "DirectRunner" and beam["driver"]["buckets"] == 4
    assert not (tmp_path / "beam" / ".beam").exists()


def test_no_event_at_or_after_an_example_reaches_its_history(tables, sample_world, tmp_path, history_check):
    write_examples_with_beam(_config(tables, "time"), tmp_path, pipeline_args=IN_PROCESS, buckets=3)
    assert history_check(written_parts(tmp_path), sample_world.events, 20) > 500


def test_a_bad_row_fails_the_pipeline_naming_its_file_and_row(tables, sample_world, tmp_path):
    events = sample_world.events.head(500).copy()
    events["timestamp"] = events["timestamp"].astype(str)
    events.loc[321, "timestamp"] = "yesterday"
    events.to_parquet(tmp_path / "events.parquet")
    with pytest.raises(DataValidationError, match=r"events\.parquet row 322, column 'timestamp'"):
        write_examples_with_beam(_config(tables, "time", tmp_path / "events.parquet"), tmp_path / "out",
                                 pipeline_args=IN_PROCESS, rows_per_chunk=100)
