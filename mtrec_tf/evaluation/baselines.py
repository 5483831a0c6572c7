"""Baselines computed from the training part only, one per task type: popularity, the most
frequent category, category-prior rates and the mean (`TaskType.baseline`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from mtrec_tf.config import Config
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.tasks import OfflineData, task_type
from mtrec_tf.training.scoring import KS


def baseline_metrics(config: Config, statistics: DataStatistics, train: pa.Table, test: pa.Table,
                     item_categories: np.ndarray, exclude_seen: bool = True,
                     ks: Sequence[int] = KS,
                     test_arrays: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, float]]:
    """Metrics of each task's baseline on `test`, fitted on `train`.

    `test_arrays` are `table_to_arrays(test, ...)`, when already made.
    """
    history_length = config.data.history_length
    if test_arrays is None:
        test_arrays = table_to_arrays(test, history_length)
    # No baseline reads the training examples' histories, the bulk of their memory.
    train = train.drop_columns([name for name in train.column_names if name.startswith("history_")])
    train_data = OfflineData(table_to_arrays(train, history_length), statistics, item_categories, exclude_seen,
                             tuple(ks))
    test_data = OfflineData(test_arrays, statistics, item_categories, exclude_seen, tuple(ks))
    results = {}
    for task in config.tasks:
        kind = task_type(task.type)
        results[task.name] = kind.baseline(task, train_data, kind.evaluation_rows(task, train_data),
                                           test_data, kind.evaluation_rows(task, test_data))
    return results
