"""The retrieval head's similarity: cosine on unit vectors, or the dot product (`model.retrieval_similarity`);
its item tower, or none with tied item embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ModelConfig, TaskConfig
from mtrec_tf.errors import ConfigError
from mtrec_tf.tasks import task_type
from mtrec_tf.tasks.heads import RetrievalHead


@pytest.mark.parametrize("normalize", [True, False])
def test_vectors_are_unit_only_for_cosine(normalize):
    head = RetrievalHead(4, (8,), temperature=1.0, normalize=normalize)
    users = head(tf.random.stateless_normal([5, 6], seed=[1, 2]))
    items = head.item_vectors(tf.random.stateless_normal([7, 3], seed=[3, 4]))
    raw_users = head.user_tower(tf.random.stateless_normal([5, 6], seed=[1, 2]))
    raw_items = head.item_tower(tf.random.stateless_normal([7, 3], seed=[3, 4]))
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(items, raw_items / np.linalg.norm(raw_items, axis=1, keepdims=True), atol=1e-5)
    else:
        np.testing.assert_allclose(users, raw_users, atol=1e-6)
        np.testing.assert_allclose(items, raw_items, atol=1e-6)
        assert not np.allclose(np.linalg.norm(users, axis=1), 1.0, atol=1e-3)
    clone = RetrievalHead.from_config(head.get_config())
    assert clone.normalize == normalize and clone.temperature == 1.0


def test_the_configuration_chooses_the_similarity():
    task = TaskConfig("next_item", "retrieval", "next_item", ("user",))
    dot = task_type("retrieval").make_head(task, ModelConfig(retrieval_similarity="dot"), 0)
    assert isinstance(dot, keras.layers.Layer) and dot.normalize is False
    assert task_type("retrieval").make_head(task, ModelConfig(), 0).normalize is True
    with pytest.raises(ConfigError, match="model.retrieval_similarity"):
        ModelConfig(retrieval_similarity="euclid")


@pytest.mark.parametrize("normalize", [True, False])
def test_a_tied_head_compares_users_with_the_item_vectors_themselves(normalize):
    head = RetrievalHead(3, (8,), normalize=normalize, tied=True)
    vectors = tf.random.stateless_normal([7, 3], seed=[3, 4])
    expected = vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if normalize else vectors
    np.testing.assert_allclose(head.item_vectors(vectors), expected, atol=1e-6)
    assert head.item_tower is None and RetrievalHead.from_config(head.get_config()).tied


def test_tied_item_embeddings_need_the_embedding_width():
    task = TaskConfig("next_item", "retrieval", "next_item", ("user",))
    config = ModelConfig(tie_item_embeddings=True, embedding_dim=16, retrieval_dim=16)
    assert task_type("retrieval").make_head(task, config, 0).tied
    with pytest.raises(ConfigError, match=r"model.retrieval_dim \(32\) must equal model.embedding_dim \(16\)"):
        ModelConfig(tie_item_embeddings=True, embedding_dim=16, retrieval_dim=32)
