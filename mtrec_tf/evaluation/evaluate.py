"""Test-split metrics of every task of a trained model, ranking against the full catalogue."""

from __future__ import annotations

import statistics as stats_lib
import time
from typing import Sequence

import numpy as np
import pyarrow as pa

from mtrec_tf import metrics, progress
from mtrec_tf.backend import tf
from mtrec_tf.config import Config, TaskConfig
from mtrec_tf.data.pipeline import make_dataset, table_to_arrays
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.models import MultiTaskModel

KS: tuple[int, ...] = (10, 50)
PREDICT_BATCH_SIZE = 1024
TAIL_FRACTION = 0.2  # tail_recall@K: targets among this share of least popular items


def task_rows(table: pa.Table, task: TaskConfig) -> np.ndarray:
    """Indices of the examples that carry a label for `task`.

    The image task is scored on held-out catalogue items (`image` examples) only.
    """
    mask = table.column(f"mask_{task.label}").to_numpy() > 0
    if task.type == "multiclass" and task.label == "image_category":
        mask &= np.asarray(table.column("example_type").to_pylist(), dtype=object) == "image"
    return np.flatnonzero(mask)


def predict(model: MultiTaskModel, table: pa.Table, history_length: int) -> dict[str, np.ndarray]:
    """The model's outputs for every example of `table`, as numpy arrays keyed by task."""
    outputs: dict[str, list[np.ndarray]] = {task.name: [] for task in model.tasks}
    dataset = make_dataset(table, batch_size=PREDICT_BATCH_SIZE, history_length=history_length)
    # A free batch dimension: the last, smaller batch reuses the one trace.
    call = tf.function(lambda features: model(features, training=False), input_signature=[dataset.element_spec[0]])
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
                   arrays: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, float]]:
    """Metrics of every task of `model` on the examples of `table` (normally the test part).

    Args:
        model: a trained model.
        config: its configuration.
        statistics: training statistics (vocabularies, popularity).
        table: examples with `EXAMPLE_SCHEMA`.
        item_categories: category id of each catalogue item (num_items,), for diversity.
        exclude_seen: leave the items in an example's history out of its recommendations.
        ks: cutoffs of the ranking metrics.
        arrays: `table_to_arrays(table, config.data.history_length)`, when already made.
    """
    with progress.step("predicting") as done:
        outputs = predict(model, table, config.data.history_length)
        done.report(f"{table.num_rows:,} examples", table.num_rows, "examples")
    if arrays is None:
        arrays = table_to_arrays(table, config.data.history_length)
    results: dict[str, dict[str, float]] = {}
    for task in model.tasks:
        rows = task_rows(table, task)
        if task.type == "multiclass":
            results[task.name] = classification_metrics(
                class_ids(arrays[f"label_{task.label}"][rows], statistics.categories), outputs[task.name][rows])
        elif task.type == "binary":
            results[task.name] = binary_metrics(
                arrays[f"label_{task.label}"][rows], outputs[task.name][rows], arrays["user_id"][rows])
        elif task.type == "regression":
            results[task.name] = {"rmse": metrics.rmse(arrays[f"label_{task.label}"][rows],
                                                        outputs[task.name][rows]),
                                  "examples": float(len(rows))}
        else:
            with progress.step(f"ranking {task.name}") as done:
                vectors = item_vectors(model, task.name, len(statistics.items))
                users = outputs[task.name][rows]
                results[task.name] = retrieval_metrics(
                    lambda index: users[index] @ vectors.T, len(rows), arrays, rows, task, statistics,
                    item_categories, exclude_seen, ks)
                done.report(f"{len(rows):,} examples against {len(statistics.items):,} items",
                            len(rows), "examples")
    return results


def class_ids(labels: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Class ids of category labels; unknown labels get -1."""
    index = {category: i for i, category in enumerate(categories)}
    return np.asarray([index.get(label, -1) for label in labels], dtype=np.int64)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
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


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, users: np.ndarray) -> dict[str, float]:
    return {
        "auc": metrics.auc(labels, probabilities),
        "logloss": metrics.logloss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7)),
        "gauc": metrics.gauc(labels, probabilities, users),
        "examples": float(len(labels)),
        "positives": float(np.sum(labels)),
    }


def retrieval_metrics(score_fn, num_rows: int, arrays: dict[str, np.ndarray], rows: np.ndarray,
                      task: TaskConfig, statistics: DataStatistics, item_categories: np.ndarray,
                      exclude_seen: bool, ks: Sequence[int]) -> dict[str, float]:
    """Ranking metrics of `score_fn(row_indices) -> (n, num_items)` against the full catalogue."""
    position = {item: i for i, item in enumerate(statistics.items)}
    targets = [position.get(t, -1) for t in arrays[f"label_{task.label}"][rows]]
    relevant = [[t] if t >= 0 else [] for t in targets]
    exclude = None
    if exclude_seen:
        histories = arrays["history_item_ids"][rows]
        # An item seen before is excluded unless it is the target itself.
        exclude = [np.asarray(sorted({position[i] for i in h if i in position} - {t}), dtype=np.int64)
                   for h, t in zip(histories, targets)]
    num_items = len(statistics.items)
    top = metrics.top_k_items_chunked(score_fn, num_rows, max(ks), exclude=exclude)
    report = metrics.retrieval_report(top, relevant, np.asarray(statistics.item_popularity), item_categories,
                                      num_items, ks=ks)
    # Recall on the examples whose target is among the 20 % least popular items.
    tail = set(metrics.least_popular_items(statistics.item_popularity, TAIL_FRACTION).tolist())
    tail_relevant = [[t] if t in tail else [] for t in targets]
    tail_report = metrics.ranking_metrics(top, tail_relevant, ks)
    for k in ks:
        report[f"tail_recall@{k}"] = tail_report[f"recall@{k}"]
    report["tail_examples"] = float(sum(1 for r in tail_relevant if r))
    report["examples"] = float(num_rows)
    return report


def forward_latency(model: MultiTaskModel, table: pa.Table, history_length: int,
                    batch_sizes: Sequence[int] = (1, 256), repeats: int = 30) -> dict[str, float]:
    """Median milliseconds of one forward pass of the whole model at each batch size."""
    call = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
    features, _, _ = next(iter(make_dataset(table, batch_size=max(batch_sizes), history_length=history_length)))
    result = {}
    for size in batch_sizes:
        batch = {name: value[:size] for name, value in features.items()}
        for _ in range(3):
            call(batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), call(batch))
            times.append((time.perf_counter() - start) * 1000.0)
        result[f"latency_ms_b{size}"] = stats_lib.median(times)
    return result
