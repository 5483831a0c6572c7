"""What a task type owns: its head, loss, training metric, offline metrics, baseline and
headline metric with its direction.

The model, the evaluation, the baselines and the tuning objective loop over task objects
(`mtrec_tf.tasks.task_type(task.type)`) instead of switching on the type. This module and
the type modules import no TensorFlow: the configuration checks objectives against the
metric names here before TensorFlow is imported. The Keras parts (`mtrec_tf.tasks.heads`)
are imported when a model is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from mtrec_tf.errors import ConfigError

if TYPE_CHECKING:
    from mtrec_tf.config import ModelConfig, TaskConfig
    from mtrec_tf.data.statistics import DataStatistics

MAXIMISE, MINIMISE = "max", "min"
# The prefix of a metric of the outputs with the slot's logit added (`tasks.<name>.position_bias`).
OBSERVED = "observed_"


@dataclasses.dataclass(frozen=True)
class OfflineData:
    """One part's examples as arrays (`table_to_arrays`), with what offline metrics and
    baselines read beside them.

    Attributes:
        arrays: column name -> array, one row per example.
        statistics: the training statistics (vocabularies, popularity).
        item_categories: category id of each catalogue item (num_items,), in vocabulary order.
        exclude_seen: retrieval leaves the items of an example's history out of its ranking.
        ks: cutoffs of the ranking metrics.
    """

    arrays: dict[str, np.ndarray]
    statistics: DataStatistics
    item_categories: np.ndarray
    exclude_seen: bool = True
    ks: tuple[int, ...] = (10, 50)


class TaskBatch(NamedTuple):
    """One task's part of a batch: its label (batch,), mask (batch,) float, output and logits;
    in all-position training, the row of the batch each step comes from (`groups`)."""

    label: Any
    mask: Any
    output: Any
    logits: Any
    groups: Any = None


class LossContext(NamedTuple):
    """What the model hands a task's loss beside its label, mask and outputs.

    Attributes:
        class_ids: category label strings -> class ids, -1 for an unknown category.
        item_index: item ids -> rows of the catalogue (0 unknown).
        sampling_probability: (catalogue rows,) probability of each item being in a batch.
        click_share: (catalogue rows,) each item's share of the training clicks (0: never clicked).
        target_vectors: item tower vectors of each retrieval task's targets, by task name.
        training: whether this is a training step.
        encode_items: catalogue rows (n,) -> their item tower vectors (n, width), for losses
            that read more items than the batch's.
        num_items: the catalogue's items (rows 1 to num_items; row 0 is the unknown item).
    """

    class_ids: Callable[[Any], Any]
    item_index: Callable[[Any], Any]
    sampling_probability: Any
    click_share: Any
    target_vectors: Mapping[str, Any]
    training: bool
    encode_items: Callable[[Any], Any]
    num_items: int


class TaskType:
    """One kind of task. Subclasses set the class attributes and implement the methods.

    Attributes:
        name: the `tasks.<name>.type` value.
        headline: the metric the task is judged by when nothing else is said.
        metric_directions: offline metric -> "max" (higher is better) or "min".
        metrics_at_k: offline metrics with a cutoff, written `<name>@K` (all "max").
        label_dtype: "string" or "float32": the label column's type in the examples.
        shares_ranking_bottom: the head reads the shared bottom (MMoE, PLE) of ranking tasks.
        takes_parent: a task of this type may name a parent of the same type (ESMM).
        encodes_targets: the loss compares outputs with the item tower vectors of the
            labels (the items are encoded with the batch's own).
        other_losses: values of `tasks.<name>.loss` besides "" (the type's own loss).
        takes_label_smoothing: `tasks.<name>.label_smoothing` applies.
        classifies: the output is class probabilities (served as the top categories).
        ranks_catalogue: the output is a user vector that ranks the catalogue (served by
            `retrieve` and the embedding signatures).
        trains_positions: `tasks.<name>.positions` applies (`all_positions`).
        labelled_by_events: `tasks.<name>.event_type` applies (whether an event of that
            type followed an impression).
    """

    name: ClassVar[str]
    headline: ClassVar[str]
    metric_directions: ClassVar[Mapping[str, str]]
    metrics_at_k: ClassVar[tuple[str, ...]] = ()
    label_dtype: ClassVar[str]
    shares_ranking_bottom: ClassVar[bool] = False
    takes_parent: ClassVar[bool] = False
    encodes_targets: ClassVar[bool] = False
    other_losses: ClassVar[tuple[str, ...]] = ()
    takes_label_smoothing: ClassVar[bool] = False
    classifies: ClassVar[bool] = False
    ranks_catalogue: ClassVar[bool] = False
    trains_positions: ClassVar[bool] = False
    labelled_by_events: ClassVar[bool] = False

    # --- metric names ----------------------------------------------------------------------

    def metric_direction(self, metric: str) -> str | None:
        """"max" or "min" for an offline metric of this type, None when it has no such metric."""
        if metric in self.metric_directions:
            return self.metric_directions[metric]
        if metric.startswith(OBSERVED) and metric[len(OBSERVED):] in self.metric_directions:
            return self.metric_directions[metric[len(OBSERVED):]]
        name, at, k = metric.partition("@")
        if at and name in self.metrics_at_k and k.isdigit() and int(k) >= 1:
            return MAXIMISE
        return None

    def metric_names(self) -> list[str]:
        """The offline metrics, for messages (`recall@K` for those with a cutoff)."""
        return sorted(self.metric_directions) + [f"{name}@K" for name in self.metrics_at_k]

    # --- the model -------------------------------------------------------------------------

    def check(self, task: TaskConfig, config: ModelConfig, statistics: DataStatistics) -> None:
        """Raises ConfigError when the model cannot have this task on these data."""
        self.check_positions(task, config)
        if config.text_encoder == "none" and "query" in task.inputs and not self.reads_query_bag(config):
            raise ConfigError(
                f"task {task.name!r} reads the query, which model.text_encoder='none' leaves unencoded: "
                "only a multiclass task with model.ngram_buckets > 0 reads it then, as a bag of n-grams")

    def reads_query_bag(self, config: ModelConfig) -> bool:
        """Whether the head reads the query's bag of n-grams (and so the query without a text encoder)."""
        return False

    def make_head(self, task: TaskConfig, config: ModelConfig, num_classes: int) -> Any:
        """The task's head, a Keras layer from `mtrec_tf.tasks.heads`."""
        raise NotImplementedError

    def all_positions(self, task: TaskConfig, config: ModelConfig) -> bool:
        """Whether training reads every step of each history at once (`tasks.<name>.positions`):
        the head then scores the user vector after each step, and the loss reads each step's
        target (`mtrec_tf.tasks.retrieval.step_targets`)."""
        return False

    def check_positions(self, task: TaskConfig, config: ModelConfig) -> None:
        """Raises ConfigError when `tasks.<name>.positions` does not fit the model."""

    def make_metric(self, task: TaskConfig) -> Any:
        """The Keras metric logged during training as `<task>_<metric>`."""
        raise NotImplementedError

    def outputs(self, task: TaskConfig, scores: Any) -> tuple[Any, Any]:
        """The task's output from its head's scores, and the logits its loss reads (or None)."""
        raise NotImplementedError

    def loss(self, task: TaskConfig, head: Any, metric: Any, batch: TaskBatch,
             context: LossContext) -> tuple[Any, Any]:
        """The task's masked loss and the mask it used; updates `metric` (from `make_metric`)."""
        raise NotImplementedError

    # --- offline evaluation ----------------------------------------------------------------

    def evaluation_rows(self, task: TaskConfig, data: OfflineData) -> np.ndarray:
        """Indices of the examples that carry the task's label.

        The image task is scored on held-out catalogue items (`image` examples) only.
        """
        mask = data.arrays[f"mask_{task.label}"] > 0
        if task.label == "image_category":
            mask &= data.arrays["example_type"] == "image"
        return np.flatnonzero(mask)

    def offline_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray, outputs: np.ndarray,
                        item_vectors: Callable[[], np.ndarray]) -> dict[str, float]:
        """Metrics of the task's `outputs` on the examples `rows` of `data`.

        `item_vectors()` gives the retrieval vectors of every catalogue item, for the types
        that rank the catalogue.
        """
        raise NotImplementedError

    def baseline(self, task: TaskConfig, train: OfflineData, train_rows: np.ndarray, test: OfflineData,
                 test_rows: np.ndarray) -> dict[str, float]:
        """Metrics on `test_rows` of the type's baseline fitted on `train_rows`."""
        raise NotImplementedError

    def observed_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray,
                         observed: np.ndarray) -> dict[str, float]:
        """The headline metric, as `observed_<headline>`, of the outputs with the slot's logit
        added (`MultiTaskModel.forward(position_bias=True)`): how well the model fits the
        observed labels, slot included, where the served outputs leave the slot out."""
        report = self.offline_metrics(task, data, rows, observed, lambda: np.zeros((0, 0)))
        return {OBSERVED + self.headline: report[self.headline]}


class ScoreTask(TaskType):
    """A type whose head gives one score per example from the shared ranking bottom, fitted
    by a pointwise loss on a float label (binary, regression). Subclasses name the loss in
    `mtrec_tf.losses` and turn the score into the output."""

    label_dtype = "float32"
    shares_ranking_bottom = True
    pointwise_loss: ClassVar[str]

    def make_head(self, task: TaskConfig, config: ModelConfig, num_classes: int) -> Any:
        from mtrec_tf.tasks.heads import ScalarHead

        return ScalarHead(config.tower_units, dropout=config.dropout, name=f"{task.name}_head")

    def loss(self, task: TaskConfig, head: Any, metric: Any, batch: TaskBatch,
             context: LossContext) -> tuple[Any, Any]:
        from mtrec_tf import losses
        from mtrec_tf.backend import tf

        label = tf.cast(batch.label, tf.float32)
        metric.update_state(label, batch.output, sample_weight=batch.mask)
        return getattr(losses, self.pointwise_loss)(label, batch.output, batch.mask), batch.mask
