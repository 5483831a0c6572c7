"""AttentionPooling: additive attention over time, masked steps ignored, empty rows zero."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import AttentionPooling, masked_softmax

RNG = np.random.default_rng(0)


def reference(x: np.ndarray, mask: np.ndarray, w: np.ndarray, b: np.ndarray, v: np.ndarray):
    """Plain NumPy: score_t = v . tanh(W h_t + b), softmax over unmasked steps, sum."""
    out = np.zeros((x.shape[0], x.shape[2]))
    alphas = np.zeros(mask.shape)
    for i in range(x.shape[0]):
        kept = np.flatnonzero(mask[i])
        if kept.size == 0:
            continue
        scores = np.array([v @ np.tanh(x[i, t] @ w + b) for t in kept])
        e = np.exp(scores - scores.max())
        alphas[i, kept] = e / e.sum()
        out[i] = alphas[i] @ x[i]
    return out, alphas


def make_inputs():
    x = RNG.normal(size=(4, 5, 3)).astype("float32")
    mask = np.array(
        [[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=bool
    )
    return x, mask


def test_output_shape_and_masking():
    x, mask = make_inputs()
    layer = AttentionPooling(units=6)
    out, alpha = layer(x, mask=mask, return_attention_scores=True)
    assert out.shape == (4, 3) and alpha.shape == (4, 5)
    np.testing.assert_array_equal(out[1], 0.0)  # all-masked row: exactly zero
    np.testing.assert_array_equal(alpha.numpy()[~mask], 0.0)
    np.testing.assert_allclose(alpha.numpy().sum(axis=1), [1, 0, 1, 1], atol=1e-6)
    # Changing what is under the mask (even to huge values) changes nothing.
    noisy = np.where(mask[..., None], x, 1e4 * RNG.normal(size=x.shape)).astype("float32")
    np.testing.assert_allclose(layer(noisy, mask=mask), out, atol=1e-6)
    # Without a mask every step counts.
    assert not np.allclose(layer(noisy), out)


def test_keras_mask_is_used():
    tokens = np.array([[3, 1, 0, 0], [0, 0, 0, 0], [2, 2, 2, 4]])
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(5, 3, mask_zero=True)(inputs)
    model = keras.Model(inputs, AttentionPooling(4)(embedded))
    out = model(tokens).numpy()
    np.testing.assert_array_equal(out[1], 0.0)
    padded_differently = np.array([[3, 1, 0, 0], [0, 0, 0, 0], [2, 2, 2, 4]])
    padded_differently[0, 2:] = 0
    np.testing.assert_allclose(model(padded_differently), out)
    # The explicit mask argument gives the same as the Keras mask.
    layer = model.layers[-1]
    emb = model.layers[1](tokens)
    np.testing.assert_allclose(layer(emb, mask=tokens > 0), out, atol=1e-6)


def test_matches_numpy_reference():
    x, mask = make_inputs()
    layer = AttentionPooling(units=6)
    layer.build(x.shape)
    w, b, v = RNG.normal(size=(3, 6)), RNG.normal(size=6), RNG.normal(size=6)
    layer.set_weights([w, b, v])
    out, alpha = layer(x, mask=mask, return_attention_scores=True)
    ref_out, ref_alpha = reference(x, mask, w, b, v)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(alpha, ref_alpha, atol=1e-6)


def test_constant_initializers():
    x, mask = make_inputs()
    layer = AttentionPooling(
        units=2,
        kernel_initializer=keras.initializers.Constant(0.5),
        bias_initializer=keras.initializers.Constant(0.1),
    )
    ref, _ = reference(x, mask, np.full((3, 2), 0.5), np.full(2, 0.1), np.full(2, 0.5))
    np.testing.assert_allclose(layer(x, mask=mask), ref, atol=1e-5)
    # A zero kernel scores every step alike: the output is the mean of the kept steps.
    steps = np.ones((2, 4, 3), dtype="float32") * np.arange(4, dtype="float32")[None, :, None]
    flat = AttentionPooling(units=2, kernel_initializer="zeros")
    kept = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    np.testing.assert_allclose(flat(steps, mask=kept), [[0.5] * 3, [1.5] * 3], atol=1e-6)


def test_gradients_are_finite_on_empty_rows():
    x, mask = make_inputs()
    layer = AttentionPooling(units=6)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))
    np.testing.assert_array_equal(grads[0].numpy()[~mask], 0.0)  # no gradient leaks to padding


def test_masked_softmax_handles_empty_rows_and_extremes():
    scores = tf.constant([[1e4, -1e4, 3.0], [5.0, 6.0, 7.0]])
    mask = tf.constant([[True, True, False], [False, False, False]])
    with tf.GradientTape() as tape:
        tape.watch(scores)
        probs = masked_softmax(scores, mask)
        loss = tf.reduce_sum(probs * tf.constant([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(probs, [[1, 0, 0], [0, 0, 0]], atol=1e-7)
    assert np.all(np.isfinite(tape.gradient(loss, scores).numpy()))
    np.testing.assert_allclose(masked_softmax(scores, None), tf.nn.softmax(scores))


def test_config_roundtrip(config_roundtrip):
    x, mask = make_inputs()
    layer = AttentionPooling(units=6, kernel_regularizer="l2", name="pool")
    copy = config_roundtrip(layer, x, mask=mask)
    assert copy.units == 6 and copy.name == "pool"


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        AttentionPooling(units=0)
    with pytest.raises(ValueError, match="features"):
        AttentionPooling(units=2)(tf.zeros((2, 3)))


def test_save_and_reload(save_and_reload, save_format):
    tokens = np.array([[3, 1, 0, 0], [0, 0, 0, 0], [2, 2, 2, 4]])
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(5, 3, mask_zero=True)(inputs)
    model = keras.Model(inputs, AttentionPooling(4)(embedded))
    reloaded = save_and_reload(model, tokens, save_format)
    np.testing.assert_array_equal(reloaded(tokens).numpy()[1], 0.0)
