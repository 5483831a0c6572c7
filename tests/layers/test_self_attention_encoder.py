"""CausalSelfAttentionEncoder (SASRec): a NumPy transformer, causality, masks and saving."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import AttentionPooling, CausalSelfAttentionEncoder

RNG = np.random.default_rng(3)
UNITS, HEADS, MAX_LENGTH = 4, 2, 6
EPSILON = 1e-6  # the layer norms'


def make_inputs(features=5):
    x = RNG.normal(size=(4, 6, features)).astype("float32")
    mask = np.array(
        [
            [1, 1, 1, 1, 0, 0],  # right-padded, as the pipeline pads
            [0, 0, 0, 0, 0, 0],  # empty
            [1, 1, 1, 1, 1, 1],  # full
            [0, 0, 1, 1, 1, 0],  # padded on both sides
        ],
        dtype=bool,
    )
    return x, mask


def layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPSILON) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))


def bsarec_filter(layer, steps):
    """BSARec's filter: the rfft of `steps` left-padded with zeros to `max_length` steps, all but
    the lowest `frequency_bins` frequencies zeroed, inverted; the values at the real steps."""
    window = np.zeros((layer.max_length, steps.shape[1]))
    window[layer.max_length - len(steps):] = steps
    spectrum = np.fft.rfft(window, axis=0, norm="ortho")
    spectrum[layer.frequency_bins:] = 0
    return np.fft.irfft(spectrum, n=layer.max_length, axis=0, norm="ortho")[layer.max_length - len(steps):]


def low_pass(layer, steps):
    """The filter at each step: over the whole row's window (`frequency_window="whole"`), or at
    the last step of the prefix ending there ("causal")."""
    if layer.frequency_window == "whole":
        return bsarec_filter(layer, steps)
    return np.stack([bsarec_filter(layer, steps[: t + 1])[-1] for t in range(len(steps))])


def reference(layer, x, mask):
    """The layer's function in NumPy, from its weights, one row at a time (no dropout): pre-LN
    blocks with a final layer norm, or post-LN blocks after a layer norm of the input sum, with
    BSARec's filter beside the attention where `frequency_mix` is set."""
    pooled = np.zeros((x.shape[0], layer.units))
    sequences = np.zeros((x.shape[0], x.shape[1], layer.units))
    positions = layer.position_embedding.numpy()
    for n in range(x.shape[0]):
        kept = np.flatnonzero(mask[n])
        if not kept.size:
            continue
        h = x[n, kept]  # the real steps only: padding must not matter
        if layer.input_projection is not None:
            h = h @ layer.input_projection.kernel.numpy()
        order = np.arange(len(kept))
        h = h + positions[order if layer.position_order == "forward" else order[::-1]]
        post = layer.norm == "post"
        if post:
            h = layer_norm(h, *layer.input_norm.get_weights())
        activation = gelu if layer.activation == "gelu" else (lambda a: np.maximum(a, 0.0))
        causal = np.tril(np.ones((len(kept), len(kept)), bool))
        for i in range(layer.num_blocks):
            z = h if post else layer_norm(h, *layer.attention_norms[i].get_weights())
            qk, qb, kk, kb, vk, vb, ok, ob = layer.attentions[i].get_weights()
            q = np.einsum("tf,fhd->thd", z, qk) + qb
            k = np.einsum("tf,fhd->thd", z, kk) + kb
            v = np.einsum("tf,fhd->thd", z, vk) + vb
            scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(q.shape[-1])
            scores = np.where(causal, scores, -np.inf)
            alpha = np.exp(scores - scores.max(-1, keepdims=True))
            alpha /= alpha.sum(-1, keepdims=True)
            attended = np.einsum("hts,shd->thd", alpha, v)
            block_input = h
            h = h + np.einsum("thd,hdf->tf", attended, ok) + ob
            if post:
                h = layer_norm(h, *layer.attention_norms[i].get_weights())
            if layer.frequency_mix:
                low = low_pass(layer, block_input)
                beta = layer.frequency_scales[i].numpy()
                filtered = block_input + low + beta**2 * (block_input - low)
                filtered = layer_norm(filtered, *layer.frequency_norms[i].get_weights())
                h = layer.frequency_mix * filtered + (1 - layer.frequency_mix) * h
            z = h if post else layer_norm(h, *layer.feedforward_norms[i].get_weights())
            w1, b1 = layer.feedforward_inner[i].get_weights()
            w2, b2 = layer.feedforward_outer[i].get_weights()
            h = h + activation(z @ w1 + b1) @ w2 + b2
            if post:
                h = layer_norm(h, *layer.feedforward_norms[i].get_weights())
        y = h if post else layer_norm(h, *layer.final_norm.get_weights())
        sequences[n, kept] = y
        pooled[n] = y[-1]  # the last real step
    return pooled, sequences


def randomize(layer):
    layer.set_weights(
        [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]
    )


def test_output_shape_and_masking():
    x, mask = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, return_sequences=True)
    pooled, sequences = layer(x, mask=mask)
    assert pooled.shape == (4, UNITS)
    assert sequences.shape == (4, 6, UNITS)
    np.testing.assert_array_equal(pooled[1], 0.0)
    np.testing.assert_array_equal(sequences.numpy()[~mask], 0.0)
    # The pooled vector is the output at each row's last real step (row 1 is empty).
    np.testing.assert_array_equal(pooled.numpy()[[0, 2, 3]], sequences.numpy()[[0, 2, 3], [3, 5, 4]])
    # Values on padded steps never reach the output.
    noisy = np.where(mask[..., None], x, 100 * RNG.normal(size=x.shape)).astype("float32")
    noisy_pooled, noisy_sequences = layer(noisy, mask=mask)
    np.testing.assert_allclose(noisy_pooled, pooled, atol=1e-5)
    np.testing.assert_allclose(noisy_sequences, sequences, atol=1e-5)
    # Default: the pooled encoding only; the mask is consumed.
    plain = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, feedforward_units=7)
    assert plain(x, mask=mask).shape == (4, UNITS)
    assert plain.compute_mask(x, tf.constant(mask)) is None
    assert plain.feedforward_inner[0].units == 7
    assert plain.compute_output_shape((None, None, 5)).as_list() == [None, UNITS]


def test_where_the_padding_lies_changes_nothing():
    # Positions count real steps, so a row's outputs do not depend on where its padding is.
    x, mask = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, return_sequences=True)
    pooled, sequences = layer(x, mask=mask)
    real = x[3, 2:5]
    moved = np.zeros_like(x[:1])
    moved[0, [0, 2, 5]] = real  # the same three steps with padding between them
    moved_mask = np.zeros((1, 6), bool)
    moved_mask[0, [0, 2, 5]] = True
    moved_pooled, moved_sequences = layer(moved, mask=moved_mask)
    np.testing.assert_allclose(moved_pooled[0], pooled[3], atol=1e-5)
    np.testing.assert_allclose(moved_sequences[0].numpy()[[0, 2, 5]], sequences[3, 2:5], atol=1e-5)


@pytest.mark.parametrize("norm, frequency_mix, position_order",
                         [("pre", 0.0, "forward"), ("post", 0.0, "forward"), ("post", 0.7, "forward"),
                          ("post", 0.7, "backward")])
def test_a_step_never_attends_to_a_later_step(norm, frequency_mix, position_order):
    x, mask = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, num_blocks=3,
                                       dropout=0.3, norm=norm, frequency_mix=frequency_mix,
                                       position_order=position_order, return_sequences=True)
    randomize(layer)
    sequences = layer(x, mask=mask)[1].numpy()
    for row, later in ((0, 2), (2, 3), (2, 5), (3, 4)):
        changed = x.copy()
        changed[row, later] += 3.0 * RNG.normal(size=x.shape[-1]).astype("float32")
        again = layer(changed, mask=mask)[1].numpy()
        np.testing.assert_array_equal(again[row, :later], sequences[row, :later])  # bit for bit
        moved = np.abs(again[row, later:] - sequences[row, later:]).max(axis=-1)
        assert np.all(moved[mask[row, later:]] > 1e-4), moved  # ... and every later real step changes
        others = [r for r in range(4) if r != row]
        np.testing.assert_array_equal(again[others], sequences[others])
    # A prefix encoded alone gives the same outputs as within the whole sequence, up to float32
    # rounding: other shapes take other kernels (differences of 3e-6 after three blocks were seen).
    # Backward positions count the steps that follow, so there the prefix differs.
    _, prefix = layer(x[2:3, :3], mask=mask[2:3, :3])
    if position_order == "forward":
        np.testing.assert_allclose(prefix[0], sequences[2, :3], atol=2e-5)
    else:
        assert np.abs(prefix[0] - sequences[2, :3]).max() > 1e-3


@pytest.mark.parametrize("norm, activation, frequency_mix, frequency_bins, position_order, window",
                         [("pre", "relu", 0.0, 2, "forward", "causal"), ("post", "gelu", 0.0, 2, "forward", "causal"),
                          ("post", "relu", 0.0, 2, "forward", "causal"), ("post", "gelu", 0.7, 2, "forward", "causal"),
                          ("post", "gelu", 0.4, 3, "forward", "causal"), ("post", "gelu", 0.5, 1, "forward", "causal"),
                          ("pre", "relu", 0.0, 2, "backward", "causal"),
                          ("post", "gelu", 0.7, 2, "backward", "causal"),
                          ("post", "gelu", 0.7, 2, "forward", "whole"), ("post", "gelu", 0.4, 3, "backward", "whole")])
def test_matches_numpy_transformer(norm, activation, frequency_mix, frequency_bins, position_order, window):
    x, mask = make_inputs(features=5)  # 5 != UNITS: an input projection
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, num_blocks=2,
                                       feedforward_units=3, norm=norm, activation=activation,
                                       frequency_mix=frequency_mix, frequency_bins=frequency_bins,
                                       frequency_window=window, position_order=position_order,
                                       return_sequences=True)
    layer.build(x.shape)
    assert layer.input_projection is not None
    names = [w.name.split("/", 1)[1] for w in layer.attentions[0].weights]
    assert names == [f"{p}/{k}:0" for p in ("query", "key", "value", "attention_output")
                     for k in ("kernel", "bias")], names
    randomize(layer)
    pooled, sequences = layer(x, mask=mask)
    ref_pooled, ref_sequences = reference(layer, x, mask)
    np.testing.assert_allclose(sequences, ref_sequences, atol=1e-4)
    np.testing.assert_allclose(pooled, ref_pooled, atol=1e-4)
    # No mask: every step is real. No projection when the widths agree.
    full = np.ones_like(mask)
    np.testing.assert_allclose(layer(x)[0], reference(layer, x, full)[0], atol=1e-4)
    same = CausalSelfAttentionEncoder(5, MAX_LENGTH)
    same.build(x.shape)
    assert same.input_projection is None


def test_whole_window_filter_reads_later_steps_and_keeps_the_last_step_of_one_block():
    x, mask = make_inputs()
    # One frequency (the window's mean): every step's filter weighs every real step alike.
    layers = {window: CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, num_blocks=1, norm="post",
                                                 frequency_mix=0.7, frequency_bins=1, frequency_window=window,
                                                 return_sequences=True)
              for window in ("causal", "whole")}
    layers["causal"].build(x.shape)
    randomize(layers["causal"])
    layers["whole"].build(x.shape)
    layers["whole"].set_weights(layers["causal"].get_weights())
    (causal_pooled, causal), (whole_pooled, whole) = (layers[w](x, mask=mask) for w in ("causal", "whole"))
    # The last real step reads every real step either way; the earlier ones read later ones.
    np.testing.assert_allclose(whole_pooled, causal_pooled, atol=1e-5)
    assert np.abs(whole.numpy()[0, :3] - causal.numpy()[0, :3]).max(axis=-1).min() > 1e-4
    changed = x.copy()
    changed[0, 3] += 3.0
    again = layers["whole"](changed, mask=mask)[1].numpy()
    assert np.all(np.abs(again[0, :3] - whole.numpy()[0, :3]).max(axis=-1) > 1e-4)
    # Padding still reads nothing and is read by nothing.
    np.testing.assert_array_equal(again[1:], whole.numpy()[1:])
    np.testing.assert_array_equal(whole.numpy()[0, 4:], 0.0)


def test_constant_initializers():
    # Zero kernels and a zero position table: every block adds its zero biases, so the
    # output is the final layer norm of the input alone (gamma 1, beta 0).
    x, mask = make_inputs(features=UNITS)
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, kernel_initializer="zeros",
                                       position_initializer="zeros", return_sequences=True)
    _, sequences = layer(x, mask=mask)
    expected = layer_norm(x, 1.0, 0.0) * mask[..., None]
    np.testing.assert_allclose(sequences, expected, atol=1e-5)


def test_gradients_are_finite_on_empty_rows():
    x, mask = make_inputs()
    x = tf.constant(x)
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, dropout=0.2,
                                       return_sequences=True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, sequences = layer(x, mask=mask, training=True)
        loss = tf.reduce_sum(pooled**2) + tf.reduce_sum(sequences**2)
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    assert len(grads) == len(layer.trainable_variables) + 1
    for g in grads:
        assert np.all(np.isfinite(tf.convert_to_tensor(g).numpy()))
    np.testing.assert_array_equal(grads[0].numpy()[1], 0.0)  # the empty row gets no gradient
    np.testing.assert_array_equal(grads[0].numpy()[~mask], 0.0)


def test_all_rows_empty():
    x, _ = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, return_sequences=True)
    pooled, sequences = layer(x, mask=np.zeros((4, 6), bool))
    np.testing.assert_array_equal(pooled, 0.0)
    np.testing.assert_array_equal(sequences, 0.0)


def test_more_real_steps_than_positions_fail_clearly():
    x, mask = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, max_length=5)
    rows = [0, 1, 3]
    assert layer(x[rows], mask=mask[rows]).shape == (3, UNITS)  # 6 steps, at most 4 real per row
    with pytest.raises(tf.errors.InvalidArgumentError, match="more real steps than `max_length`"):
        layer(x)


TOKENS = np.array([[4, 2, 1, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])


@pytest.fixture(scope="module")
def token_model():
    """Embedding(mask_zero) -> encoder -> pooled, sequences and a re-pooling of them."""
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(6, 5, mask_zero=True)(inputs)
    encoder = CausalSelfAttentionEncoder(UNITS, 8, num_heads=HEADS, return_sequences=True)
    pooled, sequences = encoder(embedded)
    assert sequences._keras_mask is not None  # the sequences keep the input mask
    repooled = AttentionPooling(4)(sequences)  # ... so a later layer sees it
    return keras.Model(inputs, {"pooled": pooled, "sequences": sequences, "repooled": repooled})


def test_keras_mask_flows_in_and_out(token_model):
    out = token_model(TOKENS)
    np.testing.assert_array_equal(out["pooled"][1], 0.0)
    np.testing.assert_array_equal(out["repooled"][1], 0.0)
    np.testing.assert_array_equal(out["sequences"].numpy()[TOKENS == 0], 0.0)
    longer = np.pad(TOKENS, [[0, 0], [0, 3]])  # more padding changes nothing
    np.testing.assert_allclose(token_model(longer)["pooled"], out["pooled"], atol=1e-5)


def test_config_roundtrip(config_roundtrip):
    x, mask = make_inputs()
    layer = CausalSelfAttentionEncoder(UNITS, MAX_LENGTH, num_heads=HEADS, num_blocks=3, dropout=0.1,
                                       feedforward_units=6, norm="post", activation="gelu",
                                       frequency_mix=0.7, frequency_bins=3, frequency_window="whole",
                                       position_order="backward", return_sequences=True,
                                       position_initializer="zeros")
    copy = config_roundtrip(layer, x, mask=mask)
    config = copy.get_config()
    assert (config["num_blocks"], config["feedforward_units"], config["max_length"]) == (3, 6, MAX_LENGTH)
    assert (config["frequency_mix"], config["frequency_bins"]) == (0.7, 3) and len(copy.frequency_scales) == 3
    assert (config["norm"], config["activation"]) == ("post", "gelu") and copy.final_norm is None
    assert (config["position_order"], config["frequency_window"]) == ("backward", "whole")
    assert copy.attentions[2].get_config()["dropout"] == 0.1


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        CausalSelfAttentionEncoder(units=0, max_length=4)
    with pytest.raises(ValueError, match="max_length"):
        CausalSelfAttentionEncoder(units=4, max_length=0)
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        CausalSelfAttentionEncoder(units=6, max_length=4, num_heads=4)
    with pytest.raises(ValueError, match="num_blocks"):
        CausalSelfAttentionEncoder(units=4, max_length=4, num_blocks=0)
    with pytest.raises(ValueError, match="dropout"):
        CausalSelfAttentionEncoder(units=4, max_length=4, dropout=1.0)
    with pytest.raises(ValueError, match="`norm` must be one of pre, post, got 'mid'"):
        CausalSelfAttentionEncoder(units=4, max_length=4, norm="mid")
    with pytest.raises(ValueError, match="`frequency_mix` needs `norm='post'`"):
        CausalSelfAttentionEncoder(units=4, max_length=4, frequency_mix=0.5)
    with pytest.raises(ValueError, match="`frequency_mix` must be a float in"):
        CausalSelfAttentionEncoder(units=4, max_length=4, norm="post", frequency_mix=1.0)
    with pytest.raises(ValueError, match=r"`frequency_bins` \(3\) must be at most `max_length // 2` \(2\)"):
        CausalSelfAttentionEncoder(units=4, max_length=4, norm="post", frequency_mix=0.5, frequency_bins=3)
    with pytest.raises(ValueError, match="`position_order` must be one of forward, backward, got 'random'"):
        CausalSelfAttentionEncoder(units=4, max_length=4, position_order="random")
    with pytest.raises(ValueError, match="`frequency_window` must be one of causal, whole, got 'future'"):
        CausalSelfAttentionEncoder(units=4, max_length=4, frequency_window="future")
    with pytest.raises(ValueError, match="`activation` must be one of relu, gelu"):
        CausalSelfAttentionEncoder(units=4, max_length=4, activation="tanh")
    with pytest.raises(ValueError, match="features"):
        CausalSelfAttentionEncoder(units=4, max_length=4)(tf.zeros((2, 3)))


def test_save_and_reload(save_and_reload, save_format, token_model):
    reloaded = save_and_reload(token_model, TOKENS, save_format)
    np.testing.assert_array_equal(reloaded(TOKENS)["pooled"][1], 0.0)
