"""Tests for mtrec_tf.data.public on the real data in ../shared/data (or $MTREC_DATA_DIR).

The data is present wherever the tests run: a missing folder fails these tests, naming it.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data import schema
from mtrec_tf.data.public import (
    DATA_DIR_ENV,
    default_data_dir,
    first_characters,
    load_movielens_100k,
    load_online_shopping,
    movielens_genres,
    stratified_split,
    tfidf_svm_reference,
    write_movielens_tables,
)
from mtrec_tf.data.readers import load_data

REPO = Path(__file__).resolve().parents[2]
SHOPPING_COUNTS = {
    "平板": 10000, "水果": 10000, "洗发水": 10000, "衣服": 10000, "酒店": 10000,
    "计算机": 3992, "书籍": 3851, "手机": 2323, "蒙牛": 2033, "热水器": 575,
}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir() -> Path:
    folder = default_data_dir()
    assert folder.is_dir(), (
        f"the public data folder {folder} is missing: set ${DATA_DIR_ENV} or put the data in "
        f"../shared/data beside the repository (see shared/data/README.md)"
    )
    return folder


@pytest.fixture(scope="module")
def movielens(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_movielens_100k(data_dir)


@pytest.fixture(scope="module")
def shopping(data_dir: Path):
    return load_online_shopping(data_dir)


def test_default_data_dir_is_beside_the_repository_unless_the_env_var_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert default_data_dir() == REPO.parent / "shared" / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path


def test_a_missing_data_folder_names_the_path_and_the_env_var(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"nowhere/ml-100k/ml-100k\.inter.*\${DATA_DIR_ENV}"):
        load_movielens_100k()
    expected = r"nowhere/online_shopping_10_cats/online_shopping_10_cats\.zip"
    with pytest.raises(FileNotFoundError, match=expected):
        load_online_shopping()


# ---------------------------------------------------------------------------------------------
# MovieLens 100K.


def _ratings_in_file(data_dir: Path) -> list[float]:
    with open(data_dir / "ml-100k" / "ml-100k.inter", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0][2] == "rating:float"
    return [float(row[2]) for row in rows[1:]]


def test_movielens_event_counts(movielens, data_dir: Path) -> None:
    events, items = movielens
    ratings = _ratings_in_file(data_dir)
    counts = events["event_type"].value_counts().to_dict()
    assert len(ratings) == 100_000
    assert counts == {"impression": 100_000, "click": sum(r >= 4 for r in ratings)}
    assert counts["click"] == 55_375
    assert events["user_id"].nunique() == 943
    assert events["item_id"].nunique() == 1_682 and len(items) == 1_682
    assert events["item_id"].isin(items["item_id"]).all() and items["item_id"].is_unique


def test_movielens_columns_and_types(movielens) -> None:
    events, items = movielens
    assert list(events.columns) == list(schema.EVENTS_REQUIRED + schema.EVENTS_OPTIONAL)
    assert list(items.columns) == ["item_id", "title", "category", "genres", "brand", "price", "image"]
    for name in ("user_id", "event_type", "item_id", "query", "session_id"):
        assert pd.api.types.is_string_dtype(events[name].dtype), name
    assert isinstance(events["user_id"][0], str) and isinstance(items["item_id"][0], str)
    assert events["timestamp"].dtype == np.int64 and events["position"].dtype == np.int64
    assert events["rating"].dtype == np.float64
    assert (events["query"] == "").all() and (events["session_id"] == "").all()
    assert (events["position"] == -1).all()
    assert events["timestamp"].is_monotonic_increasing
    assert items["price"].isna().all() and (items["brand"] == "").all() and items["image"].isna().all()


def test_movielens_impressions_carry_ratings_and_good_ones_are_clicked_a_second_later(movielens) -> None:
    events, _ = movielens
    impressions = events[events["event_type"] == "impression"]
    clicks = events[events["event_type"] == "click"]
    assert set(impressions["rating"].unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert clicks["rating"].isna().all()
    liked = impressions[impressions["rating"] >= 4]
    expected = liked.assign(timestamp=liked["timestamp"] + 1)[["user_id", "item_id", "timestamp"]]
    key = ["user_id", "item_id", "timestamp"]
    pd.testing.assert_frame_equal(
        clicks[key].sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )
    # The first rating in the file: user 196 gave movie 242 (Kolya) 3 stars, no click.
    first = events[(events["user_id"] == "196") & (events["item_id"] == "242")]
    assert first["event_type"].tolist() == ["impression"] and first["rating"].tolist() == [3.0]
    assert first["timestamp"].tolist() == [881250949]


def test_movielens_titles_and_genres(movielens) -> None:
    _, items = movielens
    by_id = items.set_index("item_id")
    assert by_id.loc["1", "title"] == "Toy Story (1995)"
    assert by_id.loc["1", "category"] == "Animation"
    assert by_id.loc["2", "category"] == "Action"
    assert by_id.loc["543", "title"] == "Misérables, Les (1995)"
    genres = movielens_genres(items)
    assert genres["1"] == ["Animation", "Children's", "Comedy"]
    firsts = [genres[item_id][0] for item_id in items["item_id"]]
    assert firsts == items["category"].tolist()
    # Item 267 has neither title nor year in the file ("unkonwn").
    assert by_id.loc["267", ["title", "category"]].tolist() == ["", "unknown"]
    assert (items["title"] == "").sum() == 1 and (items["category"] != "").all()


def test_movielens_keeps_unrated_items_and_tolerates_missing_fields(tmp_path: Path) -> None:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4.5\t100.0\n2\t10\t2\t90\n",
        encoding="utf-8",
    )
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tAmélie\t2001\tComedy Romance\n11\tNo Year\t\tDrama\n12\t\tunknown\t\n13\t\t1999\tDrama\n",
        encoding="utf-8",
    )
    events, items = load_movielens_100k(tmp_path)
    assert events[["user_id", "timestamp", "event_type", "rating"]].values.tolist()[:2] == [
        ["2", 90, "impression", 2.0],
        ["1", 100, "impression", 4.5],
    ]
    assert events["event_type"].tolist()[2] == "click" and events["timestamp"].tolist()[2] == 101
    assert items["item_id"].tolist() == ["10", "11", "12", "13"]
    assert items["title"].tolist() == ["Amélie (2001)", "No Year", "", "(1999)"]
    assert items["category"].tolist() == ["Comedy", "Drama", "unknown", "Drama"]


def test_movielens_tables_pass_validation_and_round_trip_through_parquet(movielens, tmp_path: Path) -> None:
    events, items = movielens
    paths = write_movielens_tables(tmp_path / "ml", data_dir=default_data_dir())
    assert paths == {name: tmp_path / "ml" / f"{name}.parquet" for name in ("events", "items", "users")}
    assert sorted(p.name for p in (tmp_path / "ml").iterdir()) == ["events.parquet", "items.parquet", "users.parquet"]
    data = load_data(paths["events"], paths["items"], users=paths["users"],
                     item_columns={"genres": "list", "release_year": "number"}, user_columns={"age": "number"})
    assert [(r.rows_read, r.rows_kept, r.dropped, r.repaired) for r in data.reports] == [
        (155_375, 155_375, {}, {}),
        (1_682, 1_682, {}, {}),
        (943, 943, {}, {}),
    ]
    assert data.items["genres"].iloc[0].split("\x1f") == ["Animation", "Children's", "Comedy"]
    assert data.users["age"].iloc[0] == 24.0
    assert data.unknown_item_events == 0
    assert data.events["event_number"].tolist() == list(range(len(events)))  # one file: its rows
    pd.testing.assert_frame_equal(data.events.drop(columns="event_number"), events)
    contract = list(schema.ITEMS_REQUIRED + schema.ITEMS_OPTIONAL)
    pd.testing.assert_frame_equal(data.items[contract], items[contract])


# ---------------------------------------------------------------------------------------------
# online_shopping_10_cats.


def test_online_shopping_rows_and_categories(shopping) -> None:
    frame = shopping.frame
    assert list(frame.columns) == ["query", "category", "label"]
    assert shopping.rows_read == 62_774 and shopping.dropped_empty == 1
    assert len(frame) == shopping.rows_read - shopping.dropped_empty
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    counts = frame["category"].value_counts().to_dict()
    assert set(counts) == set(SHOPPING_COUNTS)
    shortfall = {name: SHOPPING_COUNTS[name] - counts[name] for name in SHOPPING_COUNTS}
    assert min(shortfall.values()) >= 0 and sum(shortfall.values()) == shopping.dropped_empty
    assert frame["label"].dtype == np.int64 and set(frame["label"].unique()) == {0, 1}
    assert (frame["query"].str.strip() != "").all()
    assert shopping.source.endswith("online_shopping_10_cats.zip!online_shopping_10_cats.csv")


def test_online_shopping_byte_order_marks_are_removed(shopping, data_dir: Path) -> None:
    archive = zipfile.ZipFile(data_dir / "online_shopping_10_cats" / "online_shopping_10_cats.zip")
    raw = archive.read(archive.namelist()[0])
    assert raw.count(b"\xef\xbb\xbf") > 0  # the file does hold byte-order marks
    frame = shopping.frame
    assert not frame["query"].str.contains("\ufeff").any()
    assert not frame["category"].str.contains("\ufeff").any()
    assert frame["query"][0].startswith("做父母一定要有刘墉这样的心态")
    assert frame["category"][0] == "书籍"


def test_online_shopping_header_bom_and_empty_reviews(tmp_path: Path) -> None:
    text = "\ufeffcat,label,review\n书籍,1,\ufeff好书\n书籍,0,\n手机,0,  \n手机,1,不错\n"
    zip_path = tmp_path / "online_shopping_10_cats" / "online_shopping_10_cats.zip"
    zip_path.parent.mkdir()
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("online_shopping_10_cats.csv", text.encode("utf-8"))
    loaded = load_online_shopping(tmp_path)
    assert (loaded.rows_read, loaded.dropped_empty) == (4, 2)
    assert loaded.frame.values.tolist() == [["好书", "书籍", 1], ["不错", "手机", 1]]


def test_stratified_split_keeps_class_shares_and_is_deterministic(shopping) -> None:
    frame = shopping.frame
    train, test = stratified_split(frame, test_fraction=0.2, seed=42)
    assert len(test) == int(np.ceil(0.2 * len(frame))) and len(train) + len(test) == len(frame)
    share = frame["category"].value_counts(normalize=True)
    for part in (train, test):
        assert (part["category"].value_counts(normalize=True) - share).abs().max() < 0.01
    columns = ["query", "category", "label"]
    both = pd.concat([train, test]).sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, frame.sort_values(columns).reset_index(drop=True))
    again_train, again_test = stratified_split(frame, test_fraction=0.2, seed=42)
    pd.testing.assert_frame_equal(test, again_test)
    pd.testing.assert_frame_equal(train, again_train)
    other_train, _ = stratified_split(frame, test_fraction=0.2, seed=43)
    assert not other_train["query"].equals(train["query"])


def test_stratified_split_apportions_small_classes() -> None:
    frame = pd.DataFrame({"text": list("abcdefghij"), "y": ["x"] * 7 + ["z"] * 3})
    train, test = stratified_split(frame, test_fraction=0.3, seed=0, label_column="y")
    assert test["y"].value_counts().to_dict() == {"x": 2, "z": 1}  # 2.1 and 0.9 of ceil(3) rows
    assert train["text"].tolist() == sorted(train["text"])  # rows keep the order of the frame
    with pytest.raises(ValueError, match="test_fraction must be in"):
        stratified_split(frame, test_fraction=1.0, label_column="y")
    with pytest.raises(ValueError, match="label_column 'category' is not a column"):
        stratified_split(frame)


def test_first_characters() -> None:
    texts = pd.Series(["做父母一定要有刘墉这样的心态", "短"], index=[5, 7])
    short = first_characters(texts, n=4)
    assert short.tolist() == ["做父母一", "短"] and short.index.tolist() == [5, 7]
    assert first_characters(["abcdefghijklmnop"]) == ["abcdefghijkl"]


def test_tfidf_svm_reference_on_a_subsample_is_well_above_chance(shopping) -> None:
    small, _ = stratified_split(shopping.frame, test_fraction=0.95, seed=0)  # about 3,100 rows
    train, test = stratified_split(small, test_fraction=0.25, seed=1)
    full = tfidf_svm_reference(train, test)
    short = tfidf_svm_reference(train, test, max_chars=12)
    majority = test["category"].value_counts(normalize=True).max()  # about 0.16
    assert full["accuracy"] > 0.7 > majority and full["macro_f1"] > 0.5
    assert short["accuracy"] > 0.5 and short["accuracy"] < full["accuracy"]
    assert (full["train_rows"], full["test_rows"]) == (len(train), len(test))
    assert short["features"] < full["features"]
