"""Task types as objects, in one registry: `task_type("binary")` owns what a binary task needs.

No TensorFlow is imported here (see `mtrec_tf.tasks.base`).
"""

from mtrec_tf.tasks.base import MAXIMISE, MINIMISE, LossContext, OfflineData, TaskBatch, TaskType
from mtrec_tf.tasks.binary import BinaryTask
from mtrec_tf.tasks.multiclass import MulticlassTask
from mtrec_tf.tasks.regression import RegressionTask
from mtrec_tf.tasks.retrieval import RetrievalTask

TASK_TYPES: dict[str, TaskType] = {kind.name: kind for kind in
                                   (MulticlassTask(), BinaryTask(), RegressionTask(), RetrievalTask())}


def task_type(name: str) -> TaskType:
    """The task type object of `tasks.<name>.type`."""
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown task type {name!r}; known: {', '.join(TASK_TYPES)}") from None


__all__ = ["MAXIMISE", "MINIMISE", "LossContext", "OfflineData", "TASK_TYPES", "TaskBatch", "TaskType", "task_type"]
