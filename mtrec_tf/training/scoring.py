"""Offline metrics of a model's tasks on one part of the examples, ranking against the full
catalogue: the validation metrics of training (`RankingValidation`), the tuner's trials and the
test evaluation all score here."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from mtrec_tf import progress
from mtrec_tf.backend import tf
from mtrec_tf.config import Config
from mtrec_tf.data.pipeline import make_dataset, table_to_arrays
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.models import MultiTaskModel
from mtrec_tf.tasks import OfflineData, task_type

KS: tuple[int, ...] = (10, 50)
PREDICT_BATCH_SIZE = 1024


def predict(model: MultiTaskModel, table: pa.Table, history_length: int,
            position_bias: bool = False) -> dict[str, np.ndarray]:
    """The model's outputs for every example of `table`, as numpy arrays keyed by task; with
    `position_bias`, those of the observed labels (each slot's logit added, as in training)."""
    outputs: dict[str, list[np.ndarray]] = {task.name: [] for task in model.tasks}
    dataset = make_dataset(table, batch_size=PREDICT_BATCH_SIZE, history_length=history_length)
    # A free batch dimension: the last, smaller batch reuses the one trace.
    call = tf.function(lambda features: model.forward(features, training=False, position_bias=position_bias)[0],
                       input_signature=[dataset.element_spec[0]])
    for features, _, _ in dataset:
        for name, value in call(features).items():
            outputs[name].append(value.numpy())
    return {name: np.concatenate(parts) if parts else np.zeros((0,)) for name, parts in outputs.items()}


def item_vectors(model: MultiTaskModel, task: str, num_items: int, batch_size: int = 2048) -> np.ndarray:
    """Retrieval vectors of every catalogue item (num_items, dim), in vocabulary order."""
    encode = tf.function(lambda index: model.item_vectors(index, task, training=False),
                         input_signature=[tf.TensorSpec([None], tf.int64)])
    chunks = [encode(tf.range(start + 1, min(start + batch_size, num_items) + 1, dtype=tf.int64)).numpy()
              for start in range(0, num_items, batch_size)]
    return np.concatenate(chunks)


def evaluate_model(model: MultiTaskModel, config: Config, statistics: DataStatistics, table: pa.Table,
                   item_categories: np.ndarray, exclude_seen: bool = True,
                   ks: Sequence[int] = KS,
                   arrays: dict[str, np.ndarray] | None = None,
                   tasks: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Metrics of every task of `model` (or of `tasks`) on the examples of `table`.

    Args:
        model: a trained model.
        config: its configuration.
        statistics: training statistics (vocabularies, popularity).
        table: examples with `EXAMPLE_SCHEMA`.
        item_categories: category id of each catalogue item (num_items,), for diversity.
        exclude_seen: leave the items in an example's history out of its recommendations.
        ks: cutoffs of the ranking metrics.
        arrays: `table_to_arrays(table, config.data.history_length)`, when already made.
        tasks: the names of the tasks to score (default: all).
    """
    with progress.step("predicting") as done:
        outputs = predict(model, table, config.data.history_length)
        done.report(f"{table.num_rows:,} examples", table.num_rows, "examples")
    if arrays is None:
        arrays = table_to_arrays(table, config.data.history_length)
    data = OfflineData(arrays, statistics, item_categories, exclude_seen, tuple(ks))
    results: dict[str, dict[str, float]] = {}
    with progress.step("scoring") as done:
        for task in model.tasks:
            if tasks is not None and task.name not in tasks:
                continue
            kind = task_type(task.type)
            rows = kind.evaluation_rows(task, data)
            results[task.name] = kind.offline_metrics(
                task, data, rows, outputs[task.name],
                functools.partial(item_vectors, model, task.name, len(statistics.items)))
        biased = [name for name in model.position_biased_tasks() if name in results]
        if biased:
            # What the slot explains is left out of the served outputs: the observed view adds it back.
            observed = predict(model, table, config.data.history_length, position_bias=True)
            for name in biased:
                task = model.task_config(name)
                kind = task_type(task.type)
                results[name].update(kind.observed_metrics(task, data, kind.evaluation_rows(task, data),
                                                           observed[name]))
        scored = sum(int(result.get("examples", 0)) for result in results.values())
        done.report(f"{len(results)} tasks, {scored:,} labelled examples, retrieval ranking the whole catalogue",
                    scored, "examples")
    return results
