"""A small dense tower: Dense (+ dropout) blocks, optionally followed by an output Dense."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int, check_rate, clone_initializer


@keras.saving.register_keras_serializable(package="mtrec_tf")
class MLP(keras.layers.Layer):
    """Multi-layer perceptron over the last axis, used by task heads and scoring units.

    ```
    h_0 = x
    h_i = dropout(activation(h_{i-1} W_i + b_i))      for each of `hidden_units`
    y   = output_activation(h_n W_o + b_o)             if `output_units` is set, else h_n
    ```

    Args:
        hidden_units: Widths of the hidden Dense layers, in order; may be empty.
        activation: Activation of the hidden layers (name or callable).
        dropout: Dropout rate after each hidden layer, in `[0, 1)`.
        output_units: Width of a final Dense layer without dropout, or `None` for none.
        output_activation: Activation of that final layer (`None` = linear).
        use_bias: Whether the Dense layers have biases.
        kernel_initializer: Initializer for every Dense kernel.
        bias_initializer: Initializer for every Dense bias.
        kernel_regularizer: Optional regularizer for every Dense kernel.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor of shape `(..., features)`.
        training: Whether dropout is active.

    Returns:
        A tensor of shape `(..., output_units)`, or `(..., hidden_units[-1])` without
        `output_units` (`(..., features)` when both are empty). A Keras mask passes through.

    Example:

    >>> MLP([32, 16], dropout=0.1, output_units=1)(tf.zeros((4, 8))).shape
    TensorShape([4, 1])
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        activation: Any = "relu",
        dropout: float = 0.0,
        output_units: int | None = None,
        output_activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(hidden_units, (str, bytes)) or not isinstance(hidden_units, Sequence):
            raise ValueError(f"MLP: `hidden_units` must be a sequence of ints, got {hidden_units!r}")
        self.hidden_units = [check_positive_int("MLP", "hidden_units[i]", w) for w in hidden_units]
        self.activation = keras.activations.get(activation)
        self.dropout = check_rate("MLP", "dropout", dropout)
        self.output_units = (
            None if output_units is None else check_positive_int("MLP", "output_units", output_units)
        )
        self.output_activation = keras.activations.get(output_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

        self.hidden_layers = [
            self._dense(width, self.activation, f"hidden_{i}")
            for i, width in enumerate(self.hidden_units)
        ]
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, name=f"dropout_{i}")
            for i in range(len(self.hidden_units))
        ]
        self.output_layer = (
            None
            if self.output_units is None
            else self._dense(self.output_units, self.output_activation, "output")
        )

    def _dense(self, units: int, activation: Any, name: str) -> keras.layers.Dense:
        return keras.layers.Dense(
            units,
            activation=activation,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape: tf.TensorShape) -> None:
        shape = tf.TensorShape(input_shape)
        if shape.rank is None or shape[-1] is None:
            raise ValueError(f"MLP: the last input axis must be known, got {shape}")
        for layer in self.hidden_layers:
            with tf.name_scope(layer.name):
                layer.build(shape)
            shape = shape[:-1].concatenate([layer.units])
        if self.output_layer is not None:
            with tf.name_scope(self.output_layer.name):
                self.output_layer.build(shape)
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = inputs  # (..., features)
        for dense, drop in zip(self.hidden_layers, self.dropout_layers):
            x = dense(x)  # (..., width)
            if self.dropout > 0.0:
                x = drop(x, training=training)
        if self.output_layer is not None:
            x = self.output_layer(x)  # (..., output_units)
        return x

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape)
        widths = self.hidden_units + ([self.output_units] if self.output_units else [])
        return shape[:-1].concatenate([widths[-1]]) if widths else shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "output_units": self.output_units,
                "output_activation": keras.activations.serialize(self.output_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
