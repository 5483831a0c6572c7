"""Validation by ranking: at the end of each epoch, the retrieval tasks rank the whole catalogue
for the validation examples, as `mtrec evaluate` does on the test part (items seen before left
out), so that early stopping and the kept weights follow what a user of the ranking sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from mtrec_tf import progress
from mtrec_tf.backend import keras
from mtrec_tf.config import Config
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.errors import ConfigError
from mtrec_tf.tasks import OfflineData, task_type
from mtrec_tf.training.scoring import KS, evaluate_model


def ranking_metric(config: Config, key: str) -> tuple[str, str] | None:
    """(task, metric) when `key` is `val_<task>_<metric>` of a task that ranks the catalogue and
    one of its offline metrics (`val_next_item_ndcg@10`, `val_next_item_mrr`); else None."""
    for task in config.tasks:
        prefix = f"val_{task.name}_"
        kind = task_type(task.type)
        if kind.ranks_catalogue and key.startswith(prefix) and kind.metric_direction(key[len(prefix):]):
            return task.name, key[len(prefix):]
    return None


def ranking_validation(config: Config, statistics: DataStatistics, validation: pa.Table,
                       item_categories: np.ndarray) -> RankingValidation | None:
    """The callback that computes `training.early_stopping_metric` when it is a ranking metric
    (at K = 10, 50 and its own K), else None; None too without validation examples."""
    ranked = ranking_metric(config, config.training.early_stopping_metric)
    if ranked is None or not validation.num_rows:
        return None
    task, metric = ranked
    cutoff = [int(metric.partition("@")[2])] if "@" in metric else []
    return RankingValidation(config, statistics, validation, item_categories, [task], ks=(*KS, *cutoff))


def ranking_metric_names(config: Config) -> list[str]:
    """The ranking validation metrics of `config`'s tasks, written for messages."""
    return [f"val_{task.name}_{name}" for task in config.tasks if task_type(task.type).ranks_catalogue
            for name in task_type(task.type).metric_names()]


class RankingValidation(keras.callbacks.Callback):
    """Adds `val_<task>_<metric>` of every retrieval task to each epoch's logs: every ranking
    metric of the offline evaluation (`recall@K`, `ndcg@K`, `hit_rate@K`, `mrr`, ...) at the
    cutoffs `ks`, computed on the validation examples that carry the task's label.

    Placed before early stopping and checkpoints, which then read these values like Keras's own.

    Args:
        config: the run's configuration.
        statistics: the training statistics.
        validation: the validation examples.
        item_categories: each catalogue item's category id, in vocabulary order.
        tasks: the retrieval tasks to rank for.
        ks: the cutoffs.
    """

    def __init__(self, config: Config, statistics: DataStatistics, validation: pa.Table,
                 item_categories: np.ndarray, tasks: Sequence[str], ks: Sequence[int] = KS) -> None:
        super().__init__()
        self.config, self.statistics, self.item_categories = config, statistics, item_categories
        self.tasks, self.ks = list(tasks), tuple(sorted(set(ks)))
        # Only the examples some ranked task is scored on are predicted, converted once.
        arrays = table_to_arrays(validation, config.data.history_length)
        data = OfflineData(arrays, statistics, item_categories, True, self.ks)
        labelled = [task_type(task.type).evaluation_rows(task, data) for task in config.tasks if task.name in tasks]
        rows = np.unique(np.concatenate(labelled or [np.zeros(0, np.int64)]))
        self.validation = validation.take(rows)
        self.arrays = {name: values[rows] for name, values in arrays.items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        with progress.shown(False):  # Keras's epoch line reports it
            report = evaluate_model(self.model, self.config, self.statistics, self.validation,
                                    self.item_categories, exclude_seen=True, ks=self.ks, arrays=self.arrays,
                                    tasks=self.tasks)
        for task, values in report.items():
            for name, value in values.items():
                if name != "examples" and not name.endswith("_examples"):
                    logs[f"val_{task}_{name}"] = float(value)


class EarlyStoppingThatNamesItsEpoch(keras.callbacks.EarlyStopping):
    """Keras's early stopping with the best weights restored, saying which epoch's they are,
    and an error when the monitored metric is not among the epoch's logs.

    Args:
        monitor, mode, patience: as Keras's.
        ranking_names: the ranking metrics the run could have computed, for the error.
    """

    def __init__(self, monitor: str, mode: str, patience: int, ranking_names: Sequence[str] = ()) -> None:
        super().__init__(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
        self.ranking_names = list(ranking_names)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and self.monitor not in logs:
            known = sorted(key for key in logs if key.startswith("val_")) + self.ranking_names
            raise ConfigError(f"training.early_stopping_metric {self.monitor!r} is not a validation metric of "
                              f"this run; its metrics are: {', '.join(known)}")
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            stopped = f"stopped after epoch {self.stopped_epoch + 1}; " if self.stopped_epoch else ""
            print(f"early stopping: {stopped}restored the weights of epoch {self.best_epoch + 1} "
                  f"({self.monitor} {self.best:.4f})", flush=True)
            self.model.set_weights(self.best_weights)
