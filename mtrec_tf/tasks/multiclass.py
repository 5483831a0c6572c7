"""Multiclass tasks: a category from the query, the item or its image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mtrec_tf import metrics
from mtrec_tf.errors import ConfigError
from mtrec_tf.tasks.base import MAXIMISE, LossContext, OfflineData, TaskBatch, TaskType

if TYPE_CHECKING:
    from mtrec_tf.config import ModelConfig, TaskConfig
    from mtrec_tf.data.statistics import DataStatistics


class MulticlassTask(TaskType):
    """Softmax over the categories (or Crammer and Singer's hinge, `tasks.<name>.loss=hinge`).

    Output: class probabilities (batch, classes). Baseline: the most frequent training category.
    """

    name = "multiclass"
    headline = "accuracy"
    metric_directions = {"accuracy": MAXIMISE, "macro_f1": MAXIMISE, "top3_accuracy": MAXIMISE}
    label_dtype = "string"
    other_losses = ("hinge",)
    takes_label_smoothing = True
    classifies = True

    def check(self, task: TaskConfig, config: ModelConfig, statistics: DataStatistics) -> None:
        super().check(task, config, statistics)
        if not statistics.categories:
            raise ConfigError(f"task {task.name!r} is multiclass but the data has no categories")

    def reads_query_bag(self, config: ModelConfig) -> bool:
        return config.ngram_buckets > 0

    def make_head(self, task: TaskConfig, config: ModelConfig, num_classes: int) -> Any:
        from mtrec_tf.tasks.heads import MulticlassHead

        bag = config.ngram_buckets if "query" in task.inputs else 0
        return MulticlassHead(num_classes, config.tower_units, dropout=config.dropout, ngram_buckets=bag,
                              ngram_dropout=config.ngram_dropout, name=f"{task.name}_head")

    def make_metric(self, task: TaskConfig) -> Any:
        from mtrec_tf.backend import keras

        return keras.metrics.SparseCategoricalAccuracy(name=f"{task.name}_accuracy")

    def outputs(self, task: TaskConfig, scores: Any) -> tuple[Any, Any]:
        from mtrec_tf.backend import tf

        return tf.nn.softmax(scores), scores

    def loss(self, task: TaskConfig, head: Any, metric: Any, batch: TaskBatch,
             context: LossContext) -> tuple[Any, Any]:
        from mtrec_tf.backend import tf
        from mtrec_tf.losses import multiclass_hinge_loss, multiclass_loss

        ids = context.class_ids(batch.label)
        mask = batch.mask * tf.cast(ids >= 0, batch.mask.dtype)  # unknown categories are left out
        ids = tf.maximum(ids, 0)
        if task.loss == "hinge":
            value = multiclass_hinge_loss(ids, batch.logits, mask)
        else:
            value = multiclass_loss(ids, batch.logits, mask, task.label_smoothing)
        metric.update_state(ids, batch.output, sample_weight=mask)
        return value, mask

    def offline_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray, outputs: np.ndarray,
                        item_vectors: Callable[[], np.ndarray]) -> dict[str, float]:
        labels = class_ids(data.arrays[f"label_{task.label}"][rows], data.statistics.categories)
        return classification_metrics(labels, outputs[rows])

    def baseline(self, task: TaskConfig, train: OfflineData, train_rows: np.ndarray, test: OfflineData,
                 test_rows: np.ndarray) -> dict[str, float]:
        categories = train.statistics.categories
        train_ids = class_ids(train.arrays[f"label_{task.label}"][train_rows], categories)
        counts = np.bincount(train_ids[train_ids >= 0], minlength=len(categories))
        scores = np.tile(counts.astype(np.float64), (len(test_rows), 1))
        return classification_metrics(class_ids(test.arrays[f"label_{task.label}"][test_rows], categories), scores)


def class_ids(labels: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Class ids of category labels; unknown labels get -1."""
    index = {category: i for i, category in enumerate(categories)}
    return np.asarray([index.get(label, -1) for label in labels], dtype=np.int64)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and top-3 accuracy of class `probabilities` (n, classes); labels of -1
    (unknown categories) are left out and counted."""
    known = labels >= 0
    labels, probabilities = labels[known], probabilities[known]
    predictions = probabilities.argmax(axis=1) if len(labels) else labels
    return {
        "accuracy": metrics.accuracy(labels, predictions),
        "macro_f1": metrics.macro_f1(labels, predictions),
        "top3_accuracy": metrics.top_k_accuracy(labels, probabilities, k=3) if len(labels) else float("nan"),
        "examples": float(len(labels)),
        "unknown_labels": float((~known).sum()),
    }
