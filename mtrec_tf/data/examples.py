"""Training examples for every task, built from the event log, with a label mask per task.

Every example has the same columns, so all tasks share one tf.data pipeline; a task whose
mask is 0 on an example takes nothing from it. The roles of the event types
(`mtrec_tf.data.event_types`) say which events are searches, impressions, clicks, purchases,
next-item targets and behaviour. The kinds of example:

- `query`: a search with a query, labelled with the category of the first item clicked
  after it in the same session (and the rows of the explicit `queries` table, in training);
- `impression`: an item shown to a user, labelled `ctr` (clicked) and `cvr` (clicked and
  then bought), both over the entire impression space as in ESMM, and with the label of
  each task that names an `event_type` (followed by an event of that type); in training, an
  impression of an item whose image is in the image task's training items also carries
  that item's category as an `image_category` label, so the image task learns from every
  impression the model encodes anyway; an impression with a `rating` (explicit feedback,
  such as MovieLens stars) carries it as a `rating` label;
- `next_item`: a click, whose target is the clicked item;
- `image`: a catalogue item, labelled with its category (items are split by a seeded
  permutation, since the catalogue has no time).

Every example carries the user's behaviour history (by default click, add to cart, purchase)
strictly before its timestamp, most recent last, at most `history_length` events; with a random
split, whose parts are not ordered in time, only training events enter histories. With
`history_searches`, the user's past searches that have a query enter the history too, each
step holding the query's text in place of an item id. Labels come only from events in the
example's own part of the split.

Items features (the default set's title, category, brand, price and image, and the shop's
own) are not copied into examples: the catalogue is known at serving time, and the
model looks them up by item id. The configuration's events and users features are: an
example carries the value of the event it was built from and of its user's profile, under
the feature's name (missing for examples of no event: images, labelled queries).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.membership import is_in, members
from mtrec_tf.data.splits import EVENT_NUMBER, PARTS, TRAIN, EventSplit
from mtrec_tf.features.columns import event_feature_values, feature_dtype

if TYPE_CHECKING:
    from mtrec_tf.config import TaskConfig
    from mtrec_tf.features.spec import FeatureConfig

EXAMPLE_TYPES: tuple[str, ...] = ("query", "impression", "next_item", "image")

SCALAR_FEATURES: dict[str, pa.DataType] = {
    "example_type": pa.string(),
    "user_id": pa.string(),
    "timestamp": pa.int64(),
    "query": pa.string(),
    "item_id": pa.string(),
    "position": pa.int64(),
}
HISTORY_FEATURES: dict[str, pa.DataType] = {
    "history_item_ids": pa.string(),
    "history_event_types": pa.string(),
    "history_time_gaps": pa.float32(),
}
# Labels derived from the event log (see the module docstring).
DERIVED_LABELS: dict[str, pa.DataType] = {
    "query_category": pa.string(),
    "ctr": pa.float32(),
    "cvr": pa.float32(),
    "next_item": pa.string(),
    "image_category": pa.string(),
}
# Columns of the events table that are labels whenever the table has them (explicit feedback).
STANDARD_LABEL_COLUMNS: dict[str, pa.DataType] = {"rating": pa.float32()}
LABEL_TYPES: dict[str, pa.DataType] = {"string": pa.string(), "float32": pa.float32()}


def label_columns(tasks: Sequence[TaskConfig]) -> dict[str, pa.DataType]:
    """The events columns the examples carry as labels: the standard ones and every task label
    that is neither derived from the log nor from an event type, typed by its task's type."""
    from mtrec_tf.tasks import task_type

    columns = dict(STANDARD_LABEL_COLUMNS)
    for task in tasks:
        if task.label not in DERIVED_LABELS and not task.event_type:
            columns.setdefault(task.label, LABEL_TYPES[task_type(task.type).label_dtype])
    return columns


def event_type_labels(tasks: Sequence[TaskConfig]) -> dict[str, str]:
    """Label -> event type of the tasks labelled by an event type (`tasks.<name>.event_type`)."""
    return {task.label: task.event_type for task in tasks if task.event_type}


def label_counts(table: pa.Table) -> dict[str, int]:
    """How many examples of `table` carry each label (mask above 0)."""
    import pyarrow.compute as pc

    return {name[5:]: int(pc.sum(pc.greater(table.column(name), 0)).as_py() or 0)
            for name in table.column_names if name.startswith("mask_")}


def event_column_kinds(columns: Mapping[str, pa.DataType]) -> dict[str, str]:
    """What `readers.load_data(event_columns=...)` keeps of each label column: numbers or text."""
    return {name: "text" if dtype == pa.string() else "number" for name, dtype in columns.items()}


def example_schema(labels: Mapping[str, pa.DataType], features: Mapping[str, pa.DataType] | None = None) -> pa.Schema:
    """The columns of every example: its own features, the configuration's events and users
    features, then a label and a mask per label name."""
    return pa.schema(
        [pa.field(name, dtype) for name, dtype in SCALAR_FEATURES.items()]
        + [pa.field(name, pa.list_(dtype)) for name, dtype in HISTORY_FEATURES.items()]
        + [pa.field(name, dtype) for name, dtype in (features or {}).items()]
        + [pa.field(f"label_{label}", dtype) for label, dtype in labels.items()]
        + [pa.field(f"mask_{label}", pa.float32()) for label in labels]
    )


# The examples' columns with the standard labels only.
EXAMPLE_SCHEMA = example_schema({**DERIVED_LABELS, **STANDARD_LABEL_COLUMNS})


@dataclasses.dataclass
class ExampleReport:
    """How many examples of each type went to each part, and what could not become one."""

    counts: dict[str, dict[str, int]]
    skipped: dict[str, int]

    def lines(self) -> list[str]:
        rows = [f"{'':12}" + "".join(f"{part:>12}" for part in PARTS)]
        for kind in EXAMPLE_TYPES:
            rows.append(f"{kind:12}" + "".join(f"{self.counts[p].get(kind, 0):>12,}" for p in PARTS))
        rows += [f"skipped: {reason}: {n:,}" for reason, n in self.skipped.items() if n]
        return rows


@dataclasses.dataclass(frozen=True)
class CatalogueLookups:
    """What the examples of every piece of a log look up in the catalogue, made once per run:
    each item's category, the item ids (`membership.members`), the `image` examples of the
    catalogue (split by a seeded permutation of its items) and the category of each item whose
    image is in their training part."""

    category_of: pd.Series
    item_ids: pa.Array
    image_examples: pd.DataFrame
    train_image_category: pd.Series

    @classmethod
    def of(cls, items: pd.DataFrame, image_validation_fraction: float = 0.1, image_test_fraction: float = 0.1,
           seed: int = 0) -> CatalogueLookups:
        images = _image_examples(items, image_validation_fraction, image_test_fraction, seed)
        train_images = images.loc[images["part"] == TRAIN, ["item_id", "label_image_category"]]
        return cls(pd.Series(items["category"].to_numpy(), index=items["item_id"].to_numpy()),
                   members(items["item_id"]), images, train_images.set_index("item_id")["label_image_category"])


@dataclasses.dataclass
class Examples:
    """Examples of each part as Arrow tables (`example_schema` of their labels), and their report."""

    parts: dict[str, pa.Table]
    report: ExampleReport


def build_examples(
    events: pd.DataFrame,
    items: pd.DataFrame,
    split: EventSplit,
    *,
    queries: pd.DataFrame | None = None,
    history_length: int = 50,
    image_validation_fraction: float = 0.1,
    image_test_fraction: float = 0.1,
    seed: int = 0,
    columns: Mapping[str, pa.DataType] | None = None,
    features: Sequence[FeatureConfig] = (),
    users: pd.DataFrame | None = None,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
    event_labels: Mapping[str, str] | None = None,
    history_searches: bool = False,
    catalogue_examples: bool = True,
    lookups: CatalogueLookups | None = None,
) -> Examples:
    """Builds the examples of every task from normalised events and items.

    Args:
        events: the events table in normalised form (`mtrec_tf.data.schema`).
        items: the catalogue in normalised form.
        split: the part of every event, aligned with `events` rows.
        queries: optional explicitly labelled queries, added to the training part.
        history_length: the most behaviour events an example carries.
        image_validation_fraction, image_test_fraction: items held out for `image`.
        seed: seed of the item permutation that splits the `image` examples.
        columns: label columns of the events table (`label_columns`; default the standard
            ones): an example built from an event carries that event's value, its mask set
            where the value is present (a number, or non-empty text). Columns the events
            table lacks are left out of the examples.
        features: the configuration's features; the examples carry those of the events and
            users tables (`mtrec_tf.features.columns.event_feature_values`).
        users: the users table, for users features.
        event_types: the roles of the event types (`data.event_types`).
        event_labels: label -> event type (`event_type_labels`): impression examples carry
            each such label, 1 where an event of that type on the impression's item follows
            it in its session (attributed as the click is for `ctr`), else 0.
        history_searches: histories hold past searches too (`data.history_includes_searches`).
        catalogue_examples: whether to add the examples of no event (`image` examples, the
            `queries` table's); False builds a piece of the log grouped by user, whose
            examples are its events' (the catalogue's are built once, from no events).
        lookups: `CatalogueLookups.of(items, image_validation_fraction, image_test_fraction,
            seed)`, made once for the pieces of a log (default: made here).

    Examples of each part are in time order, ties by kind of example and then by the event's
    place in the log (its `event_number` where `events` is a piece of a larger log).

    Returns:
        `Examples` with one Arrow table per part, in `example_schema` of the labels.
    """
    columns = {name: dtype for name, dtype in (STANDARD_LABEL_COLUMNS if columns is None else columns).items()
               if name in events.columns}
    log = _EventLog(events, split, history_length, columns, event_types, history_searches)
    for label, event_type in (event_labels or {}).items():
        # Carried as a label column of the events: set on impressions, missing on the rest.
        log.events[label] = _followed_by(log, event_type)
        columns[label] = pa.float32()
    log.features, log.users = tuple(f for f in features if f.table != "items"), users
    lookups = lookups or CatalogueLookups.of(items, image_validation_fraction, image_test_fraction, seed)
    skipped: dict[str, int] = {}
    frames = [
        _query_examples(log, lookups.category_of, lookups.item_ids, skipped),
        _impression_examples(log, lookups.train_image_category),
        _next_item_examples(log, lookups.item_ids, skipped),
    ]
    if catalogue_examples:
        if queries is not None and len(queries):
            frames.append(_explicit_query_examples(queries))
        frames.append(lookups.image_examples)
        skipped["catalogue items without an image"] = len(items) - len(lookups.image_examples)
    frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)

    parts: dict[str, pa.Table] = {}
    counts: dict[str, dict[str, int]] = {}
    for index, name in enumerate(PARTS):
        selected = frame[frame["part"] == index].sort_values(
            ["timestamp", "type_order", "order"], kind="stable"
        )
        parts[name] = _to_table(selected, log, columns)
        counts[name] = {k: int(v) for k, v in selected["example_type"].value_counts().items()}
    return Examples(parts, ExampleReport(counts, skipped))


class _EventLog:
    """Events sorted by user and time, with the index needed to cut histories."""

    def __init__(self, events: pd.DataFrame, split: EventSplit, history_length: int,
                 columns: Mapping[str, pa.DataType] | None = None, event_types: EventTypes = DEFAULT_EVENT_TYPES,
                 history_searches: bool = False):
        order = events[EVENT_NUMBER].to_numpy(dtype=np.int64) if EVENT_NUMBER in events else np.arange(len(events))
        frame = events.assign(part=split.part, row=np.arange(len(events)), order=order)
        self.events = frame
        self.event_types = event_types
        self.columns = dict(columns or {})
        self.features: tuple[FeatureConfig, ...] = ()
        self.users: pd.DataFrame | None = None
        self.history_length = history_length
        steps = frame["event_type"].isin(event_types.behaviour)
        if history_searches:
            steps |= (frame["event_type"] == event_types.search) & (frame["query"] != "")
        behaviour = frame[steps]
        if split.method == "random":
            behaviour = behaviour[behaviour["part"] == TRAIN]
        self.user_codes = {u: i for i, u in enumerate(pd.unique(frame["user_id"]))}
        min_ts = int(frame["timestamp"].min()) if len(frame) else 0
        self._min_ts = min_ts
        self._span = (int(frame["timestamp"].max()) - min_ts + 1) if len(frame) else 1
        keys = self.keys(behaviour["user_id"], behaviour["timestamp"])
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        # A search step holds its query where an item step holds the item id.
        searched = (behaviour["event_type"] == event_types.search).to_numpy()
        self._items = np.where(searched, behaviour["query"].to_numpy(dtype=object),
                               behaviour["item_id"].to_numpy(dtype=object))[order]
        self._types = behaviour["event_type"].to_numpy(dtype=object)[order]
        self._times = behaviour["timestamp"].to_numpy(dtype=np.int64)[order]

    def of_role(self, role: str) -> pd.DataFrame:
        """The events of the type that plays `role` (`event_types.SINGLE_ROLES`)."""
        return self.events[self.events["event_type"] == self.event_types.only(role)]

    def keys(self, users: pd.Series, timestamps: pd.Series) -> np.ndarray:
        codes = users.map(self.user_codes).to_numpy(dtype=np.int64)
        return codes * self._span + (timestamps.to_numpy(dtype=np.int64) - self._min_ts)

    def history(self, users: pd.Series, timestamps: pd.Series) -> dict[str, pa.Array]:
        """The last `history_length` behaviour events of each user strictly before each time."""
        if len(users) == 0 or len(self._keys) == 0:
            empty = np.zeros(len(users) + 1, dtype=np.int32)
            return {
                name: pa.ListArray.from_arrays(pa.array(empty), pa.array([], type=dtype))
                for name, dtype in HISTORY_FEATURES.items()
            }
        keys = self.keys(users, timestamps)
        user_start = self.keys(users, pd.Series(np.full(len(users), self._min_ts)))
        end = np.searchsorted(self._keys, keys, side="left")
        begin = np.maximum(np.searchsorted(self._keys, user_start, side="left"), end - self.history_length)
        lengths = end - begin
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        flat = np.repeat(begin - offsets[:-1], lengths) + np.arange(offsets[-1])
        gaps = np.repeat(timestamps.to_numpy(dtype=np.int64), lengths) - self._times[flat]
        values = {
            "history_item_ids": pa.array(self._items[flat], type=pa.string()),
            "history_event_types": pa.array(self._types[flat], type=pa.string()),
            "history_time_gaps": pa.array(gaps.astype(np.float32), type=pa.float32()),
        }
        return {name: pa.ListArray.from_arrays(pa.array(offsets), v) for name, v in values.items()}


def _attribute(later: pd.DataFrame, earlier: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Matches each `later` event to the last `earlier` event with the same `by` keys at or
    before it; returns `later` with the matched earlier row number in `matched_row` (-1 none)."""
    left = later.sort_values("timestamp", kind="stable")
    right = earlier[by + ["timestamp", "row"]].rename(columns={"row": "matched_row"})
    right = right.sort_values("timestamp", kind="stable")
    merged = pd.merge_asof(left, right, on="timestamp", by=by, direction="backward")
    merged["matched_row"] = merged["matched_row"].fillna(-1).astype(np.int64)
    return merged


def _query_examples(log: _EventLog, category_of: pd.Series, catalogue: pa.Array, skipped: dict[str, int]
                    ) -> pd.DataFrame:
    searches = log.of_role("search")
    searches = searches[searches["query"] != ""]
    clicks = log.of_role("click")
    clicks = clicks[is_in(clicks["item_id"], catalogue)]
    matched = _attribute(clicks, searches, ["user_id", "session_id", "part"])
    matched = matched[matched["matched_row"] >= 0].sort_values(["timestamp", "row"], kind="stable")
    first_click = matched.drop_duplicates("matched_row", keep="first")
    label = pd.Series(
        first_click["item_id"].map(category_of).to_numpy(), index=first_click["matched_row"].to_numpy()
    )
    labelled = searches[searches["row"].isin(label.index)]
    skipped["searches without a click on a catalogue item"] = len(searches) - len(labelled)
    return _frame(
        labelled, "query", item_id="", position=-1,
        labels={"query_category": labelled["row"].map(label).to_numpy()},
    )


_IMPRESSION_KEYS = ["user_id", "session_id", "item_id", "part"]


def _attributed_rows(log: _EventLog, event_type: str) -> set[int]:
    """The impressions (rows) followed by an event of `event_type` on their item, in their
    session and part: each such event goes to the last impression at or before it."""
    later = log.events[log.events["event_type"] == event_type]
    matched = _attribute(later, log.of_role("impression"), _IMPRESSION_KEYS)
    return set(matched.loc[matched["matched_row"] >= 0, "matched_row"])


def _followed_by(log: _EventLog, event_type: str) -> np.ndarray:
    """Per event: 1 on an impression followed by an event of `event_type`, 0 on any other
    impression, NaN on other events."""
    impression = (log.events["event_type"] == log.event_types.impression).to_numpy()
    followed = log.events["row"].isin(_attributed_rows(log, event_type)).to_numpy()
    return np.where(impression, followed.astype(np.float64), np.nan)


def _impression_examples(log: _EventLog, train_image_category: pd.Series) -> pd.DataFrame:
    impressions = log.of_role("impression")
    rows = impressions["row"]
    click = rows.isin(_attributed_rows(log, log.event_types.click)).to_numpy()
    conversion = click & rows.isin(_attributed_rows(log, log.event_types.purchase)).to_numpy()
    frame = _frame(
        impressions, "impression",
        labels={"ctr": click.astype(np.float32), "cvr": conversion.astype(np.float32)},
    )
    category = frame["item_id"].map(train_image_category)
    labelled = category.notna().to_numpy() & (frame["part"].to_numpy() == TRAIN)
    frame["label_image_category"] = category.where(labelled, "").astype(object)
    frame["mask_image_category"] = labelled.astype(np.float32)
    return frame


def _next_item_examples(log: _EventLog, catalogue: pa.Array, skipped: dict[str, int]) -> pd.DataFrame:
    clicks = log.of_role("next_item")
    known = is_in(clicks["item_id"], catalogue)
    skipped["clicks on items outside the catalogue (no next_item target)"] = int((~known).sum())
    clicks = clicks[known]
    # The clicked item is the target, never a feature of its own example.
    return _frame(clicks, "next_item", item_id="", labels={"next_item": clicks["item_id"].to_numpy()})


def _explicit_query_examples(queries: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"query": queries["query"].to_numpy(), "user_id": "", "session_id": "", "timestamp": 0,
         "part": TRAIN, "row": -1 - np.arange(len(queries))}
    )
    return _frame(frame, "query", item_id="", position=-1,
                  labels={"query_category": queries["category"].to_numpy()}, history=False)


def build_query_examples(queries: pd.DataFrame) -> pa.Table:
    """`query` examples of a labelled queries table alone (text classification without a
    shop log), with the derived labels only."""
    empty = pd.DataFrame({name: pd.Series(dtype=object) for name in
                          ("user_id", "event_type", "item_id", "query", "session_id")})
    empty["timestamp"] = pd.Series(dtype=np.int64)
    empty["position"] = pd.Series(dtype=np.int64)
    log = _EventLog(empty, EventSplit(np.zeros(0, dtype=np.int8), "time"), history_length=1)
    return _to_table(_explicit_query_examples(queries), log)


def _image_examples(items: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int
                    ) -> pd.DataFrame:
    has_image = items["image"].notna().to_numpy() if "image" in items else np.zeros(len(items), bool)
    with_image = items[has_image]
    n = len(with_image)
    rank = np.empty(n, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n)] = np.arange(n)
    part = np.full(n, TRAIN, dtype=np.int8)
    part[rank >= n * (1.0 - validation_fraction - test_fraction)] = 1
    part[rank >= n * (1.0 - test_fraction)] = 2
    frame = pd.DataFrame(
        {"item_id": with_image["item_id"].to_numpy(), "user_id": "", "session_id": "", "query": "",
         "timestamp": 0, "part": part, "row": -1 - np.arange(n)}
    )
    return _frame(frame, "image", position=-1,
                  labels={"image_category": with_image["category"].to_numpy()}, history=False)


def _frame(source: pd.DataFrame, example_type: str, *, labels: dict[str, np.ndarray],
           item_id: str | None = None, position: int | None = None, history: bool = True) -> pd.DataFrame:
    """Examples of one type in the common column layout (history still to be cut)."""
    n = len(source)
    frame = pd.DataFrame({
        "example_type": example_type,
        "type_order": EXAMPLE_TYPES.index(example_type),
        "part": source["part"].to_numpy(),
        "row": source["row"].to_numpy(),
        "order": source["order"].to_numpy() if "order" in source else source["row"].to_numpy(),
        "has_history": history,
        "user_id": source["user_id"].to_numpy(),
        "timestamp": source["timestamp"].to_numpy(dtype=np.int64),
        "query": source["query"].to_numpy(),
        "item_id": source["item_id"].to_numpy() if item_id is None else item_id,
        "position": source["position"].to_numpy(dtype=np.int64) if position is None else position,
    }, index=pd.RangeIndex(n))
    for label, dtype in DERIVED_LABELS.items():
        frame[f"label_{label}"] = labels[label] if label in labels else _missing(dtype)
        frame[f"mask_{label}"] = np.float32(label in labels)
    return frame


def _missing(dtype: pa.DataType) -> object:
    return "" if dtype == pa.string() else np.float32(0)


def _to_table(frame: pd.DataFrame, log: _EventLog, columns: Mapping[str, pa.DataType] | None = None) -> pa.Table:
    columns = dict(columns or {})
    schema = example_schema({**DERIVED_LABELS, **columns}, {f.name: feature_dtype(f) for f in log.features})
    if not len(frame):  # an empty frame's columns may have any dtype
        return schema.empty_table()
    with_history = frame["has_history"].to_numpy(dtype=bool)
    subset = frame[with_history].reset_index(drop=True)
    history = _spread(log.history(subset["user_id"], subset["timestamp"]), with_history)
    arrays = {}
    for name, dtype in SCALAR_FEATURES.items():
        arrays[name] = pa.array(frame[name].to_numpy(), type=dtype)
    arrays.update(history)
    arrays.update(event_feature_values(log.features, log.events, frame["row"].to_numpy(), log.users,
                                       frame["user_id"].to_numpy()))
    for label, dtype in DERIVED_LABELS.items():
        arrays[f"label_{label}"] = pa.array(frame[f"label_{label}"].to_numpy(), type=dtype)
    labels, masks = _column_labels(frame["row"].to_numpy(), log, columns)
    arrays.update({f"label_{name}": values for name, values in labels.items()})
    for label in DERIVED_LABELS:
        arrays[f"mask_{label}"] = pa.array(frame[f"mask_{label}"].to_numpy(dtype=np.float32))
    arrays.update({f"mask_{name}": values for name, values in masks.items()})
    return pa.table(arrays, schema=schema)


def _column_labels(rows: np.ndarray, log: _EventLog, columns: Mapping[str, pa.DataType]
                   ) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The value of each label column on the event each example was built from (`rows` >= 0),
    and masks that are 1 where it is present; examples of no event have none."""
    from_event = rows >= 0
    labels, masks = {}, {}
    for name, dtype in columns.items():
        if len(log.events):
            source = log.events[name].to_numpy()[np.where(from_event, rows, 0)]
        else:
            source = np.full(len(rows), None, dtype=object)
        if dtype == pa.string():
            values = np.asarray([v if isinstance(v, str) else "" for v in source], dtype=object)
            present = from_event & (values != "")
            values = np.where(present, values, "")
        else:
            values = pd.to_numeric(pd.Series(source), errors="coerce").to_numpy(dtype=np.float64)
            present = from_event & np.isfinite(values)
            values = np.where(present, values, 0.0)
        labels[name] = pa.array(values, type=dtype)
        masks[name] = pa.array(present.astype(np.float32))
    return labels, masks


def _spread(history: dict[str, pa.Array], rows: np.ndarray) -> dict[str, pa.Array]:
    """Lists for the rows where `rows` is True, in order; empty lists elsewhere."""
    result = {}
    for name, lists in history.items():
        lengths = np.zeros(len(rows), dtype=np.int64)
        lengths[rows] = np.diff(lists.offsets.to_numpy())
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        result[name] = pa.ListArray.from_arrays(pa.array(offsets), lists.flatten())
    return result
