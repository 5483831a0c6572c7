"""Task losses over masked examples, and how the task losses are weighted into one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow_recommenders as tfrs

from mtrec_tf.backend import keras, tf


def masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of `values` over examples whose `mask` is 1; 0 when none is.

    Each task is normalised by its own number of labelled examples, so a task's loss does
    not shrink when a batch holds few of its examples.
    """
    mask = tf.cast(mask, values.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(values * mask), tf.reduce_sum(mask))


def multiclass_loss(labels: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor, smoothing: float = 0.0) -> tf.Tensor:
    """Softmax cross-entropy; labels (batch,) int, logits (batch, classes). With
    `smoothing` s the target is (1 - s) on the label plus s spread over all classes."""
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    if smoothing:
        uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
        losses = (1.0 - smoothing) * losses + smoothing * uniform
    return masked_mean(losses, mask)


def multiclass_hinge_loss(labels: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Crammer and Singer's multiclass hinge: max(0, 1 + max_{c != y} s_c - s_y); labels
    (batch,) int, scores (batch, classes). A linear SVM's loss when the scores are linear.

    References:
        [Crammer and Singer, 2001](https://jmlr.org/papers/v2/crammer01a.html): on the
        algorithmic implementation of multiclass kernel-based vector machines.
    """
    label = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
    true = tf.reduce_sum(label * logits, axis=-1)
    best_other = tf.reduce_max(tf.where(label > 0, tf.fill(tf.shape(logits), logits.dtype.min), logits), axis=-1)
    return masked_mean(tf.nn.relu(1.0 + best_other - true), mask)


def binary_loss(labels: tf.Tensor, probabilities: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy on probabilities (clipped away from 0 and 1)."""
    p = tf.clip_by_value(probabilities, 1e-7, 1.0 - 1e-7)
    losses = -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log(1.0 - p))
    return masked_mean(losses, mask)


def regression_loss(labels: tf.Tensor, predictions: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean squared error."""
    return masked_mean(tf.square(labels - predictions), mask)


class RetrievalLoss(keras.layers.Layer):
    """In-batch sampled softmax with log-Q correction, averaged over examples.

    Wraps TFRS `tasks.Retrieval` (accidental hits removed, scores divided by the
    temperature, log of each candidate's sampling probability subtracted) with a
    per-example mean instead of TFRS's sum over the batch, so the loss is on the scale of
    the other tasks whatever the batch size.

    Args:
        temperature: scores are divided by it.

    Call arguments:
        query: (n, dim) query vectors of the labelled examples.
        candidates: (n + m, dim) the positive item vector of each, then m more negatives
            (none for the plain in-batch softmax; sampled items for mixed negative sampling).
        candidate_ids: (n + m,) item ids, for removing accidental hits.
        sampling_probability: (n + m,) each candidate's expected count among the candidates,
            up to one common factor (its log is subtracted from its score: the log-Q correction).
        query_groups, candidate_groups: optional (n,) and (n + m,) group ids (the history each
            step of all-position training belongs to): a candidate of the query's own group
            other than its positive is left out of its softmax, as an accidental hit is. The
            other clicks of a user's own history are no negatives for the user (SASRec draws
            its negatives from outside the sequence too).

    Returns:
        The scalar loss; 0 for an empty batch.

    References:
        - [Yi et al., 2019](https://doi.org/10.1145/3298689.3346996): Sampling-bias-corrected
          neural modeling for large corpus item recommendations.
    """

    def __init__(self, temperature: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"RetrievalLoss: temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.task = tfrs.tasks.Retrieval(
            # Per-example losses, averaged in `call`: Keras refuses SUM_OVER_BATCH_SIZE under a
            # distribution strategy outside `compile`.
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, reduction=keras.losses.Reduction.NONE),
            temperature=temperature,
            remove_accidental_hits=True,
        )

    def call(self, query: tf.Tensor, candidates: tf.Tensor, candidate_ids: tf.Tensor,
             sampling_probability: tf.Tensor, query_groups: tf.Tensor | None = None,
             candidate_groups: tf.Tensor | None = None) -> tf.Tensor:
        if (query_groups is None) != (candidate_groups is None):
            raise ValueError("RetrievalLoss: query_groups and candidate_groups go together")

        def loss() -> tf.Tensor:
            if query_groups is not None:
                return self._grouped(query, candidates, candidate_ids, sampling_probability, query_groups,
                                     candidate_groups)
            return tf.reduce_mean(self.task(
                query, candidates,
                candidate_sampling_probability=sampling_probability,
                candidate_ids=candidate_ids,
                compute_metrics=False,
                compute_batch_metrics=False,
            ))

        # Neither TFRS nor the softmax takes an empty (0, 0) score matrix.
        return tf.cond(tf.shape(query)[0] > 0, loss, lambda: tf.constant(0.0, query.dtype))

    def _grouped(self, query: tf.Tensor, candidates: tf.Tensor, candidate_ids: tf.Tensor,
                 sampling_probability: tf.Tensor, query_groups: tf.Tensor, candidate_groups: tf.Tensor) -> tf.Tensor:
        """The loss of `call` with the candidates of each query's own group left out (TFRS's
        Retrieval takes no such mask): the same scores, corrections and hit removal."""
        n = tf.shape(query)[0]
        scores = tf.matmul(query, candidates, transpose_b=True) / self.temperature  # (n, n + m)
        scores -= tf.math.log(tf.maximum(tf.cast(sampling_probability, scores.dtype), 1e-12))[tf.newaxis, :]
        positive = tf.eye(n, tf.shape(candidates)[0], dtype=tf.bool)
        same_item = tf.equal(candidate_ids[:n, tf.newaxis], candidate_ids[tf.newaxis, :])
        same_group = tf.equal(query_groups[:, tf.newaxis], candidate_groups[tf.newaxis, :])
        left_out = tf.logical_and(tf.logical_or(same_item, same_group), tf.logical_not(positive))
        scores = tf.where(left_out, tf.cast(scores.dtype.min, scores.dtype), scores)
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(tf.cast(positive, scores.dtype), scores))

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}


def full_softmax_loss(scores: tf.Tensor, targets: tf.Tensor, temperature: float) -> tf.Tensor:
    """Softmax cross-entropy over the whole catalogue, averaged over examples; 0 for none.

    Args:
        scores: (n, num_items) each query's dot product with every item.
        targets: (n,) each example's item, a column of `scores`.
        temperature: scores are divided by it.
    """
    logits = scores / temperature
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.cast(tf.size(losses), losses.dtype))


@keras.saving.register_keras_serializable(package="mtrec_tf")
class UncertaintyWeighting(keras.layers.Layer):
    """Learned task weights from homoscedastic uncertainty.

        total = sum_t exp(-s_t) * loss_t + s_t,    s_t = log(sigma_t^2), learned

    Args:
        task_names: one learned log-variance per task.

    Call arguments:
        losses: dict of scalar task losses keyed by task name.

    Returns:
        The scalar total loss.

    References:
        - [Kendall et al., 2018](https://arxiv.org/abs/1705.07115): Multi-task learning using
          uncertainty to weigh losses for scene geometry and semantics.
    """

    def __init__(self, task_names: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not task_names:
            raise ValueError("UncertaintyWeighting: task_names is empty")
        self.task_names = list(task_names)

    def build(self, input_shape: Any = None) -> None:
        self.log_variances = {
            name: self.add_weight(name=f"log_variance_{name}", shape=(), initializer="zeros")
            for name in self.task_names
        }
        super().build(input_shape)

    def call(self, losses: dict) -> tf.Tensor:
        total = tf.constant(0.0)
        for name in self.task_names:
            s = self.log_variances[name]
            total += tf.exp(-s) * losses[name] + s
        return total

    def weights_by_task(self) -> dict[str, float]:
        """The effective weight exp(-s_t) of each task."""
        return {name: float(tf.exp(-v)) for name, v in self.log_variances.items()}

    def get_config(self) -> dict:
        return {**super().get_config(), "task_names": self.task_names}
