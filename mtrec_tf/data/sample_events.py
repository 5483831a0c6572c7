"""More event types for the sample shop (`mtrec data sample --event-types extended`).

A real shop logs more behaviour than clicks, carts and purchases. The extended sample adds
two types on top of the default events, which it leaves as they are:

- `view`: before a click, the user looks at another item of the clicked item's category
  (one second before the click, for `VIEW_SHARE` of the clicks): weak behaviour that says
  what the user is shopping for;
- `favorite`: between a click and the add-to-cart of the same item in the session (one
  second before the cart, for `FAVORITE_CARTED_SHARE` of the carted clicks), and one second
  after `FAVORITE_OTHER_SHARE` of the other clicks: behaviour that says the user liked it.

`EXTENDED_EVENT_TYPES` declares them (`data.event_types`) as behaviour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_tf.data.event_types import EventTypes

VIEW_SHARE = 0.6
FAVORITE_CARTED_SHARE = 0.6
FAVORITE_OTHER_SHARE = 0.08

EXTENDED_EVENT_TYPES = EventTypes.from_mapping({
    "search": ["search"],
    "impression": ["impression"],
    "view": ["behaviour"],
    "click": ["click", "behaviour", "next_item"],
    "favorite": ["behaviour"],
    "add_to_cart": ["behaviour"],
    "purchase": ["purchase", "behaviour"],
})


def with_extended_events(events: pd.DataFrame, items: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`events` (the sample's, in time order) with `view` and `favorite` events added (see
    the module docstring), in time order; the same seed gives the same events."""
    rng = np.random.default_rng([seed, 22])
    clicks = events[events["event_type"] == "click"]
    views = _views(clicks, items, rng)
    favorites = _favorites(clicks, events[events["event_type"] == "add_to_cart"], rng)
    added = pd.concat([views, favorites], ignore_index=True)
    # Stable: ties keep the default events first, so an event never moves before its cause.
    merged = pd.concat([events, added[events.columns]], ignore_index=True)
    return merged.sort_values(["timestamp", "user_id"], kind="stable").reset_index(drop=True)


def _views(clicks: pd.DataFrame, items: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    viewed = clicks[rng.random(len(clicks)) < VIEW_SHARE]
    by_category = items.groupby("category")["item_id"].apply(lambda ids: ids.to_numpy())
    category = viewed["item_id"].map(pd.Series(items["category"].to_numpy(), index=items["item_id"].to_numpy()))
    pools = category.map(by_category)
    pick = [pool[int(u * len(pool))] for pool, u in zip(pools, rng.random(len(pools)))]
    return viewed.assign(event_type="view", item_id=pick, timestamp=viewed["timestamp"] - 1)


def _favorites(clicks: pd.DataFrame, carts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    keys = ["session_id", "item_id"]
    first_cart = carts.groupby(keys, sort=False)["timestamp"].min().rename("cart_time")
    joined = clicks.join(first_cart, on=keys)
    carted = joined["cart_time"].notna().to_numpy()
    chosen = rng.random(len(joined)) < np.where(carted, FAVORITE_CARTED_SHARE, FAVORITE_OTHER_SHARE)
    time = np.where(carted, joined["cart_time"].fillna(0).to_numpy() - 1, joined["timestamp"].to_numpy() + 1)
    favorites = joined.assign(event_type="favorite", timestamp=time.astype(np.int64))[chosen]
    return favorites.drop(columns="cart_time")
