"""`UrlPath` behaves as `pathlib.Path` where the readers and writers use it, on a URL."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtrec_tf.url_path import UrlPath, path_of, readable


@pytest.fixture
def folder() -> UrlPath:
    folder = path_of(f"ram://{uuid.uuid4().hex}/logs/")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_names_parts_and_joins_as_a_path():
    path = path_of("gs://shop-logs/events/part-00001.parquet")
    assert isinstance(path, UrlPath) and isinstance(path_of("logs/events.csv"), Path)
    assert (path.name, path.suffix, str(path.parent)) == ("part-00001.parquet", ".parquet", "gs://shop-logs/events")
    assert path.parent / "part-00001.parquet" == path and str(path_of("gs://shop-logs/")) == "gs://shop-logs"
    assert sorted([path, path.parent / "part-00000.parquet"])[0].name == "part-00000.parquet"
    assert len({path, path_of(str(path))}) == 1


def test_lists_reads_and_writes_files(folder):
    (folder / "b.csv").write_text("user_id\nu1\n")
    (folder / "a.jsonl").write_bytes(b'{"user_id": "u1"}\n')
    (folder / "sub").mkdir()
    assert [p.name for p in folder.iterdir()] == ["a.jsonl", "b.csv", "sub"]
    assert [p.name for p in folder.glob("*.csv")] == ["b.csv"]
    assert (folder / "b.csv").is_file() and not (folder / "b.csv").is_dir() and (folder / "sub").is_dir()
    assert not (folder / "c.csv").exists()
    assert (folder / "b.csv").read_text() == "user_id\nu1\n" and (folder / "b.csv").stat().st_size == 11
    with (folder / "a.jsonl").open("rb") as handle:
        assert handle.read(1) == b"{"


def test_pyarrow_reads_row_groups_of_a_parquet_file_under_a_url(folder):
    table = pa.table({"timestamp": list(range(1_000)), "user_id": [f"u{i % 7}" for i in range(1_000)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=100)
    (folder / "events.parquet").write_bytes(buffer.getvalue())
    with readable(folder / "events.parquet") as source:
        parquet = pq.ParquetFile(source)
        assert parquet.num_row_groups == 10
        assert parquet.read_row_group(7).equals(table.slice(700, 100))
        assert parquet.read_row_group(2).equals(table.slice(200, 100))


def test_opens_only_to_read_or_write_bytes(folder):
    with pytest.raises(ValueError, match="'rb' or 'wb'"):
        (folder / "a.csv").open("r")
    with pytest.raises(ValueError, match="not a URL"):
        UrlPath("logs/a.csv")
