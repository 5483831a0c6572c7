"""The events table read piece by piece: bad rows named by file and row, nothing else lost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data.membership import members
from mtrec_tf.data.scale.events import EventReading, EventStream
from mtrec_tf.errors import DataValidationError


def _events(count, start=0):
    return pd.DataFrame({
        "user_id": [f"u{i % 7}" for i in range(start, start + count)],
        "timestamp": np.arange(start, start + count, dtype=np.int64) + 1_700_000_000,
        "event_type": "click",
        "item_id": [f"i{i % 5}" for i in range(start, start + count)],
    })


@pytest.fixture
def files(tmp_path):
    first, second = _events(250), _events(120, start=250)
    first["timestamp"] = first["timestamp"].astype(str)
    first.loc[137, "timestamp"] = "not a time"  # data row 138 of the first file
    first.to_parquet(tmp_path / "a.parquet", row_group_size=50)
    second.to_csv(tmp_path / "b.csv", index=False)
    return [tmp_path / "a.parquet", tmp_path / "b.csv"]


def test_a_bad_row_in_a_later_piece_is_named_by_file_and_row(files):
    stream = EventStream(files, EventReading(members(f"i{i}" for i in range(5)), rows_per_chunk=50), "events")
    with pytest.raises(DataValidationError, match=r"a\.parquet row 138, column 'timestamp'"):
        list(stream)


def test_skipped_rows_are_counted_and_every_other_row_is_kept_and_numbered(files):
    catalogue = members(f"i{i}" for i in range(4))  # i4 is not in the catalogue
    stream = EventStream(files, EventReading(catalogue, bad_rows="skip", unknown_items="drop", rows_per_chunk=50),
                         "events")
    frames = [frame for frame, _ in stream]
    report = stream.finish()
    assert len(frames) == 6  # five pieces of the Parquet file, the CSV file whole
    kept = pd.concat(frames, ignore_index=True)
    unknown = sum(1 for i in range(370) if i % 5 == 4 and i != 137)
    assert report.rows_read == 370 and report.rows_kept == 370 - 1 - unknown == len(kept)
    assert sum(report.dropped.values()) == 1 + unknown
    assert "a.parquet row 138" in " ".join(report.examples)
    kept_rows = [i for i in range(370) if i % 5 != 4 and i != 137]
    numbers = [i if i < 250 else (1 << 40) + i - 250 for i in kept_rows]  # file, then row in the file
    assert kept["event_number"].tolist() == numbers
    assert not kept["item_id"].eq("i4").any()
