"""The item encoder: an item's id, title, category, brand, price, image and the configuration's
items features to one vector."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ModelConfig
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.features.inputs import FeatureInputs
from mtrec_tf.layers import MLP, ImageEncoder
from mtrec_tf.models.text_encoder import NEVER, TextEncoder, TokenBatch


@dataclasses.dataclass(frozen=True)
class CatalogueTensors:
    """What the item encoder looks up by item index, as constants (never checkpointed).

    Attributes:
        titles: int32 (items + 1, max_title_tokens) title token ids, or None when the model
            reads no title.
        category, brand: int32 (items + 1,) ids; price: float32 (items + 1,) standardised.
        image: uint8 (items + 1, size, size, 3), or None when the model reads no image.
        sampling_probability: float32 (items + 1,) each item's share of the training clicks.
        features: the items features' raw values (items + 1,) by name.
    """

    titles: tf.Tensor | None
    category: tf.Tensor
    brand: tf.Tensor
    price: tf.Tensor
    image: tf.Tensor | None
    sampling_probability: tf.Tensor
    features: dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return int(self.category.shape[0])


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ItemEncoder(keras.layers.Layer):
    """Items by index to tower vectors: the id's embedding, the encoded title, category and
    brand embeddings, the standardised price and the image's encoding, through a linear tower
    (so new items get useful vectors from their features).

    Without titles (`uses_titles=False`) or images (`uses_images=False`) the tower reads the
    rest, and neither the text encoder nor the image encoder runs on items.

    Args:
        statistics: the vocabularies (items, categories, brands) and popularity.
        catalogue: the catalogue arrays, aligned with `statistics.items` (row 0 unknown).
        config: `embedding_dim`, `image_dim`, `image_backbone`.
        text_encoder: the shared text encoder, for titles.
        uses_images: whether items carry their image's encoding (needs `catalogue.image`).
        uses_titles: whether items carry their title's encoding (needs `catalogue.title_tokens`
            with columns).
        features: the input layer of the items features (their values are `catalogue.features`),
            or None.

    Call arguments:
        item_index: int (n,) catalogue rows (`item_lookup` of item ids).
        training: whether dropout is active.

    Returns:
        Tower vectors (n, embedding_dim) and image encodings (n, image_dim; (n, 0) without images).
    """

    def __init__(self, statistics: DataStatistics, catalogue: Catalogue, config: ModelConfig,
                 text_encoder: TextEncoder, uses_images: bool, uses_titles: bool = True,
                 features: FeatureInputs | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feature_inputs = features if features is not None and features.features else None
        for feature in self.feature_inputs.features if self.feature_inputs is not None else ():
            if feature.name not in catalogue.features:
                raise ValueError(f"ItemEncoder: the catalogue holds no values of items feature {feature.name!r}")
        if uses_images and catalogue.image is None:
            raise ValueError("ItemEncoder: uses_images=True but the catalogue holds no image array")
        if uses_titles and not catalogue.has_titles:
            raise ValueError("ItemEncoder: uses_titles=True but no item of the catalogue has a title")
        d = config.embedding_dim
        self.text_encoder = text_encoder
        self.uses_images = uses_images
        self.uses_titles = uses_titles
        self.item_lookup = keras.layers.StringLookup(vocabulary=list(statistics.items) or [NEVER],
                                                     num_oov_indices=1, mask_token=None)
        self.item_embedding = keras.layers.Embedding(max(len(statistics.items), 1) + 1, d, name="item_embedding")
        self.category_embedding = keras.layers.Embedding(len(statistics.categories) + 1, d, name="category_embedding")
        self.brand_embedding = keras.layers.Embedding(len(statistics.brands) + 1, d, name="brand_embedding")
        self.image_encoder = ImageEncoder(config.image_dim, backbone_path=config.image_backbone, name="image_encoder")
        self.tower = MLP([], output_units=d, name="item_tower")
        popularity = np.asarray((0,) + tuple(statistics.item_popularity), dtype=np.float64) + 1.0
        self.catalogue = CatalogueTensors(
            titles=tf.constant(catalogue.title_tokens) if uses_titles else None,
            category=tf.constant(catalogue.category),
            brand=tf.constant(catalogue.brand),
            price=tf.constant(catalogue.price),
            image=tf.constant(catalogue.image) if uses_images else None,
            sampling_probability=tf.constant((popularity / popularity.sum()).astype(np.float32)),
            features={f.name: tf.constant(catalogue.features[f.name]) for f in
                      (self.feature_inputs.features if self.feature_inputs is not None else ())},
        )
        self.image_size = catalogue.image_size

    def titles(self, unique_index: tf.Tensor) -> TokenBatch:
        """The title tokens of items by index, for the text encoder (only with `uses_titles`)."""
        if self.catalogue.titles is None:
            raise ValueError("ItemEncoder.titles: this encoder reads no titles (uses_titles=False)")
        return self.text_encoder.id_tokens(tf.gather(self.catalogue.titles, unique_index))

    def features(self, unique_index: tf.Tensor, titles: tf.Tensor | None,
                 training: bool | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Tower vectors and image encodings of items by index, given their encoded titles
        (None without `uses_titles`)."""
        catalogue = self.catalogue
        parts = [self.item_embedding(unique_index)]
        if titles is not None:
            parts.append(titles)
        parts += [
            self.category_embedding(tf.gather(catalogue.category, unique_index)),
            self.brand_embedding(tf.gather(catalogue.brand, unique_index)),
            tf.gather(catalogue.price, unique_index)[:, tf.newaxis],
        ]
        if self.feature_inputs is not None:
            parts.append(self.feature_inputs({name: tf.gather(values, unique_index)
                                              for name, values in catalogue.features.items()}, training=training))
        images = tf.zeros([tf.shape(unique_index)[0], 0])
        if catalogue.image is not None:
            images = self.image_encoder(tf.gather(catalogue.image, unique_index), training=training)
            parts.append(images)
        return self.tower(tf.concat(parts, axis=-1), training=training), images  # (n, d), (n, image_dim)

    def call(self, item_index: tf.Tensor, training: bool | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        unique, position = tf.unique(tf.reshape(item_index, [-1]))  # each distinct item once
        titles = self.text_encoder.encode([self.titles(unique)], training)[0] if self.uses_titles else None
        vectors, images = self.features(unique, titles, training)
        return tf.gather(vectors, position), tf.gather(images, position)
