"""Small helpers shared by the layers: argument checks and initializer cloning."""

from __future__ import annotations

from typing import Any

from mtrec_tf.backend import keras, tf


def check_positive_int(owner: str, name: str, value: Any, allow_zero: bool = False) -> int:
    """Returns `value` if it is a positive int (or zero when allowed), else raises ValueError."""
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{owner}: `{name}` must be {kind} int, got {value!r}")
    return value


def check_rate(owner: str, name: str, value: Any) -> float:
    """Returns `value` as a float if it lies in [0, 1), else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: `{name}` must be a float in [0, 1), got {value!r}")
    return float(value)


def clone_initializer(initializer: Any) -> Any:
    """A fresh copy of `initializer`, so two weights never share one unseeded instance.

    tf-keras warns (and may repeat values) when one unseeded initializer instance builds
    several weights; Keras' own MultiHeadAttention clones the same way.
    """
    initializer = keras.initializers.get(initializer)
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer


def stacked_initializer(initializer: Any) -> Any:
    """Initializes a `[n, fan_in, fan_out]` weight as `n` independent `[fan_in, fan_out]` ones.

    A stacked expert kernel should start like `n` separate Dense kernels: the fans of a
    Glorot or He initializer must be those of one slice, not of the whole stack (Keras
    would count the leading axis as a receptive field and shrink the scale by `sqrt(n)`).
    A seeded initializer gets seed `seed + i` for slice `i`, so slices differ.
    """
    initializer = keras.initializers.get(initializer)

    def init(shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        shape = tuple(shape)
        if not isinstance(initializer, keras.initializers.Initializer):
            return tf.stack([initializer(shape[1:], dtype=dtype) for _ in range(shape[0])])
        config = initializer.get_config()
        slices = []
        for i in range(shape[0]):
            sliced = dict(config)
            if sliced.get("seed") is not None:
                sliced["seed"] = int(sliced["seed"]) + i
            slices.append(initializer.__class__.from_config(sliced)(shape[1:], dtype=dtype))
        return tf.stack(slices)

    return init


class PooledSequenceOutputs:
    """The output mask and shapes of a sequence encoder that returns one pooled vector per row,
    `output_width` wide, and with `return_sequences` also the per-step outputs (as wide), which
    keep the input's mask. Mixed into such a layer before `keras.layers.Layer`."""

    return_sequences: bool

    @property
    def output_width(self) -> int:
        raise NotImplementedError

    def compute_mask(self, inputs: tf.Tensor, mask: tf.Tensor | None = None) -> list[tf.Tensor | None] | None:
        if self.return_sequences:
            return [None, mask]
        return None

    def compute_output_shape(
        self, input_shape: tf.TensorShape
    ) -> tf.TensorShape | tuple[tf.TensorShape, tf.TensorShape]:
        input_shape = tf.TensorShape(input_shape)
        pooled = tf.TensorShape([input_shape[0], self.output_width])
        if self.return_sequences:
            return pooled, input_shape[:-1].concatenate([self.output_width])
        return pooled
