"""Optimizers for models with large embedding tables."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf


@keras.saving.register_keras_serializable(package="mtrec_tf")
class LazyAdam(keras.optimizers.Adam):
    """Adam that updates only the rows of a table that the batch looked up.

    Keras's Adam turns the sparse gradient of an embedding lookup into a dense one and
    updates every row's moments and weights on every step: on a table of a million hash
    buckets that costs more than the rest of the step. Here a sparse gradient updates
    the moments and the weights of the rows it touches only; the other rows' moments wait
    until they are next seen (TF1's `LazyAdamOptimizer`). Dense gradients get Keras's Adam
    unchanged.

    Args:
        *args, **kwargs: those of `keras.optimizers.Adam`, except `amsgrad`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        # Keras compiles the update with XLA on a GPU; the sparse update's `tf.unique` has a
        # data-dependent shape, which XLA does not handle well, so compilation is off.
        kwargs.setdefault("jit_compile", False)
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError("LazyAdam does not support amsgrad")

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        epsilon = self.epsilon * tf.sqrt(1 - beta_2**step) if self.adaptive_epsilon else self.epsilon
        # A row looked up several times in the batch gets the sum of its gradients.
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, dtype), position, tf.shape(rows)[0])
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + epsilon), rows))
