"""Leak-free splits of the event log into training, validation and test parts.

Each event gets a part. Examples built later take their part from their own event, their
labels only from events of the same part, and their history only from events strictly
before them, so nothing at or after an example's time reaches it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from mtrec_tf.config import SplitConfig
from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes

PARTS: tuple[str, ...] = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class EventSplit:
    """The part of every event (0 train, 1 validation, 2 test), aligned with the events.

    Attributes:
        part: int8 array, one entry per event row.
        method: "time" or "leave_last_out".
        validation_start, test_start: the global cutoffs of a time split (epoch seconds);
            None for leave-last-out, whose cutoffs are per user.
    """

    part: np.ndarray
    method: str
    validation_start: int | None = None
    test_start: int | None = None

    def counts(self) -> dict[str, int]:
        """Number of events in each part."""
        counts = np.bincount(self.part, minlength=len(PARTS))
        return {name: int(counts[i]) for i, name in enumerate(PARTS)}

    def mask(self, part: str) -> np.ndarray:
        """Boolean mask of the events in `part` ("train", "validation" or "test")."""
        return self.part == PARTS.index(part)


def time_split(
    timestamps: np.ndarray, validation_fraction: float = 0.1, test_fraction: float = 0.1
) -> EventSplit:
    """Cuts at two global timestamps so that about the given fractions of events fall after.

    An event exactly at a cutoff belongs to the later part, so every training event is
    strictly earlier than every validation event, and those than every test event.
    """
    timestamps = np.asarray(timestamps, dtype=np.int64)
    part = np.zeros(len(timestamps), dtype=np.int8)
    if len(timestamps) == 0:
        return EventSplit(part, "time")
    ordered = np.sort(timestamps)
    n = len(ordered)
    validation_start = int(ordered[min(n - 1, int(n * (1.0 - validation_fraction - test_fraction)))])
    test_start = int(ordered[min(n - 1, int(n * (1.0 - test_fraction)))])
    if validation_fraction > 0:
        part[timestamps >= validation_start] = VALIDATION
    else:
        validation_start = test_start
    if test_fraction > 0:
        part[timestamps >= test_start] = TEST
    return EventSplit(part, "time", validation_start, test_start)


def leave_last_out_split(events: pd.DataFrame, min_user_clicks: int = 3,
                         next_item_type: str = DEFAULT_EVENT_TYPES.next_item) -> EventSplit:
    """Per user: events from the last click on are test, from the second-last click validation.

    A click is an event of `next_item_type` (`EventTypes.next_item`).
    Users with fewer than `min_user_clicks` clicks keep all their events in training.
    """
    users = events["user_id"].to_numpy()
    timestamps = events["timestamp"].to_numpy(dtype=np.int64)
    clicks = events.loc[events["event_type"] == next_item_type, ["user_id", "timestamp"]]
    per_user = clicks.groupby("user_id", sort=False)["timestamp"]
    ranked = clicks.assign(rank=per_user.rank(method="first", ascending=False))
    counts = per_user.size()
    eligible = counts[counts >= min_user_clicks].index
    last = ranked[(ranked["rank"] == 1) & ranked["user_id"].isin(eligible)]
    second = ranked[(ranked["rank"] == 2) & ranked["user_id"].isin(eligible)]
    test_start = pd.Series(last["timestamp"].to_numpy(), index=last["user_id"].to_numpy())
    validation_start = pd.Series(second["timestamp"].to_numpy(), index=second["user_id"].to_numpy())

    max_ts = np.iinfo(np.int64).max
    user_test = pd.Series(users).map(test_start).fillna(max_ts).to_numpy(dtype=np.float64)
    user_validation = pd.Series(users).map(validation_start).fillna(max_ts).to_numpy(dtype=np.float64)
    part = np.zeros(len(events), dtype=np.int8)
    part[timestamps >= user_validation] = VALIDATION
    part[timestamps >= user_test] = TEST
    return EventSplit(part, "leave_last_out")


def random_split(
    count: int, validation_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> EventSplit:
    """Assigns each event to a part at random, in the given proportions (seeded)."""
    draws = np.random.default_rng(seed).random(count)
    part = np.zeros(count, dtype=np.int8)
    part[draws >= 1.0 - validation_fraction - test_fraction] = VALIDATION
    part[draws >= 1.0 - test_fraction] = TEST
    return EventSplit(part, "random")


def split_events(events: pd.DataFrame, config: SplitConfig, seed: int = 0,
                 event_types: EventTypes = DEFAULT_EVENT_TYPES) -> EventSplit:
    """The split that `config.method` names; leave-last-out counts the next-item events."""
    if config.method == "random":
        return random_split(len(events), config.validation_fraction, config.test_fraction, seed)
    if config.method == "time":
        return time_split(
            events["timestamp"].to_numpy(), config.validation_fraction, config.test_fraction
        )
    return leave_last_out_split(events, config.min_user_clicks, event_types.next_item)
