"""Reading back what a driver wrote, for comparing drivers row for row."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtrec_tf.data.splits import PARTS


def written_parts(folder) -> dict[str, pd.DataFrame]:
    """Each part's examples, from every shard a driver wrote into `folder`."""
    return {part: pa.concat_tables([pq.read_table(path) for path in sorted((folder / part).iterdir())]).to_pandas()
            for part in PARTS}


def in_fixed_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Examples sorted by every column but the histories (equal keys have equal histories)."""
    keys = [name for name in frame.columns if not name.startswith("history_")]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture
def parts_of():
    return written_parts


@pytest.fixture
def fixed_order():
    return in_fixed_order
