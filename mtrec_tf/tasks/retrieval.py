"""Retrieval tasks: the items a user wants next, from the whole catalogue."""

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

# Share of the least popular items whose targets `tail_recall@K` is computed on.
TAIL_FRACTION = 0.2
# The largest catalogue `full_softmax` encodes at every step: a batch of 512 then scores 51M
# pairs, about as many as the item encoder's work on the batch's own items costs.
FULL_SOFTMAX_MAX_ITEMS = 100_000
# Scores held at a time by the full-catalogue ranking (float32: 64 MB).
SCORES_PER_CHUNK = 1 << 24


class RetrievalTask(TaskType):
    """A user tower and an item tower compared by dot product, trained with an in-batch
    softmax with log-Q correction (`mtrec_tf.losses.RetrievalLoss`); or with a softmax over
    the whole catalogue (`loss: full_softmax`); or with the in-batch softmax and `negatives`
    items sampled from the catalogue besides (`loss: sampled_softmax`: mixed negative
    sampling, each candidate corrected by its expected count from both sources), or as many
    as top the batch's targets up to `negatives` (`negatives_top_up`).

    Output: the L2-normalised user vector (batch, retrieval_dim). Offline, the whole
    catalogue is ranked for each example. Baseline: the most popular training items.
    """

    name = "retrieval"
    headline = "recall@50"
    metric_directions = {"mrr": MAXIMISE}
    metrics_at_k = ("recall", "precision", "hit_rate", "ndcg", "tail_recall", "coverage", "novelty", "diversity")
    label_dtype = "string"
    encodes_targets = True
    ranks_catalogue = True
    trains_positions = True
    other_losses = ("full_softmax", "sampled_softmax")

    def check(self, task: TaskConfig, config: ModelConfig, statistics: DataStatistics) -> None:
        super().check(task, config, statistics)
        if not statistics.items:
            raise ConfigError(f"task {task.name!r} retrieves items but the catalogue is empty")
        if task.loss == "full_softmax" and len(statistics.items) > FULL_SOFTMAX_MAX_ITEMS:
            raise ConfigError(
                f"tasks.{task.name}.loss full_softmax encodes the whole catalogue at every step, and this one has "
                f"{len(statistics.items):,} items (at most {FULL_SOFTMAX_MAX_ITEMS:,}): use sampled_softmax with "
                f"tasks.{task.name}.negatives, or the default in-batch softmax")
        if "item" in task.inputs:
            raise ConfigError(f"task {task.name!r}: a retrieval task cannot read the candidate item")
        draws_clicks = task.loss == "sampled_softmax" and task.negative_sampling == "clicks"
        if draws_clicks and not any(statistics.item_popularity):
            raise ConfigError(f"tasks.{task.name}.negative_sampling 'clicks' draws clicked items, and the training "
                              f"events hold no click: use 'popularity' or 'uniform'")

    def check_positions(self, task: TaskConfig, config: ModelConfig) -> None:
        if task.positions == "all" and config.history_encoder != "transformer":
            raise ConfigError(
                f"tasks.{task.name}.positions 'all' trains every step of a history at once, which needs a causal "
                f"history encoder: set model.history_encoder=transformer (the {config.history_encoder!r} one reads "
                f"later steps), or tasks.{task.name}.positions=last")
        if task.positions == "all" and tuple(task.inputs) != ("user",):
            raise ConfigError(
                f"tasks.{task.name}.positions 'all' trains every step of the user's history, and a step has no "
                f"request of its own (no query): the task must read the user alone (inputs: [user]; it reads "
                f"{', '.join(task.inputs)}), or train tasks.{task.name}.positions=last")
        if task.positions == "all" and _filter_reads_later_steps(config):
            raise ConfigError(
                f"tasks.{task.name}.positions 'all' trains every step of a history at once, and the transformer's "
                f"filter reads the whole history (model.history_frequency_window=whole), so a step would see the "
                f"clicks it predicts: set tasks.{task.name}.positions=last, or model.history_frequency_window=causal")

    def all_positions(self, task: TaskConfig, config: ModelConfig) -> bool:
        if task.positions == "auto":
            return (config.history_encoder == "transformer" and tuple(task.inputs) == ("user",)
                    and not _filter_reads_later_steps(config))
        return task.positions == "all"

    def make_head(self, task: TaskConfig, config: ModelConfig, num_classes: int) -> Any:
        from mtrec_tf.tasks.heads import RetrievalHead

        return RetrievalHead(config.retrieval_dim, config.tower_units, temperature=config.retrieval_temperature,
                             normalize=config.retrieval_similarity == "cosine", tied=config.tie_item_embeddings,
                             name=f"{task.name}_head")

    def make_metric(self, task: TaskConfig) -> Any:
        from mtrec_tf.backend import keras

        return keras.metrics.Mean(name=f"{task.name}_batch_top1")

    def outputs(self, task: TaskConfig, scores: Any) -> tuple[Any, Any]:
        return scores, None

    def loss(self, task: TaskConfig, head: Any, metric: Any, batch: TaskBatch,
             context: LossContext) -> tuple[Any, Any]:
        from mtrec_tf.backend import tf

        keep = batch.mask > 0
        if task.loss == "full_softmax":
            return self._full_softmax(head, metric, batch, context)
        users = tf.boolean_mask(batch.output, keep)
        target_index = tf.boolean_mask(context.item_index(batch.label), keep)
        items = head.item_vectors(tf.boolean_mask(context.target_vectors[task.name], keep),
                                  training=context.training)
        candidates, candidate_ids = items, target_index
        groups = None if batch.groups is None else tf.boolean_mask(batch.groups, keep)
        candidate_groups = groups
        if task.loss != "sampled_softmax":
            probability = tf.gather(context.sampling_probability, target_index)
        else:
            negatives, candidate_ids, probability = mixed_negatives(task, context, target_index)
            candidates = tf.concat([items, head.item_vectors(context.encode_items(negatives),
                                                             training=context.training)], axis=0)
            if groups is not None:  # drawn items belong to no history
                candidate_groups = tf.concat([groups, tf.fill(tf.shape(negatives), tf.constant(-1, groups.dtype))], 0)
        value = head.softmax_loss(users, candidates, candidate_ids, probability, groups, candidate_groups)
        scores = tf.matmul(users, items, transpose_b=True)  # (n, n)
        # A column of -inf never wins, and keeps argmax defined when n is 0.
        scores = tf.pad(scores, [[0, 0], [0, 1]], constant_values=float("-inf"))
        best = tf.gather(target_index, tf.argmax(scores, axis=1))
        metric.update_state(tf.cast(tf.equal(best, target_index), tf.float32))
        return value, batch.mask

    def _full_softmax(self, head: Any, metric: Any, batch: TaskBatch, context: LossContext) -> tuple[Any, Any]:
        """Cross-entropy over every catalogue item; top-1 among them as the batch metric."""
        from mtrec_tf.backend import tf
        from mtrec_tf.losses import full_softmax_loss

        target_index = context.item_index(batch.label)
        # Examples whose item is not in the catalogue have no class to learn.
        mask = batch.mask * tf.cast(target_index > 0, tf.float32)
        keep = mask > 0
        users = tf.boolean_mask(batch.output, keep)
        targets = tf.boolean_mask(target_index, keep) - 1
        items = head.item_vectors(context.encode_items(tf.range(1, context.num_items + 1, dtype=tf.int64)),
                                  training=context.training)  # (num_items, dim)
        scores = tf.matmul(users, items, transpose_b=True)  # (n, num_items)
        value = full_softmax_loss(scores, targets, head.temperature)
        best = tf.argmax(scores, axis=1)
        metric.update_state(tf.cast(tf.equal(best, targets), tf.float32))
        return value, mask

    def offline_metrics(self, task: TaskConfig, data: OfflineData, rows: np.ndarray, outputs: np.ndarray,
                        item_vectors: Callable[[], np.ndarray]) -> dict[str, float]:
        vectors = item_vectors()
        users = outputs[rows]
        return ranking_report(lambda index: users[index] @ vectors.T, task, data, rows)

    def baseline(self, task: TaskConfig, train: OfflineData, train_rows: np.ndarray, test: OfflineData,
                 test_rows: np.ndarray) -> dict[str, float]:
        popularity = np.asarray(train.statistics.item_popularity, dtype=np.float64)
        return ranking_report(lambda index: np.tile(popularity, (len(index), 1)), task, test, test_rows)


def step_targets(history_item_ids: Any, history_event_types: Any, history_time_gaps: Any, label: Any,
                 mask: Any, next_item_type: str = "click") -> tuple[Any, Any]:
    """What each step of a history predicts in all-position training, and which steps train.

    Histories hold the real steps first (oldest first), then padding (""). Step `t` of a
    row with `n` real steps predicts the item of step `t + 1` when that step is a click
    (of `next_item_type`, `EventTypes.next_item`) strictly later than step `t`, and the last real step predicts
    the row's label: the steps of an example's history train as the one-example-per-click
    path would train the clicks in it, each from the events before it (a click's own
    history holds no event of its own second). Only rows whose `mask` is set train.

    Args:
        history_item_ids, history_event_types: (batch, time) strings.
        history_time_gaps: (batch, time) seconds from each event to the row's request.
        label: (batch,) the item the row's history is followed by.
        mask: (batch,) float, > 0 where the row carries the label.

    Returns:
        The target item id of every step (batch, time) and whether the step trains (batch, time).
    """
    from mtrec_tf.backend import tf

    real = tf.not_equal(history_item_ids, "")
    count = tf.reduce_sum(tf.cast(real, tf.int32), axis=1, keepdims=True)  # (batch, 1)
    step = tf.range(tf.shape(history_item_ids)[1])[tf.newaxis, :]  # (1, time)
    pad = tf.fill(tf.shape(history_item_ids[:, :1]), "")
    following_ids = tf.concat([history_item_ids[:, 1:], pad], axis=1)
    following_types = tf.concat([history_event_types[:, 1:], pad], axis=1)
    gaps = tf.cast(history_time_gaps, tf.float32)
    later = gaps > tf.concat([gaps[:, 1:], tf.zeros_like(gaps[:, :1])], axis=1)  # the next step is later
    last = tf.equal(step, count - 1)
    targets = tf.where(last, label[:, tf.newaxis], following_ids)
    trains = tf.logical_or(last, tf.logical_and(tf.equal(following_types, next_item_type), later))
    trains = tf.logical_and(tf.logical_and(trains, step < count), (mask > 0)[:, tf.newaxis])
    return targets, trains


def mixed_negatives(task: TaskConfig, context: LossContext, target_index: Any) -> tuple[Any, Any, Any]:
    """The items "sampled_softmax" draws besides the batch's targets `target_index` (n,): the
    task's `negatives`, or as many as top the targets up to that many (`negatives_top_up`);
    the candidates' ids (the targets, then the drawn items); and each candidate's expected
    count among them all, for its log-Q correction: the targets are n draws of the training
    clicks, the drawn items draws of their own share."""
    from mtrec_tf.backend import tf

    targets = tf.shape(target_index)[0]
    count = tf.maximum(task.negatives - targets, 0) if task.negatives_top_up else tf.constant(task.negatives)
    negatives, share = sample_negatives(task, context, count)
    candidate_ids = tf.concat([target_index, negatives], axis=0)
    expected = (tf.cast(targets, tf.float32) * tf.gather(context.sampling_probability, candidate_ids)
                + tf.cast(count, tf.float32) * tf.gather(share, candidate_ids))
    return negatives, candidate_ids, expected


def sample_negatives(task: TaskConfig, context: LossContext, count: Any) -> tuple[Any, Any]:
    """`count` catalogue rows drawn with replacement (by popularity, by clicks or uniformly),
    and the share each row is drawn with (catalogue rows,)."""
    from mtrec_tf.backend import tf

    if task.negative_sampling == "uniform":
        share = tf.ones_like(context.sampling_probability)
    elif task.negative_sampling == "clicks":
        share = context.click_share
    else:
        share = context.sampling_probability
    share = tf.concat([tf.zeros_like(share[:1]), share[1:]], axis=0)  # row 0, the unknown item, is never drawn
    share = share / tf.reduce_sum(share)
    draws = tf.random.categorical(tf.math.log(share)[None, :], count)[0]
    return draws, share


def ranking_report(score_fn: Callable[[np.ndarray], np.ndarray], task: TaskConfig, data: OfflineData,
                   rows: np.ndarray) -> dict[str, float]:
    """Ranking metrics of `score_fn(row_indices) -> (n, num_items)` against the full catalogue,
    for the examples `rows` of `data`; items seen before are left out where `data.exclude_seen`."""
    statistics = data.statistics
    position = {item: i for i, item in enumerate(statistics.items)}
    targets = [position.get(t, -1) for t in data.arrays[f"label_{task.label}"][rows]]
    relevant = [[t] if t >= 0 else [] for t in targets]
    exclude = None
    if data.exclude_seen:
        histories = data.arrays["history_item_ids"][rows]
        # An item seen before is excluded unless it is the target itself.
        exclude = [np.asarray(sorted({position[i] for i in h if i in position} - {t}), dtype=np.int64)
                   for h, t in zip(histories, targets)]
    ks: Sequence[int] = data.ks
    # Users a chunk at a time, the chunk's scores about 64 MB whatever the catalogue's size.
    chunk = max(1, SCORES_PER_CHUNK // max(len(statistics.items), 1))
    top = metrics.top_k_items_chunked(score_fn, len(rows), max(ks), exclude=exclude, chunk_size=chunk)
    report = metrics.retrieval_report(top, relevant, np.asarray(statistics.item_popularity), data.item_categories,
                                      len(statistics.items), ks=ks)
    # Recall on the examples whose target is among the least popular items.
    tail = set(metrics.least_popular_items(statistics.item_popularity, TAIL_FRACTION).tolist())
    tail_relevant = [[t] if t in tail else [] for t in targets]
    tail_report = metrics.ranking_metrics(top, tail_relevant, ks)
    for k in ks:
        report[f"tail_recall@{k}"] = tail_report[f"recall@{k}"]
    report["tail_examples"] = float(sum(1 for r in tail_relevant if r))
    report["examples"] = float(len(rows))
    return report


def _filter_reads_later_steps(config: ModelConfig) -> bool:
    """Whether the transformer's frequency filter reads steps after each step."""
    return bool(config.history_frequency_mix) and config.history_frequency_window == "whole"
