"""Baselines computed from the training part only: popularity, most frequent category,
category-prior rates and the mean rating."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from mtrec_tf import metrics
from mtrec_tf.config import Config
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.evaluation.evaluate import (
    KS, binary_metrics, class_ids, classification_metrics, retrieval_metrics, task_rows,
)


def baseline_metrics(config: Config, statistics: DataStatistics, train: pa.Table, test: pa.Table,
                     item_categories: np.ndarray, exclude_seen: bool = True,
                     ks: Sequence[int] = KS,
                     test_arrays: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, float]]:
    """Metrics of each task's baseline on `test`, fitted on `train`.

    - multiclass: always the most frequent training category (top 3: the three most frequent);
    - binary: the task's training rate among items of the candidate's category;
    - regression: the training mean;
    - retrieval: the most popular items in training, for everyone.

    `test_arrays` are `table_to_arrays(test, ...)`, when already made.
    """
    history_length = config.data.history_length
    train_arrays = table_to_arrays(train, history_length)
    if test_arrays is None:
        test_arrays = table_to_arrays(test, history_length)
    category_of_item = {item: int(c) for item, c in zip(statistics.items, item_categories)}
    results = {}
    for task in config.tasks:
        train_rows, test_rows = task_rows(train, task), task_rows(test, task)
        label = f"label_{task.label}"
        if task.type == "multiclass":
            train_ids = class_ids(train_arrays[label][train_rows], statistics.categories)
            counts = np.bincount(train_ids[train_ids >= 0], minlength=len(statistics.categories))
            scores = np.tile(counts.astype(np.float64), (len(test_rows), 1))
            results[task.name] = classification_metrics(
                class_ids(test_arrays[label][test_rows], statistics.categories), scores)
        elif task.type == "binary":
            results[task.name] = binary_metrics(
                test_arrays[label][test_rows],
                _category_prior(train_arrays, train_rows, test_arrays, test_rows, label, category_of_item),
                test_arrays["user_id"][test_rows])
        elif task.type == "regression":
            mean = float(np.mean(train_arrays[label][train_rows])) if len(train_rows) else 0.0
            results[task.name] = {"rmse": metrics.rmse(test_arrays[label][test_rows],
                                                        np.full(len(test_rows), mean)),
                                  "examples": float(len(test_rows))}
        else:
            popularity = np.asarray(statistics.item_popularity, dtype=np.float64)
            results[task.name] = retrieval_metrics(
                lambda index: np.tile(popularity, (len(index), 1)), len(test_rows), test_arrays, test_rows,
                task, statistics, item_categories, exclude_seen, ks)
    return results


def _category_prior(train_arrays, train_rows, test_arrays, test_rows, label, category_of_item,
                    smoothing: float = 10.0) -> np.ndarray:
    """Smoothed training rate of the label per candidate category."""
    train_categories = np.asarray([category_of_item.get(i, 0) for i in train_arrays["item_id"][train_rows]])
    labels = train_arrays[label][train_rows].astype(np.float64)
    overall = labels.mean() if len(labels) else 0.0
    size = int(max(category_of_item.values(), default=0)) + 1
    positives = np.bincount(train_categories, weights=labels, minlength=size)
    totals = np.bincount(train_categories, minlength=size)
    rate = (positives + smoothing * overall) / (totals + smoothing)
    test_categories = np.asarray([category_of_item.get(i, 0) for i in test_arrays["item_id"][test_rows]],
                                 dtype=np.int64)
    return rate[test_categories] if len(test_categories) else np.zeros(0)
