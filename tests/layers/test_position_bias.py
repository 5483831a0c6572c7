"""PositionBias: a slot's logit from its embedding row, neutral at the start."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import PositionBias

RNG = np.random.default_rng(0)
POSITIONS = np.array([0, 3, -1, 7, 25, 4])


def reference(positions: np.ndarray, table: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
              buckets: int) -> np.ndarray:
    rows = np.clip(positions, -1, buckets - 1) + 1
    return np.maximum(table[rows], 0.0) @ kernel[:, 0] + bias[0]


def test_starts_neutral_with_one_logit_per_example():
    layer = PositionBias(buckets=5)
    out = layer(POSITIONS)
    assert out.shape == (6,)
    np.testing.assert_array_equal(out, 0.0)  # the output layer starts at zero


def test_matches_numpy_reference_and_clips_positions():
    layer = PositionBias(buckets=5, units=3)
    layer(POSITIONS)
    table, kernel, bias = RNG.normal(size=(6, 3)), RNG.normal(size=(3, 1)), RNG.normal(size=(1,))
    layer.set_weights([table, kernel, bias])
    out = layer(POSITIONS).numpy()
    np.testing.assert_allclose(out, reference(POSITIONS, table, kernel, bias, 5), atol=1e-5)
    assert out[3] == out[4]  # 7 and 25 share the last row
    assert out[2] != out[0]  # an unknown position has a row of its own


def test_gradient_reaches_only_the_rows_of_the_batch():
    layer = PositionBias(buckets=5, units=2)
    layer(POSITIONS)
    layer.output_layer.set_weights([np.ones((2, 1)), np.zeros(1)])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(np.array([1, 1, -1])))
    gradient = tf.convert_to_tensor(tape.gradient(loss, layer.embedding.embeddings)).numpy()
    assert set(np.flatnonzero(gradient.any(axis=1))) <= {0, 2}


def test_config_roundtrip(config_roundtrip):
    copy = config_roundtrip(PositionBias(buckets=4, units=2), POSITIONS)
    assert copy.get_config()["buckets"] == 4


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="buckets"):
        PositionBias(buckets=0)
    with pytest.raises(ValueError, match="units"):
        PositionBias(buckets=3, units=-1)


def test_save_and_reload(save_and_reload, save_format):
    inputs = keras.Input((), dtype="int64")
    layer = PositionBias(buckets=4, units=2)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([RNG.normal(size=(5, 2)), RNG.normal(size=(2, 1)), RNG.normal(size=(1,))])
    save_and_reload(model, POSITIONS, save_format)
