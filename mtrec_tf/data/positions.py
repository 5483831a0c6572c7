"""The training examples of all-position training: one example per stretch of a user's history.

A retrieval task that trains all positions (`tasks.<name>.positions`) learns every click of
an example's history from the events before it (`mtrec_tf.tasks.retrieval.step_targets`),
so one example, the user's latest, already trains the clicks its history holds. The others
are left out: for each user, from the latest example back, an example is kept unless a step
of an example kept after it trains its click (same time, same item). With histories of at
most `data.history_length` events, a user with a longer log keeps one example per stretch;
a click of the same second as the event before it is trained by no step (its own history
holds neither), so it keeps an example of its own.

A user's first click has nothing before it: it trains no step, and is counted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES


@dataclasses.dataclass(frozen=True)
class PositionSelection:
    """The training examples with the label's examples reduced to one per history stretch.

    Attributes:
        table: the examples that train something.
        label: the label the selection is for.
        examples: examples that carried the label before.
        histories: examples that carry it now, each training every step of its history.
        without_history: examples whose history was empty (a user's first click): no step
            of any kept example predicts them.
    """

    table: pa.Table
    label: str
    examples: int
    histories: int
    without_history: int

    def line(self) -> str:
        first = f"; {self.without_history:,} first clicks with nothing before them train no step" \
            if self.without_history else ""
        return (f"{self.label} trains all positions: {self.examples:,} examples in {self.histories:,} "
                f"histories{first}")


def select_position_examples(table: pa.Table, label: str, other_labels: Sequence[str] = (),
                             next_item_type: str = DEFAULT_EVENT_TYPES.next_item) -> PositionSelection:
    """Keeps, of the examples carrying `label`, one per stretch of each user's history (see the
    module docstring), and the examples that carry one of `other_labels` (the labels of the
    run's other tasks) as they are; rows that carry none of them train nothing and are left out.
    Clicks are the events of `next_item_type` (`EventTypes.next_item`)."""
    mask = table.column(f"mask_{label}").to_numpy() > 0
    labelled = np.flatnonzero(mask)
    users = table.column("user_id").to_numpy(zero_copy_only=False)[labelled]
    times = table.column("timestamp").to_numpy()[labelled]
    targets = table.column(f"label_{label}").to_numpy(zero_copy_only=False)[labelled]
    histories = {name: table.column(name).combine_chunks() for name in
                 ("history_item_ids", "history_event_types", "history_time_gaps")}
    offsets = histories["history_time_gaps"].offsets.to_numpy()
    values = {name: lists.values.to_numpy(zero_copy_only=False) for name, lists in histories.items()}
    table_times = table.column("timestamp").to_numpy()

    def trained_clicks(row: int) -> list[tuple[float, object]]:
        """(time, item) of each click that the steps of `row`'s history train, as `step_targets`
        picks them: a click strictly later than the step before it."""
        begin, end = offsets[row], offsets[row + 1]
        gaps = values["history_time_gaps"][begin:end]
        kinds = values["history_event_types"][begin + 1:end]
        items = values["history_item_ids"][begin + 1:end]
        later = gaps[:-1] > gaps[1:]
        time = table_times[row]
        return [(time - float(g), item) for g, item, kind, ok in zip(gaps[1:], items, kinds, later)
                if ok and kind == next_item_type]

    keep = np.zeros(len(labelled), bool)
    without_history = 0
    # Latest first within each user; ties in time keep the table's order.
    order = np.lexsort((-np.arange(len(labelled)), -times, users))
    user, covered = None, Counter[tuple[float, object]]()
    for i in order:
        if users[i] != user:
            user, covered = users[i], Counter()
        click = (float(times[i]), targets[i])
        if covered[click]:
            covered[click] -= 1  # a step of a history kept after it trains this click
            continue
        row = labelled[i]
        if offsets[row + 1] == offsets[row]:
            without_history += 1  # nothing before it: no step predicts it
            continue
        keep[i] = True
        covered.update(trained_clicks(row))

    new_mask = mask.copy()
    new_mask[labelled[~keep]] = False
    carries = new_mask.copy()
    for other in set(other_labels) - {label}:
        carries |= table.column(f"mask_{other}").to_numpy() > 0
    column = table.schema.get_field_index(f"mask_{label}")
    field = table.schema.field(column)
    kept_mask = pa.array(np.where(new_mask, table.column(column).to_numpy(), 0)).cast(field.type)
    table = table.set_column(column, field, kept_mask)
    return PositionSelection(table.filter(pa.array(carries)), label, len(labelled), int(keep.sum()),
                             without_history)
