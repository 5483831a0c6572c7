"""Tests for mtrec_tf.data.readers: formats, shards, timestamps, images, table discovery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data import schema
from mtrec_tf.data.readers import find_tables, load_data, read_table
from mtrec_tf.data.splits import event_numbers
from mtrec_tf.data.validation import DataValidationError

from image_files import png_bytes

EVENTS = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u3"],
        "timestamp": [1_700_000_000, 1_700_000_060, 1_700_000_120, 1_700_003_600],
        "event_type": ["search", "click", "purchase", "impression"],
        "item_id": ["", "i1", "i2", "i3"],
        "query": ["红色 连衣裙", "红色 连衣裙", "", "running shoes"],
        "session_id": ["s1", "s1", "s2", ""],
        "position": [-1, 3, -1, 0],
    }
)
ITEMS = pd.DataFrame(
    {
        "item_id": ["i1", "i2", "i3"],
        "title": ["Red dress 红色连衣裙", "Blue shirt", "Trail shoes"],
        "category": ["Women > Dresses", "Men > Shirts", "Shoes"],
        "brand": ["Acme", "", "Run"],
        "price": [19.9, np.nan, 79.0],
    }
)


def _normalised_events(frame: pd.DataFrame = EVENTS, files: tuple[int, ...] = (4,)) -> pd.DataFrame:
    """`frame` normalised, read from files of the given numbers of rows (numbered by file, then row)."""
    columns = schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL
    if "rating" not in frame.columns:
        frame = frame.assign(rating=np.nan)
    text = [name for name in columns if name not in ("timestamp", "position", "rating")]
    expected = frame[list(columns)].astype({name: "str" for name in text})
    numbers = np.concatenate([event_numbers(index, np.arange(rows)) for index, rows in enumerate(files)])
    return expected.astype({"timestamp": "int64", "position": "int64", "rating": "float64"}).reset_index(
        drop=True
    ).assign(event_number=numbers)


def _as_source_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a user's file would hold it: position empty when there is none."""
    text = frame.astype(str).replace("nan", "")
    if "position" in text.columns:
        text["position"] = text["position"].replace("-1", "")
    return text


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Writes `frame` in the format named by the path's extension."""
    if path.suffix == ".csv":
        _as_source_text(frame).to_csv(path, index=False)
    elif path.suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            for record in frame.to_dict("records"):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.pq", "events.jsonl", "events.json"])
def test_each_format_gives_the_normalised_frame(tmp_path: Path, name: str) -> None:
    frame, report = read_table(write_table(EVENTS, tmp_path / name), "events")
    pd.testing.assert_frame_equal(frame, _normalised_events())
    assert (report.rows_read, report.rows_kept, report.dropped, report.repaired) == (4, 4, {}, {})


def test_normalised_events_always_have_a_float_rating_column() -> None:
    frame, _ = read_table(EVENTS, "events")
    assert list(frame.columns) == list(schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL) + ["event_number"]
    assert frame["rating"].dtype == np.float64
    assert frame["rating"].isna().all()


RATED = EVENTS.assign(rating=[np.nan, 4.5, 5.0, 1.0])


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.jsonl"])
def test_ratings_round_trip_through_each_format(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if path.suffix == ".jsonl":  # a missing rating as JSON null, as users write it
        records = RATED.astype(object).where(RATED.notna(), None).to_dict("records")
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    else:
        write_table(RATED, path)
    frame, report = read_table(path, "events")
    pd.testing.assert_frame_equal(frame, _normalised_events(RATED))
    assert frame["rating"].tolist()[1:] == [4.5, 5.0, 1.0] and np.isnan(frame["rating"][0])
    assert report.repaired == {}


def test_integer_and_nullable_ratings_become_floats(tmp_path: Path) -> None:
    stars = EVENTS.assign(rating=pd.array([None, 4, 5, 1], dtype="Int64"))
    for source in (stars, write_table(stars, tmp_path / "events.parquet")):
        frame, _ = read_table(source, "events")
        assert frame["rating"].dtype == np.float64
        assert frame["rating"].tolist()[1:] == [4.0, 5.0, 1.0] and np.isnan(frame["rating"][0])


def test_dataframe_gives_the_normalised_frame() -> None:
    frame, report = read_table(_as_source_text(EVENTS), "events")
    pd.testing.assert_frame_equal(frame, _normalised_events())
    assert report.source == "DataFrame events"


def test_items_formats_agree(tmp_path: Path) -> None:
    paths = [write_table(ITEMS, tmp_path / f"items{ext}") for ext in (".csv", ".parquet", ".jsonl")]
    frames = [read_table(path, "items")[0] for path in paths]
    frames.append(read_table(ITEMS, "items")[0])
    for frame in frames:
        pd.testing.assert_frame_equal(frame, frames[0])
    assert list(frames[0].columns) == list(schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL)
    assert frames[0]["price"].dtype == np.float64 and np.isnan(frames[0]["price"][1])
    assert frames[0]["image"].tolist() == [None, None, None]


def test_folder_of_shards_in_mixed_formats(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    write_table(EVENTS.iloc[2:], folder / "part-2.jsonl")
    write_table(EVENTS.iloc[:1], folder / "part-0.csv")
    write_table(EVENTS.iloc[1:2], folder / "part-1.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / "README.md").write_text("not a table")
    frame, report = read_table(folder, "events")
    pd.testing.assert_frame_equal(frame, _normalised_events(files=(1, 1, 2)))
    assert (report.rows_read, report.rows_kept, report.source) == (4, 4, str(folder))


def test_list_of_files_is_one_table(tmp_path: Path) -> None:
    first = write_table(EVENTS.iloc[:2], tmp_path / "a.csv")
    second = write_table(EVENTS.iloc[2:], tmp_path / "b.parquet")
    frame, _ = read_table([first, second], "events")
    pd.testing.assert_frame_equal(frame, _normalised_events(files=(2, 2)))


def test_optional_columns_take_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,timestamp,event_type,item_id,query\nu1,1700000000,click,i1,\n")
    frame, _ = read_table(path, "events")
    assert frame.loc[0, "session_id"] == "" and frame.loc[0, "position"] == -1
    items_path = tmp_path / "items.csv"
    items_path.write_text("item_id,title,category\ni1,Cup,Home > Kitchen\n")
    items, _ = read_table(items_path, "items")
    assert items.loc[0, "brand"] == "" and np.isnan(items.loc[0, "price"]) and items.loc[0, "image"] is None


def test_iso_and_epoch_timestamps(tmp_path: Path) -> None:
    values = [
        "1700000000",
        "1700000000.9",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20",
        "2023-11-15T06:13:20+08:00",
        "2023-11-14 22:13:20.500000+00:00",
    ]
    frame = pd.DataFrame(
        {"user_id": "u", "timestamp": values, "event_type": "search", "item_id": "", "query": "q"}
    )
    path = write_table(frame, tmp_path / "events.csv")
    events, _ = read_table(path, "events")
    assert events["timestamp"].tolist() == [1_700_000_000] * len(values)
    assert events["timestamp"].dtype == np.int64


def test_typed_parquet_timestamps_and_ids(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "user_id": [7, 8],
            "timestamp": pd.to_datetime(
                ["2023-11-14T22:13:20", "2023-11-15T06:13:20+08:00"], utc=True, format="ISO8601"
            ),
            "event_type": ["click", "search"],
            "item_id": [101, None],
            "query": ["", "cups"],
            "position": [2.0, None],
        }
    )
    events, _ = read_table(write_table(frame, tmp_path / "events.parquet"), "events")
    assert events["user_id"].tolist() == ["7", "8"]
    assert events["item_id"].tolist() == ["101", ""]
    assert events["timestamp"].tolist() == [1_700_000_000, 1_700_000_000]
    assert events["position"].tolist() == [2, -1]
    naive = frame.assign(timestamp=pd.to_datetime(["2023-11-14T22:13:20", "2023-11-14T22:13:20"]))
    events, _ = read_table(naive, "events")
    assert events["timestamp"].tolist() == [1_700_000_000, 1_700_000_000]


def test_image_paths_resolved_relative_to_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    (folder / "images").mkdir(parents=True)
    png = png_bytes()
    (folder / "images" / "i1.png").write_bytes(png)
    (folder / "items.csv").write_text(
        "item_id,title,category,image\ni1,Cup,Home,images/i1.png\ni2,Mug,Home,\n", encoding="utf-8"
    )
    items, _ = read_table(folder / "items.csv", "items")
    assert items["image"].tolist() == [png, None]


def test_image_bytes_are_kept_as_they_are(tmp_path: Path) -> None:
    raw = png_bytes(colour=(1, 2, 3))
    frame = pd.DataFrame({"item_id": ["i1"], "title": ["Cup"], "category": ["Home"], "image": [raw]})
    items, _ = read_table(write_table(frame, tmp_path / "items.parquet"), "items")
    assert items.loc[0, "image"] == raw


def test_csv_with_utf8_bom_in_header(tmp_path: Path) -> None:
    path = tmp_path / "queries.csv"
    path.write_bytes("\ufeffquery,category\n红色 连衣裙,Dresses\n".encode("utf-8"))
    queries, report = read_table(path, "queries")
    assert list(queries.columns) == ["query", "category"]
    assert queries.loc[0, "query"] == "红色 连衣裙" and report.repaired == {}


def test_csv_with_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text('item_id,title,category\ni1,"Cup\nwith handle",Home\n\ni2,Mug,Home\n', encoding="utf-8")
    items, _ = read_table(path, "items")
    assert items["title"].tolist() == ["Cup\nwith handle", "Mug"]


def test_load_data_reads_all_tables(tmp_path: Path) -> None:
    queries = pd.DataFrame({"query": ["red dress"], "category": ["Dresses"]})
    data = load_data(
        write_table(EVENTS, tmp_path / "events.csv"),
        write_table(ITEMS, tmp_path / "items.parquet"),
        write_table(queries, tmp_path / "queries.jsonl"),
    )
    pd.testing.assert_frame_equal(data.events, _normalised_events())
    assert len(data.items) == 3 and data.queries is not None and len(data.queries) == 1
    assert [report.kind for report in data.reports] == ["events", "items", "queries"]
    assert data.unknown_item_events == 0 and data.unknown_items_policy == "keep"


def test_find_tables_by_name_columns_and_folders(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    (dataset / "items").mkdir(parents=True)
    (dataset / "truth").mkdir()
    (dataset / "images").mkdir()
    write_table(EVENTS, dataset / "events.csv")
    write_table(ITEMS.iloc[:2], dataset / "items" / "part-0.parquet")
    write_table(ITEMS.iloc[2:], dataset / "items" / "part-1.csv")
    write_table(EVENTS, dataset / "truth" / "events.csv")
    (dataset / "images" / "i1.png").write_bytes(b"png")
    (dataset / "README.md").write_text("about")
    labels = pd.DataFrame({"query": ["red dress"], "category": ["Dresses"]})
    extra = write_table(labels, tmp_path / "labels.jsonl")
    clicks = write_table(EVENTS, tmp_path / "clicks.parquet")
    tables = find_tables([dataset, extra, clicks])
    assert tables == {
        "events": sorted([dataset / "events.csv", clicks]),
        "items": [dataset / "items"],
        "queries": [extra],
    }
    data = load_data(tables["events"], tables["items"], tables["queries"])
    assert len(data.events) == 2 * len(EVENTS) and len(data.items) == len(ITEMS)


def test_find_tables_knows_an_items_table_without_titles_by_its_columns(tmp_path: Path) -> None:
    catalogue = write_table(pd.DataFrame({"item_id": ["i1"], "category": ["Toys"]}), tmp_path / "catalogue.csv")
    clicks = write_table(EVENTS.drop(columns=["query"]), tmp_path / "clicks.csv")
    assert find_tables([catalogue, clicks]) == {"events": [clicks], "items": [catalogue]}


def test_find_tables_rejects_an_unclassifiable_file(tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    path.write_text("user_id,age\nu1,30\n")
    with pytest.raises(DataValidationError, match=r"profiles\.csv: cannot tell which table.*user_id"):
        find_tables([path])


def test_find_tables_knows_a_users_table_by_its_name(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id,age\nu1,30\n")
    assert find_tables([path]) == {"users": [path]}
