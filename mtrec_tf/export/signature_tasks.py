"""Which serving signatures a model has, and which of its tasks each one serves.

Decided by the tasks' types, inputs and parents, never by their names: renaming `ctr` to
`click` keeps `serving_default`. The output names stay those of `serving.contract`.
No TensorFlow is imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mtrec_tf.config import TaskConfig
from mtrec_tf.tasks import task_type


@dataclasses.dataclass(frozen=True)
class SignatureTasks:
    """The task behind each role a signature needs; None where the model has no such task.

    Attributes:
        click: a binary task without a parent that `conversion` names as its parent (ESMM).
        conversion: a binary task whose parent is `click`: its output is p(click and convert).
        retrieval: the first retrieval task.
        query_classifier: the first multiclass task that reads the query alone.
        image_classifier: the first multiclass task that reads the image alone.
    """

    click: str | None = None
    conversion: str | None = None
    retrieval: str | None = None
    query_classifier: str | None = None
    image_classifier: str | None = None

    def signatures(self, has_catalogue: bool = True) -> dict[str, tuple[str, ...]]:
        """Signature name -> the tasks it serves, for every signature these tasks support.

        Args:
            has_catalogue: whether there are items to retrieve (`retrieve` and the
                embeddings need a retrieval task and a catalogue).
        """
        served: dict[str, tuple[str, ...]] = {}
        if self.click and self.conversion:
            served["serving_default"] = (self.click, self.conversion)
        if self.retrieval and has_catalogue:
            for name in ("retrieve", "user_embedding", "item_embedding"):
                served[name] = (self.retrieval,)
        if self.query_classifier:
            served["classify_query"] = (self.query_classifier,)
        if self.image_classifier:
            served["image_category"] = (self.image_classifier,)
        return served


def signature_tasks(tasks: Sequence[TaskConfig]) -> SignatureTasks:
    """The tasks of a model that its serving signatures read, chosen by type.

    `serving_default` scores candidates with an ESMM pair: the first task of a type that takes
    parents whose parent has no parent of its own (so that the parent's output is p(click)).
    The other roles take the first task of their kind in the order of `tasks`.

    Example:
        >>> signature_tasks(default_tasks()).signatures()["serving_default"]
        ('ctr', 'cvr')
    """
    by_name = {task.name: task for task in tasks}
    click = conversion = None
    for task in tasks:
        parent = by_name.get(task.parent) if task.parent else None
        # Parents are of their child's type (checked by the configuration).
        if parent is not None and task_type(task.type).takes_parent and parent.parent is None:
            click, conversion = parent.name, task.name
            break

    def classifier(inputs: set[str]) -> str | None:
        return next((t.name for t in tasks if task_type(t.type).classifies and set(t.inputs) == inputs), None)

    return SignatureTasks(
        click=click,
        conversion=conversion,
        retrieval=next((t.name for t in tasks if task_type(t.type).ranks_catalogue), None),
        query_classifier=classifier({"query"}),
        image_classifier=classifier({"image"}),
    )
