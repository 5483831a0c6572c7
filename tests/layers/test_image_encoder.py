"""ImageEncoder: patchify stem + strided convs from scratch, or a saved Keras backbone."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import ImageEncoder

RNG = np.random.default_rng(5)


def conv_same(x, kernel, bias, stride):
    """NumPy Conv2D with TensorFlow's "same" padding (extra padding at the bottom/right)."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + k - h, 0)
    pad_w = max((out_w - 1) * stride + k - w, 0)
    x = np.pad(x, [[0, 0], [pad_h // 2, pad_h - pad_h // 2], [pad_w // 2, pad_w - pad_w // 2], [0, 0]])
    out = np.zeros((n, out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + k, j * stride : j * stride + k, :]
            out[:, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def reference(images, weights, patch):
    """The built-in CNN in NumPy: stem as a (patch x patch, stride patch) conv, then convs."""
    stem_kernel, stem_bias, *rest = weights
    x = images.astype("float64") / 255.0
    n, h, w, _ = x.shape
    x = np.pad(x, [[0, 0], [0, -h % patch], [0, -w % patch], [0, 0]])
    kernel = stem_kernel.reshape(patch, patch, 3, -1)
    rows, cols = x.shape[1] // patch, x.shape[2] // patch
    h0 = np.zeros((n, rows, cols, kernel.shape[-1]))
    for i in range(rows):
        for j in range(cols):
            window = x[:, i * patch : (i + 1) * patch, j * patch : (j + 1) * patch, :]
            h0[:, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2]))
    x = np.maximum(h0 + stem_bias, 0)
    *conv_weights, proj_kernel, proj_bias = rest
    for kernel, bias in zip(conv_weights[0::2], conv_weights[1::2]):
        x = np.maximum(conv_same(x, kernel, bias, 2), 0)
    return x.mean(axis=(1, 2)) @ proj_kernel + proj_bias


def images(n=3, h=16, w=16, dtype="uint8"):
    return RNG.integers(0, 256, size=(n, h, w, 3)).astype(dtype)


def test_output_shape_and_input_types():
    encoder = ImageEncoder(output_dim=8)
    batch = images()
    out = encoder(batch)
    assert out.shape == (3, 8) and out.dtype == tf.float32
    # uint8 and float pixels in [0, 255] give the same embedding.
    np.testing.assert_allclose(encoder(batch.astype("float32")), out, atol=1e-5)
    assert encoder(images(2, 10, 13)).shape == (2, 8)  # any size: padded to the patch grid
    assert [w.shape for w in encoder.weights[:2]] == [(48, 16), (16,)]
    assert len(encoder.convs) == 2 and encoder.backbone is None


def test_an_empty_batch_gives_no_rows_in_and_out_of_a_graph():
    encoder = ImageEncoder(output_dim=8)
    encoder(images(2))  # built
    assert encoder(images(0)).shape == (0, 8)
    traced = tf.function(lambda x: encoder(x, training=True),
                         input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.uint8)])
    assert traced(images(0)).shape == (0, 8) and traced(images(2)).shape == (2, 8)


@pytest.mark.parametrize("size, patch", [((16, 16), 4), ((10, 13), 4), ((9, 9), 3)])
def test_matches_numpy_reference(size, patch):
    batch = images(2, *size)
    encoder = ImageEncoder(output_dim=5, filters=(4, 6, 3), patch_size=patch)
    encoder.build(batch.shape)
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in encoder.get_weights()]
    encoder.set_weights(weights)
    np.testing.assert_allclose(encoder(batch), reference(batch, weights, patch), atol=1e-4)


def test_constant_initializers():
    # Constant images through constant weights: every stem unit sees 48 pixels of value p.
    p = 51.0
    batch = np.full((1, 8, 8, 3), p, dtype="float32")
    encoder = ImageEncoder(output_dim=2, filters=(2,), patch_size=4)
    encoder.build(batch.shape)
    encoder.set_weights(
        [np.full(w.shape, 0.5, dtype="float32") for w in encoder.get_weights()]
    )
    stem = 48 * (p / 255.0) * 0.5 + 0.5
    expected = 2 * stem * 0.5 + 0.5
    np.testing.assert_allclose(encoder(batch), [[expected, expected]], atol=1e-5)


def test_gradients_reach_every_weight():
    encoder = ImageEncoder(output_dim=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder(images(), training=True) ** 2)
    grads = tape.gradient(loss, encoder.trainable_variables)
    assert len(grads) == 2 + 2 * 2 + 2
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


def test_config_roundtrip(config_roundtrip):
    encoder = ImageEncoder(output_dim=6, filters=[8, 12], patch_size=2, activation="gelu")
    copy = config_roundtrip(encoder, images())
    assert copy.get_config()["filters"] == [8, 12] and copy.get_config()["backbone_path"] is None


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="output_dim"):
        ImageEncoder(output_dim=0)
    with pytest.raises(ValueError, match="filters"):
        ImageEncoder(output_dim=2, filters=[])
    with pytest.raises(FileNotFoundError, match="no saved backbone"):
        ImageEncoder(output_dim=2, backbone_path=tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="height, width, 3"):
        ImageEncoder(output_dim=2)(tf.zeros((2, 8, 8, 1)))


def test_save_and_reload(save_and_reload, save_format):
    inputs = keras.Input((None, None, 3), dtype="uint8")
    model = keras.Model(inputs, ImageEncoder(output_dim=4)(inputs))
    save_and_reload(model, images(), save_format)


# ---------------------------------------------------------------------- backbone


def tiny_backbone(pooled: bool) -> keras.Model:
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    if pooled:
        x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="tiny_backbone")


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize(
    "filename, pooled",
    [("backbone.keras", False), ("backbone.h5", True), ("backbone_savedmodel", True)],
)
def test_backbone_is_loaded_and_used(tmp_path, filename, pooled):
    backbone = tiny_backbone(pooled)
    path = tmp_path / filename
    backbone.save(path)
    batch = images()
    encoder = ImageEncoder(output_dim=3, backbone_path=path)
    out = encoder(batch).numpy()
    assert encoder.convs == [] and encoder.backbone is not None
    assert encoder.get_config()["backbone_path"] == str(path)
    # The backbone's weights are the saved ones, and frozen by default.
    for mine, saved in zip(encoder.backbone.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(mine, saved)
    assert [w.name for w in encoder.trainable_weights] == [
        w.name for w in encoder.projection.trainable_weights
    ]
    features = backbone(batch / 255.0, training=False).numpy()
    if not pooled:
        features = features.mean(axis=(1, 2))
    kernel, bias = encoder.projection.get_weights()
    np.testing.assert_allclose(out, features @ kernel + bias, atol=1e-5)


def test_trainable_backbone(tmp_path):
    path = tmp_path / "backbone.keras"
    tiny_backbone(pooled=True).save(path)
    encoder = ImageEncoder(output_dim=3, backbone_path=path, backbone_trainable=True)
    encoder(images())
    # conv kernel + bias, BatchNorm gamma + beta, projection kernel + bias
    assert len(encoder.trainable_weights) == 6


def test_backbone_save_and_reload(tmp_path, save_and_reload, save_format):
    path = tmp_path / "backbone.keras"
    tiny_backbone(pooled=False).save(path)
    inputs = keras.Input((None, None, 3), dtype="uint8")
    encoder = ImageEncoder(output_dim=4, backbone_path=path, backbone_trainable=True)
    model = keras.Model(inputs, encoder(inputs))
    # Train-like change to the backbone weights: the reloaded model keeps them.
    conv = encoder.backbone.layers[1]
    conv.kernel.assign(conv.kernel + 1.0)
    reloaded = save_and_reload(model, images(), save_format)
    reloaded_conv = reloaded.layers[1].backbone.layers[1]
    np.testing.assert_allclose(reloaded_conv.kernel, conv.kernel)
