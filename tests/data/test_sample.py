"""The sample world: determinism, the data contract, and the structure planted in it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtrec_tf.data import sample
from mtrec_tf.data.sample import IMAGE_SIZE, START_TIMESTAMP, WINDOW_DAYS, generate_sample, write_sample
from mtrec_tf.data.schema import CATEGORY_SEPARATOR, EVENT_TYPES

REPO = Path(__file__).resolve().parents[2]
EVENT_COLUMNS = ["user_id", "timestamp", "event_type", "item_id", "query", "session_id", "position"]
ITEM_COLUMNS = ["item_id", "title", "category", "brand", "price", "image"]
WRITTEN = ["README.txt", "events.{ext}", "items.{ext}", "queries.{ext}",
           "truth/query_intents.{ext}", "truth/user_interests.{ext}"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same_files(first: Path, second: Path) -> None:
    a, b = _files(first), _files(second)
    assert sorted(a) == sorted(b)
    different = [name for name in a if a[name] != b[name]]
    assert not different, f"files differ: {different[:5]}"


def _with_category(frame: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(item_category=frame["item_id"].map(dict(zip(items["item_id"], items["category"]))))


# ---------------------------------------------------------------------------------------------
# Determinism and files


def test_same_seed_writes_identical_parquet_files_and_another_seed_differs(tmp_path, sample_world):
    first = write_sample(tmp_path / "a", scale=1, seed=3, fmt="parquet")
    second = write_sample(tmp_path / "b", scale=1, seed=3, fmt="parquet")
    assert first == tmp_path / "a"
    for name in WRITTEN:
        assert (first / name.format(ext="parquet")).is_file(), name
    assert len(list((first / "images").glob("*.png"))) == len(pd.read_parquet(first / "items.parquet"))
    assert not list(first.rglob("*.tmp")), "temporary files left behind"
    _assert_same_files(first, second)

    events = pd.read_parquet(first / "events.parquet")
    assert list(events.columns) == EVENT_COLUMNS
    assert len(events) != len(sample_world.events) or not events.equals(sample_world.events)  # seed 3 vs 7


def test_same_seed_writes_identical_csv_files_whatever_the_hash_seed(tmp_path):
    first = write_sample(tmp_path / "a", scale=1, seed=3, fmt="csv")
    # The second copy comes from another interpreter with a different string hash seed.
    env = {**os.environ, "PYTHONHASHSEED": "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"}
    code = ("import sys; from mtrec_tf.data.sample import write_sample; "
            "write_sample(sys.argv[1], scale=1, seed=3, fmt='csv')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], check=True, cwd=REPO, env=env)
    _assert_same_files(first, tmp_path / "b")

    items = pd.read_csv(first / "items.csv", keep_default_na=False)
    assert list(items.columns) == ITEM_COLUMNS
    assert (items["image"] == "images/" + items["item_id"] + ".png").all()
    assert "events.csv" in (first / "README.txt").read_text(encoding="utf-8")


def test_jsonl_is_one_object_a_line_with_text_kept_as_is(tmp_path, sample_world, monkeypatch):
    monkeypatch.setattr(sample, "generate_sample", lambda scale, seed, event_types="default": sample_world)
    out = write_sample(tmp_path, fmt="jsonl")
    text = (out / "events.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == len(sample_world.events)
    assert list(rows[0]) == EVENT_COLUMNS
    assert rows[:3] == sample_world.events.head(3).to_dict("records")
    assert "\\u" not in text and any("\u4e00" <= ch <= "\u9fff" for ch in text[:100_000])
    for name, frame in (("queries", sample_world.queries), ("truth/user_interests", sample_world.user_interests)):
        lines = (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == frame.to_dict("records"), name
    item = json.loads((out / "items.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert item["image"] == f"images/{item['item_id']}.png"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"scale": 0}, "scale"),
        ({"scale": 1.5}, "scale"),
        ({"scale": True}, "scale"),
        ({"seed": -1}, "seed"),
        ({"seed": "0"}, "seed"),
        ({"fmt": "xlsx"}, "fmt"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        write_sample(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
    if name != "fmt":
        with pytest.raises(ValueError, match=name):
            generate_sample(**kwargs)


# ---------------------------------------------------------------------------------------------
# Schema


def test_events_follow_the_normalised_schema(sample_world):
    events = sample_world.events
    assert list(events.columns) == EVENT_COLUMNS
    for column in ("user_id", "event_type", "item_id", "query", "session_id"):
        assert pd.api.types.is_string_dtype(events[column]), column
        assert not events[column].isna().any(), column
    assert events["timestamp"].dtype == np.int64 and events["position"].dtype == np.int64
    assert set(events["event_type"]) == set(EVENT_TYPES)

    searches = events[events["event_type"] == "search"]
    assert (searches["item_id"] == "").all() and (searches["position"] == -1).all()
    assert (searches["query"] != "").all()
    others = events[events["event_type"] != "search"]
    assert others["item_id"].isin(sample_world.items["item_id"]).all()
    assert (others["position"] >= 0).all()
    assert events["user_id"].str.fullmatch(r"u\d{5}").all()
    assert events["session_id"].str.fullmatch(r"s\d{7}").all()

    end = START_TIMESTAMP + WINDOW_DAYS * 86_400
    assert events["timestamp"].between(START_TIMESTAMP, end - 1).all()
    assert 60_000 <= len(events) <= 120_000
    assert events["user_id"].nunique() == 1_000


def test_events_are_sorted_by_time_then_user(sample_world):
    events = sample_world.events
    keys = list(zip(events["timestamp"], events["user_id"]))
    assert keys == sorted(keys)
    first = events.groupby("session_id", sort=False).head(1)
    searched = set(sample_world.query_intents["session_id"])
    assert ((first["event_type"] == "search") == first["session_id"].isin(searched)).all()


def test_items_follow_the_schema_and_mix_languages(sample_world):
    items = sample_world.items
    assert list(items.columns) == ITEM_COLUMNS
    assert items["item_id"].is_unique and items["item_id"].str.fullmatch(r"i\d{6}").all()
    assert 1_000 <= len(items) <= 1_400
    for column in ("item_id", "title", "category", "brand"):
        assert pd.api.types.is_string_dtype(items[column]), column
    assert items["price"].dtype == np.float64 and (items["price"] > 0).all()
    assert items["category"].str.count(CATEGORY_SEPARATOR).eq(2).all()
    assert items["category"].nunique() >= 20
    words = items["title"].str.split().str.len()
    assert words.between(3, 8).all()
    assert items["title"].str.contains(r"[\u4e00-\u9fff]").mean() > 0.5
    assert items["title"].str.contains(r"[A-Za-z]").mean() > 0.5
    assert all(brand in title for brand, title in zip(items["brand"], items["title"]))
    # Prices differ by department: electronics cost more than books.
    department = items["category"].str.split(CATEGORY_SEPARATOR).str[0]
    median = items.groupby(department)["price"].median()
    assert median["Electronics"] > 10 * median["Books"]


def test_images_are_64x64_rgb_pngs(sample_world):
    for png in sample_world.items["image"]:
        assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
        image = Image.open(io.BytesIO(png))
        assert image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "RGB"


def test_queries_and_ground_truth_tables(sample_world):
    leaves = set(sample_world.items["category"])
    queries = sample_world.queries
    assert list(queries.columns) == ["query", "category"]
    assert 200 <= len(queries) <= 400 and set(queries["category"]) <= leaves
    assert (queries["query"].str.len() > 0).all()

    intents = sample_world.query_intents
    searches = sample_world.events[sample_world.events["event_type"] == "search"]
    assert list(intents.columns) == ["session_id", "query", "category"]
    assert sorted(intents["session_id"]) == sorted(searches["session_id"])
    assert set(intents["category"]) <= leaves
    assert 0.6 <= searches["session_id"].nunique() / sample_world.events["session_id"].nunique() <= 0.8

    interests = sample_world.user_interests
    assert list(interests.columns) == ["user_id", "category", "weight", "weight_end"]
    sums = interests.groupby("user_id")[["weight", "weight_end"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    per_user = interests[interests["weight"] > 0].groupby("user_id").size()
    assert per_user.between(2, 4).all() and len(per_user) == 1_000
    drifted = interests.groupby("user_id").apply(lambda g: np.abs(g["weight"] - g["weight_end"]).sum())
    assert (drifted > 0.1).all()


# ---------------------------------------------------------------------------------------------
# Planted structure


def test_rates_and_every_user_clicks(sample_world):
    counts = sample_world.events["event_type"].value_counts()
    assert 0.05 <= counts["click"] / counts["impression"] <= 0.15
    assert 0.05 <= counts["purchase"] / counts["click"] <= 0.2
    clicks = sample_world.events[sample_world.events["event_type"] == "click"]
    assert clicks["user_id"].nunique() == sample_world.events["user_id"].nunique()


def test_behaviour_follows_its_impression_in_time(sample_world):
    events = sample_world.events
    acts = events[events["event_type"].isin(["click", "add_to_cart", "purchase"])]
    assert (acts.groupby("session_id")["timestamp"].diff().dropna() > 0).all()
    shown = events[events["event_type"] == "impression"].groupby("session_id")["timestamp"].first()
    assert (acts["timestamp"].to_numpy() > shown.loc[acts["session_id"]].to_numpy()).all()
    lists = events[events["event_type"] == "impression"].groupby("session_id").size()
    assert lists.between(5, 10).all() and lists.mean() > 8

    def keys(kind: str) -> set[tuple[str, str, int]]:
        rows = events[events["event_type"] == kind]
        return set(zip(rows["session_id"], rows["item_id"], rows["position"]))

    assert keys("add_to_cart") <= keys("click") and keys("purchase") <= keys("add_to_cart")
    assert keys("click") <= keys("impression")


def test_clicks_after_a_search_fall_in_the_intended_category(sample_world):
    clicks = sample_world.events[sample_world.events["event_type"] == "click"]
    clicks = _with_category(clicks, sample_world.items).merge(sample_world.query_intents, on="session_id")
    agree = (clicks["item_category"] == clicks["category"]).mean()
    clicked = clicks["item_category"].value_counts(normalize=True)
    intended = sample_world.query_intents["category"].value_counts(normalize=True)
    chance = (clicked * intended.reindex(clicked.index, fill_value=0.0)).sum()
    assert chance < 0.1
    assert agree > 0.5
    assert agree < 0.99, "some clicks should stray from the intended category"


def test_users_click_in_their_interest_categories(sample_world):
    clicks = _with_category(sample_world.events[sample_world.events["event_type"] == "click"], sample_world.items)
    interests = sample_world.user_interests
    pairs = set(zip(interests["user_id"], interests["category"]))
    inside = np.mean([pair in pairs for pair in zip(clicks["user_id"], clicks["item_category"])])
    shuffled = np.random.default_rng(0).permutation(clicks["user_id"].to_numpy())
    baseline = np.mean([pair in pairs for pair in zip(shuffled, clicks["item_category"])])
    assert inside > 0.7 and inside > 2.5 * baseline


def test_interest_drift_shows_in_clicks(sample_world):
    # Categories a user takes up late get a bigger share of that user's clicks late in the window.
    clicks = _with_category(sample_world.events[sample_world.events["event_type"] == "click"], sample_world.items)
    interests = sample_world.user_interests
    emerging = set(zip(*interests.loc[interests["weight"] == 0, ["user_id", "category"]].to_numpy().T))
    middle = START_TIMESTAMP + WINDOW_DAYS * 86_400 // 2
    on_emerging = np.array([pair in emerging for pair in zip(clicks["user_id"], clicks["item_category"])])
    early = on_emerging[clicks["timestamp"].to_numpy() < middle].mean()
    late = on_emerging[clicks["timestamp"].to_numpy() >= middle].mean()
    assert late > 2 * early


def test_popularity_is_long_tailed(sample_world):
    clicks = sample_world.events.loc[sample_world.events["event_type"] == "click", "item_id"]
    per_item = clicks.value_counts().reindex(sample_world.items["item_id"], fill_value=0)
    top = per_item.sort_values(ascending=False).iloc[: len(per_item) // 10]
    assert top.sum() / per_item.sum() > 0.35


def test_clicks_fall_with_position(sample_world):
    events = sample_world.events
    shown = events[events["event_type"] == "impression"].groupby("position").size()
    clicked = events[events["event_type"] == "click"].groupby("position").size()
    ctr = clicked / shown
    assert ctr[0] > 1.5 * ctr[5]
    assert ctr[0] > ctr[1] > ctr[3]


def test_search_queries_mix_languages_typos_and_generic_words(sample_world):
    queries = sample_world.query_intents["query"]
    words = queries.str.split().str.len()
    assert words.between(1, 5).all() and words.mean() > 1.5
    assert queries.str.contains(r"[\u4e00-\u9fff]").mean() > 0.3
    assert queries.str.contains(r"[A-Za-z]").mean() > 0.3
    assert queries.nunique() > 0.3 * len(queries)


def test_images_identify_their_category_but_not_perfectly(sample_world):
    items = sample_world.items
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32) for png in items["image"]])
    small = pixels.reshape(len(items), 16, 4, 16, 4, 3).mean(axis=(2, 4)).reshape(len(items), -1)  # (n, 768)
    labels, names = pd.factorize(items["category"])
    train = np.arange(len(items)) % 2 == 0
    centroids = np.stack([small[train & (labels == k)].mean(axis=0) for k in range(len(names))])
    distances = ((small[~train, None, :] - centroids[None]) ** 2).sum(axis=-1)
    accuracy = (distances.argmin(axis=1) == labels[~train]).mean()
    assert accuracy > 3.0 / len(names)
    assert accuracy < 0.95
