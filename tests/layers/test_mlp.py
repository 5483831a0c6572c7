"""MLP: Dense (+ dropout) blocks and an optional output layer."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import MLP

RNG = np.random.default_rng(4)


def test_output_shapes_and_mask_passthrough():
    assert MLP([8, 4])(tf.zeros((3, 5))).shape == (3, 4)
    assert MLP([8], output_units=2)(tf.zeros((3, 6, 5))).shape == (3, 6, 2)
    assert MLP([])(tf.zeros((3, 5))).shape == (3, 5)
    assert MLP([], output_units=1)(tf.zeros((3, 5))).shape == (3, 1)
    assert MLP([8], output_units=2).compute_output_shape((None, 7, 5)) == (None, 7, 2)
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(4, 3, mask_zero=True)(inputs)
    assert MLP([5])(embedded)._keras_mask is not None  # per-step tower keeps the mask


def test_matches_numpy_reference():
    x = RNG.normal(size=(4, 5)).astype("float32")
    layer = MLP([6, 3], activation="tanh", output_units=2, output_activation="sigmoid")
    layer.build(x.shape)
    w = [RNG.normal(size=v.shape) for v in layer.get_weights()]
    layer.set_weights(w)
    h = np.tanh(np.tanh(x @ w[0] + w[1]) @ w[2] + w[3])
    expected = 1 / (1 + np.exp(-(h @ w[4] + w[5])))
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_constant_initializers():
    x = np.array([[1.0, 2.0, 3.0]], dtype="float32")
    layer = MLP(
        [2],
        activation="relu",
        output_units=1,
        kernel_initializer=keras.initializers.Constant(0.5),
        bias_initializer=keras.initializers.Constant(-1.0),
    )
    hidden = max(6 * 0.5 - 1.0, 0.0)  # each hidden unit: (1 + 2 + 3) * 0.5 - 1 = 2
    np.testing.assert_allclose(layer(x), [[2 * hidden * 0.5 - 1.0]], atol=1e-6)


def test_dropout_only_in_training():
    layer = MLP([64], dropout=0.5, kernel_initializer="ones")
    x = tf.ones((2, 4))
    np.testing.assert_allclose(layer(x, training=False), layer(x), atol=0)
    assert np.any(layer(x, training=True).numpy() == 0.0)


def test_config_roundtrip(config_roundtrip):
    x = RNG.normal(size=(4, 5)).astype("float32")
    layer = MLP((8, 4), activation="gelu", dropout=0.2, output_units=1, kernel_regularizer="l2")
    copy = config_roundtrip(layer, x)
    assert copy.get_config()["hidden_units"] == [8, 4]
    assert len(copy.losses) == 3  # one L2 term per kernel


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units"):
        MLP([4, -1])
    with pytest.raises(ValueError, match="hidden_units"):
        MLP(16)
    with pytest.raises(ValueError, match="dropout"):
        MLP([4], dropout=1.0)
    with pytest.raises(ValueError, match="output_units"):
        MLP([4], output_units=0)


def test_save_and_reload(save_and_reload, save_format):
    x = RNG.normal(size=(4, 5)).astype("float32")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, MLP([8, 4], dropout=0.1, output_units=1)(inputs))
    save_and_reload(model, x, save_format)
