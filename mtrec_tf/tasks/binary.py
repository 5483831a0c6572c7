"""Binary tasks: will the user click (`ctr`), buy after clicking (`cvr`, ESMM), add to cart..."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mtrec_tf import metrics
from mtrec_tf.tasks.base import MAXIMISE, MINIMISE, OfflineData, ScoreTask

if TYPE_CHECKING:
    from mtrec_tf.config import TaskConfig

# Pseudo-examples of the overall rate added to each category in the baseline.
PRIOR_SMOOTHING = 10.0


class BinaryTask(ScoreTask):
    """A probability from the shared ranking bottom; with a parent, the product with the
    parent's probability (ESMM: p(click and buy) = p(click) * p(buy | click)).

    Output: probability (batch,). Baseline: the task's training rate among items of the
    candidate's category.
    """

    name = "binary"
    headline = "auc"
    metric_directions = {"auc": MAXIMISE, "gauc": MAXIMISE, "position_auc": MAXIMISE, "logloss": MINIMISE}
    takes_parent = True
    labelled_by_events = True
    pointwise_loss = "binary_loss"

    def make_metric(self, task: TaskConfig) -> Any:
        from mtrec_tf.backend import keras

        return keras.metrics.AUC(name=f"{task.name}_auc", num_thresholds=500)

    def outputs(self, task: TaskConfig, scores: Any) -> tuple[Any, Any]:
        from mtrec_tf.backend import tf

        return tf.sigmoid(scores), None

    def offline_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray, outputs: np.ndarray,
                        item_vectors: Callable[[], np.ndarray]) -> dict[str, float]:
        return binary_metrics(data.arrays[f"label_{task.label}"][rows], outputs[rows], data.arrays["user_id"][rows],
                              _positions(data, rows))

    def baseline(self, task: TaskConfig, train: OfflineData, train_rows: np.ndarray, test: OfflineData,
                 test_rows: np.ndarray) -> dict[str, float]:
        label = f"label_{task.label}"
        category_of = item_category_ids(train)
        train_categories = category_of(train.arrays["item_id"][train_rows])
        labels = train.arrays[label][train_rows].astype(np.float64)
        overall = labels.mean() if len(labels) else 0.0
        size = int(train.item_categories.max(initial=0)) + 1
        positives = np.bincount(train_categories, weights=labels, minlength=size)
        totals = np.bincount(train_categories, minlength=size)
        rate = (positives + PRIOR_SMOOTHING * overall) / (totals + PRIOR_SMOOTHING)
        test_categories = category_of(test.arrays["item_id"][test_rows])
        prior = rate[test_categories] if len(test_categories) else np.zeros(0)
        return binary_metrics(test.arrays[label][test_rows], prior, test.arrays["user_id"][test_rows],
                              _positions(test, test_rows))


def _positions(data: OfflineData, rows: np.ndarray) -> np.ndarray | None:
    """The slot of each example of `rows`, when the examples carry slots."""
    positions = data.arrays.get("position")
    return None if positions is None else positions[rows]


def item_category_ids(data: OfflineData) -> Callable[[np.ndarray], np.ndarray]:
    """A function from item ids to their category ids (0 for an item outside the catalogue)."""
    category_of = {item: int(c) for item, c in zip(data.statistics.items, data.item_categories)}
    return lambda item_ids: np.asarray([category_of.get(i, 0) for i in item_ids], dtype=np.int64)


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, users: np.ndarray,
                   positions: np.ndarray | None = None) -> dict[str, float]:
    """AUC, log loss and per-user AUC (GAUC), with the counts of examples and positives;
    where some examples were shown in a known slot (`positions` >= 0), `position_auc`: the
    AUC within each slot, weighted by its examples (the ranking with the slot's own effect
    taken out; examples of unknown slot form one group)."""
    report = {
        "auc": metrics.auc(labels, probabilities),
        "logloss": metrics.logloss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7)),
        "gauc": metrics.gauc(labels, probabilities, users),
        "examples": float(len(labels)),
        "positives": float(np.sum(labels)),
    }
    if positions is not None and np.any(positions >= 0):
        report["position_auc"] = metrics.gauc(labels, probabilities, positions)
    return report
