"""Events grouped by user on disk: every user's events in one bucket, read back in log order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtrec_tf.data.splits import EVENT_NUMBER

# pandas' SipHash of the text with a fixed key: the same on every machine and in every process.
_HASH_KEY = "mtrec-tf-buckets"


def user_buckets(user_ids: np.ndarray | pd.Series, buckets: int) -> np.ndarray:
    """The bucket (0 to buckets - 1) of each user id; a function of the id alone."""
    values = np.asarray(user_ids, dtype=object)
    return (pd.util.hash_array(values, hash_key=_HASH_KEY, categorize=False) % np.uint64(buckets)).astype(np.int64)


def by_bucket(events: pd.DataFrame, buckets: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each bucket that holds some of `events`, with its rows of them in order."""
    bucket = user_buckets(events["user_id"].to_numpy(), buckets)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    for b in range(buckets):
        rows = order[bounds[b]:bounds[b + 1]]
        if len(rows):
            yield b, events.iloc[rows].reset_index(drop=True)


class BucketStore:
    """Pieces of the events table written into `directory/bucket-<b>/` as Parquet, one file per
    piece and bucket; a bucket reads back as one frame in the order the pieces were written."""

    def __init__(self, directory: str | os.PathLike, buckets: int):
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1; got {buckets}")
        self.directory = Path(directory)
        self.buckets = buckets
        self.pieces = 0

    def add(self, events: pd.DataFrame) -> None:
        """Writes each bucket's share of `events` (their rows in order)."""
        for bucket, share in by_bucket(events, self.buckets):
            folder = self.directory / f"bucket-{bucket:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pandas(share, preserve_index=False),
                           folder / f"piece-{self.pieces:06d}.parquet")
        self.pieces += 1

    def read(self, bucket: int) -> pd.DataFrame | None:
        """The bucket's events in log order; None for a bucket no event went to."""
        folder = self.directory / f"bucket-{bucket:05d}"
        files = sorted(folder.glob("piece-*.parquet")) if folder.is_dir() else []
        if not files:
            return None
        frames = [pq.read_table(path).to_pandas() for path in files]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def timestamps(self) -> Iterator[np.ndarray]:
        """Every event's timestamp, piece by piece (the timestamp column alone is read)."""
        for path in sorted(self.directory.glob("bucket-*/piece-*.parquet")):
            yield pq.read_table(path, columns=["timestamp"]).column("timestamp").to_numpy()

    def event_numbers(self, bucket: int) -> np.ndarray:
        """The event numbers in one bucket (for checks)."""
        frame = self.read(bucket)
        return np.zeros(0, dtype=np.int64) if frame is None else frame[EVENT_NUMBER].to_numpy()
