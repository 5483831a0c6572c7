"""The encoders: shapes, padding that changes nothing, shared tables, and save and reload."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.config import ConfigError
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.features.inputs import FeatureInputs
from mtrec_tf.features.spec import DEFAULT_FEATURES
from mtrec_tf.models import ItemEncoder, TextEncoder, UserEncoder

# The default set's category, brand and price, through their input layer.
TABULAR = [f for f in DEFAULT_FEATURES if not f.encoded]


def _inputs(statistics, config) -> FeatureInputs:
    return FeatureInputs(TABULAR, statistics.features, config.model.embedding_dim)


@pytest.fixture(scope="module")
def parts(tiny_config, tiny_prepared):
    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    text = TextEncoder(tiny_prepared.statistics.tokens, tiny_config.model)
    items = ItemEncoder(tiny_prepared.statistics, catalogue, tiny_config.model, text, ("title",), uses_images=True,
                        features=_inputs(tiny_prepared.statistics, tiny_config))
    users = UserEncoder(tiny_prepared.statistics, tiny_config.model, items)
    return text, items, users


def test_texts_encoded_together_equal_texts_encoded_apart(parts, tiny_config):
    text, items, _ = parts
    queries = tf.constant(["red dress", "", "华为 phone case for a very long query of many words"])
    alone = text(queries).numpy()
    assert alone.shape == (3, 2 * tiny_config.model.text_units)
    together = text.encode([text.query_tokens(queries), *items.texts(tf.constant([1, 2, 3], tf.int64))])
    np.testing.assert_allclose(together[0].numpy(), alone, atol=1e-6)  # padding to the titles changes nothing
    assert together[1].shape == (3, 2 * tiny_config.model.text_units)


def test_without_a_text_encoder_every_text_is_one(tiny_config, tiny_prepared):
    config = dataclasses.replace(tiny_config.model, text_encoder="none")
    text = TextEncoder(tiny_prepared.statistics.tokens, config)
    np.testing.assert_array_equal(text(tf.constant(["a", "b c"])).numpy(), np.ones((2, 1)))


def test_items_are_encoded_once_each_and_by_row(parts, tiny_config):
    _, items, _ = parts
    vectors, images = items(tf.constant([3, 1, 3, 0], tf.int64))
    assert vectors.shape == (4, tiny_config.model.embedding_dim) and images.shape == (4, tiny_config.model.image_dim)
    np.testing.assert_allclose(vectors[0].numpy(), vectors[2].numpy(), atol=1e-6)
    assert items.catalogue.size == len(items.catalogue.texts["title"].numpy())


def test_an_item_encoder_without_images_has_empty_image_encodings(tiny_config, tiny_prepared):
    catalogue = build_catalogue(tiny_prepared.data.items.assign(image=None), tiny_prepared.statistics,
                                tiny_config.model.max_title_tokens)
    text = TextEncoder(tiny_prepared.statistics.tokens, tiny_config.model)
    items = ItemEncoder(tiny_prepared.statistics, catalogue, tiny_config.model, text, ("title",), uses_images=False)
    vectors, images = items(tf.constant([1, 2], tf.int64))
    assert images.shape == (2, 0) and vectors.shape == (2, tiny_config.model.embedding_dim)
    assert not items.image_encoder.weights


def test_an_item_encoder_without_titles_never_calls_the_text_encoder(tiny_config, tiny_prepared, monkeypatch):
    catalogue = build_catalogue(tiny_prepared.data.items.assign(title="", image=None), tiny_prepared.statistics,
                                tiny_config.model.max_title_tokens)
    assert not catalogue.has_titles
    text = TextEncoder(tiny_prepared.statistics.tokens, tiny_config.model)
    with pytest.raises(ValueError, match="no item of the catalogue has a value of text feature 'title'"):
        ItemEncoder(tiny_prepared.statistics, catalogue, tiny_config.model, text, ("title",))
    items = ItemEncoder(tiny_prepared.statistics, catalogue, tiny_config.model, text,
                        features=_inputs(tiny_prepared.statistics, tiny_config))
    monkeypatch.setattr(text, "encode", lambda *args, **kwargs: pytest.fail("the text encoder ran on titles"))
    vectors, images = items(tf.constant([1, 2, 2], tf.int64))
    assert vectors.shape == (3, tiny_config.model.embedding_dim) and images.shape == (3, 0)
    d = tiny_config.model.embedding_dim
    # The id's embedding, category's and brand's, and the price with its missing indicator.
    assert items.tower.weights[0].shape[0] == 3 * d + 2  # category and brand as wide as the id (dim 0)
    assert not items.catalogue.texts and not text.weights


def test_history_padding_changes_nothing_and_the_item_table_is_shared(parts, tiny_config):
    _, items, users = parts
    item_ids = list(items.item_lookup.get_vocabulary()[1:4])
    short = {"user_id": tf.constant(["u1"]), "history_item_ids": tf.constant([item_ids]),
             "history_event_types": tf.constant([["click"] * 3]), "history_time_gaps": tf.constant([[60.0] * 3])}
    padded = {"user_id": short["user_id"], "history_item_ids": tf.constant([item_ids + ["", ""]]),
              "history_event_types": tf.constant([["click"] * 3 + ["", ""]]),
              "history_time_gaps": tf.constant([[60.0] * 3 + [0.0, 0.0]])}
    user, history_items, mask = users(short)
    assert user.shape == (1, users.output_dim) and mask.numpy().all()
    assert users.output_dim == 2 * tiny_config.model.history_units  # the BiLSTM's two directions
    np.testing.assert_allclose(users(padded)[0].numpy(), user.numpy(), atol=1e-6)
    expected = items.item_embedding(items.item_lookup(tf.constant(item_ids))).numpy()
    np.testing.assert_allclose(history_items[0].numpy(), expected, atol=1e-7)
    assert users.item_encoder is items


def test_the_transformer_history_encoder(parts, tiny_config, tiny_prepared):
    _, items, _ = parts
    config = dataclasses.replace(tiny_config.model, history_encoder="transformer")
    users = UserEncoder(tiny_prepared.statistics, config, items, history_length=4)
    assert users.sequence_encoder.name == "history_transformer"
    assert users.sequence_encoder.max_length == 4
    ids = list(items.item_lookup.get_vocabulary()[1:6])

    def features(history, width=4):
        n = len(history)
        return {"user_id": tf.constant(["u1"]), "history_item_ids": tf.constant([history + [""] * (width - n)]),
                "history_event_types": tf.constant([["click"] * n + [""] * (width - n)]),
                "history_time_gaps": tf.constant([[60.0] * n + [0.0] * (width - n)])}

    user = users(features(ids[:3]))[0].numpy()
    assert user.shape == (1, users.output_dim) and users.output_dim == config.history_units
    np.testing.assert_allclose(users(features(ids[:3], width=7))[0].numpy(), user, atol=1e-6)  # padding
    assert not np.allclose(users(features(ids[:2] + ids[3:4]))[0].numpy(), user, atol=1e-3)  # the last event
    np.testing.assert_array_equal(users(features([]))[0].numpy(), 0.0)  # no history: a zero vector
    with pytest.raises(tf.errors.InvalidArgumentError, match="more real steps than `max_length` .4."):
        users(features(ids[:5], width=5))
    with_ids = UserEncoder(tiny_prepared.statistics, dataclasses.replace(config, user_buckets=7), items)
    assert with_ids(features(ids[:3]))[0].shape == (1, config.history_units + config.embedding_dim)
    assert with_ids.output_dim == config.history_units + config.embedding_dim
    wide = UserEncoder(tiny_prepared.statistics, dataclasses.replace(config, history_feedforward_units=24), items,
                       history_length=4)
    wide(features(ids[:3]))
    assert [w.shape for w in wide.sequence_encoder.feedforward_inner[0].weights] == [(config.history_units, 24), (24,)]
    assert users.sequence_encoder.feedforward_inner[0].weights[0].shape == (config.history_units,) * 2
    bert = UserEncoder(tiny_prepared.statistics, dataclasses.replace(config, history_norm="post",
                                                                      history_activation="gelu"), items)
    assert (bert.sequence_encoder.norm, bert.sequence_encoder.activation) == ("post", "gelu")
    with pytest.raises(ConfigError, match="model.history_norm"):
        dataclasses.replace(config, history_norm="mid")
    filtered = UserEncoder(tiny_prepared.statistics, dataclasses.replace(
        config, history_norm="post", history_frequency_mix=0.7, history_frequency_bins=2), items, history_length=4)
    filtered(features(ids[:3]))
    assert (filtered.sequence_encoder.frequency_mix, filtered.sequence_encoder.frequency_bins) == (0.7, 2)
    assert len(filtered.sequence_encoder.frequency_scales) == config.history_blocks
    assert bert.sequence_encoder.frequency_norms == []  # off by default: no extra weights
    small = UserEncoder(tiny_prepared.statistics, dataclasses.replace(config, history_init_stddev=0.02), items,
                        history_length=4)
    small(features(ids[:3]))
    kernel = small.sequence_encoder.feedforward_inner[0].kernel.numpy()
    assert 0.01 < kernel.std() < 0.03 and 0.01 < small.sequence_encoder.position_embedding.numpy().std() < 0.03
    assert users.sequence_encoder.feedforward_inner[0].kernel.numpy().std() > 0.1  # Glorot's, for 32 units
    with pytest.raises(ConfigError, match="model.history_frequency_mix needs model.history_norm: post"):
        dataclasses.replace(config, history_frequency_mix=0.7)
    with pytest.raises(ConfigError, match=r"model.history_frequency_mix must be in \[0, 1\)"):
        dataclasses.replace(config, history_norm="post", history_frequency_mix=1.5)


def test_the_transformer_step_vectors_are_the_user_vectors_of_the_history_so_far(parts, tiny_config, tiny_prepared):
    _, items, _ = parts
    config = dataclasses.replace(tiny_config.model, history_encoder="transformer", user_buckets=7)
    users = UserEncoder(tiny_prepared.statistics, config, items, history_length=6)
    ids = list(items.item_lookup.get_vocabulary()[1:6])
    kinds = ["click", "add_to_cart", "click", "purchase", "click"]
    times = [0.0, 30.0, 4_000.0, 4_100.0, 900_000.0]

    def features(n, request):
        return {"user_id": tf.constant(["u1"]), "history_item_ids": tf.constant([ids[:n] + [""] * (6 - n)]),
                "history_event_types": tf.constant([kinds[:n] + [""] * (6 - n)]),
                "history_time_gaps": tf.constant([[request - t for t in times[:n]] + [0.0] * (6 - n)])}

    user, _, mask, steps = users(features(4, times[4]), steps=True)
    assert steps.shape == (1, 4, users.output_dim)
    np.testing.assert_allclose(steps[0, 3].numpy(), user[0].numpy(), atol=1e-6)
    for t in range(3):  # step t reads steps <= t, and the time to step t + 1, as the request
        np.testing.assert_allclose(steps[0, t].numpy(), users(features(t + 1, times[t + 1]))[0][0].numpy(),
                                   atol=1e-5)
    bilstm = UserEncoder(tiny_prepared.statistics, tiny_config.model, items)
    with pytest.raises(ValueError, match="per-step user vectors need the causal .transformer."):
        bilstm(features(4, times[4]), steps=True)


def test_encoders_reload_from_a_checkpoint_with_equal_outputs(tmp_path, parts, tiny_config, tiny_prepared):
    text, items, _ = parts
    queries = tf.constant(["red dress", "phone"])
    expected_text, expected_items = text(queries).numpy(), items(tf.constant([1, 2], tf.int64))[0].numpy()
    path = tf.train.Checkpoint(text=text, items=items).write(str(tmp_path / "encoders"))
    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    text_again = TextEncoder(tiny_prepared.statistics.tokens, tiny_config.model)
    items_again = ItemEncoder(tiny_prepared.statistics, catalogue, tiny_config.model, text_again, ("title",),
                              uses_images=True, features=_inputs(tiny_prepared.statistics, tiny_config))
    text_again(queries), items_again(tf.constant([1], tf.int64))  # builds the weights
    tf.train.Checkpoint(text=text_again, items=items_again).read(path).assert_consumed()
    np.testing.assert_allclose(text_again(queries).numpy(), expected_text, atol=1e-6)
    np.testing.assert_allclose(items_again(tf.constant([1, 2], tf.int64))[0].numpy(), expected_items, atol=1e-6)
