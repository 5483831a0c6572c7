"""Ask a running server for one shop user's recommendations, through the REST client.

    python -m serving.demo --server http://127.0.0.1:8501 --events EVENTS --items ITEMS

Picks the user with the latest activity in the events table, sends their recent behaviour
and last search, and prints the recommended items, the scores of a few candidates and the
categories of the search, with titles from the items table. Works against TF Serving and
the development server alike; never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import cast

import pandas as pd

from serving.client import RestClient
from serving.client_errors import ServingError
from serving.requests_builder import UserRequest

# The default event types that form a user's behaviour history, and the search's; an export's
# contract says its own (`Contract.event_roles`).
BEHAVIOUR_EVENT_TYPES = ("click", "add_to_cart", "purchase")
SEARCH_EVENT_TYPE = "search"


def wait_until_available(client: RestClient, seconds: float) -> None:
    """Polls the model status until a version is AVAILABLE."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if any(status.state == "AVAILABLE" for status in client.status()):
                return
        except ServingError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"no model version became available at {client.model_url} within {seconds:.0f} s")
        time.sleep(0.5)


def latest_user(events: pd.DataFrame, history_length: int, behaviour: Sequence[str] = BEHAVIOUR_EVENT_TYPES,
                search: str = SEARCH_EVENT_TYPE, history_searches: bool = False) -> UserRequest:
    """The most recently active user, with their last behaviour events (and, with
    `history_searches`, their searches as history steps: the query text, the search type)
    and their last search."""
    events = events.sort_values("timestamp", kind="stable")
    user = events["user_id"].iloc[-1]
    mine = events[events["user_id"] == user]
    now = int(mine["timestamp"].max())
    searches = mine[(mine["event_type"] == search) & (mine["query"] != "")]
    steps = mine["event_type"].isin(behaviour) | (mine.index.isin(searches.index) if history_searches else False)
    history = [(row.query if row.event_type == search else row.item_id, row.event_type,
                float(now - row.timestamp)) for row in mine[steps].tail(history_length).itertuples()]
    return UserRequest(str(user), history, str(searches["query"].iloc[-1]) if len(searches) else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8501", help="REST address of TF Serving or mtrec serve")
    parser.add_argument("--model-name", default="mtrec")
    parser.add_argument("--events", required=True, help="events table (Parquet)")
    parser.add_argument("--items", required=True, help="items table (Parquet)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the model to be available")
    args = parser.parse_args(argv)

    items = pd.read_parquet(args.items).set_index("item_id")
    events = pd.read_parquet(args.events)

    def describe(item_id: str) -> str:
        if item_id not in items.index:
            return item_id
        title = items.at[item_id, "title"] if "title" in items.columns else ""  # titles are optional
        title = title if isinstance(title, str) else ""
        return f"{item_id}  {title[:40]:40}  [{items.at[item_id, 'category']}]"

    with RestClient(args.server, model_name=args.model_name) as client:
        wait_until_available(client, args.wait)
        contract = client.contract()
        roles = {} if contract is None else {role: contract.event_types_playing(role)
                                             for role in ("behaviour", "search")}
        user = latest_user(events, history_length=10, behaviour=roles.get("behaviour") or BEHAVIOUR_EVENT_TYPES,
                           search=(roles.get("search") or [SEARCH_EVENT_TYPE])[0],
                           history_searches=contract is not None and contract.history_searches)
        print(f"user {user.user_id}, last search {user.query!r}, recent behaviour:")
        recent = cast(list[tuple[str, str, float]], user.history[-5:])  # `latest_user` makes triples
        for item_id, event_type, seconds_ago in recent:
            print(f"  {event_type:11} {seconds_ago / 3600:7.1f} h ago  {describe(item_id)}")
        recommendations = client.recommend(user.user_id, user.history, user.query, k=args.k)
        print(f"\ntop {args.k} recommendations:")
        for rank, (item_id, score) in enumerate(recommendations, start=1):
            print(f"  {rank:2}. {score:6.3f}  {describe(item_id)}")
        candidates = [item_id for item_id, _ in recommendations[:3]]
        print("\nclick and purchase probabilities of the first three:")
        for row in client.score(user.user_id, user.history, user.query, candidates):
            print(f"  ctr {row['ctr']:.3f}  cvr {row['cvr']:.3f}  ctcvr {row['ctcvr']:.4f}  {row['item_id']}")
        if user.query:
            print(f"\ncategories of the search {user.query!r}:")
            for category, probability in client.classify_query([user.query])[0][:3]:
                print(f"  {probability:.3f}  {category}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
