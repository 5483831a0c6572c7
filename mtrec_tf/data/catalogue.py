"""The catalogue as dense arrays, row 0 standing for an unknown item.

The model holds these arrays, so a candidate's title, category, brand, price and image
are looked up by item id inside the graph, at training and at serving alike. A catalogue
without titles or images holds no title columns and no image array.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.data.validation import DataValidationError
from mtrec_tf.features.columns import item_feature_values
from mtrec_tf.features.spec import FeatureConfig
from mtrec_tf.text.tokenizer import tokenize_to_lists


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Item features aligned with `DataStatistics.items`, shifted by one (row 0: unknown).

    What the catalogue lacks, the model does without: with no title in the whole catalogue
    `title_tokens` has no columns and no title is encoded; with no image (or none wanted)
    `image` is None and no image array is held, saved or run through the image encoder.

    Attributes:
        title_tokens: int32 (items + 1, max_title_tokens): token ids as the model's token
            lookup gives them (0 padding, 1 unknown token, 2.. the vocabulary); (items + 1, 0)
            when no item has a title.
        category: int32 (items + 1,): category id (0 unknown, 1.. the vocabulary).
        brand: int32 (items + 1,): brand id (0 none or unknown).
        price: float32 (items + 1,): standardised log price, 0 when unknown.
        image: uint8 (items + 1, size, size, 3), zeros for an item without an image; None
            when no item has an image or the model reads none (`build_catalogue(images=False)`).
        has_image: bool (items + 1,): whether the item has an image in the items table.
        image_size: the side of the images in pixels (also of those served without a catalogue
            image array).
        features: the items features of the configuration by name (items + 1,): raw values
            (text, "" when missing; float32, NaN when missing), which the model's feature
            input layer reads.
    """

    title_tokens: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    image: np.ndarray | None
    has_image: np.ndarray
    image_size: int = 64
    features: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return len(self.category)

    @property
    def has_titles(self) -> bool:
        """Whether some item has a title (else the model encodes none)."""
        return self.title_tokens.shape[1] > 0

    @property
    def has_images(self) -> bool:
        """Whether the catalogue holds an image array (some item has an image, and it was wanted)."""
        return self.image is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The catalogue as named arrays (for `np.savez`); an absent image array is left out."""
        arrays = {field.name: np.asarray(getattr(self, field.name)) for field in dataclasses.fields(self)
                  if field.name != "features"}
        if self.image is None:
            del arrays["image"]
        arrays.update({f"{_FEATURE_PREFIX}{name}": values for name, values in self.features.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Catalogue:
        """The catalogue that `arrays()` gave. Arrays saved before the image array became
        optional hold a blank one when no item had an image: it is dropped."""
        has_image = np.asarray(arrays["has_image"], dtype=bool)
        image = arrays["image"] if "image" in arrays and has_image.any() else None
        if "image_size" in arrays:
            image_size = int(arrays["image_size"])
        else:
            image_size = int(arrays["image"].shape[1]) if "image" in arrays else 64
        features = {name[len(_FEATURE_PREFIX):]: np.asarray(values) for name, values in arrays.items()
                    if name.startswith(_FEATURE_PREFIX)}
        return cls(title_tokens=arrays["title_tokens"], category=arrays["category"], brand=arrays["brand"],
                   price=arrays["price"], image=image, has_image=has_image, image_size=image_size, features=features)


_FEATURE_PREFIX = "feature_"


def build_catalogue(
    items: pd.DataFrame, statistics: DataStatistics, max_title_tokens: int, image_size: int = 64,
    images: bool = True, features: Sequence[FeatureConfig] = (),
) -> Catalogue:
    """Dense arrays of the catalogue `items` in the order of `statistics.items`.

    Args:
        items: the normalised items table (`schema`); `title` and `image` may be absent.
        statistics: the vocabularies (items, tokens, categories, brands) and price statistics.
        max_title_tokens: longer titles are cut.
        image_size: images are resized to `image_size` x `image_size`.
        images: whether to build the image array; False (a model that encodes no items) or
            no item with an image leaves it out.
        features: the configuration's features; those of the items table are kept by name.
    """
    frame = items.set_index("item_id").reindex(list(statistics.items))
    rows = len(frame) + 1

    token_ids = {token: i + 2 for i, token in enumerate(statistics.tokens)}
    texts = list(frame["title"].fillna("")) if "title" in frame else [""] * len(frame)
    token_lists = tokenize_to_lists(texts) if any(texts) else []
    width = max_title_tokens if any(token_lists) else 0  # no title anywhere: no title columns
    titles = np.zeros((rows, width), dtype=np.int32)
    for row, tokens in enumerate(token_lists if width else [], start=1):
        ids = [token_ids.get(t, 1) for t in tokens[:max_title_tokens]]
        titles[row, : len(ids)] = ids

    category_ids = {c: i + 1 for i, c in enumerate(statistics.categories)}
    brand_ids = {b: i + 1 for i, b in enumerate(statistics.brands)}
    category = np.zeros(rows, dtype=np.int32)
    category[1:] = [category_ids.get(c, 0) for c in frame["category"]]
    brand = np.zeros(rows, dtype=np.int32)
    if "brand" in frame:
        brand[1:] = [brand_ids.get(b, 0) for b in frame["brand"].fillna("")]

    price = np.zeros(rows, dtype=np.float32)
    if "price" in frame:
        raw = frame["price"].to_numpy(dtype=np.float64)
        known = np.isfinite(raw) & (raw >= 0)
        standardised = (np.log1p(np.where(known, raw, 0.0)) - statistics.price_log_mean) / statistics.price_log_std
        price[1:] = np.where(known, standardised, 0.0)

    pictures = frame["image"] if "image" in frame else pd.Series([None] * len(frame), dtype=object)
    has_image = np.zeros(rows, dtype=bool)
    has_image[1:] = [isinstance(data, (bytes, bytearray)) and bool(data) for data in pictures]
    image = None
    if images and has_image.any():
        image = np.zeros((rows, image_size, image_size, 3), dtype=np.uint8)
        for position in np.flatnonzero(has_image[1:]):
            image[position + 1] = _decoded(frame.index[position], pictures.iloc[position], image_size)
    # Row 0, the unknown item, misses every feature.
    own = {name: np.concatenate([np.full(1, np.nan if values.dtype.kind == "f" else "", values.dtype), values])
           for name, values in item_feature_values(features, items, list(statistics.items)).items()}
    return Catalogue(titles, category, brand, price, image, has_image, image_size, own)


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
