"""The Keras heads of the task types: towers from the encoded inputs to each task's scores.

Each head is made by its type's `make_head`; the type turns the scores into the task's
output and loss (`mtrec_tf.tasks.base.TaskType`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import MLP, HashedNgramLinear
from mtrec_tf.losses import RetrievalLoss


@keras.saving.register_keras_serializable(package="mtrec_tf")
class MulticlassHead(keras.layers.Layer):
    """Class scores: a tower over the encoded inputs, plus the linear scores of the query's
    hashed n-grams when `ngram_buckets` is set (wide beside deep).

    Args:
        num_classes: width of the scores.
        tower_units: hidden units of the tower.
        dropout: dropout rate in the tower.
        ngram_buckets: hash buckets of the n-gram bag; 0: no bag.
        ngram_dropout: share of each training query's n-grams left out of its bag.

    Call arguments:
        inputs: (batch, features) encoded inputs.
        ngram_scores: (batch, num_classes) scores of the bag (`ngram_scores`), or None.
        training: whether dropout is active.

    Returns:
        Logits (batch, num_classes).
    """

    def __init__(self, num_classes: int, tower_units: Sequence[int] = (64,), dropout: float = 0.0,
                 ngram_buckets: int = 0, ngram_dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.tower_units = tuple(tower_units)
        self.dropout = dropout
        self.ngram_buckets = ngram_buckets
        self.ngram_dropout = ngram_dropout
        self.tower = MLP(self.tower_units, dropout=dropout, output_units=num_classes, name="tower")
        self.ngrams = (HashedNgramLinear(num_classes, ngram_buckets, dropout=ngram_dropout, name="ngrams")
                       if ngram_buckets else None)

    def ngram_scores(self, ngram_ids: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """(n, grams) hashed n-gram ids, 0 padding -> (n, num_classes) linear scores."""
        assert self.ngrams is not None  # called for heads with an n-gram bag only
        return self.ngrams(ngram_ids, training=training)

    def call(self, inputs: tf.Tensor, ngram_scores: tf.Tensor | None = None,
             training: bool | None = None) -> tf.Tensor:
        logits = self.tower(inputs, training=training)  # (batch, num_classes)
        return logits if ngram_scores is None else logits + ngram_scores

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "tower_units": list(self.tower_units),
                "dropout": self.dropout, "ngram_buckets": self.ngram_buckets, "ngram_dropout": self.ngram_dropout}


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ScalarHead(keras.layers.Layer):
    """One score per example: a tower to one unit (binary logit, regression prediction).

    Args:
        tower_units: hidden units of the tower.
        dropout: dropout rate in the tower.

    Call arguments:
        inputs: (batch, features).
        training: whether dropout is active.

    Returns:
        Scores (batch,).
    """

    def __init__(self, tower_units: Sequence[int] = (64,), dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tower_units = tuple(tower_units)
        self.dropout = dropout
        self.tower = MLP(self.tower_units, dropout=dropout, output_units=1, name="tower")

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return tf.squeeze(self.tower(inputs, training=training), -1)  # (batch,)

    def get_config(self) -> dict:
        return {**super().get_config(), "tower_units": list(self.tower_units), "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="mtrec_tf")
class RetrievalHead(keras.layers.Layer):
    """A user tower and an item tower into one space, and their loss: unit vectors compared
    by cosine, or (with `normalize=False`) vectors compared by their dot product.

    Args:
        dim: width of the user and item vectors.
        tower_units: hidden units of the user tower (the item tower is linear).
        temperature: the in-batch softmax divides scores by it.
        normalize: L2-normalise the user and item vectors.
        tied: the item vectors are the item encoder's own (`model.tie_item_embeddings`),
            with no item tower; `dim` must be their width.

    Call arguments:
        inputs: (batch, features) the encoded user (and query).
        training: unused; towers without dropout.

    Returns:
        User vectors (batch, dim), L2-normalised with `normalize`.
    """

    def __init__(self, dim: int, tower_units: Sequence[int] = (64,), temperature: float = 0.1,
                 normalize: bool = True, tied: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        self.normalize = normalize
        self.tied = tied
        self.tower_units = tuple(tower_units)
        self.temperature = temperature
        self.user_tower = MLP(self.tower_units, output_units=dim, name="user_tower")
        self.item_tower = None if tied else MLP([], output_units=dim, name="item_tower")
        self.softmax_loss = RetrievalLoss(temperature, name="softmax_loss")

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return self._normalized(self.user_tower(inputs, training=training))

    def item_vectors(self, tower_vectors: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """(n, item tower width) item tower vectors -> (n, dim) item vectors (unit with `normalize`)."""
        if self.item_tower is None:
            return self._normalized(tower_vectors)
        return self._normalized(self.item_tower(tower_vectors, training=training))

    def _normalized(self, vectors: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(vectors, axis=-1) if self.normalize else vectors

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "tower_units": list(self.tower_units),
                "temperature": self.temperature, "normalize": self.normalize, "tied": self.tied}
