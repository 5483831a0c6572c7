"""The training examples of all-position training: one example per stretch of a user's history.

A retrieval task that trains all positions (`tasks.<name>.positions`) learns every click of
an example's history from the events before it (`mtrec_tf.tasks.retrieval.step_targets`),
so one example, the user's latest, already trains the clicks its history holds. The others
are left out: for each user, from the latest example back, an example is kept when its click
is not in the history of the example kept after it. With histories of at most
`data.history_length` events, a user with a longer log keeps one example per stretch.

A user's first click has nothing before it: it trains no step, and is counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclasses.dataclass(frozen=True)
class PositionSelection:
    """The training examples with the label's examples reduced to one per history stretch.

    Attributes:
        table: the examples that train something.
        label: the label the selection is for.
        examples: examples that carried the label before.
        sequences: examples that carry it now, each training every step of its history.
        without_history: examples whose history was empty (a user's first click): no step
            of any kept example predicts them.
    """

    table: pa.Table
    label: str
    examples: int
    sequences: int
    without_history: int

    def line(self) -> str:
        first = f"; {self.without_history:,} first clicks with nothing before them train no step" \
            if self.without_history else ""
        return (f"{self.label} trains all positions: {self.examples:,} examples in {self.sequences:,} "
                f"histories{first}")


def select_position_examples(table: pa.Table, label: str, other_labels: Sequence[str] = ()) -> PositionSelection:
    """Keeps, of the examples carrying `label`, one per stretch of each user's history (see the
    module docstring), and the examples that carry one of `other_labels` (the labels of the
    run's other tasks) as they are; rows that carry none of them train nothing and are left out."""
    mask = table.column(f"mask_{label}").to_numpy() > 0
    labelled = np.flatnonzero(mask)
    users = table.column("user_id").to_numpy(zero_copy_only=False)[labelled]
    times = table.column("timestamp").to_numpy()[labelled]
    gaps = table.column("history_time_gaps").combine_chunks()
    lengths = pc.list_value_length(gaps).to_numpy(zero_copy_only=False)[labelled]
    offsets = gaps.offsets.to_numpy()[labelled]
    flat = gaps.values.to_numpy()
    # The time of each history's oldest event (histories hold their oldest event first). Gaps
    # are float32: beyond 2**24 s one is rounded, by at most its spacing, which is added so
    # that a click that close to the oldest event keeps an example of its own (it may then
    # train twice, never not at all).
    first_gap = flat[np.minimum(offsets, len(flat) - 1)] if len(flat) else np.zeros(len(labelled), np.float32)
    oldest = times - first_gap.astype(np.float64) + np.spacing(first_gap.astype(np.float32)).astype(np.float64)

    keep = np.zeros(len(labelled), bool)
    # Latest first within each user; ties in time keep the table's order.
    order = np.lexsort((-np.arange(len(labelled)), -times, users))
    user, start, until = None, 0.0, 0.0
    for i in order:
        if users[i] != user:
            user, start, until = users[i], -np.inf, -np.inf
        if start < times[i] < until:
            continue  # a click in the history of the example kept after it
        if lengths[i] == 0:
            continue  # nothing before it: no step predicts it
        keep[i] = True
        start, until = oldest[i], times[i]
    without_history = int(np.sum(lengths == 0))

    new_mask = mask.copy()
    new_mask[labelled[~keep]] = False
    carries = new_mask.copy()
    for other in set(other_labels) - {label}:
        carries |= table.column(f"mask_{other}").to_numpy() > 0
    column = table.schema.get_field_index(f"mask_{label}")
    values = np.where(new_mask, table.column(column).to_numpy(), 0).astype(np.float32)
    table = table.set_column(column, table.schema.field(column), pa.array(values))
    return PositionSelection(table.filter(pa.array(carries)), label, len(labelled), int(keep.sum()),
                             without_history)
