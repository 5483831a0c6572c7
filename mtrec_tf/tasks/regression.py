"""Regression tasks: a rating, a dwell time, an amount."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mtrec_tf import metrics
from mtrec_tf.tasks.base import MINIMISE, OfflineData, ScoreTask

if TYPE_CHECKING:
    from mtrec_tf.config import TaskConfig


class RegressionTask(ScoreTask):
    """A number from the shared ranking bottom, fitted by squared error.

    Output: prediction (batch,). Baseline: the training mean.
    """

    name = "regression"
    headline = "rmse"
    metric_directions = {"rmse": MINIMISE}
    pointwise_loss = "regression_loss"

    def make_metric(self, task: TaskConfig) -> Any:
        from mtrec_tf.backend import keras

        return keras.metrics.RootMeanSquaredError(name=f"{task.name}_rmse")

    def outputs(self, task: TaskConfig, scores: Any) -> tuple[Any, Any]:
        return scores, None

    def offline_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray, outputs: np.ndarray,
                        item_vectors: Callable[[], np.ndarray]) -> dict[str, float]:
        return {"rmse": metrics.rmse(data.arrays[f"label_{task.label}"][rows], outputs[rows]),
                "examples": float(len(rows))}

    def baseline(self, task: TaskConfig, train: OfflineData, train_rows: np.ndarray, test: OfflineData,
                 test_rows: np.ndarray) -> dict[str, float]:
        labels = train.arrays[f"label_{task.label}"][train_rows]
        mean = float(np.mean(labels)) if len(labels) else 0.0
        return {"rmse": metrics.rmse(test.arrays[f"label_{task.label}"][test_rows], np.full(len(test_rows), mean)),
                "examples": float(len(test_rows))}
