"""The catalogue as dense arrays, row 0 standing for an unknown item.

The model holds these arrays, so a candidate's title, category, brand, price and image
are looked up by item id inside the graph, at training and at serving alike.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.data.validation import DataValidationError
from mtrec_tf.text.tokenizer import tokenize_to_lists


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Item features aligned with `DataStatistics.items`, shifted by one (row 0: unknown).

    Attributes:
        title_tokens: int32 (items + 1, max_title_tokens): token ids as the model's token
            lookup gives them (0 padding, 1 unknown token, 2.. the vocabulary).
        category: int32 (items + 1,): category id (0 unknown, 1.. the vocabulary).
        brand: int32 (items + 1,): brand id (0 none or unknown).
        price: float32 (items + 1,): standardised log price, 0 when unknown.
        image: uint8 (items + 1, size, size, 3); zeros when an item has no image.
        has_image: bool (items + 1,).
    """

    title_tokens: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    image: np.ndarray
    has_image: np.ndarray

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return len(self.category)


def build_catalogue(
    items: pd.DataFrame, statistics: DataStatistics, max_title_tokens: int, image_size: int = 64
) -> Catalogue:
    """Dense arrays of the catalogue `items` in the order of `statistics.items`."""
    frame = items.set_index("item_id").reindex(list(statistics.items))
    rows = len(frame) + 1

    token_ids = {token: i + 2 for i, token in enumerate(statistics.tokens)}
    titles = np.zeros((rows, max_title_tokens), dtype=np.int32)
    for row, tokens in enumerate(tokenize_to_lists(list(frame["title"].fillna(""))), start=1):
        ids = [token_ids.get(t, 1) for t in tokens[:max_title_tokens]]
        titles[row, : len(ids)] = ids

    category_ids = {c: i + 1 for i, c in enumerate(statistics.categories)}
    brand_ids = {b: i + 1 for i, b in enumerate(statistics.brands)}
    category = np.zeros(rows, dtype=np.int32)
    category[1:] = [category_ids.get(c, 0) for c in frame["category"]]
    brand = np.zeros(rows, dtype=np.int32)
    brand[1:] = [brand_ids.get(b, 0) for b in frame["brand"].fillna("")]

    price = np.zeros(rows, dtype=np.float32)
    raw = frame["price"].to_numpy(dtype=np.float64)
    known = np.isfinite(raw) & (raw >= 0)
    standardised = (np.log1p(np.where(known, raw, 0.0)) - statistics.price_log_mean) / statistics.price_log_std
    price[1:] = np.where(known, standardised, 0.0)

    image = np.zeros((rows, image_size, image_size, 3), dtype=np.uint8)
    has_image = np.zeros(rows, dtype=bool)
    images = frame["image"] if "image" in frame else pd.Series([None] * len(frame))
    for row, (item_id, data) in enumerate(zip(frame.index, images), start=1):
        if isinstance(data, (bytes, bytearray)) and data:
            image[row] = _decoded(item_id, data, image_size)
            has_image[row] = True
    return Catalogue(titles, category, brand, price, image, has_image)


def _decoded(item_id: str, data: bytes | bytearray, size: int) -> np.ndarray:
    try:
        return decode_image(data, size)
    except ValueError as error:
        raise DataValidationError(f"items: the image of item_id {item_id!r} cannot be decoded ({error}); "
                                  "fix or remove it, or validate the table with bad_rows=skip") from error


def decode_image(data: bytes | bytearray, size: int) -> np.ndarray:
    """An encoded PNG or JPEG as a (size, size, 3) uint8 RGB array, by the preprocessing the
    `image_category` signature runs too (`mtrec_tf.data.images.preprocess_image`).

    Raises:
        ValueError: when `data` is not an image TensorFlow can decode.
    """
    from mtrec_tf.backend import tf  # here: commands that never decode an image load no TensorFlow
    from mtrec_tf.data.images import preprocess_image

    try:
        return preprocess_image(tf.constant(bytes(data), tf.string), size).numpy()
    except tf.errors.InvalidArgumentError as error:
        # The op's own words, without TensorFlow's "{{function_node ...}}" and "[Op:...]" wrapping.
        raise ValueError(re.sub(r"^\{\{.*?\}\}\s*|\s*\[Op:.*$", "", error.message.strip(), flags=re.S)) from None
