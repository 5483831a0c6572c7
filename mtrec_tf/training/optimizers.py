"""Adam with a learning rate of their own for some weights, and for large embedding tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtrec_tf.backend import keras, tf


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ScaledRateAdam(keras.optimizers.Adam):
    """Keras's Adam, with the learning rate multiplied for some weights by a factor of their own.

    Adam's step does not grow with the gradient (it is divided by the gradient's running
    scale), so a task's loss weight cannot speed up or slow down the weights only that task
    trains; a multiplier of their learning rate can (`TaskConfig.learning_rate_scale`).

    Args:
        *args, **kwargs: those of `keras.optimizers.Adam`, except `amsgrad`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError(f"{type(self).__name__} does not support amsgrad")
        self._rate_scales: dict[Any, float] = {}

    def scale_rates(self, scaled: Iterable[tuple[tf.Variable, float]]) -> None:
        """Each given weight's learning rate becomes the optimizer's times its factor (the others'
        stay the optimizer's); replaces earlier factors."""
        self._rate_scales = {self._var_key(variable): float(scale) for variable, scale in scaled}

    def rate_scale(self, variable: tf.Variable) -> float:
        return self._rate_scales.get(self._var_key(variable), 1.0)

    def _step_size(self, variable: tf.Variable) -> tuple[tf.Tensor, Any]:
        """Adam's bias-corrected step size for this weight (its rate's factor included), and epsilon."""
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        rate = tf.cast(self.learning_rate, dtype) * self.rate_scale(variable)
        alpha = rate * tf.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        epsilon = self.epsilon * tf.sqrt(1 - beta_2**step) if self.adaptive_epsilon else self.epsilon
        return alpha, epsilon

    def _moments(self, variable: tf.Variable) -> tuple[tf.Variable, tf.Variable]:
        index = self._index_dict[self._var_key(variable)]
        return self._momentums[index], self._velocities[index]

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        if self.rate_scale(variable) == 1.0:
            return super().update_step(gradient, variable)
        # Keras's step (which decays every row's moments for a sparse gradient too), at the scaled rate.
        gradient = tf.convert_to_tensor(gradient)
        alpha, epsilon = self._step_size(variable)
        m, v = self._moments(variable)
        m.assign_add((gradient - m) * (1 - self.beta_1))
        v.assign_add((tf.square(gradient) - v) * (1 - self.beta_2))
        variable.assign_sub(alpha * m / (tf.sqrt(v) + epsilon))


@keras.saving.register_keras_serializable(package="mtrec_tf")
class LazyAdam(ScaledRateAdam):
    """Adam that updates only the rows of a table that the batch looked up.

    Keras's Adam turns the sparse gradient of an embedding lookup into a dense one and
    updates every row's moments and weights on every step: on a table of a million hash
    buckets that costs more than the rest of the step. Here a sparse gradient updates
    the moments and the weights of the rows it touches only; the other rows' moments wait
    until they are next seen (TF1's `LazyAdamOptimizer`). Dense gradients get Keras's Adam
    (`ScaledRateAdam`'s: the rate's factors apply to both).

    Args:
        *args, **kwargs: those of `keras.optimizers.Adam`, except `amsgrad`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        # Keras compiles the update with XLA on a GPU; the sparse update's `tf.unique` has a
        # data-dependent shape, which XLA does not handle well, so compilation is off.
        kwargs.setdefault("jit_compile", False)
        super().__init__(*args, **kwargs)

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha, epsilon = self._step_size(variable)
        # A row looked up several times in the batch gets the sum of its gradients.
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, dtype), position, tf.shape(rows)[0])
        m, v = self._moments(variable)
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + epsilon), rows))
