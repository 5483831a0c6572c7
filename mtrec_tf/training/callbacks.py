"""Callbacks of `mtrec train`: stop on a NaN task loss, naming the task; keep every epoch's logs."""

from __future__ import annotations

import math

from mtrec_tf.backend import keras
from mtrec_tf.io_utils import exists, read_json, write_json_atomic


class TaskLossNaNError(FloatingPointError):
    """A task's loss became NaN or infinite; the message names the task and the step."""


class StopOnNaNTaskLoss(keras.callbacks.Callback):
    """Raises `TaskLossNaNError` naming the first task whose loss is NaN or infinite.

    Args:
        task_names: the tasks whose `<task>_loss` is logged.
    """

    def __init__(self, task_names: list[str]) -> None:
        super().__init__()
        self.task_names = list(task_names)
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        for name in self.task_names:
            value = logs.get(f"{name}_loss")
            if value is not None and not math.isfinite(float(value)):
                raise TaskLossNaNError(
                    f"the loss of task {name!r} became {float(value)} at epoch {self.epoch + 1}, "
                    f"step {batch + 1}; lower training.learning_rate or the task's weight, and check "
                    f"its labels"
                )


class EpochHistory(keras.callbacks.Callback):
    """Writes every epoch's logs to a JSON file as the epoch ends, so that a run resumed from
    its backup keeps the logs of the epochs run before the interruption.

    The file holds `{"epochs": {name: [value per epoch]}}`; an epoch that is run again after
    a resume replaces its earlier logs and those of any later epoch.

    Args:
        path: the history file (`history.json` of the run); an existing one is the history
            of the epochs before a resume.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.records: list[dict[str, float]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.records = _records(read_json(self.path).get("epochs", {})) if exists(self.path) else []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.records = self.records[:epoch] + [{k: float(v) for k, v in (logs or {}).items()}]
        write_json_atomic(self.path, {"epochs": self.history})

    @property
    def history(self) -> dict[str, list[float]]:
        """Metric name -> one value per epoch, from the first epoch of the run."""
        names = list(dict.fromkeys(name for record in self.records for name in record))
        return {name: [record.get(name, math.nan) for record in self.records] for name in names}


def _records(columns: dict[str, list[float]]) -> list[dict[str, float]]:
    epochs = max((len(values) for values in columns.values()), default=0)
    return [{name: values[i] for name, values in columns.items() if i < len(values)} for i in range(epochs)]
