"""Multi-task mixtures of experts: MMoE and PLE, with every expert in one batched kernel."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int, clone_initializer, stacked_initializer


def _check_features(owner: str, input_shape: Any) -> int:
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 2 or input_shape[-1] is None:
        raise ValueError(
            f"{owner}: expected input of shape (batch, features) with a known `features`, "
            f"got {input_shape}"
        )
    return int(input_shape[-1])


@keras.saving.register_keras_serializable(package="mtrec_tf")
class MixtureOfExperts(keras.layers.Layer):
    """Multi-gate mixture of experts (MMoE): shared experts, one softmax gate per task.

    All experts are one batched kernel of shape `[num_experts, d_in, expert_units]`
    applied with `einsum`; gate `k` mixes the expert outputs for task `k`:

    ```
    e_i(x)   = activation(x W_i + b_i)                   i = 1..num_experts
    g_k(x)   = softmax(x G_k + c_k)                      k = 1..num_tasks
    output_k = sum_i g_k(x)_i e_i(x)
    ```

    Args:
        num_experts: Number of shared experts.
        expert_units: Width of each expert (and of each task output).
        num_tasks: Number of tasks, that is of gates and of outputs.
        activation: Activation of the experts.
        use_bias: Whether experts and gates have biases.
        kernel_initializer: Initializer of one expert's (one gate's) kernel; each expert
            is initialised as a separate `[d_in, expert_units]` matrix.
        bias_initializer: Initializer for the biases.
        kernel_regularizer: Optional regularizer for the expert and gate kernels.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(batch, d_in)`.
        return_gates: If `True`, also return the gate weights.

    Returns:
        A list of `num_tasks` tensors of shape `(batch, expert_units)`. With
        `return_gates=True`, the pair `(outputs, gates)` where `gates` has shape
        `(batch, num_tasks, num_experts)`.

    Example:

    >>> towers = MixtureOfExperts(num_experts=4, expert_units=8, num_tasks=2)(
    ...     tf.zeros((3, 16)))
    >>> [t.shape for t in towers]
    [TensorShape([3, 8]), TensorShape([3, 8])]

    References:
        - [Ma et al., 2018](https://doi.org/10.1145/3219819.3220007): Modeling Task
          Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts.
    """

    def __init__(
        self,
        num_experts: int,
        expert_units: int,
        num_tasks: int,
        activation: Any = "relu",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_experts = check_positive_int("MixtureOfExperts", "num_experts", num_experts)
        self.expert_units = check_positive_int("MixtureOfExperts", "expert_units", expert_units)
        self.num_tasks = check_positive_int("MixtureOfExperts", "num_tasks", num_tasks)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape: tf.TensorShape) -> None:
        d_in = _check_features("MixtureOfExperts", input_shape)
        self.expert_kernel = self.add_weight(
            name="expert_kernel",
            shape=(self.num_experts, d_in, self.expert_units),
            initializer=stacked_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        self.gate_kernel = self.add_weight(
            name="gate_kernel",
            shape=(self.num_tasks, d_in, self.num_experts),
            initializer=stacked_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.expert_bias = self.add_weight(
                name="expert_bias",
                shape=(self.num_experts, self.expert_units),
                initializer=clone_initializer(self.bias_initializer),
            )
            self.gate_bias = self.add_weight(
                name="gate_bias",
                shape=(self.num_tasks, self.num_experts),
                initializer=clone_initializer(self.bias_initializer),
            )
        super().build(input_shape)

    def call(
        self, inputs: tf.Tensor, return_gates: bool = False
    ) -> list[tf.Tensor] | tuple[list[tf.Tensor], tf.Tensor]:
        experts = tf.einsum("bd,edu->beu", inputs, self.expert_kernel)  # (batch, E, units)
        logits = tf.einsum("bd,tde->bte", inputs, self.gate_kernel)  # (batch, tasks, E)
        if self.use_bias:
            experts += self.expert_bias
            logits += self.gate_bias
        experts = self.activation(experts)
        gates = tf.nn.softmax(logits, axis=-1)
        mixed = tf.einsum("bte,beu->btu", gates, experts)  # (batch, tasks, units)
        outputs = tf.unstack(mixed, num=self.num_tasks, axis=1)  # tasks x (batch, units)
        if return_gates:
            return outputs, gates
        return outputs

    def compute_output_shape(self, input_shape: tf.TensorShape) -> list[tf.TensorShape]:
        batch = tf.TensorShape(input_shape)[0]
        return [tf.TensorShape([batch, self.expert_units])] * self.num_tasks

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "num_tasks": self.num_tasks,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ProgressiveLayeredExtraction(keras.layers.Layer):
    """Progressive Layered Extraction (PLE): stacked Customized Gate Control levels.

    Each level holds `num_task_experts` experts per task and `num_shared_experts` shared
    ones, all in one batched kernel `[num_tasks * num_task_experts + num_shared_experts,
    d_in, expert_units]` (task experts first, task-major, then the shared ones). Task `k`'s
    gate mixes its own experts and the shared ones; below the last level a shared gate
    mixes all experts into the input of the next level's shared experts:

    ```
    level 0 inputs:  x_k = x_s = x
    task k output:   y_k = softmax(x_k G_k) . [E_k(x_k) ; E_s(x_s)]
    shared output:   y_s = softmax(x_s G_s) . [E_1(x_1) ; ... ; E_K(x_K) ; E_s(x_s)]
    next level:      x_k, x_s = y_k, y_s;  the last level returns [y_1, ..., y_K]
    ```

    With `num_levels=1` this is a single CGC layer.

    Args:
        num_tasks: Number of tasks, that is of outputs.
        num_shared_experts: Shared experts per level (may be 0).
        num_task_experts: Experts per task per level (may be 0 if there are shared ones).
        expert_units: Width of every expert (and of each task output).
        num_levels: Number of extraction levels.
        activation: Activation of the experts.
        use_bias: Whether experts and gates have biases.
        kernel_initializer: Initializer of one expert's (one gate's) kernel; each expert
            is initialised as a separate `[d_in, expert_units]` matrix.
        bias_initializer: Initializer for the biases.
        kernel_regularizer: Optional regularizer for the expert and gate kernels.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(batch, d_in)`.

    Returns:
        A list of `num_tasks` tensors of shape `(batch, expert_units)`.

    Example:

    >>> towers = ProgressiveLayeredExtraction(
    ...     num_tasks=2, num_shared_experts=2, num_task_experts=1, expert_units=8)(
    ...     tf.zeros((3, 16)))
    >>> [t.shape for t in towers]
    [TensorShape([3, 8]), TensorShape([3, 8])]

    References:
        - [Tang et al., 2020](https://doi.org/10.1145/3383313.3412236): Progressive
          Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for
          Personalized Recommendations.
    """

    def __init__(
        self,
        num_tasks: int,
        num_shared_experts: int,
        num_task_experts: int,
        expert_units: int,
        num_levels: int = 2,
        activation: Any = "relu",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = "ProgressiveLayeredExtraction"
        self.num_tasks = check_positive_int(owner, "num_tasks", num_tasks)
        self.num_shared_experts = check_positive_int(
            owner, "num_shared_experts", num_shared_experts, allow_zero=True
        )
        self.num_task_experts = check_positive_int(
            owner, "num_task_experts", num_task_experts, allow_zero=True
        )
        if self.num_shared_experts + self.num_task_experts == 0:
            raise ValueError(
                f"{owner}: need at least one expert, got num_shared_experts=0 and "
                "num_task_experts=0"
            )
        self.expert_units = check_positive_int(owner, "expert_units", expert_units)
        self.num_levels = check_positive_int(owner, "num_levels", num_levels)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        tasks, per_task, shared = self.num_tasks, self.num_task_experts, self.num_shared_experts
        self._num_experts = tasks * per_task + shared
        # Which input (task k, or `tasks` for the shared one) feeds each expert.
        self._expert_groups = [e // per_task for e in range(tasks * per_task)] + [tasks] * shared
        # The experts task k's gate mixes: its own, then the shared ones.
        self._task_selection = [
            [k * per_task + m for m in range(per_task)]
            + [tasks * per_task + s for s in range(shared)]
            for k in range(tasks)
        ]
        self._levels: list[dict[str, tf.Variable]] = []

    def _kernel(self, name: str, shape: tuple[int, ...]) -> tf.Variable:
        stacked = len(shape) == 3  # one [fan_in, fan_out] matrix per expert or task
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=(stacked_initializer if stacked else clone_initializer)(
                self.kernel_initializer
            ),
            regularizer=self.kernel_regularizer,
        )

    def _bias(self, name: str, shape: tuple[int, ...]) -> tf.Variable:
        return self.add_weight(
            name=name, shape=shape, initializer=clone_initializer(self.bias_initializer)
        )

    def build(self, input_shape: tf.TensorShape) -> None:
        d_in = _check_features("ProgressiveLayeredExtraction", input_shape)
        experts, units, tasks = self._num_experts, self.expert_units, self.num_tasks
        per_gate = self.num_task_experts + self.num_shared_experts
        self._levels = []
        for level in range(self.num_levels):
            width = d_in if level == 0 else units
            weights = {
                "expert_kernel": self._kernel(f"level_{level}_expert_kernel", (experts, width, units)),
                "task_gate_kernel": self._kernel(
                    f"level_{level}_task_gate_kernel", (tasks, width, per_gate)
                ),
            }
            if self.use_bias:
                weights["expert_bias"] = self._bias(f"level_{level}_expert_bias", (experts, units))
                weights["task_gate_bias"] = self._bias(
                    f"level_{level}_task_gate_bias", (tasks, per_gate)
                )
            if level < self.num_levels - 1:
                weights["shared_gate_kernel"] = self._kernel(
                    f"level_{level}_shared_gate_kernel", (width, experts)
                )
                if self.use_bias:
                    weights["shared_gate_bias"] = self._bias(
                        f"level_{level}_shared_gate_bias", (experts,)
                    )
            self._levels.append(weights)
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> list[tf.Tensor]:
        task_inputs = shared_input = inputs
        for level, weights in enumerate(self._levels):
            if level == 0:
                # Every expert and gate sees the same input x: (batch, d_in).
                experts = tf.einsum("bd,edu->beu", inputs, weights["expert_kernel"])
                task_logits = tf.einsum("bd,tde->bte", inputs, weights["task_gate_kernel"])
            else:
                stacked = tf.concat([task_inputs, shared_input[:, tf.newaxis, :]], axis=1)
                # stacked: (batch, tasks + 1, units); route each expert its group's input.
                routed = tf.gather(stacked, self._expert_groups, axis=1)  # (batch, E, units)
                experts = tf.einsum("bed,edu->beu", routed, weights["expert_kernel"])
                task_logits = tf.einsum("btd,tde->bte", task_inputs, weights["task_gate_kernel"])
            # experts: (batch, E, units); task_logits: (batch, tasks, own + shared)
            if self.use_bias:
                experts += weights["expert_bias"]
                task_logits += weights["task_gate_bias"]
            experts = self.activation(experts)
            selected = tf.gather(experts, self._task_selection, axis=1)
            # selected: (batch, tasks, own + shared, units)
            task_gates = tf.nn.softmax(task_logits, axis=-1)
            next_task_inputs = tf.einsum("bte,bteu->btu", task_gates, selected)
            # next_task_inputs: (batch, tasks, units)
            if level < self.num_levels - 1:
                shared_logits = tf.matmul(shared_input, weights["shared_gate_kernel"])
                if self.use_bias:
                    shared_logits += weights["shared_gate_bias"]
                shared_gates = tf.nn.softmax(shared_logits, axis=-1)  # (batch, E)
                shared_input = tf.einsum("be,beu->bu", shared_gates, experts)  # (batch, units)
            task_inputs = next_task_inputs
        return tf.unstack(task_inputs, num=self.num_tasks, axis=1)  # tasks x (batch, units)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> list[tf.TensorShape]:
        batch = tf.TensorShape(input_shape)[0]
        return [tf.TensorShape([batch, self.expert_units])] * self.num_tasks

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "num_shared_experts": self.num_shared_experts,
                "num_task_experts": self.num_task_experts,
                "expert_units": self.expert_units,
                "num_levels": self.num_levels,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
