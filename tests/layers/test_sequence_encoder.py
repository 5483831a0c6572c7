"""SequenceEncoder: BiLSTM + attention pooling against a NumPy BiLSTM, masks and saving."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import AttentionPooling, SequenceEncoder

RNG = np.random.default_rng(1)
UNITS = 3


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm(x, mask, kernel, recurrent, bias, reverse=False):
    """Keras LSTM semantics (gates i, f, c, o): masked steps keep the state, output zero."""
    time, units = x.shape[0], recurrent.shape[0]
    h, c = np.zeros(units), np.zeros(units)
    out = np.zeros((time, units))
    for t in reversed(range(time)) if reverse else range(time):
        if not mask[t]:
            continue
        z = x[t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[t] = h
    return out


def reference(x, mask, weights):
    fk, fr, fb, bk, br, bb, pw, pb, pv = weights
    pooled = np.zeros((x.shape[0], 2 * UNITS))
    sequences = np.zeros((x.shape[0], x.shape[1], 2 * UNITS))
    for n in range(x.shape[0]):
        seq = np.concatenate(
            [lstm(x[n], mask[n], fk, fr, fb), lstm(x[n], mask[n], bk, br, bb, reverse=True)],
            axis=-1,
        )
        sequences[n] = seq
        kept = np.flatnonzero(mask[n])
        if kept.size:
            scores = np.array([pv @ np.tanh(seq[t] @ pw + pb) for t in kept])
            alpha = np.exp(scores - scores.max())
            pooled[n] = (alpha / alpha.sum()) @ seq[kept]
    return pooled, sequences


def make_inputs():
    x = RNG.normal(size=(4, 6, 5)).astype("float32")
    mask = np.array(
        [
            [1, 1, 1, 1, 0, 0],  # right-padded
            [0, 0, 0, 0, 0, 0],  # empty
            [1, 1, 1, 1, 1, 1],  # full
            [0, 0, 1, 1, 1, 0],  # padded on both sides
        ],
        dtype=bool,
    )
    return x, mask


def random_weights(layer):
    return [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]


def test_output_shape_and_masking():
    x, mask = make_inputs()
    layer = SequenceEncoder(units=UNITS, return_sequences=True)
    pooled, sequences = layer(x, mask=mask)
    assert pooled.shape == (4, 2 * UNITS)
    assert sequences.shape == (4, 6, 2 * UNITS)
    np.testing.assert_array_equal(pooled[1], 0.0)
    np.testing.assert_array_equal(sequences.numpy()[~mask], 0.0)
    noisy = np.where(mask[..., None], x, 100 * RNG.normal(size=x.shape)).astype("float32")
    noisy_pooled, noisy_sequences = layer(noisy, mask=mask)
    np.testing.assert_allclose(noisy_pooled, pooled, atol=1e-6)
    np.testing.assert_allclose(noisy_sequences, sequences, atol=1e-6)
    # Default: the pooled encoding only; the mask is consumed.
    plain = SequenceEncoder(units=UNITS, pooling_units=7)
    assert plain(x, mask=mask).shape == (4, 2 * UNITS)
    assert plain.compute_mask(x, tf.constant(mask)) is None
    assert plain.pooling.units == 7


TOKENS = np.array([[4, 2, 1, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])


@pytest.fixture(scope="module")
def token_model():
    """Embedding(mask_zero) -> SequenceEncoder -> pooled, sequences and a re-pooling of them."""
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(6, 5, mask_zero=True)(inputs)
    pooled, sequences = SequenceEncoder(UNITS, return_sequences=True)(embedded)
    assert sequences._keras_mask is not None  # the sequences keep the input mask
    repooled = AttentionPooling(4)(sequences)  # ... so a later layer sees it
    return keras.Model(inputs, {"pooled": pooled, "sequences": sequences, "repooled": repooled})


def test_keras_mask_flows_in_and_out(token_model):
    out = token_model(TOKENS)
    np.testing.assert_array_equal(out["pooled"][1], 0.0)
    np.testing.assert_array_equal(out["repooled"][1], 0.0)
    np.testing.assert_array_equal(out["sequences"].numpy()[TOKENS == 0], 0.0)
    longer = np.pad(TOKENS, [[0, 0], [0, 3]])  # more padding changes nothing
    np.testing.assert_allclose(token_model(longer)["pooled"], out["pooled"], atol=1e-6)


def test_matches_numpy_bilstm_and_pooling():
    x, mask = make_inputs()
    layer = SequenceEncoder(units=UNITS, pooling_units=4, return_sequences=True)
    layer.build(x.shape)
    # The weights in reference() order: forward LSTM, backward LSTM, pooling.
    names = [w.name for w in layer.weights]
    assert all(n.startswith("bilstm/forward_") for n in names[:3]), names
    assert all(n.startswith("bilstm/backward_") for n in names[3:6]), names
    assert names[6:] == ["pooling/kernel:0", "pooling/bias:0", "pooling/context:0"], names
    weights = random_weights(layer)
    layer.set_weights(weights)
    pooled, sequences = layer(x, mask=mask)
    ref_pooled, ref_sequences = reference(x, mask, weights)
    np.testing.assert_allclose(sequences, ref_sequences, atol=1e-5)
    np.testing.assert_allclose(pooled, ref_pooled, atol=1e-5)
    # No mask: every step is real.
    full = np.ones_like(mask)
    np.testing.assert_allclose(layer(x)[0], reference(x, full, weights)[0], atol=1e-5)


def test_constant_initializers():
    # With every LSTM weight and the pooling weights constant, both directions of a row
    # with one kept step give the same h, and the pooled output is that h.
    x = np.full((1, 3, 2), 0.5, dtype="float32")
    mask = np.array([[False, True, False]])
    layer = SequenceEncoder(units=2)
    layer.build(x.shape)
    layer.set_weights([np.full(w.shape, 0.1, dtype="float32") for w in layer.get_weights()])
    z = 0.5 * 2 * 0.1 + 0.1  # x . kernel + bias, h_prev = 0
    c = 1 / (1 + np.exp(-z)) * np.tanh(z)
    h = 1 / (1 + np.exp(-z)) * np.tanh(c)
    np.testing.assert_allclose(layer(x, mask=mask), np.full((1, 4), h), atol=1e-6)


def test_gradients_are_finite_on_empty_rows():
    x, mask = make_inputs()
    x = tf.constant(x)
    layer = SequenceEncoder(units=UNITS, dropout=0.2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2)
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    for g in grads:
        assert np.all(np.isfinite(tf.convert_to_tensor(g).numpy()))
    np.testing.assert_array_equal(grads[0].numpy()[1], 0.0)  # the empty row gets no gradient
    np.testing.assert_array_equal(grads[0].numpy()[~mask], 0.0)


def test_all_rows_empty():
    x, _ = make_inputs()
    layer = SequenceEncoder(units=UNITS)
    np.testing.assert_array_equal(layer(x, mask=np.zeros((4, 6), bool)), 0.0)


def test_config_roundtrip(config_roundtrip):
    x, mask = make_inputs()
    layer = SequenceEncoder(units=UNITS, dropout=0.1, pooling_units=5, return_sequences=True)
    copy = config_roundtrip(layer, x, mask=mask)
    assert copy.get_config()["pooling_units"] == 5
    assert copy.bilstm.forward_layer.cell.dropout == 0.1


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        SequenceEncoder(units=-1)
    with pytest.raises(ValueError, match="dropout"):
        SequenceEncoder(units=2, dropout=1.5)
    with pytest.raises(ValueError, match="features"):
        SequenceEncoder(units=2)(tf.zeros((2, 3)))


def test_save_and_reload(save_and_reload, save_format, token_model):
    # SavedModel without per-layer traces: tracing tf-keras' LSTM for export takes ~30 s
    # on two cores; the reload path (rebuild from the registered config) is the same.
    reloaded = save_and_reload(token_model, TOKENS, save_format, save_traces=False)
    np.testing.assert_array_equal(reloaded(TOKENS)["pooled"][1], 0.0)


def test_fused_and_generic_lstm_give_the_same_outputs_with_the_same_weights():
    x, mask = make_inputs()
    generic = SequenceEncoder(units=UNITS)
    fused = SequenceEncoder(units=UNITS, fused=True)
    expected = generic(x, mask=mask)
    fused(x, mask=mask)
    fused.set_weights(generic.get_weights())
    np.testing.assert_allclose(fused(x, mask=mask).numpy(), expected.numpy(), atol=1e-5)
    assert SequenceEncoder.from_config(fused.get_config()).fused
