"""One image preprocessing for training and serving: decode, resize, round, clip."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import decode_image
from mtrec_tf.data.images import RESIZE_METHOD, preprocess_image


def _encoded(pixels: np.ndarray, image_format: str = "PNG", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)  # 100 wide, 80 high


def test_an_image_of_the_size_already_is_left_as_it_is(photo):
    square = photo[:64, :64]
    np.testing.assert_array_equal(preprocess_image(_encoded(square), 64), square)


def test_resizing_rounds_to_the_nearest_value_instead_of_truncating(photo):
    data = _encoded(photo)
    got = preprocess_image(data, 64).numpy()
    resized = tf.image.resize(photo, [64, 64], method=RESIZE_METHOD, antialias=True).numpy()
    np.testing.assert_array_equal(got, np.clip(np.round(resized), 0, 255).astype(np.uint8))
    assert (got != resized.astype(np.uint8)).any()  # a truncating cast would give other pixels
    flat = np.full((80, 100, 3), 200, np.uint8)
    np.testing.assert_array_equal(preprocess_image(_encoded(flat), 64), np.full((64, 64, 3), 200, np.uint8))


def test_the_serving_graph_gives_the_pixels_training_gets(photo):
    images = [_encoded(photo), _encoded(photo, "JPEG"), _encoded(photo[:30, :50], "PNG", "L"),
              _encoded(photo[:64, :64], "PNG", "RGBA")]
    mapped = tf.function(lambda batch: tf.map_fn(lambda data: preprocess_image(data, 64), batch,
                                                 fn_output_signature=tf.TensorSpec([64, 64, 3], tf.uint8)),
                         autograph=False)(tf.constant(images))
    for image, served in zip(images, mapped):
        np.testing.assert_array_equal(decode_image(image, 64), served)


def test_a_file_that_is_not_an_image_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown image file format") as error:
        decode_image(b"not an image", 64)
    assert "Op:" not in str(error.value) and "{{" not in str(error.value)
