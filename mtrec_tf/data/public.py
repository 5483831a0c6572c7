"""Loaders for the two public datasets used in development, in the input data contract.

- **MovieLens 100K** (GroupLens, RecBole's atomic files `ml-100k/ml-100k.inter` and
  `ml-100k/ml-100k.item`) becomes the `events` and `items` tables of `schema`, in the raw form
  a user would write them: every rating is an `impression` carrying the rating (the user saw
  the movie), and a rating of 4 or 5 is also a `click` one second later (a positive
  interaction).
- **online_shopping_10_cats** (SophonPlus ChineseNlpCorpus, 62,774 Chinese reviews of 10
  product categories) becomes a `queries` table (`query`, `category`) for the query
  classification task, with the sentiment `label` kept for reference.

The data folder is `$MTREC_DATA_DIR` when that variable is set, else `../shared/data` beside
the repository root (see `default_data_dir`). The data is for research use and is read in
place, never copied into the project. This module needs pandas and NumPy only (scikit-learn,
for `tfidf_svm_reference`, is imported inside that function).

Example:
    >>> events, items = load_movielens_100k()  # doctest: +SKIP
    >>> events["event_type"].value_counts().to_dict()  # doctest: +SKIP
    {'impression': 100000, 'click': 55375}
    >>> shopping = load_online_shopping()  # doctest: +SKIP
    >>> train, test = stratified_split(shopping.frame, test_fraction=0.2, seed=42)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from mtrec_tf.io_utils import write_bytes_atomic

DATA_DIR_ENV = "MTREC_DATA_DIR"
MOVIELENS_DIR = "ml-100k"
MOVIELENS_INTER = "ml-100k.inter"
MOVIELENS_ITEM = "ml-100k.item"
MOVIELENS_USER = "ml-100k.user"
ONLINE_SHOPPING_ZIP = "online_shopping_10_cats/online_shopping_10_cats.zip"

# A MovieLens rating at or above this is also a click.
CLICK_RATING = 4.0
# Seconds between a rating's impression and its click.
CLICK_DELAY_SECONDS = 1
# How ml-100k.item spells a missing title or release year (item 267 reads "unkonwn").
_MISSING_MARKERS = frozenset({"", "unknown", "unkonwn"})
UNKNOWN_GENRE = "unknown"

_BOM = "\ufeff"


def default_data_dir() -> Path:
    """The folder of the public datasets: `$MTREC_DATA_DIR` if set, else `../shared/data`.

    The fallback is resolved from the repository root of a development install
    (`<repo>/../shared/data`), whatever the working directory. `$MTREC_DATA_DIR` wins
    whenever it is set and not empty. The folder is not checked here: the loaders raise
    `FileNotFoundError` naming the path when a file is missing.
    """
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _data_file(data_dir: Path | str | None, relative: str) -> Path:
    """`data_dir / relative`, or FileNotFoundError naming the path and how the folder was chosen."""
    folder = default_data_dir() if data_dir is None else Path(data_dir)
    path = folder / relative
    if not path.is_file():
        if data_dir is not None:
            chosen = "the data_dir argument"
        elif os.environ.get(DATA_DIR_ENV, "").strip():
            chosen = f"${DATA_DIR_ENV}"
        else:
            chosen = f"the default ../shared/data beside the repository; set ${DATA_DIR_ENV} to override"
        raise FileNotFoundError(
            f"{path}: no such file (data folder {folder} from {chosen}; see shared/data/README.md)"
        )
    return path


# ---------------------------------------------------------------------------------------------
# MovieLens 100K.


def _read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file: tab separated, header `name:type`; every value read as text.

    Types are stripped from the column names. No quoting: a quote is part of a value.
    """
    frame = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, encoding="utf-8"
    )
    frame.columns = [str(name).lstrip(_BOM).split(":", 1)[0].strip() for name in frame.columns]
    return frame


def _whole_numbers(values: pd.Series, path: Path, column: str) -> np.ndarray:
    """Floats of a text column as int64, or ValueError naming the first value that is not whole."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(numbers) & (numbers == np.floor(numbers)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path} row {row + 1}, column {column!r}: expected a whole number, got {values.iloc[row]!r}"
        )
    return numbers.astype(np.int64)


def load_movielens_100k(data_dir: Path | str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens 100K as the `events` and `items` tables of the input data contract.

    Every rating becomes an `impression` event carrying the rating, at the rating's time;
    a rating of 4 or more (`CLICK_RATING`) also becomes a `click` event one second later,
    with no rating (so each rating is counted once). MovieLens has no searches, sessions or
    list positions: `query` and `session_id` are "" and `position` is -1.

    The catalogue holds every movie of `ml-100k.item`, rated or not. The title is the
    movie title followed by the release year in parentheses when there is one; the
    category is the first genre listed (a leaf; all genres through `movielens_genres`).
    The one movie without title or year (item 267, "unkonwn" in the file) has an empty
    title (the model reads no title for it); its genre is MovieLens's own "unknown".

    Args:
        data_dir: the data folder (default: `default_data_dir()`).

    Returns:
        `(events, items)`. events: `user_id` str, `timestamp` int64 epoch seconds,
        `event_type` str, `item_id` str, `query` str, `session_id` str, `position` int64,
        `rating` float64 (NaN on clicks); sorted by timestamp, then user, then item, the
        impression before its click. items: `item_id` str, `title` str, `category` str,
        `genres` str (all genres, space separated, as in the file), `brand` str, `price`
        float64, `image` object (None); in file order.

    Raises:
        FileNotFoundError: a file is missing; the message names the path.
    """
    ratings_path = _data_file(data_dir, f"{MOVIELENS_DIR}/{MOVIELENS_INTER}")
    movies_path = _data_file(data_dir, f"{MOVIELENS_DIR}/{MOVIELENS_ITEM}")
    events = _movielens_events(_read_atomic(ratings_path), ratings_path)
    return events, _movielens_items(_read_atomic(movies_path))


def _movielens_events(ratings: pd.DataFrame, path: Path) -> pd.DataFrame:
    user_id = ratings["user_id"].str.strip().astype(str).to_numpy(dtype=object)
    item_id = ratings["item_id"].str.strip().astype(str).to_numpy(dtype=object)
    rating = pd.to_numeric(ratings["rating"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(rating).all():
        row = int(np.flatnonzero(~np.isfinite(rating))[0])
        value = ratings["rating"].iloc[row]
        raise ValueError(f"{path} row {row + 1}, column 'rating': expected a number, got {value!r}")
    seconds = _whole_numbers(ratings["timestamp"], path, "timestamp")
    clicked = rating >= CLICK_RATING
    n, n_clicks = len(ratings), int(clicked.sum())
    events = pd.DataFrame(
        {
            "user_id": np.concatenate([user_id, user_id[clicked]]),
            "timestamp": np.concatenate([seconds, seconds[clicked] + CLICK_DELAY_SECONDS]),
            "event_type": np.array(["impression"] * n + ["click"] * n_clicks, dtype=object),
            "item_id": np.concatenate([item_id, item_id[clicked]]),
            "query": "",
            "session_id": "",
            "position": np.int64(-1),
            "rating": np.concatenate([rating, np.full(n_clicks, np.nan)]),
        }
    )
    # Sort by time, then user and item as numbers where they are numbers, impressions first.
    order_keys = [
        events["timestamp"].to_numpy(),
        _numeric_or_rank(events["user_id"]),
        _numeric_or_rank(events["item_id"]),
        (events["event_type"] == "click").to_numpy(),
    ]
    order = np.lexsort(order_keys[::-1])
    events = events.iloc[order].reset_index(drop=True)
    return events.astype({name: str for name in ("user_id", "event_type", "item_id", "query", "session_id")})


def _numeric_or_rank(ids: pd.Series) -> np.ndarray:
    """Ids as numbers for sorting when they all are, else their rank as strings."""
    numbers = pd.to_numeric(ids, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(dtype=np.float64)
    return pd.Series(ids.astype(str)).rank(method="dense").to_numpy()


def _movielens_items(movies: pd.DataFrame) -> pd.DataFrame:
    def known(values: pd.Series) -> pd.Series:
        text = values.fillna("").astype(str).str.strip()
        return text.where(~text.str.lower().isin(_MISSING_MARKERS), "")

    title = known(movies["movie_title"])
    year = known(movies["release_year"])
    full_title = title.where(year == "", (title + " (" + year + ")").str.strip())
    genres = movies["class"].fillna("").astype(str).str.split().str.join(" ")
    category = genres.str.split(" ", n=1).str[0].where(genres != "", UNKNOWN_GENRE)
    n = len(movies)
    return pd.DataFrame(
        {
            "item_id": movies["item_id"].astype(str).str.strip(),
            "title": full_title,
            "category": category,
            "genres": genres.where(genres != "", UNKNOWN_GENRE),
            "brand": "",
            "price": np.full(n, np.nan),
            "image": pd.Series([None] * n, dtype=object),
        }
    ).astype({name: str for name in ("item_id", "title", "category", "genres", "brand")})


def load_movielens_features(data_dir: Path | str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens 100K's user table and item attributes, as tables of the shop's own features.

    Returns:
        `(users, item_features)`. users: `user_id` str, `age` float64, `gender`, `occupation`
        str, `zip_prefix` str (the first three characters of the zip code; "" when the code
        is not numeric, as for the Canadian ones). item_features: `item_id` str,
        `release_year` float64 (NaN when unknown), `genres` str (every genre, "|" separated).

    Raises:
        FileNotFoundError: a file is missing; the message names the path.
    """
    users_path = _data_file(data_dir, f"{MOVIELENS_DIR}/{MOVIELENS_USER}")
    movies_path = _data_file(data_dir, f"{MOVIELENS_DIR}/{MOVIELENS_ITEM}")
    raw = _read_atomic(users_path)
    zip_code = raw["zip_code"].str.strip()
    users = pd.DataFrame({
        "user_id": raw["user_id"].str.strip(),
        "age": pd.to_numeric(raw["age"], errors="coerce").astype(np.float64),
        "gender": raw["gender"].str.strip(),
        "occupation": raw["occupation"].str.strip(),
        "zip_prefix": zip_code.str[:3].where(zip_code.str[:3].str.isdigit(), ""),
    })
    movies = _read_atomic(movies_path)
    genres = movies["class"].fillna("").astype(str).str.split().str.join("|")
    item_features = pd.DataFrame({
        "item_id": movies["item_id"].astype(str).str.strip(),
        "release_year": pd.to_numeric(movies["release_year"], errors="coerce").astype(np.float64),
        "genres": genres,
    })
    return users, item_features


def movielens_genres(items: pd.DataFrame) -> dict[str, list[str]]:
    """item_id -> every genre of the movie, in file order (`items` from `load_movielens_100k`)."""
    return {
        str(item_id): str(genres).split()
        for item_id, genres in zip(items["item_id"].tolist(), items["genres"].tolist())
    }


def write_movielens_tables(out_dir: Path | str, data_dir: Path | str | None = None) -> dict[str, Path]:
    """Writes MovieLens 100K as `events.parquet`, `items.parquet` and `users.parquet` in `out_dir`.

    Each file is written under a temporary name beside it, then renamed into place, so a
    reader never sees a half-written table. `items.parquet` holds the contract's columns and
    the attributes of `load_movielens_features` (`release_year`, `genres` "|" separated);
    `users.parquet` the user table, for the configuration's `features`.

    Args:
        out_dir: the folder to write to (created when missing).
        data_dir: the data folder (default: `default_data_dir()`).

    Returns:
        {"events": path, "items": path, "users": path}.
    """
    events, items = load_movielens_100k(data_dir)
    users, attributes = load_movielens_features(data_dir)
    tables = {"events": events, "items": items.drop(columns="genres").merge(attributes, on="item_id", how="left"),
              "users": users}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        paths[name] = out / f"{name}.parquet"
        write_bytes_atomic(paths[name], buffer.getvalue())
    return paths


# ---------------------------------------------------------------------------------------------
# online_shopping_10_cats.


@dataclass(frozen=True)
class TextClassificationData:
    """A labelled text table and what loading it dropped.

    Attributes:
        frame: `query` str (the review, without surrounding whitespace or byte-order
            marks), `category` str (one of 10 product categories), `label` int64 (sentiment:
            1 positive, 0 negative), in file order, index 0..n-1.
        rows_read: data rows in the file.
        dropped_empty: rows dropped because their text was empty.
        source: the file read.
    """

    frame: pd.DataFrame
    rows_read: int
    dropped_empty: int
    source: str


def load_online_shopping(data_dir: Path | str | None = None) -> TextClassificationData:
    """online_shopping_10_cats as a `queries` table: review text and product category.

    The zip holds one CSV, `cat,label,review`. The reviews that open each of its 20
    (category, sentiment) blocks start with a UTF-8 byte-order mark (U+FEFF); byte-order
    marks are removed from the header and the text. Rows whose review is empty are dropped
    and counted (one in the published file).

    Args:
        data_dir: the data folder (default: `default_data_dir()`).

    Returns:
        A `TextClassificationData`.

    Raises:
        FileNotFoundError: the zip is missing; the message names the path.
        ValueError: the zip does not hold exactly one CSV with the columns cat, label, review.
    """
    path = _data_file(data_dir, ONLINE_SHOPPING_ZIP)
    with zipfile.ZipFile(path) as archive:
        members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
        if len(members) != 1:
            raise ValueError(f"{path}: expected one CSV file inside, found {members or 'none'}")
        data = archive.read(members[0])
    source = f"{path}!{members[0]}"
    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    raw.columns = [str(name).replace(_BOM, "").strip() for name in raw.columns]
    missing = [name for name in ("cat", "label", "review") if name not in raw.columns]
    if missing:
        raise ValueError(f"{source}: missing column {', '.join(missing)}; found {', '.join(raw.columns)}")
    text = raw["review"].str.replace(_BOM, "", regex=False).str.strip()
    category = raw["cat"].str.replace(_BOM, "", regex=False).str.strip()
    label = _whole_numbers(raw["label"].str.strip(), Path(source), "label")
    kept = (text != "").to_numpy()
    frame = pd.DataFrame(
        {"query": text[kept].to_numpy(), "category": category[kept].to_numpy(), "label": label[kept]}
    ).astype({"query": str, "category": str})
    return TextClassificationData(frame, len(raw), int((~kept).sum()), source)


def stratified_split(
    frame: pd.DataFrame,
    test_fraction: float = 0.2,
    seed: int = 42,
    label_column: str = "category",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic stratified split into train and test parts.

    The test part has ceil(test_fraction · n) rows, apportioned to the classes by largest
    remainder of test_fraction · class size (ties to the class that sorts first), so every
    class keeps its share to within one row. Within a class, the test rows are the first of a
    `numpy.random.default_rng(seed)` permutation, drawn class by class in sorted order.

    This is the same kind of split as scikit-learn's
    `train_test_split(stratify=..., random_state=seed)` and gives the same or nearly the same
    class sizes, but not the same rows: scikit-learn apportions the train part first, breaks
    ties at random, and draws its permutation with a different generator.

    Args:
        frame: the table to split.
        test_fraction: share of the rows in the test part, in (0, 1).
        seed: seed of the permutation.
        label_column: the column whose classes are kept in proportion.

    Returns:
        `(train, test)`, each in the row order of `frame`, with index 0..n-1.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if label_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise ValueError(f"label_column {label_column!r} is not a column; columns: {columns}")
    labels = frame[label_column].to_numpy()
    classes, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    exact = sizes * test_fraction
    test_sizes = np.floor(exact).astype(np.int64)
    remaining = math.ceil(test_fraction * len(frame)) - int(test_sizes.sum())
    by_remainder = np.lexsort((np.arange(len(classes)), -(exact - test_sizes)))
    test_sizes[by_remainder[:remaining]] += 1
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(frame), dtype=bool)
    for code in range(len(classes)):
        members = np.flatnonzero(codes == code)
        is_test[rng.permutation(members)[: test_sizes[code]]] = True
    return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)


@overload
def first_characters(texts: pd.Series, n: int = ...) -> pd.Series: ...


@overload
def first_characters(texts: Iterable[str], n: int = ...) -> list[str]: ...


def first_characters(texts: pd.Series | Iterable[str], n: int = 12) -> pd.Series | list[str]:
    """The first `n` characters of each text: a short, query-like version of a review.

    Returns:
        A Series (same index) for a Series, else a list.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    if isinstance(texts, pd.Series):
        return texts.astype(str).str.slice(0, n)
    return [str(text)[:n] for text in texts]


def tfidf_svm_reference(
    train: pd.DataFrame,
    test: pd.DataFrame,
    max_chars: int | None = None,
    text_column: str = "query",
    label_column: str = "category",
) -> dict[str, Any]:
    """The published baseline: character 1-3-gram TF-IDF and a linear SVM (scikit-learn).

    `TfidfVectorizer(analyzer="char", ngram_range=(1, 3))` fitted on the training texts,
    then `LinearSVC()` with default settings; scored on the test part.

    Args:
        train, test: tables with `text_column` and `label_column`.
        max_chars: keep only the first `max_chars` characters of every text (None: all).
        text_column, label_column: the columns of text and class.

    Returns:
        {"accuracy", "macro_f1", "train_rows", "test_rows", "features", "seconds"}.

    References:
        SophonPlus ChineseNlpCorpus, online_shopping_10_cats; reference numbers in
        shared/data/README.md (accuracy 0.903 / macro-F1 0.900 on full text, 0.795 / 0.772
        on the first 12 characters).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    train_text, test_text = train[text_column].astype(str), test[text_column].astype(str)
    if max_chars is not None:
        train_text = first_characters(train_text, max_chars)
        test_text = first_characters(test_text, max_chars)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    features = vectorizer.fit_transform(train_text)
    model = LinearSVC().fit(features, train[label_column].to_numpy())
    predicted = model.predict(vectorizer.transform(test_text))
    truth = test[label_column].to_numpy()
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "train_rows": len(train),
        "test_rows": len(test),
        "features": int(features.shape[1]),
        "seconds": time.perf_counter() - start,
    }
