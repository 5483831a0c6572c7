"""Callbacks of `mtrec train`: stop on a NaN task loss, naming the task."""

from __future__ import annotations

import math

from mtrec_tf.backend import keras


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
