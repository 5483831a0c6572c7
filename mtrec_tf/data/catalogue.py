"""The catalogue as dense arrays, row 0 standing for an unknown item.

The model holds these arrays, so a candidate's item features (its texts as token ids, its
image, the raw values of its other features) are looked up by item id inside the graph, at
training and at serving alike. What the configuration does not list, or no item has, the
catalogue does not hold.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.data.validation import DataValidationError
from mtrec_tf.features.columns import item_feature_values
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig
from mtrec_tf.text.tokenizer import tokenize_to_lists

if TYPE_CHECKING:
    from mtrec_tf.data.catalogue_images import ImageFile

# The side in pixels that catalogue images are resized to.
IMAGE_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Item arrays aligned with `DataStatistics.items`, shifted by one (row 0: unknown).

    Attributes:
        category: int32 (items + 1,): category id (0 unknown, 1.. `DataStatistics.categories`),
            for evaluation by category (the item tower reads the category as a feature).
        has_image: bool (items + 1,): whether the item has an image in the items table.
        texts: the text features by name: int32 (items + 1, max_title_tokens) token ids as the
            model's token lookup gives them (0 padding, 1 unknown token, 2.. the vocabulary);
            only features that some item has a value of (a catalogue without titles holds none).
        image: uint8 (items + 1, size, size, 3) of the image feature, zeros for an item without
            an image; None without an image feature, when no item has an image, or when the
            model reads none (`build_catalogue(images=False)`). For a large catalogue, the
            file its rows are read from (`catalogue_images.ImageFile`), which `arrays()` leaves out.
        image_size: the side of the images in pixels (also of those served without a catalogue
            image array).
        features: the other items features by name (items + 1,): raw values (text, "" when
            missing; float32, NaN when missing), which the model's feature input layer reads.
    """

    category: np.ndarray
    has_image: np.ndarray
    texts: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    image: np.ndarray | ImageFile | None = None
    image_size: int = IMAGE_SIZE
    features: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return len(self.category)

    @property
    def has_titles(self) -> bool:
        """Whether some item has a value of a text feature (else the model encodes no text)."""
        return bool(self.texts)

    @property
    def has_images(self) -> bool:
        """Whether the catalogue holds an image array (some item has an image, and it was wanted)."""
        return self.image is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The catalogue as named arrays (for `np.savez`); an absent image array, or one in a file, is left out."""
        arrays = {"category": self.category, "has_image": self.has_image, "image_size": np.asarray(self.image_size)}
        if isinstance(self.image, np.ndarray):
            arrays["image"] = self.image
        arrays.update({f"{_TEXT_PREFIX}{name}": tokens for name, tokens in self.texts.items()})
        arrays.update({f"{_FEATURE_PREFIX}{name}": values for name, values in self.features.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Catalogue:
        """The catalogue that `arrays()` gave."""
        def prefixed(prefix: str) -> dict[str, np.ndarray]:
            return {name[len(prefix):]: np.asarray(values) for name, values in arrays.items()
                    if name.startswith(prefix)}

        return cls(category=np.asarray(arrays["category"]), has_image=np.asarray(arrays["has_image"], dtype=bool),
                   texts=prefixed(_TEXT_PREFIX), image=np.asarray(arrays["image"]) if "image" in arrays else None,
                   image_size=int(arrays["image_size"]), features=prefixed(_FEATURE_PREFIX))


_TEXT_PREFIX = "text_"
_FEATURE_PREFIX = "feature_"


def build_catalogue(
    items: pd.DataFrame, statistics: DataStatistics, max_title_tokens: int, image_size: int = IMAGE_SIZE,
    images: bool = True, features: Sequence[FeatureConfig] = DEFAULT_FEATURES,
) -> Catalogue:
    """Dense arrays of the catalogue `items` in the order of `statistics.items`.

    Args:
        items: the normalised items table (`schema`); `title` and `image` may be absent.
        statistics: the vocabularies (items, tokens, categories).
        max_title_tokens: longer texts are cut.
        image_size: images are resized to `image_size` x `image_size`.
        images: whether to build the image array; False (a model that encodes no items) or
            no item with an image leaves it out.
        features: the configuration's features; those of the items table are kept by name.
    """
    frame = items.set_index("item_id").reindex(list(statistics.items))
    rows = len(frame) + 1
    own = [feature for feature in features if feature.table == "items"]

    texts = {}
    for feature in (f for f in own if f.kind == "text"):
        tokens = _token_ids(frame[feature.column], statistics.tokens, max_title_tokens) \
            if feature.column in frame else None
        if tokens is not None:
            texts[feature.name] = tokens

    category_ids = {c: i + 1 for i, c in enumerate(statistics.categories)}
    category = np.zeros(rows, dtype=np.int32)
    category[1:] = [category_ids.get(c, 0) for c in frame["category"]]

    pictures = frame["image"] if "image" in frame else pd.Series([None] * len(frame), dtype=object)
    has_image = np.zeros(rows, dtype=bool)
    has_image[1:] = [isinstance(data, (bytes, bytearray)) and bool(data) for data in pictures]
    image = None
    if images and has_image.any() and any(feature.kind == "image" for feature in own):
        image = np.zeros((rows, image_size, image_size, 3), dtype=np.uint8)
        positions = np.flatnonzero(has_image[1:])
        image[positions + 1] = decode_images(frame.index[positions].tolist(), pictures.iloc[positions].tolist(),
                                             image_size)
    # Row 0, the unknown item, misses every feature.
    values = {name: np.concatenate([np.full(1, np.nan if column.dtype.kind == "f" else "", column.dtype), column])
              for name, column in item_feature_values(own, items, list(statistics.items)).items()}
    return Catalogue(category, has_image, texts, image, image_size, values)


def _token_ids(texts: pd.Series, vocabulary: Sequence[str], max_tokens: int) -> np.ndarray | None:
    """(len(texts) + 1, max_tokens) token ids of `texts` (row 0 empty); None when all are empty."""
    values = list(texts.fillna("").astype(str))
    token_lists = tokenize_to_lists(values) if any(values) else []
    if not any(token_lists):
        return None
    token_ids = {token: i + 2 for i, token in enumerate(vocabulary)}
    ids = np.zeros((len(values) + 1, max_tokens), dtype=np.int32)
    for row, tokens in enumerate(token_lists, start=1):
        row_ids = [token_ids.get(t, 1) for t in tokens[:max_tokens]]
        ids[row, : len(row_ids)] = row_ids
    return ids


def decode_images(item_ids: Sequence[str], pictures: Sequence[bytes | bytearray], size: int) -> np.ndarray:
    """`decode_image` of many images in one graph call: (n, size, size, 3) uint8.

    Raises:
        DataValidationError: an image does not decode; the message names its item.
    """
    from mtrec_tf.backend import tf

    encoded = [bytes(data) for data in pictures]
    if not encoded:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    try:
        return np.asarray(_batch_decoder(size)(tf.constant(encoded, tf.string)).numpy())
    except tf.errors.InvalidArgumentError:
        for item_id, data in zip(item_ids, encoded):  # the one that fails, named
            decoded_image(item_id, data, size)
        raise


@functools.lru_cache(maxsize=4)
def _batch_decoder(size: int) -> Any:
    """A graph function of a batch of encoded images to their pixels (traced once per size)."""
    from mtrec_tf.backend import tf
    from mtrec_tf.data.images import preprocess_image

    def one(data: tf.Tensor) -> tf.Tensor:
        return preprocess_image(data, size)

    def batch(data: tf.Tensor) -> tf.Tensor:
        return tf.map_fn(one, data, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
                         parallel_iterations=32)

    return tf.function(batch, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)


def decoded_image(item_id: str, data: bytes | bytearray, size: int) -> np.ndarray:
    """`decode_image`, its error naming the item."""
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
