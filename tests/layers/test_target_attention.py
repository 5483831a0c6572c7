"""TargetAttention (DIN activation unit): weights from an MLP of [q, k, q - k, q * k]."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import TargetAttention

RNG = np.random.default_rng(2)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reference(query, keys, mask, weights, normalize):
    """Plain NumPy DIN unit with sigmoid hidden layers and a linear scalar output."""
    out = np.zeros_like(query, dtype=float)
    all_weights = np.zeros(mask.shape)
    for n in range(keys.shape[0]):
        scores = []
        for t in range(keys.shape[1]):
            q, k = query[n], keys[n, t]
            h = np.concatenate([q, k, q - k, q * k])
            layers = list(zip(weights[0::2], weights[1::2]))
            for kernel, bias in layers[:-1]:
                h = sigmoid(h @ kernel + bias)
            kernel, bias = layers[-1]
            scores.append((h @ kernel + bias)[0])
        scores = np.array(scores)
        kept = mask[n]
        w = np.zeros_like(scores)
        if normalize:
            if kept.any():
                e = np.exp(scores[kept] - scores[kept].max())
                w[kept] = e / e.sum()
        else:
            w[kept] = scores[kept]
        all_weights[n] = w
        out[n] = w @ keys[n]
    return out, all_weights


def make_inputs():
    query = RNG.normal(size=(3, 4)).astype("float32")
    keys = RNG.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 0, 1, 1, 1]], dtype=bool)
    return query, keys, mask


@pytest.mark.parametrize("normalize", [False, True])
def test_output_shape_and_masking(normalize):
    query, keys, mask = make_inputs()
    layer = TargetAttention(hidden_units=[8], normalize=normalize)
    out, weights = layer([query, keys], mask=mask, return_attention_scores=True)
    assert out.shape == (3, 4) and weights.shape == (3, 5)
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_array_equal(weights.numpy()[~mask], 0.0)
    if normalize:
        np.testing.assert_allclose(weights.numpy().sum(axis=1), [1, 0, 1], atol=1e-6)
    noisy = np.where(mask[..., None], keys, 1e3 * RNG.normal(size=keys.shape)).astype("float32")
    np.testing.assert_allclose(layer([query, noisy], mask=mask), out, atol=1e-5)
    # The mask may come as Keras passes it: [query_mask, keys_mask].
    np.testing.assert_allclose(layer([query, noisy], mask=[None, mask]), out, atol=1e-5)


def test_keras_mask_of_the_keys_is_used():
    items = np.array([[1, 2, 0, 0], [0, 0, 0, 0], [3, 1, 4, 0]])
    target = np.array([2, 3, 4])
    target_in = keras.Input((), dtype="int32")
    history_in = keras.Input((None,), dtype="int32")
    embedding = keras.layers.Embedding(5, 4, mask_zero=True)
    pooled = TargetAttention([8])([embedding(target_in), embedding(history_in)])
    model = keras.Model([target_in, history_in], pooled)
    out = model([target, items]).numpy()
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_allclose(model([target, np.pad(items, [[0, 0], [0, 2]])]), out, atol=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_matches_numpy_reference(normalize):
    query, keys, mask = make_inputs()
    layer = TargetAttention(hidden_units=[6, 3], activation="sigmoid", normalize=normalize)
    layer.build([query.shape, keys.shape])
    weights = [RNG.normal(scale=0.5, size=w.shape) for w in layer.get_weights()]
    layer.set_weights(weights)
    out, att = layer([query, keys], mask=mask, return_attention_scores=True)
    ref_out, ref_att = reference(query, keys, mask, weights, normalize)
    np.testing.assert_allclose(att, ref_att, atol=1e-5)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)


def test_constant_initializers():
    # Zero kernels and a constant bias score every step the same: b_out after the MLP.
    query, keys, mask = make_inputs()
    layer = TargetAttention(
        hidden_units=[4],
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(0.5),
    )
    score = 0.5  # Dense(1) of anything times a zero kernel, plus the 0.5 bias
    expected = score * (keys * mask[..., None]).sum(axis=1)
    np.testing.assert_allclose(layer([query, keys], mask=mask), expected, atol=1e-6)
    normalized = TargetAttention(hidden_units=[4], normalize=True, kernel_initializer="zeros")
    counts = np.maximum(mask.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(
        normalized([query, keys], mask=mask),
        (keys * mask[..., None]).sum(axis=1) / counts,
        atol=1e-6,
    )


def test_gradients_are_finite_on_empty_rows():
    query, keys, mask = make_inputs()
    layer = TargetAttention([8], normalize=True)
    keys = tf.constant(keys)
    with tf.GradientTape() as tape:
        tape.watch(keys)
        loss = tf.reduce_sum(layer([query, keys], mask=mask) ** 2)
    for g in tape.gradient(loss, [keys] + layer.trainable_variables):
        assert np.all(np.isfinite(g.numpy()))


def test_config_roundtrip(config_roundtrip):
    query, keys, mask = make_inputs()
    layer = TargetAttention([8, 4], activation="relu", normalize=True, dropout=0.1)
    copy = config_roundtrip(layer, [query, keys], mask=mask)
    assert copy.get_config()["hidden_units"] == [8, 4]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units"):
        TargetAttention(hidden_units=[0])
    with pytest.raises(ValueError, match="same known last axis"):
        TargetAttention()([tf.zeros((2, 3)), tf.zeros((2, 4, 5))])
    with pytest.raises(ValueError, match="query, keys"):
        TargetAttention().build(tf.TensorShape((2, 3, 4)))


def test_save_and_reload(save_and_reload, save_format):
    items = np.array([[1, 2, 0, 0], [0, 0, 0, 0], [3, 1, 4, 0]])
    target = np.array([2, 3, 4])
    target_in = keras.Input((), dtype="int32")
    history_in = keras.Input((None,), dtype="int32")
    embedding = keras.layers.Embedding(5, 4, mask_zero=True)
    pooled = TargetAttention([8], normalize=True)([embedding(target_in), embedding(history_in)])
    model = keras.Model([target_in, history_in], pooled)
    save_and_reload(model, [target, items], save_format)
