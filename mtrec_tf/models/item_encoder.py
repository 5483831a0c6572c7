"""The item encoder: an item's id and the configuration's items features to one vector."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ModelConfig
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.catalogue_images import ImageFile, is_image_file
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.features.inputs import FeatureInputs
from mtrec_tf.layers import MLP, ImageEncoder
from mtrec_tf.models.text_encoder import NEVER, TextEncoder, TokenBatch


@dataclasses.dataclass(frozen=True)
class CatalogueTensors:
    """What the item encoder looks up by item index, as constants (never checkpointed).

    Attributes:
        texts: int32 (items + 1, max_title_tokens) token ids of each text feature the model
            encodes, by name (empty when it encodes none).
        image: uint8 (items + 1, size, size, 3), or None when the model reads no image or
            reads it from `image_file`.
        sampling_probability: float32 (items + 1,) each item's share of the training clicks,
            each item counted one click more than it has (so that none has a share of 0).
        click_share: float32 (items + 1,) each item's share of the training clicks as they are
            (0 for an item never clicked, and for the unknown item).
        features: the other items features' raw values (items + 1,) by name.
        image_file: the catalogue's images in a file (`data.catalogue_images.ImageFile`),
            whose rows each batch reads, in place of `image`.
    """

    texts: dict[str, tf.Tensor]
    image: tf.Tensor | None
    sampling_probability: tf.Tensor
    click_share: tf.Tensor
    features: dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)
    image_file: ImageFile | None = None

    def pixels(self, item_index: tf.Tensor) -> tf.Tensor:
        """uint8 (n, size, size, 3) images of items by index (from the constant, or read from
        the file on the host)."""
        if self.image is not None:
            return tf.gather(self.image, item_index)
        assert self.image_file is not None
        image_file = self.image_file
        rows = tf.numpy_function(lambda index: image_file[index], [tf.cast(item_index, tf.int64)], tf.uint8,
                                 stateful=False)
        return tf.ensure_shape(rows, [None, *image_file.shape[1:]])

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_file is not None

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return int(self.sampling_probability.shape[0])


@dataclasses.dataclass(frozen=True)
class ItemParts:
    """What the item tower combines, for n items: the id's embedding (n, d), the text
    features' encodings, the other features' input vector (None without any) and the image
    encodings (n, image_dim; (n, 0) without images)."""

    embedding: tf.Tensor
    texts: tuple[tf.Tensor, ...]
    tables: tf.Tensor | None
    images: tf.Tensor

    def gather(self, rows: tf.Tensor) -> ItemParts:
        """The parts of `rows` (indices into these items)."""
        return ItemParts(tf.gather(self.embedding, rows), tuple(tf.gather(t, rows) for t in self.texts),
                         None if self.tables is None else tf.gather(self.tables, rows),
                         tf.gather(self.images, rows))


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ItemEncoder(keras.layers.Layer):
    """Items by index to tower vectors: the id's embedding beside the configuration's items
    features (text features through the shared text encoder, the image feature through the
    image encoder, the rest through their feature input layer), through a linear tower (so
    new items get useful vectors from their features).

    A text feature that no item has a value of (a catalogue without titles), or the image
    feature of a catalogue without images, is left out: that encoder does not run on items.

    Args:
        statistics: the vocabularies (items) and popularity.
        catalogue: the catalogue arrays, aligned with `statistics.items` (row 0 unknown).
        config: `embedding_dim`, `image_dim`, `image_backbone`, `tie_item_embeddings`.
        text_encoder: the shared text encoder, for text features.
        text_features: the names of the text features to encode (each in `catalogue.texts`).
        uses_images: whether items carry their image's encoding (needs `catalogue.image`).
        features: the input layer of the other items features (their values are
            `catalogue.features`), or None.

    Call arguments:
        item_index: int (n,) catalogue rows (`item_lookup` of item ids).
        training: whether dropout is active.

    Returns:
        Tower vectors (n, embedding_dim) and image encodings (n, image_dim; (n, 0) without images).
    """

    def __init__(self, statistics: DataStatistics, catalogue: Catalogue, config: ModelConfig,
                 text_encoder: TextEncoder, text_features: Sequence[str] = (), uses_images: bool = False,
                 features: FeatureInputs | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feature_inputs = features if features is not None and features.features else None
        for feature in self.feature_inputs.features if self.feature_inputs is not None else ():
            if feature.name not in catalogue.features:
                raise ValueError(f"ItemEncoder: the catalogue holds no values of items feature {feature.name!r}")
        missing = [name for name in text_features if name not in catalogue.texts]
        if missing:
            raise ValueError(f"ItemEncoder: no item of the catalogue has a value of text feature {missing[0]!r}")
        if uses_images and catalogue.image is None:
            raise ValueError("ItemEncoder: uses_images=True but the catalogue holds no image array")
        d = config.embedding_dim
        self.text_encoder = text_encoder
        self.text_features = tuple(text_features)
        self.uses_images = uses_images
        self.item_lookup = keras.layers.StringLookup(vocabulary=list(statistics.items) or [NEVER],
                                                     num_oov_indices=1, mask_token=None)
        self.item_embedding = keras.layers.Embedding(max(len(statistics.items), 1) + 1, d, name="item_embedding")
        self.image_encoder = ImageEncoder(config.image_dim, backbone_path=config.image_backbone, name="image_encoder")
        self.tower = MLP([], output_units=d, name="item_tower")
        self.tied = config.tie_item_embeddings
        clicks = np.asarray((0,) + tuple(statistics.item_popularity), dtype=np.float64)
        popularity = clicks + 1.0
        self.catalogue = CatalogueTensors(
            texts={name: tf.constant(catalogue.texts[name]) for name in self.text_features},
            image=tf.constant(catalogue.image) if uses_images and not is_image_file(catalogue.image) else None,
            image_file=catalogue.image if uses_images and is_image_file(catalogue.image) else None,
            sampling_probability=tf.constant((popularity / popularity.sum()).astype(np.float32)),
            click_share=tf.constant((clicks / max(clicks.sum(), 1.0)).astype(np.float32)),
            features={f.name: tf.constant(catalogue.features[f.name]) for f in
                      (self.feature_inputs.features if self.feature_inputs is not None else ())},
        )
        self.image_size = catalogue.image_size

    @property
    def uses_titles(self) -> bool:
        """Whether items carry the encoding of some text feature."""
        return bool(self.text_features)

    def texts(self, unique_index: tf.Tensor) -> list[TokenBatch]:
        """The token batches of the text features of items by index, for the text encoder."""
        return [self.text_encoder.id_tokens(tf.gather(tokens, unique_index))
                for tokens in self.catalogue.texts.values()]

    def features(self, unique_index: tf.Tensor, texts: Sequence[tf.Tensor] = (), training: bool | None = None,
                 text_gradient: bool = True, image_gradient: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        """Tower vectors and image encodings of items by index, given the encodings of their
        text features (in `text_features` order); the gradients as in `combine`."""
        parts = self.parts(unique_index, texts, training)
        return self.combine(parts, training, text_gradient=text_gradient, image_gradient=image_gradient), parts.images

    def parts(self, unique_index: tf.Tensor, texts: Sequence[tf.Tensor] = (),
              training: bool | None = None) -> ItemParts:
        """What the tower combines, for items by index: see `features`."""
        catalogue = self.catalogue
        tables = None
        if self.feature_inputs is not None:
            tables = self.feature_inputs({name: tf.gather(values, unique_index)
                                          for name, values in catalogue.features.items()}, training=training)
        images = tf.zeros([tf.shape(unique_index)[0], 0])
        if catalogue.has_image:
            images = self.image_encoder(catalogue.pixels(unique_index), training=training)
        return ItemParts(self.item_embedding(unique_index), tuple(texts), tables, images)

    def combine(self, parts: ItemParts, training: bool | None = None, table_gradient: bool = True,
                text_gradient: bool = True, image_gradient: bool = True) -> tf.Tensor:
        """Tower vectors (n, embedding_dim) from `parts`. What trains them reaches the tower,
        and unless told otherwise the embedding tables (the id's and the other features'),
        the text encoder and the image encoder."""
        embedding, tables, texts, images = parts.embedding, parts.tables, parts.texts, parts.images
        if not table_gradient:
            embedding = tf.stop_gradient(embedding)
            tables = None if tables is None else tf.stop_gradient(tables)
        if not text_gradient:
            texts = tuple(tf.stop_gradient(text) for text in texts)
        if not image_gradient:
            images = tf.stop_gradient(images)
        others = [*texts, *([] if tables is None else [tables]), *([images] if self.catalogue.has_image else [])]
        if self.tied:
            if not others:
                return embedding
            return embedding + self.tower(tf.concat(others, axis=-1), training=training)
        return self.tower(tf.concat([embedding, *others], axis=-1), training=training)

    def call(self, item_index: tf.Tensor, training: bool | None = None, text_gradient: bool = True,
             image_gradient: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        unique, position = tf.unique(tf.reshape(item_index, [-1]))  # each distinct item once
        texts = self.text_encoder.encode(self.texts(unique), training) if self.uses_titles else []
        vectors, images = self.features(unique, texts, training, text_gradient, image_gradient)
        return tf.gather(vectors, position), tf.gather(images, position)
