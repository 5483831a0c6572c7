"""Gradient surgery: combine the tasks' gradients on shared weights without conflicts (PCGrad).

Where two tasks' gradients on the shared weights point against each other (a negative inner
product), each is projected onto the normal plane of the other before they are summed:

    g_i <- g_i - min(g_i . g_j, 0) / |g_j|^2 * g_j,   for every other task j, in random order

Weights only one task reaches keep that task's gradient as it is (a sparse table's stays sparse).

References:
    Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import tf


def project_conflicts(gradients: tf.Tensor, orders: tf.Tensor) -> tf.Tensor:
    """PCGrad on flat gradients: each row projected off the rows it conflicts with.

    Args:
        gradients: (tasks, size) each task's gradient on the shared weights, flattened.
        orders: (tasks, tasks) int, row i the order in which task i meets the others (its
            own index is skipped: a gradient never conflicts with itself).

    Returns:
        (tasks, size) the projected gradients; their sum is the update.
    """
    num_tasks = gradients.shape[0]
    squared_norms = tf.reduce_sum(tf.square(gradients), axis=1)  # (tasks,)
    projected = []
    for i in range(num_tasks):
        g = gradients[i]
        for k in range(num_tasks):
            j = orders[i, k]
            other = tf.gather(gradients, j)
            conflict = tf.minimum(tf.reduce_sum(g * other), 0.0)
            # A task absent from the batch has a zero gradient: nothing to project off.
            step = tf.math.divide_no_nan(conflict, tf.gather(squared_norms, j))
            g = tf.where(tf.equal(j, i), g, g - step * other)
        projected.append(g)
    return tf.stack(projected)


def random_orders(num_tasks: int) -> tf.Tensor:
    """(tasks, tasks): for each task, the others in an order of their own (PCGrad shuffles per task)."""
    return tf.stack([tf.random.shuffle(tf.range(num_tasks)) for _ in range(num_tasks)])


def reaching_tasks(task_gradients: Sequence[Sequence[Any]]) -> list[list[int]]:
    """For each variable, the indices of the tasks whose gradient reaches it (is not `None`).

    Args:
        task_gradients: per task, its gradient for every variable, as `tape.gradient`
            returns them; all lists in the variables' order.
    """
    return [[t for t, grads in enumerate(task_gradients) if grads[v] is not None]
            for v in range(len(task_gradients[0]))]


def combine_gradients(task_gradients: Sequence[Sequence[Any]], orders: tf.Tensor | None = None) -> list[Any]:
    """The update from each task's gradients: PCGrad on the weights two or more tasks reach,
    the lone task's gradient elsewhere.

    Args:
        task_gradients: per task, its gradient for every variable (`None` where it does not
            reach it), as `tape.gradient` returns them; all lists in the variables' order.
        orders: as `project_conflicts` takes it, over the tasks that reach a shared weight;
            drawn at random when not given.

    Returns:
        one gradient per variable, `None` where no task reaches it.
    """
    reaching = reaching_tasks(task_gradients)
    shared = [v for v, tasks in enumerate(reaching) if len(tasks) > 1]
    combined: list[Any] = [task_gradients[r[0]][v] if len(r) == 1 else None for v, r in enumerate(reaching)]
    if not shared:
        return combined
    tasks = sorted({t for v in shared for t in reaching[v]})
    dense = {(t, v): tf.convert_to_tensor(task_gradients[t][v]) for v in shared for t in reaching[v]}
    present = [dense[reaching[v][0], v] for v in shared]  # one gradient of each shared weight
    shapes = [tf.shape(g) for g in present]
    rows = []
    for t in tasks:  # (size,) the task's gradient on every shared weight, zeros where it has none
        rows.append(tf.concat([tf.reshape(dense[t, v], [-1]) if (t, v) in dense
                               else tf.zeros([tf.size(g)], g.dtype) for v, g in zip(shared, present)], axis=0))
    if orders is None:
        orders = random_orders(len(tasks))
    update = tf.reduce_sum(project_conflicts(tf.stack(rows), orders), axis=0)  # (size,)
    sizes = [tf.size(g) for g in present]
    for v, piece, shape in zip(shared, tf.split(update, tf.stack(sizes), num=len(shared)), shapes):
        combined[v] = tf.reshape(piece, shape)
    return combined
