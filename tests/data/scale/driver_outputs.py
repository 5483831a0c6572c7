"""The sample shop as the table files the drivers read, and the check that a driver wrote what
the in-memory path writes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtrec_tf.data.splits import PARTS
from mtrec_tf.data.statistics import DataStatistics

# What a driver's summary must hold as the in-memory path's does (its `driver` is its own).
SAME_SUMMARY = ("split", "examples", "skipped", "labels", "tables", "unknown_item_events")


def write_sample_tables(world, folder, event_files: int):
    """The sample's events split in `event_files` Parquet files under `folder/events`, with its
    items and queries beside them; returns `folder`."""
    (folder / "events").mkdir()
    for index, rows in enumerate(np.array_split(np.arange(len(world.events)), event_files)):
        world.events.iloc[rows].to_parquet(folder / "events" / f"part-{index}.parquet")
    world.items.to_parquet(folder / "items.parquet")
    world.queries.to_parquet(folder / "queries.parquet")
    return folder


def written_parts(folder) -> dict[str, pd.DataFrame]:
    """Each part's examples, from every shard a driver wrote into `folder`."""
    return {part: pa.concat_tables([pq.read_table(path) for path in sorted((folder / part).iterdir())]).to_pandas()
            for part in PARTS}


def in_fixed_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Examples sorted by every column but the histories (equal keys have equal histories)."""
    keys = [name for name in frame.columns if not name.startswith("history_")]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_written_as_in_memory(summary: dict, folder, memory_summary: dict, memory_folder) -> None:
    """The summary, every part's examples (in a fixed order) and every statistic (the time-gap
    moments to 1e-12 relative, being sums in another order) equal the in-memory path's."""
    for key in SAME_SUMMARY:
        assert summary[key] == memory_summary[key], key
    expected, built = written_parts(memory_folder), written_parts(folder)
    for part in PARTS:
        pd.testing.assert_frame_equal(in_fixed_order(built[part]), in_fixed_order(expected[part]))
    fitted, combined = DataStatistics.load(memory_folder / "vocab"), DataStatistics.load(folder / "vocab")
    for field in dataclasses.fields(DataStatistics):
        if field.name.startswith("time_gap_log_"):
            assert getattr(combined, field.name) == pytest.approx(getattr(fitted, field.name), rel=1e-12)
        else:
            assert getattr(combined, field.name) == getattr(fitted, field.name), field.name
