"""Warm start loads the vectors into the model's tables, checks them, and can freeze them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.config import ConfigError
from mtrec_tf.embeddings.store import load_vectors, save_vectors
from mtrec_tf.embeddings.warm_start import apply_warm_start


def _write(directory, kind, vocabulary, dim, seed=0, offset=None):
    offset = {"words": 2, "items": 1}[kind]
    vectors = np.random.default_rng(seed).normal(size=(offset + len(vocabulary), dim)).astype(np.float32)
    save_vectors(directory, kind, vectors, np.ones(len(vectors), np.int64), tuple(vocabulary))
    return vectors


@pytest.fixture(scope="module")
def vector_dirs(tmp_path_factory, tiny_config, tiny_prepared):
    root = tmp_path_factory.mktemp("vectors")
    stats, dim = tiny_prepared.statistics, tiny_config.model.embedding_dim
    words = _write(root / "words", "words", stats.tokens, dim, seed=1)
    items = _write(root / "items", "items", stats.items, dim, seed=2)
    return root, words, items


def _with_init(config, init, freeze=False):
    return dataclasses.replace(config, model=dataclasses.replace(config.model, init_embeddings=init,
                                                                 freeze_embeddings=freeze))


def _built_model(config, prepared):
    from mtrec_tf.data.catalogue import build_catalogue
    from mtrec_tf.data.pipeline import make_dataset
    from mtrec_tf.training.fit import build_model

    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens)
    model = build_model(config, prepared.statistics, catalogue)
    batch = next(iter(make_dataset(prepared.examples.parts["train"], batch_size=64,
                                   history_length=config.data.history_length, shuffle_buffer=5_000, seed=3)))
    model.build_from_batch(batch)
    return model


def test_the_store_round_trips_and_writes_a_projector(vector_dirs, tiny_prepared):
    root, words, _ = vector_dirs
    stored = load_vectors(root / "words")
    np.testing.assert_array_equal(stored.vectors, words)
    assert stored.vocabulary == tiny_prepared.statistics.tokens
    metadata = (root / "words" / "projector" / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert len(metadata) == len(words) and metadata[2] == tiny_prepared.statistics.tokens[0]
    assert (root / "words" / "projector" / "projector_config.pbtxt").exists()


def test_warm_start_loads_both_tables_before_training(vector_dirs, tiny_config, tiny_prepared):
    root, words, items = vector_dirs
    config = _with_init(tiny_config, f"{root / 'words'},{root / 'items'}")
    model = _built_model(config, tiny_prepared)
    assert not np.allclose(model.text_encoder.token_embedding.embeddings.numpy(), words)
    assert apply_warm_start(model, config.model, tiny_prepared.statistics) is False
    np.testing.assert_array_equal(model.text_encoder.token_embedding.embeddings.numpy(), words)
    np.testing.assert_array_equal(model.item_encoder.item_embedding.embeddings.numpy(), items)
    assert model.text_encoder.token_embedding.trainable


def test_mismatches_are_named(vector_dirs, tiny_config, tiny_prepared, tmp_path):
    root, _, _ = vector_dirs
    model = _built_model(tiny_config, tiny_prepared)
    stats = tiny_prepared.statistics
    _write(tmp_path / "wide", "words", stats.tokens, tiny_config.model.embedding_dim + 1)
    with pytest.raises(ConfigError, match="embedding_dim"):
        apply_warm_start(model, _with_init(tiny_config, str(tmp_path / "wide")).model, stats)
    _write(tmp_path / "other", "items", ("x",) + stats.items[1:], tiny_config.model.embedding_dim)
    with pytest.raises(ConfigError, match="items vocabulary.*entry 0"):
        apply_warm_start(model, _with_init(tiny_config, str(tmp_path / "other")).model, stats)
    with pytest.raises(ConfigError, match="meta.json"):
        apply_warm_start(model, _with_init(tiny_config, str(tmp_path)).model, stats)


def test_train_warm_starts_and_frozen_tables_stay_fixed(vector_dirs, tiny_config, tiny_prepared, tmp_path):
    from mtrec_tf.training.fit import train

    root, words, items = vector_dirs
    config = _with_init(tiny_config, f"{root / 'words'},{root / 'items'}", freeze=True)
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, steps_per_epoch=2))
    result = train(config, tmp_path / "run", prepared=tiny_prepared, verbose=0)
    model = result.model
    np.testing.assert_array_equal(model.text_encoder.token_embedding.embeddings.numpy(), words)
    np.testing.assert_array_equal(model.item_encoder.item_embedding.embeddings.numpy(), items)
    names = {v.name for v in model.trainable_variables}
    assert names and not any("token_embedding" in n or "item_embedding" in n for n in names)
