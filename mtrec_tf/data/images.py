"""The one image preprocessing of training and serving: encoded bytes to square uint8 pixels.

The catalogue's images (training) and the `image_category` signature (serving) both call
`preprocess_image`, so a served image gets exactly the pixels the model learned from.
Imports TensorFlow: modules that must load without it import this one inside a function.
"""

from __future__ import annotations

from mtrec_tf.backend import tf

RESIZE_METHOD = "bilinear"
"""`tf.image.resize` method, antialiased so that shrinking a photo averages its pixels."""


def preprocess_image(data: tf.Tensor | bytes, size: int) -> tf.Tensor:
    """An encoded PNG, JPEG, WebP, GIF or BMP image as RGB pixels of `size` x `size`.

    Decoded to 3 channels (grey is repeated, alpha dropped, a GIF's first frame), resized
    with antialiased bilinear interpolation unless it is already `size` x `size`, then
    rounded to the nearest integer and clipped to [0, 255]. Works eagerly and inside a
    `tf.function` (the serving graph maps it over a batch).

    Args:
        data: the encoded image, a scalar string tensor or bytes.
        size: the side of the output in pixels.

    Returns:
        uint8 tensor (size, size, 3).

    Raises:
        tf.errors.InvalidArgumentError: when `data` is not an image TensorFlow can decode.

    Example:
        >>> pixels = preprocess_image(open("shoe.jpg", "rb").read(), 64)
        >>> pixels.shape, pixels.dtype
        (TensorShape([64, 64, 3]), tf.uint8)
    """
    pixels = tf.io.decode_image(data, channels=3, expand_animations=False)  # (height, width, 3)

    def resized() -> tf.Tensor:
        values = tf.image.resize(pixels, [size, size], method=RESIZE_METHOD, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(values), 0.0, 255.0), tf.uint8)

    # An image that has the size already is left as it is (resizing it gives the same pixels, slower).
    if tf.executing_eagerly():
        return pixels if tuple(pixels.shape[:2]) == (size, size) else resized()
    same = tf.reduce_all(tf.equal(tf.shape(pixels)[:2], size))
    return tf.ensure_shape(tf.cond(same, lambda: pixels, resized), [size, size, 3])  # (size, size, 3)
