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
# The column of an event's number in the log: its file's place among the table's files, then
# its row in the file (`event_numbers`). Examples are ordered by it and the random split is
# drawn from it, so a piece of the log gets what the whole log would.
EVENT_NUMBER = "event_number"
_ROWS_PER_FILE = 1 << 40


def event_numbers(file_index: int, rows: np.ndarray) -> np.ndarray:
    """The numbers of the events at 0-based `rows` of the table's `file_index`-th file."""
    return np.asarray(rows, dtype=np.int64) + np.int64(file_index) * _ROWS_PER_FILE
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
    if len(timestamps) == 0:
        return EventSplit(np.zeros(0, dtype=np.int8), "time")
    ordered = np.sort(timestamps)
    ranks = cutoff_ranks(len(ordered), validation_fraction, test_fraction)
    validation_start, test_start = (int(ordered[rank]) for rank in ranks)
    return cut_at(timestamps, validation_start, test_start, validation_fraction, test_fraction)


def cutoff_ranks(count: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """The ranks (0-based, in time order) of the events whose timestamps are the time split's
    validation and test cutoffs among `count` events."""
    last = count - 1
    return (min(last, int(count * (1.0 - validation_fraction - test_fraction))),
            min(last, int(count * (1.0 - test_fraction))))


def cut_at(timestamps: np.ndarray, validation_start: int, test_start: int, validation_fraction: float,
           test_fraction: float) -> EventSplit:
    """The time split at known cutoffs (`time_split`'s, or those computed once over a log that
    is split in pieces); a part whose fraction is 0 gets no events."""
    timestamps = np.asarray(timestamps, dtype=np.int64)
    part = np.zeros(len(timestamps), dtype=np.int8)
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
    count: int, validation_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
    event_numbers: np.ndarray | None = None,
) -> EventSplit:
    """Assigns each event to a part at random, in the given proportions (seeded).

    An event's draw depends only on the seed and its number in the log (`event_numbers`,
    default 0 to count - 1), so a log split in pieces gets the parts the whole log would.
    """
    numbers = np.arange(count, dtype=np.uint64) if event_numbers is None else event_numbers.astype(np.uint64)
    draws = _uniform(numbers, seed)
    part = np.zeros(count, dtype=np.int8)
    part[draws >= 1.0 - validation_fraction - test_fraction] = VALIDATION
    part[draws >= 1.0 - test_fraction] = TEST
    return EventSplit(part, "random")


def _uniform(numbers: np.ndarray, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per number: SplitMix64 of the number offset by the seed."""
    with np.errstate(over="ignore"):
        z = numbers + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def split_events(events: pd.DataFrame, config: SplitConfig, seed: int = 0,
                 event_types: EventTypes = DEFAULT_EVENT_TYPES) -> EventSplit:
    """The split that `config.method` names; leave-last-out counts the next-item events.

    Each is a function of the user's own events (leave-last-out), of the event's number in the
    log (random: the `event_number` column where `events` is a piece of a larger log) or of
    global cutoffs (time: `cut_at` splits a piece at the whole log's).
    """
    if config.method == "random":
        numbers = events["event_number"].to_numpy() if EVENT_NUMBER in events else None
        return random_split(len(events), config.validation_fraction, config.test_fraction, seed, numbers)
    if config.method == "time":
        return time_split(
            events["timestamp"].to_numpy(), config.validation_fraction, config.test_fraction
        )
    return leave_last_out_split(events, config.min_user_clicks, event_types.next_item)
