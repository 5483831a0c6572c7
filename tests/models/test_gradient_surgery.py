import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.models.gradient_surgery import combine_gradients, project_conflicts, random_orders


def reference_pcgrad(gradients: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """PCGrad as Yu et al.'s reference code writes it, in plain NumPy."""
    projected = gradients.astype(np.float64).copy()
    for i in range(len(gradients)):
        for j in orders[i]:
            if j == i:
                continue
            dot = projected[i] @ gradients[j]
            if dot < 0:
                projected[i] -= dot / (gradients[j] @ gradients[j]) * gradients[j]
    return projected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conflicting_gradients_are_projected_as_the_reference_does(seed):
    rng = np.random.default_rng(seed)
    gradients = rng.normal(size=(4, 7)).astype(np.float32)
    orders = np.stack([rng.permutation(4) for _ in range(4)]).astype(np.int32)
    got = project_conflicts(tf.constant(gradients), tf.constant(orders)).numpy()
    np.testing.assert_allclose(got, reference_pcgrad(gradients, orders), rtol=1e-5, atol=1e-6)


def test_two_conflicting_gradients_end_orthogonal_and_agreeing_ones_stay():
    conflicting = tf.constant([[1.0, 0.0], [-1.0, 1.0]])
    projected = project_conflicts(conflicting, tf.constant([[0, 1], [0, 1]])).numpy()
    assert projected[0] @ conflicting.numpy()[1] == pytest.approx(0.0, abs=1e-6)
    assert projected[1] @ conflicting.numpy()[0] == pytest.approx(0.0, abs=1e-6)
    agreeing = tf.constant([[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_array_equal(project_conflicts(agreeing, tf.constant([[1, 0], [0, 1]])).numpy(), agreeing.numpy())


def test_a_task_without_gradient_in_the_batch_changes_nothing():
    gradients = tf.constant([[1.0, -2.0], [0.0, 0.0], [-1.0, 0.5]])
    projected = project_conflicts(gradients, tf.constant([[0, 1, 2], [0, 1, 2], [0, 1, 2]])).numpy()
    assert np.isfinite(projected).all()
    np.testing.assert_allclose(projected, reference_pcgrad(gradients.numpy(), np.array([[0, 1, 2]] * 3)), rtol=1e-6)


def test_random_orders_are_permutations():
    orders = random_orders(5).numpy()
    assert orders.shape == (5, 5)
    for row in orders:
        assert sorted(row) == list(range(5))


def test_shared_weights_get_the_projected_sum_and_the_others_their_lone_gradient():
    shared_a = [np.array([[1.0, 0.0]]), np.array([[-1.0, 1.0]])]  # tasks 0 and 1 on a (1, 2) weight
    shared_b = [np.array([2.0]), None]  # task 0 alone on part of the shared vector's weights
    lone = tf.IndexedSlices(tf.constant([[3.0, 4.0]]), tf.constant([1]), tf.constant([3, 2]))
    task_gradients = [
        [tf.constant(shared_a[0], tf.float32), tf.constant(shared_b[0], tf.float32), None, None],
        [tf.constant(shared_a[1], tf.float32), None, lone, None],
    ]
    # Task 1 reaches weight 1 too, with a zero gradient: weights 0 and 1 are shared by both.
    task_gradients[1][1] = tf.zeros([1])
    orders = tf.constant([[0, 1], [0, 1]])
    combined = combine_gradients(task_gradients, orders)
    flat = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]])
    expected = reference_pcgrad(flat, np.array([[0, 1], [0, 1]])).sum(axis=0)
    np.testing.assert_allclose(combined[0].numpy(), expected[:2].reshape(1, 2), rtol=1e-6)
    np.testing.assert_allclose(combined[1].numpy(), expected[2:], rtol=1e-6)
    assert combined[2] is lone  # one task's sparse gradient passes untouched
    assert combined[3] is None


def test_without_shared_weights_the_gradients_pass_through():
    a, b = tf.constant([1.0]), tf.constant([-1.0])
    combined = combine_gradients([[a, None], [None, b]])
    assert combined[0] is a and combined[1] is b
