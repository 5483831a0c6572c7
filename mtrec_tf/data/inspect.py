"""A summary of the user's data for `mtrec data inspect`: sizes, time range, categories, quality.

Example:
    >>> data = load_data("shop/events.csv", "shop/items.csv")  # doctest: +SKIP
    >>> print(format_report(inspect_data(data)))  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from mtrec_tf.data import schema
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.readers import EcommerceData

TOP_CATEGORIES = 20
_SECONDS_PER_DAY = 86_400


def inspect_data(data: EcommerceData, event_types: EventTypes = DEFAULT_EVENT_TYPES) -> dict[str, Any]:
    """Counts and distributions describing `data`, whose event types play the roles of
    `event_types` (`data.event_types`).

    Returns:
        A dict with keys:
        rows: table -> rows (queries None when there is no queries table);
        time_range: first and last event (ISO-8601, UTC) and the days between, or None;
        event_types: event type -> events, the declared types first (in declared order), then
            those found in the data that are not declared;
        event_roles: declared event type -> its roles (`mtrec_tf.data.event_types`);
        undeclared_event_types: the types found in the data that are not declared (data
            read with `EventTypes.with_undeclared`);
        users: distinct users with events;
        items: items in the catalogue, catalogue items with any event / behaviour event, and
            catalogue items with a title / an image (a model reads titles or images only
            when some item has one);
        interactions: behaviour events (by default click, add_to_cart, purchase);
        user_item_pairs: distinct (user, catalogue item) pairs among behaviour events;
        sparsity: 1 - user_item_pairs / (users * catalogue items), or None when either is 0;
        categories: leaf -> items in the catalogue, and leaf -> events on catalogue items,
            both most frequent first;
        queries: rows of the queries table, and distinct non-empty queries in search events;
        data_quality: one `TableReport.to_dict()` per table;
        unknown_item_events: events whose item is not in the catalogue, and the policy.
    """
    events, items = data.events, data.items
    in_catalogue = events["item_id"].isin(items["item_id"]).to_numpy()
    behaviour = events["event_type"].isin(event_types.behaviour).to_numpy()
    users = int(events["user_id"].nunique())
    pairs = int(events.loc[behaviour & in_catalogue, ["user_id", "item_id"]].drop_duplicates().shape[0])
    cells = users * len(items)
    counts = _event_type_counts(events["event_type"], event_types)
    return {
        "rows": {
            "events": len(events),
            "items": len(items),
            "queries": None if data.queries is None else len(data.queries),
        },
        "time_range": _time_range(events["timestamp"]),
        "event_types": counts,
        "event_roles": {name: list(event_types.roles_of(name)) for name in event_types.names},
        "undeclared_event_types": [name for name in counts if name not in event_types.names],
        "users": users,
        "items": {
            "catalogue": len(items),
            "with_events": int(events.loc[in_catalogue, "item_id"].nunique()),
            "with_behaviour": int(events.loc[behaviour & in_catalogue, "item_id"].nunique()),
            "with_title": int((items["title"] != "").sum()),
            "with_image": int(items["image"].notna().sum()),
        },
        "interactions": int(behaviour.sum()),
        "user_item_pairs": pairs,
        "sparsity": 1.0 - pairs / cells if cells else None,
        "categories": _category_counts(events.loc[in_catalogue, "item_id"], items),
        "queries": _query_counts(events, data.queries, event_types.search),
        **data_quality(data),
    }


def data_quality(data: EcommerceData) -> dict[str, Any]:
    """What reading the tables did: `data_quality` (one `TableReport.to_dict()` per table) and
    `unknown_item_events` (their count and the policy applied)."""
    return {
        "data_quality": [report.to_dict() for report in data.reports],
        "unknown_item_events": {"count": data.unknown_item_events, "policy": data.unknown_items_policy},
    }


def _time_range(timestamps: pd.Series) -> dict[str, Any] | None:
    if timestamps.empty:
        return None
    first, last = int(timestamps.min()), int(timestamps.max())
    return {"first": _iso(first), "last": _iso(last), "days": (last - first) / _SECONDS_PER_DAY}


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _event_type_counts(values: pd.Series, event_types: EventTypes) -> dict[str, int]:
    counts = values.value_counts()
    found = sorted(str(name) for name in counts.index if name not in event_types.names)
    return {event_type: int(counts.get(event_type, 0)) for event_type in (*event_types.names, *found)}


def _category_counts(event_item_ids: pd.Series, items: pd.DataFrame) -> dict[str, dict[str, int]]:
    leaves = items["category"].map(schema.category_leaf)
    leaf_of_item = pd.Series(leaves.to_numpy(), index=items["item_id"].to_numpy())
    event_leaves = event_item_ids.map(leaf_of_item)
    return {"catalogue": _sorted_counts(leaves), "events": _sorted_counts(event_leaves)}


def _sorted_counts(values: pd.Series) -> dict[str, int]:
    counts = values.value_counts()
    ordered = sorted(counts.items(), key=lambda pair: (-pair[1], str(pair[0])))
    return {str(value): int(count) for value, count in ordered}


def _query_counts(events: pd.DataFrame, queries: pd.DataFrame | None, search: str) -> dict[str, int]:
    searches = events.loc[(events["event_type"] == search).to_numpy(), "query"]
    return {
        "labelled": 0 if queries is None else len(queries),
        "distinct_searched": int(searches[searches != ""].nunique()),
    }


def format_report(report: dict[str, Any]) -> str:
    """The output of `inspect_data` as plain text for the terminal."""
    sections = [
        _tables_section(report),
        _time_section(report),
        _events_section(report),
        _users_items_section(report),
        _categories_section(report),
        _queries_section(report),
        _quality_section(report),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _tables_section(report: dict[str, Any]) -> list[str]:
    rows = report["rows"]
    lines = ["Tables"]
    for table, count in rows.items():
        lines.append(f"  {table:<12} {'(none)' if count is None else f'{count:,} rows'}")
    return lines


def _time_section(report: dict[str, Any]) -> list[str]:
    span = report["time_range"]
    if span is None:
        return ["Time range", "  (no events)"]
    return ["Time range", f"  {span['first']} to {span['last']} ({span['days']:,.1f} days)"]


def _events_section(report: dict[str, Any]) -> list[str]:
    total = sum(report["event_types"].values())
    lines = ["Event types (roles: data.event_types)"]
    undeclared = report["undeclared_event_types"]
    for event_type, count in report["event_types"].items():
        roles = ", ".join(report["event_roles"].get(event_type, ())) or "no role"
        about = "not declared" if event_type in undeclared else roles
        lines.append(f"  {event_type:<12} {count:>12,}  {_percent(count, total)}  {about}".rstrip())
    if undeclared:
        lines.append(f"  declare {', '.join(undeclared)} in data.event_types to train on them (a training run "
                     "refuses undeclared types); --suggest-features FILE proposes their roles")
    return lines


def _users_items_section(report: dict[str, Any]) -> list[str]:
    items = report["items"]
    sparsity = report["sparsity"]
    return [
        "Users and items",
        f"  users                          {report['users']:,}",
        f"  items in catalogue             {items['catalogue']:,}",
        f"  items with events              {items['with_events']:,}",
        f"  items with behaviour events    {items['with_behaviour']:,}",
        f"  items with a title             {items['with_title']:,}",
        f"  items with an image            {items['with_image']:,}",
        f"  interactions (behaviour events)  {report['interactions']:,}",
        f"  distinct user-item pairs       {report['user_item_pairs']:,}",
        f"  sparsity                       {'n/a' if sparsity is None else f'{sparsity:.6f}'}",
    ]


def _categories_section(report: dict[str, Any]) -> list[str]:
    catalogue = report["categories"]["catalogue"]
    events = report["categories"]["events"]
    lines = [f"Categories ({len(catalogue):,} leaves; items in catalogue, events on them)"]
    for leaf, count in list(catalogue.items())[:TOP_CATEGORIES]:
        lines.append(f"  {leaf:<24} {count:>10,} items {events.get(leaf, 0):>12,} events")
    if len(catalogue) > TOP_CATEGORIES:
        lines.append(f"  ... and {len(catalogue) - TOP_CATEGORIES:,} more leaves")
    return lines


def _queries_section(report: dict[str, Any]) -> list[str]:
    queries = report["queries"]
    return [
        "Queries",
        f"  labelled queries (queries table)   {queries['labelled']:,}",
        f"  distinct queries in search events  {queries['distinct_searched']:,}",
    ]


def format_quality(report: dict[str, Any]) -> str:
    """The `data_quality` part of a report (`data_quality(data)` or `inspect_data`) as text."""
    return "\n".join(_quality_section(report))


def _quality_section(report: dict[str, Any]) -> list[str]:
    unknown = report["unknown_item_events"]
    action = "kept as out-of-vocabulary" if unknown["policy"] == "keep" else "dropped"
    lines = ["Data quality"]
    for table in report["data_quality"]:
        lines.append(
            f"  {table['kind']} ({table['source']}): {table['rows_read']:,} rows read, "
            f"{table['rows_kept']:,} kept"
        )
        lines += [f"    dropped  {n:>10,}  {reason}" for reason, n in table["dropped"].items()]
        lines += [f"    repaired {n:>10,}  {reason}" for reason, n in table["repaired"].items()]
        lines += [f"    e.g. {message}" for message in table["examples"]]
        lines += [f"    note: {note}" for note in table["notes"]]
    lines.append(f"  unknown-item events: {unknown['count']:,} ({action})")
    return lines


def _percent(count: int, total: int) -> str:
    return f"{100.0 * count / total:5.1f}%" if total else "    -"
