"""The input data contract: tables, columns, and the normalised form the library works on.

Users bring `events`, `items` and optional `queries` tables (CSV, Parquet, JSON Lines or
pandas DataFrames). After reading and validation every table has exactly the columns
below, with these dtypes, whatever the source format was:

events
    user_id: str, timestamp: int64 (epoch seconds, UTC), event_type: str (one of
    the declared event types, `data.event_types`; default EVENT_TYPES), item_id: str (""
    for searches), query: str ("" when none; the column may be missing),
    session_id: str ("" when none), position: int64 (-1 when none), rating: float64
    (explicit feedback such as a MovieLens star rating, on the source's own scale; NaN
    when none), event_number: int64 (the event's place in the log: its file among the
    table's files, then its row in that file, `splits.event_numbers`).
items
    item_id: str (unique), category: str (leaf, or a path "a > b > c"), title: str ("" when
    none; sequential data often has no titles, and the column may be missing), brand: str
    ("" when none), price: float64 (NaN when none), image: bytes or None (the encoded
    PNG/JPEG; a path in the source table is read relative to that table).
queries
    query: str, category: str.
users (optional)
    user_id: str (unique); the columns the configuration's `features` read from it.

Every table also keeps the columns of the shop's own that the `features` section (or a
task's label) names, normalised by their kind.
"""

from __future__ import annotations

# The default event types; a shop declares its own with their roles (`data.event_types`,
# `mtrec_tf.data.event_types`).
EVENT_TYPES: tuple[str, ...] = ("search", "impression", "click", "add_to_cart", "purchase")

EVENTS_REQUIRED: tuple[str, ...] = ("user_id", "timestamp", "event_type", "item_id")
EVENTS_OPTIONAL: tuple[str, ...] = ("query", "session_id", "position", "rating")
ITEMS_REQUIRED: tuple[str, ...] = ("item_id", "category")
ITEMS_OPTIONAL: tuple[str, ...] = ("title", "brand", "price", "image")
QUERIES_REQUIRED: tuple[str, ...] = ("query", "category")
USERS_REQUIRED: tuple[str, ...] = ("user_id",)

TABLE_KINDS: tuple[str, ...] = ("events", "items", "queries", "users")
# What reading does with a bad row ("error": stop, naming it; "skip": drop or repair and count it)
# and with events on items missing from the catalogue (keep as unknown, or drop; counted either way).
BAD_ROW_POLICIES: tuple[str, ...] = ("error", "skip")
UNKNOWN_ITEM_POLICIES: tuple[str, ...] = ("keep", "drop")
CATEGORY_SEPARATOR = " > "


def category_leaf(category: str) -> str:
    """The leaf of a category path: `category_leaf("Home > Kitchen > Cups") == "Cups"`."""
    return category.rsplit(">", 1)[-1].strip()
