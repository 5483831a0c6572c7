"""Tests for mtrec_tf.data.validation: one per rule, skip mode and its report, unknown items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data.readers import load_data, read_table
from mtrec_tf.data.validation import DataValidationError, TableReport, validate_table

from image_files import png_bytes

EVENTS_HEADER = "user_id,timestamp,event_type,item_id,query,position\n"
ITEMS_HEADER = "item_id,title,category,price,image\n"
GOOD_EVENT = "u1,1700000000,click,i1,red dress,2\n"


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def events_csv(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path / "events.csv", EVENTS_HEADER + "".join(rows))


def items_csv(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path / "items.csv", ITEMS_HEADER + "".join(rows))


def test_error_is_a_value_error() -> None:
    assert issubclass(DataValidationError, ValueError)


def test_missing_required_column_names_file_column_and_found_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "user_id,event_type,item_id,query\nu1,click,i1,\n")
    with pytest.raises(
        DataValidationError,
        match=r"events\.csv: missing required column 'timestamp'.*found columns: 'user_id', 'event_type'",
    ):
        read_table(path, "events", bad_rows="skip")


def test_unparseable_timestamp(tmp_path: Path) -> None:
    path = events_csv(tmp_path, GOOD_EVENT, "u2,yesterday,click,i1,,\n")
    with pytest.raises(
        DataValidationError,
        match=r"events\.csv row 2 \(line 3\), column 'timestamp': "
        r"cannot parse 'yesterday' as epoch seconds or ISO-8601",
    ):
        read_table(path, "events")


def test_timestamp_in_milliseconds_is_out_of_range(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u2,1700000000000,click,i1,,\n")
    expected = r"row 1 \(line 2\), column 'timestamp': '1700000000000' is out of range"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "events")


def test_position_must_be_an_integer(tmp_path: Path) -> None:
    path = events_csv(tmp_path, GOOD_EVENT, GOOD_EVENT, "u2,1700000000,click,i1,,2.5\n")
    with pytest.raises(
        DataValidationError,
        match=r"events\.csv row 3 \(line 4\), column 'position': expected an integer, got '2\.5'",
    ):
        read_table(path, "events")


def test_price_must_be_a_number(tmp_path: Path) -> None:
    path = items_csv(tmp_path, "i1,Cup,Home,cheap,\n")
    with pytest.raises(
        DataValidationError,
        match=r"items\.csv row 1 \(line 2\), column 'price': expected a number, got 'cheap'",
    ):
        read_table(path, "items")


def test_rating_must_be_a_number(tmp_path: Path) -> None:
    header = "user_id,timestamp,event_type,item_id,query,rating\n"
    rows = "u1,1700000000,impression,i1,,4.5\n" + "u1,1700000001,impression,i2,,five\n"
    path = write(tmp_path / "events.csv", header + rows)
    with pytest.raises(
        DataValidationError,
        match=r"events\.csv row 2 \(line 3\), column 'rating': expected a number, got 'five'",
    ):
        read_table(path, "events")


RATED_LINE = (
    '{{"user_id": "u1", "timestamp": 1700000000, "event_type": "click", "item_id": "i1", '
    '"query": "", "rating": {}}}\n'
)


@pytest.mark.parametrize(
    ("value", "shown"), [('"five"', "'five'"), ("true", "True"), ('"2024-01-01"', "'2024-01-01'")]
)
def test_rating_type_error_in_json_lines_shows_the_value_as_written(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = write(tmp_path / "events.jsonl", RATED_LINE.format("3") + RATED_LINE.format(value))
    expected = rf"events\.jsonl row 2 \(line 2\), column 'rating': expected a number, got {shown}"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "events")


def test_skip_repairs_a_bad_rating_to_nan_and_counts_it() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "timestamp": [1, 2, 3],
            "event_type": ["impression"] * 3,
            "item_id": ["i1", "i2", "i3"],
            "query": "",
            "rating": ["4", "five", None],
        }
    )
    events, report = read_table(frame, "events", bad_rows="skip")
    assert events["user_id"].tolist() == ["u1", "u2", "u3"]
    assert events["rating"].dtype == np.float64
    assert events["rating"][0] == 4.0 and events["rating"][1:].isna().all()
    assert report.repaired == {"rating not a number": 1} and report.dropped == {}
    assert report.examples == ["DataFrame events row 2, column 'rating': expected a number, got 'five'"]


def test_unknown_event_type_names_value_and_allowed_ones(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u1,1700000000,view,i1,,\n")
    with pytest.raises(
        DataValidationError,
        match=r"row 1 \(line 2\), column 'event_type': unknown event_type 'view'; "
        r"expected one of search, impression, click, add_to_cart, purchase",
    ):
        read_table(path, "events")


def test_invalid_utf8_in_csv_names_row_line_and_byte_offset(tmp_path: Path) -> None:
    good = EVENTS_HEADER + GOOD_EVENT
    path = write(tmp_path / "events.csv", good.encode() + b"u2,1700000000,click,i1,caf\xe9,\n")
    offset = len(good.encode()) + len("u2,1700000000,click,i1,caf")
    with pytest.raises(
        DataValidationError,
        match=rf"events\.csv row 2 \(line 3\), column 'query': "
        rf"invalid UTF-8: byte 0xe9 at byte offset {offset}",
    ):
        read_table(path, "events")


def test_invalid_utf8_in_jsonl(tmp_path: Path) -> None:
    line = b'{"query": "caf\xff", "category": "Cafe"}\n'
    path = write(tmp_path / "queries.jsonl", b'{"query": "tea", "category": "Tea"}\n\n' + line)
    expected = r"queries\.jsonl row 2 \(line 3\), column 'query': invalid UTF-8: byte 0xff"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "queries")


def test_empty_user_id(tmp_path: Path) -> None:
    path = events_csv(tmp_path, GOOD_EVENT, ",1700000000,click,i1,,\n")
    with pytest.raises(DataValidationError, match=r"row 2 \(line 3\), column 'user_id': user_id is empty"):
        read_table(path, "events")


def test_empty_item_id_only_allowed_on_search(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u1,1700000000,search,,shoes,\n", "u1,1700000000,click,,shoes,\n")
    with pytest.raises(
        DataValidationError, match=r"row 2 \(line 3\), column 'item_id': item_id is empty on a 'click' event"
    ):
        read_table(path, "events")


@pytest.mark.parametrize(("row", "column"), [(",Cup,Home,,\n", "item_id"), ("i1,Cup,,,\n", "category")])
def test_empty_required_item_fields(tmp_path: Path, row: str, column: str) -> None:
    path = items_csv(tmp_path, "i0,Mug,Home,,\n", row)
    expected = rf"items\.csv row 2 \(line 3\), column '{column}': {column} is empty"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "items")


def test_titles_are_optional_empty_null_or_missing(tmp_path: Path) -> None:
    """Sequential data often has no titles: an empty or null title, or no title column, is fine."""
    items, report = read_table(items_csv(tmp_path, "i1,,Home,,\n", "i2,Cup,Home,,\n"), "items")
    assert items["title"].tolist() == ["", "Cup"] and report.dropped == {} and report.repaired == {}
    frame = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "title": [None, np.nan, "Mug"], "category": ["Home"] * 3})
    items, report = validate_table(frame, "items", source="DataFrame items")
    assert items["title"].tolist() == ["", "", "Mug"] and report.rows_kept == 3
    untitled = write(tmp_path / "untitled.csv", "item_id,category\ni1,Home\ni2,Toys\n")
    items, report = read_table(untitled, "items", bad_rows="skip")
    assert items["title"].tolist() == ["", ""] and report.rows_kept == 2 and not report.dropped
    assert list(items.columns) == ["item_id", "category", "title", "brand", "price", "image"]


def test_queries_are_optional_in_events(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "user_id,timestamp,event_type,item_id\nu1,1700000000,click,i1\n")
    events, _ = read_table(path, "events")
    assert events["query"].tolist() == [""]


@pytest.mark.parametrize(("row", "column"), [(",Home\n", "query"), ("cups,\n", "category")])
def test_empty_query_fields(tmp_path: Path, row: str, column: str) -> None:
    path = write(tmp_path / "queries.csv", "query,category\n" + row)
    expected = rf"queries\.csv row 1 \(line 2\), column '{column}': {column} is empty"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "queries")


def test_duplicate_item_id_names_both_rows_even_when_skipping(tmp_path: Path) -> None:
    path = items_csv(tmp_path, "i1,Cup,Home,,\n", "i2,Mug,Home,,\n", "i1,Cup again,Home,,\n")
    with pytest.raises(
        DataValidationError,
        match=r"items\.csv row 3 \(line 4\), column 'item_id': duplicate item_id 'i1', "
        r"first seen at .*items\.csv row 1 \(line 2\)",
    ):
        read_table(path, "items", bad_rows="skip")


def test_duplicate_item_id_across_shards(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    folder.mkdir()
    write(folder / "a.csv", ITEMS_HEADER + "i1,Cup,Home,,\n")
    pd.DataFrame({"item_id": ["i2", "i1"], "title": ["Mug", "Cup"], "category": ["Home"] * 2}).to_parquet(
        folder / "b.parquet"
    )
    with pytest.raises(
        DataValidationError,
        match=r"b\.parquet row 2, column 'item_id': duplicate item_id 'i1', first seen at .*a\.csv row 1",
    ):
        read_table(folder, "items")


def test_missing_image_file_names_file_row_column_and_path(tmp_path: Path) -> None:
    path = items_csv(tmp_path, "i1,Cup,Home,,pics/cup.png\n")
    with pytest.raises(
        DataValidationError,
        match=r"items\.csv row 1 \(line 2\), column 'image': item_id 'i1': image file not found: .*pics/cup\.png",
    ):
        read_table(path, "items")


def test_malformed_csv_row(tmp_path: Path) -> None:
    path = events_csv(tmp_path, GOOD_EVENT, "u1,1700000000,click,i1,a,b,c\n")
    expected = r"events\.csv row 2 \(line 3\): expected 6 fields as in the header, found 7"
    with pytest.raises(DataValidationError, match=expected):
        read_table(path, "events")


def test_malformed_json_line(tmp_path: Path) -> None:
    path = write(tmp_path / "queries.jsonl", '{"query": "tea", "category": "Tea"}\n{"query": "cups",\n')
    with pytest.raises(DataValidationError, match=r"queries\.jsonl row 2 \(line 2\): invalid JSON"):
        read_table(path, "queries")


def test_line_numbers_follow_multiline_records(tmp_path: Path) -> None:
    path = events_csv(tmp_path, 'u1,1700000000,search,,"two\nlines",\n', "u1,soon,click,i1,,\n")
    with pytest.raises(DataValidationError, match=r"events\.csv row 2 \(line 4\), column 'timestamp'"):
        read_table(path, "events")


def test_error_names_the_first_bad_row_across_rules(tmp_path: Path) -> None:
    path = events_csv(tmp_path, GOOD_EVENT, "u1,1700000000,click,i1,,x\n", ",1700000000,click,i1,,\n")
    with pytest.raises(DataValidationError, match=r"row 2 \(line 3\), column 'position'"):
        read_table(path, "events")


def test_dataframe_rows_are_named_by_dataframe_and_row() -> None:
    frame = pd.DataFrame({"query": ["tea", "cups"], "category": ["Tea", ""]})
    with pytest.raises(DataValidationError, match=r"^DataFrame labels row 2, column 'category'"):
        read_table(frame, "queries", name="labels")


def test_validate_table_offsets_rows_and_lines() -> None:
    frame = pd.DataFrame({"query": ["tea", ""], "category": ["Tea", "Cups"]})
    with pytest.raises(DataValidationError, match=r"part\.csv row 12 \(line 13\), column 'query'"):
        validate_table(frame, "queries", source="part.csv", row_offset=10, line_offset=1)


def test_policy_names_are_checked() -> None:
    frame = pd.DataFrame({"query": ["tea"], "category": ["Tea"]})
    with pytest.raises(ValueError, match="bad_rows must be one of error, skip"):
        read_table(frame, "queries", bad_rows="ignore")
    with pytest.raises(ValueError, match="unknown_items must be one of keep, drop"):
        load_data(frame, frame, unknown_items="maybe")


def test_skip_keeps_good_rows_and_counts_each_reason(tmp_path: Path) -> None:
    rows = [
        GOOD_EVENT,  # 1
        "u2,yesterday,click,i1,,\n",  # 2 bad timestamp
        "u3,2024-01-01T00:00:00Z,view,i1,,\n",  # 3 unknown event type
        ",1700000000,click,i1,,\n",  # 4 empty user_id (and nothing else counted for it)
        "u5,1700000000,purchase,,,\n",  # 5 empty item_id
        "u6,1700000000,click,i2,,x\n",  # 6 position repaired to -1
        "u7,1700000000,click,i1,a,b,c\n",  # 7 malformed
        "u8,1700000000,search,,shoes,\n",  # 8
    ]
    data = (EVENTS_HEADER + "".join(rows)).encode() + b"u9,1700000000,click,i3,caf\xe9,1\n"  # 9 repaired
    frame, report = read_table(write(tmp_path / "events.csv", data), "events", bad_rows="skip")
    assert frame["user_id"].tolist() == ["u1", "u6", "u8", "u9"]
    assert frame["position"].tolist() == [2, -1, -1, 1]
    assert frame["query"].tolist()[-1] == "caf\ufffd"
    assert report.dropped == {
        "malformed row": 1,
        "empty user_id": 1,
        "unknown event_type": 1,
        "bad timestamp": 1,
        "empty item_id": 1,
    }
    assert report.repaired == {"invalid UTF-8 in query": 1, "position not an integer": 1}
    assert (report.rows_read, report.rows_kept) == (9, 4)
    assert report.rows_read - report.rows_kept == sum(report.dropped.values())
    assert any("row 2 (line 3), column 'timestamp'" in message for message in report.examples)
    assert any("byte 0xe9" in message for message in report.examples)


def test_skip_repairs_items_and_drops_bad_json_lines(tmp_path: Path) -> None:
    path = items_csv(tmp_path, "i1,Cup,Home,cheap,gone.png\n", "i2,Mug,,,\n")
    items, report = read_table(path, "items", bad_rows="skip")
    assert items["item_id"].tolist() == ["i1"]
    assert np.isnan(items.loc[0, "price"]) and items.loc[0, "image"] is None
    assert report.dropped == {"empty category": 1}
    assert report.repaired == {"price not a number": 1, "image file not found": 1}
    text = '{"query": "tea", "category": "Tea"}\nnot json\n[1, 2]\n{"query": "cups", "category": "Cups"}\n'
    queries, report = read_table(write(tmp_path / "queries.jsonl", text), "queries", bad_rows="skip")
    assert queries["query"].tolist() == ["tea", "cups"]
    assert report.dropped == {"malformed row": 2}
    assert "row 3 (line 3): expected a JSON object, got list" in report.examples[1]


def test_report_merge_and_summary() -> None:
    left = TableReport("a.csv", "events", 10, 8, {"bad timestamp": 2}, {}, ["a.csv row 1 ..."])
    right = TableReport(
        "b.csv", "events", 5, 4, {"bad timestamp": 1}, {"invalid UTF-8": 1}, ["b.csv row 3 ..."]
    )
    merged = left.merge(right, source="events/")
    assert (merged.rows_read, merged.rows_kept, merged.dropped, merged.repaired) == (
        15,
        12,
        {"bad timestamp": 3},
        {"invalid UTF-8": 1},
    )
    assert merged.examples == ["a.csv row 1 ...", "b.csv row 3 ..."]
    assert merged.summary_lines()[0] == "events from events/: 15 rows read, 12 kept"


@pytest.mark.parametrize(("policy", "kept"), [("keep", 3), ("drop", 2)])
def test_unknown_items_are_counted_then_kept_or_dropped(policy: str, kept: int) -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "timestamp": [1, 2, 3],
            "event_type": ["search", "click", "click"],
            "item_id": ["", "i1", "ghost"],
            "query": ["cup", "cup", ""],
        }
    )
    items = pd.DataFrame({"item_id": ["i1"], "title": ["Cup"], "category": ["Home"]})
    data = load_data(events, items, unknown_items=policy)
    assert data.unknown_item_events == 1 and data.unknown_items_policy == policy
    assert len(data.events) == kept
    report = data.reports[0]
    if policy == "drop":
        assert report.dropped == {"item_id not in catalogue": 1} and report.rows_kept == 2
        assert "'ghost'" in report.examples[0]
    else:
        assert report.dropped == {} and "'ghost'" in report.notes[0]


def image_folder(tmp_path: Path) -> Path:
    """items.csv with a good image, a text file saved as PNG and an empty file."""
    (tmp_path / "images").mkdir()
    write(tmp_path / "images" / "good.png", png_bytes())
    write(tmp_path / "images" / "i000004.png", "not an image, a text file")
    write(tmp_path / "images" / "empty.png", b"")
    return items_csv(tmp_path, "i1,Cup,Home,3,images/good.png\n", "i000004,Mug,Home,4,images/i000004.png\n",
                     "i5,Pan,Home,5,images/empty.png\n")


def test_an_image_that_does_not_decode_names_table_row_item_and_file(tmp_path: Path) -> None:
    path = image_folder(tmp_path)
    with pytest.raises(
        DataValidationError,
        match=r"items\.csv row 2 \(line 3\), column 'image': item_id 'i000004': cannot decode image "
              r".*images/i000004\.png: cannot identify image file; expected a PNG or JPEG",
    ):
        read_table(path, "items")


def test_an_empty_image_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = image_folder(tmp_path)
    write(tmp_path / "images" / "i000004.png", png_bytes())
    with pytest.raises(DataValidationError,
                       match=r"row 3 \(line 4\), column 'image': item_id 'i5': image file .*empty\.png is empty"):
        read_table(path, "items")


def test_skip_counts_bad_images_by_reason_and_treats_them_as_missing(tmp_path: Path) -> None:
    items, report = read_table(image_folder(tmp_path), "items", bad_rows="skip")
    assert items["image"].tolist() == [png_bytes(), None, None]
    assert report.repaired == {"image not decodable": 1, "image file empty": 1}
    assert report.rows_kept == 3


def test_image_bytes_that_do_not_decode_are_named_by_item() -> None:
    frame = pd.DataFrame({"item_id": ["i1", "i2"], "title": ["Cup", "Mug"], "category": ["Home", "Home"],
                          "image": [png_bytes(), b"\x89PNG\r\n\x1a\n truncated"]})
    with pytest.raises(DataValidationError, match=r"DataFrame items row 2, column 'image': item_id 'i2': "
                                                  r"cannot decode image 18 bytes: Truncated File Read"):
        read_table(frame, "items")


def test_a_negative_price_is_an_error_or_a_counted_repair(tmp_path: Path) -> None:
    path = items_csv(tmp_path, "i1,Cup,Home,3.5,\n", "i2,Mug,Home,-4,\n")
    with pytest.raises(DataValidationError,
                       match=r"items\.csv row 2 \(line 3\), column 'price': expected a price of 0 or more, got '-4'"):
        read_table(path, "items")
    items, report = read_table(path, "items", bad_rows="skip")
    assert items["price"].iloc[0] == 3.5 and np.isnan(items["price"].iloc[1])
    assert report.repaired == {"negative price": 1}


def test_invalid_utf8_in_a_category_drops_the_row_rather_than_making_a_new_category(tmp_path: Path) -> None:
    data = ITEMS_HEADER.encode() + b"i1,Cup,Home,3,\ni2,M\xffug,Home,4,\ni3,Pan,Ho\xffme,5,\ni4,Pot,Home,6,\n"
    items, report = read_table(write(tmp_path / "items.csv", data), "items", bad_rows="skip")
    assert items["item_id"].tolist() == ["i1", "i2", "i4"]
    assert set(items["category"]) == {"Home"}
    assert items["title"].tolist()[1] == "M\ufffdug"
    assert report.dropped == {"invalid UTF-8 in category": 1}
    assert report.repaired == {"invalid UTF-8 in title": 1}
    assert any("row 3 (line 4), column 'category': invalid UTF-8" in message for message in report.examples)


@pytest.mark.parametrize("kind", ["events", "items"])
def test_a_table_without_rows_is_one_clear_error_naming_it(tmp_path: Path, kind: str) -> None:
    events = events_csv(tmp_path, GOOD_EVENT) if kind == "items" else events_csv(tmp_path)
    items = items_csv(tmp_path) if kind == "items" else items_csv(tmp_path, "i1,Cup,Home,3,\n")
    with pytest.raises(DataValidationError, match=rf"{kind}\.csv: the {kind} table has no data rows"):
        load_data(events, items)


def test_a_parquet_file_of_no_rows_is_named(tmp_path: Path) -> None:
    empty = pd.DataFrame({name: pd.Series(dtype=str) for name in EVENTS_HEADER.strip().split(",")})
    empty.to_parquet(tmp_path / "events.parquet")
    items = items_csv(tmp_path, "i1,Cup,Home,3,\n")
    with pytest.raises(DataValidationError, match=r"events\.parquet: the events table has no data rows"):
        load_data(tmp_path / "events.parquet", items)


def test_a_table_whose_every_row_was_dropped_says_why(tmp_path: Path) -> None:
    events = events_csv(tmp_path, "u1,yesterday,click,i1,,\n")
    with pytest.raises(DataValidationError, match=r"all 1 rows of the events table were dropped as bad "
                                                  r"\(1 bad timestamp\)"):
        load_data(events, items_csv(tmp_path, "i1,Cup,Home,3,\n"), bad_rows="skip")


def test_an_image_format_tensorflow_cannot_decode_is_named(tmp_path: Path) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="TIFF")
    (tmp_path / "images").mkdir()
    write(tmp_path / "images" / "i1.tif", buffer.getvalue())
    path = items_csv(tmp_path, "i1,Cup,Home,3,images/i1.tif\n")
    with pytest.raises(DataValidationError, match=r"item_id 'i1': cannot decode image .*i1\.tif: TIFF is not a "
                                                  r"format TensorFlow decodes \(PNG, JPEG, WEBP, GIF, BMP\)"):
        read_table(path, "items")
