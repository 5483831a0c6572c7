"""HashedNgramLinear: summed weight rows of the present ids over the square root of their count."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import HashedNgramLinear

RNG = np.random.default_rng(0)
IDS = np.array([[3, 1, 3, 0], [0, 0, 0, 0], [5, 2, 4, 1]])


def reference(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    out = np.zeros((ids.shape[0], table.shape[1]))
    for i, row in enumerate(ids):
        present = row[row > 0]
        if present.size:
            out[i] = table[present].sum(axis=0) / np.sqrt(present.size)
    return out


def test_output_shape_padding_and_zero_start():
    layer = HashedNgramLinear(units=4, buckets=5)
    out = layer(IDS)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, 0.0)  # zeros: the layer starts neutral
    layer.set_weights([RNG.normal(size=(6, 4))])
    np.testing.assert_array_equal(layer(IDS).numpy()[1], 0.0)  # padding only
    # Padding contributes nothing wherever it sits.
    np.testing.assert_allclose(layer(np.array([[3, 1, 3, 0, 0, 0]])), layer(IDS[:1]), atol=1e-6)


def test_matches_numpy_reference():
    layer = HashedNgramLinear(units=3, buckets=5)
    layer.build(IDS.shape)
    table = RNG.normal(size=(6, 3))
    layer.set_weights([table])
    np.testing.assert_allclose(layer(IDS), reference(IDS, table), atol=1e-5)


def test_constant_initializer():
    layer = HashedNgramLinear(units=2, buckets=5, initializer=keras.initializers.Constant(0.5))
    np.testing.assert_allclose(layer(IDS), reference(IDS, np.full((6, 2), 0.5)), atol=1e-6)


def test_gradient_reaches_only_the_rows_present():
    layer = HashedNgramLinear(units=2, buckets=5)
    layer.build(IDS.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(IDS[:1]))
    gradient = tf.convert_to_tensor(tape.gradient(loss, layer.table)).numpy()
    assert set(np.flatnonzero(gradient.any(axis=1))) == {1, 3}


def test_dropout_leaves_out_ngrams_in_training_only():
    layer = HashedNgramLinear(units=1, buckets=5, dropout=0.5)
    layer.build(IDS.shape)
    table = np.arange(6, dtype="float32")[:, None] + 1.0  # row i scores i + 1
    layer.set_weights([table])
    np.testing.assert_allclose(layer(IDS, training=False), reference(IDS, table), atol=1e-6)
    ids = np.tile(np.arange(1, 6), (4000, 1))  # every row holds ids 1..5
    tf.random.set_seed(0)
    out = layer(ids, training=True).numpy()[:, 0]
    # Each output is sum / sqrt(count) of a random subset of the rows, times 1 / sqrt(1 - 0.5).
    subsets = [[i for i in range(1, 6) if mask >> (i - 1) & 1] for mask in range(32)]
    possible = np.array([table[s].sum() / np.sqrt(max(len(s), 1)) / np.sqrt(0.5) for s in subsets])
    nearest = np.abs(out[:, None] - possible[None, :]).min(axis=1)
    np.testing.assert_allclose(nearest, 0.0, atol=1e-4)
    assert len({round(float(v), 4) for v in out}) > 20 and (out == 0).any()  # random subsets, some empty
    # On average the training output has the size of the full bag's.
    np.testing.assert_allclose(out.mean(), reference(ids[:1], table)[0, 0], rtol=0.05)


def test_config_roundtrip(config_roundtrip):
    copy = config_roundtrip(HashedNgramLinear(units=4, buckets=7, dropout=0.25, name="ngrams"), IDS)
    assert copy.units == 4 and copy.buckets == 7 and copy.dropout == 0.25 and copy.name == "ngrams"


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        HashedNgramLinear(units=0, buckets=5)
    with pytest.raises(ValueError, match="buckets"):
        HashedNgramLinear(units=2, buckets=0)
    with pytest.raises(ValueError, match="dropout"):
        HashedNgramLinear(units=2, buckets=5, dropout=1.0)


def test_save_and_reload(save_and_reload, save_format):
    inputs = keras.Input((None,), dtype="int64")
    layer = HashedNgramLinear(units=3, buckets=5)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([RNG.normal(size=(6, 3))])
    save_and_reload(model, IDS, save_format)
