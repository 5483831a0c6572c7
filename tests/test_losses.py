"""Task losses against plain NumPy references, masks and empty batches included."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.losses import (
    RetrievalLoss,
    UncertaintyWeighting,
    binary_loss,
    full_softmax_loss,
    masked_mean,
    multiclass_hinge_loss,
    multiclass_loss,
    regression_loss,
)

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-2.0, 3.0, 0.0]], np.float32)
CLASSES = np.array([0, 2, 1])


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_masked_mean_counts_only_labelled_examples_and_is_zero_when_none_are():
    assert float(masked_mean(tf.constant([1.0, 5.0, 9.0]), tf.constant([1.0, 0.0, 1.0]))) == pytest.approx(5.0)
    assert float(masked_mean(tf.constant([1.0, 5.0]), tf.constant([0.0, 0.0]))) == 0.0
    assert float(masked_mean(tf.zeros([0]), tf.zeros([0]))) == 0.0


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_multiclass_loss_is_cross_entropy_with_a_smoothed_target(smoothing):
    mask = np.array([1.0, 1.0, 0.0], np.float32)
    target = np.full(LOGITS.shape, smoothing / 3) + (1 - smoothing) * np.eye(3)[CLASSES]
    expected = -(target * log_softmax(LOGITS)).sum(axis=1)[:2].mean()
    got = multiclass_loss(tf.constant(CLASSES), tf.constant(LOGITS), tf.constant(mask), smoothing)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def hinge_reference(scores: list[float], label: int) -> float:
    """Crammer-Singer in plain Python: how far the best other class comes within 1 of the label's."""
    best_other = max(s for c, s in enumerate(scores) if c != label)
    return max(0.0, 1.0 + best_other - scores[label])


def test_multiclass_hinge_loss_is_crammer_singer_on_labelled_examples():
    # Row 0 wins by 1.5 (no loss); row 1 wins by only 0.1; row 2 loses by 5; row 3 ties
    # another class; row 4 is masked out.
    scores = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-2.0, 3.0, 0.0], [1.0, 1.0, 0.0], [9.0, 0.0, 0.0]],
                      np.float32)
    labels, mask = np.array([0, 2, 0, 1, 1]), np.array([1.0, 1.0, 1.0, 1.0, 0.0], np.float32)
    expected = np.mean([hinge_reference(list(map(float, row)), int(y)) for row, y in zip(scores[:4], labels[:4])])
    assert expected == pytest.approx((0.0 + 0.9 + 6.0 + 1.0) / 4)
    got = multiclass_hinge_loss(tf.constant(labels), tf.constant(scores), tf.constant(mask))
    assert float(got) == pytest.approx(expected, rel=1e-6)
    empty = multiclass_hinge_loss(tf.zeros([0], tf.int64), tf.zeros([0, 3]), tf.zeros([0]))
    assert float(empty) == 0.0


def test_multiclass_hinge_loss_gradient_moves_only_the_label_and_the_best_other_class():
    scores = tf.Variable([[0.5, 0.2, 0.4]])
    with tf.GradientTape() as tape:
        loss = multiclass_hinge_loss(tf.constant([1]), scores, tf.ones([1]))
    np.testing.assert_allclose(tape.gradient(loss, scores).numpy(), [[1.0, -1.0, 0.0]])


def test_binary_loss_is_clipped_log_loss():
    labels, p = np.array([1.0, 0.0, 1.0], np.float32), np.array([0.9, 0.2, 0.0], np.float32)
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    expected = -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)).mean()
    got = binary_loss(tf.constant(labels), tf.constant(p), tf.ones([3]))
    assert np.isfinite(float(got)) and float(got) == pytest.approx(expected, rel=1e-4)


def test_regression_loss_is_masked_squared_error():
    got = regression_loss(tf.constant([3.0, 1.0, 4.0]), tf.constant([2.0, 1.0, 0.0]), tf.constant([1.0, 1.0, 0.0]))
    assert float(got) == pytest.approx(0.5)


def test_retrieval_loss_is_the_per_example_mean_of_the_corrected_softmax():
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    ids = np.array([7, 3, 7, 9])  # rows 0 and 2 share an item: an accidental hit for each other
    probability = np.array([0.4, 0.1, 0.4, 0.05], np.float32)
    loss = RetrievalLoss(temperature=0.5)(tf.constant(users), tf.constant(items), tf.constant(ids),
                                          tf.constant(probability))
    scores = users @ items.T / 0.5 - np.log(probability)[np.newaxis, :]
    hits = (ids[:, np.newaxis] == ids[np.newaxis, :]) & ~np.eye(4, dtype=bool)
    scores = np.where(hits, scores - 1e9, scores)  # accidental hits leave the softmax
    expected = -np.diag(log_softmax(scores)).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_sampled_negatives_join_the_softmax_each_with_its_own_log_q_correction():
    rng = np.random.default_rng(1)
    users, items = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    negatives = rng.normal(size=(5, 4)).astype(np.float32)
    ids = np.array([1, 2, 3, 9, 2, 8, 8, 5])  # negative id 2 is row 1's own item: an accidental hit
    # The batch's targets drawn 3 times by click share, the negatives 5 times by their share.
    count = np.concatenate([3 * np.array([0.2, 0.1, 0.3]), 5 * np.array([0.05, 0.1, 0.2, 0.2, 0.15])])
    loss = RetrievalLoss(temperature=0.2)(tf.constant(users), tf.constant(np.concatenate([items, negatives])),
                                          tf.constant(ids), tf.constant(count, tf.float32))
    scores = users @ np.concatenate([items, negatives]).T / 0.2 - np.log(count)[np.newaxis, :]
    hits = (ids[:3, np.newaxis] == ids[np.newaxis, :]) & ~np.eye(3, 8, dtype=bool)
    scores = np.where(hits, scores - 1e9, scores)
    expected = -np.diag(log_softmax(scores)[:, :3]).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_steps_of_one_history_are_no_negatives_for_each_other():
    rng = np.random.default_rng(3)
    users, items = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    ids = np.array([4, 6, 4, 8, 2, 9, 6])  # two sampled negatives after the 5 steps' targets
    groups = np.array([0, 0, 1, 1, 1])  # steps 0-1 of one history, 2-4 of another
    candidate_groups = np.concatenate([groups, [-1, -1]])
    count = np.array([0.3, 0.2, 0.3, 0.1, 0.2, 0.4, 0.5], np.float32)
    loss = RetrievalLoss(temperature=0.5)(*(tf.constant(v) for v in (users, items, ids, count, groups,
                                                                     candidate_groups)))
    scores = users @ items.T / 0.5 - np.log(count)[np.newaxis, :]
    own = np.eye(5, 7, dtype=bool)
    left_out = ((ids[:5, None] == ids[None, :]) | (groups[:, None] == candidate_groups[None, :])) & ~own
    expected = -log_softmax(np.where(left_out, -1e30, scores))[own].mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # With every step in a group of its own, it is the plain (TFRS) loss.
    alone = np.arange(7)
    ungrouped = RetrievalLoss(temperature=0.5)(*(tf.constant(v) for v in (users, items, ids, count)))
    grouped = RetrievalLoss(temperature=0.5)(*(tf.constant(v) for v in (users, items, ids, count, alone[:5], alone)))
    assert float(grouped) == pytest.approx(float(ungrouped), rel=1e-5)


def test_full_softmax_is_cross_entropy_over_the_whole_catalogue():
    rng = np.random.default_rng(2)
    users, catalogue = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    targets = np.array([5, 0, 2, 2])
    loss = full_softmax_loss(tf.constant(users @ catalogue.T), tf.constant(targets), 0.5)
    expected = -log_softmax(users @ catalogue.T / 0.5)[np.arange(4), targets].mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(full_softmax_loss(tf.zeros([0, 6]), tf.zeros([0], tf.int64), 0.5)) == 0.0


def test_retrieval_loss_does_not_grow_with_the_batch_size():
    # An untrained model scores every candidate alike: the loss is ln(batch), not batch * ln(batch).
    loss = RetrievalLoss()(tf.ones([64, 4]), tf.ones([64, 4]), tf.range(64), tf.fill([64], 1 / 64))
    assert float(loss) == pytest.approx(np.log(64), rel=1e-4)


def test_retrieval_loss_of_an_empty_batch_is_zero():
    loss = RetrievalLoss()(tf.zeros([0, 4]), tf.zeros([0, 4]), tf.zeros([0], tf.int64), tf.zeros([0]))
    assert float(loss) == 0.0
    no_groups = tf.zeros([0], tf.int64)
    grouped = RetrievalLoss()(tf.zeros([0, 4]), tf.zeros([0, 4]), no_groups, tf.zeros([0]), no_groups, no_groups)
    assert float(grouped) == 0.0


def test_uncertainty_weighting_starts_at_the_plain_sum_and_reports_its_weights():
    weighting = UncertaintyWeighting(["a", "b"])
    total = weighting({"a": tf.constant(2.0), "b": tf.constant(3.0)})
    assert float(total) == pytest.approx(5.0)
    weighting.log_variances["a"].assign(np.log(2.0))
    total = weighting({"a": tf.constant(2.0), "b": tf.constant(3.0)})
    assert float(total) == pytest.approx(2.0 / 2.0 + np.log(2.0) + 3.0, rel=1e-6)
    assert weighting.weights_by_task() == pytest.approx({"a": 0.5, "b": 1.0})
    with pytest.raises(ValueError, match="task_names is empty"):
        UncertaintyWeighting([])
