"""The multi-task model: outputs per task, masking, ESMM, options, save and reload."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ConfigError, TaskConfig, select_tasks
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.models.gradient_surgery import combine_gradients
from mtrec_tf.training.fit import build_model, check_tasks_against_data


def bag_scores(table: np.ndarray, ngrams: np.ndarray) -> np.ndarray:
    """The n-gram bag's scores in NumPy: the rows of the present ids, summed, over the root of their count."""
    present = (ngrams > 0)[..., None]
    return (table[ngrams] * present).sum(axis=1) / np.maximum(np.sqrt(present.sum(axis=1)), 1.0)


@pytest.fixture(scope="module")
def catalogue(tiny_prepared, tiny_config):
    return build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)


@pytest.fixture(scope="module")
def batch(tiny_prepared, tiny_config):
    dataset = make_dataset(tiny_prepared.examples.parts["train"], batch_size=64,
                           history_length=tiny_config.data.history_length, shuffle_buffer=5_000, seed=3)
    return next(iter(dataset))


def test_outputs_are_keyed_by_task_with_the_right_shapes(tiny_config, tiny_prepared, catalogue, batch):
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    outputs = model(batch[0])
    classes = len(tiny_prepared.statistics.categories)
    assert set(outputs) == {"query_category", "ctr", "cvr", "next_item", "image_category"}
    assert outputs["query_category"].shape == (64, classes)
    assert outputs["image_category"].shape == (64, classes)
    assert outputs["ctr"].shape == outputs["cvr"].shape == (64,)
    assert outputs["next_item"].shape == (64, tiny_config.model.retrieval_dim)
    norms = tf.norm(outputs["next_item"], axis=1).numpy()
    with_history = (batch[0]["history_item_ids"].numpy() != b"").any(axis=1)
    np.testing.assert_allclose(norms[with_history], 1.0, atol=1e-5)
    # ESMM: p(click and buy) = p(click) * p(buy | click) never exceeds p(click).
    assert np.all(outputs["cvr"].numpy() <= outputs["ctr"].numpy() + 1e-7)


def test_empty_history_and_empty_query_give_finite_outputs(tiny_config, tiny_prepared, catalogue, batch):
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    features = dict(batch[0])
    features["query"] = tf.fill(tf.shape(features["query"]), "")
    for name in ("history_item_ids", "history_event_types"):
        features[name] = tf.fill(tf.shape(features[name]), "")
    features["history_time_gaps"] = tf.zeros_like(features["history_time_gaps"])
    features["item_id"] = tf.fill(tf.shape(features["item_id"]), "no-such-item")
    for value in model(features).values():
        assert np.isfinite(value.numpy()).all()


@pytest.mark.parametrize("history_encoder", ["bilstm", "transformer"])
def test_padding_beyond_the_history_does_not_change_outputs(tiny_config, tiny_prepared, catalogue, batch,
                                                            history_encoder):
    config = dataclasses.replace(tiny_config, model=dataclasses.replace(tiny_config.model,
                                                                        history_encoder=history_encoder))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    features = dict(batch[0])
    expected = model(features)
    padded = dict(features)
    pad = tf.fill([64, 5], "")
    padded["history_item_ids"] = tf.concat([features["history_item_ids"], pad], axis=1)
    padded["history_event_types"] = tf.concat([features["history_event_types"], pad], axis=1)
    padded["history_time_gaps"] = tf.concat([features["history_time_gaps"], tf.fill([64, 5], 123.0)], axis=1)
    got = model(padded)
    for name in expected:
        np.testing.assert_allclose(got[name].numpy(), expected[name].numpy(), atol=1e-5)


@pytest.mark.parametrize("overrides", [
    {"combination": "mmoe"}, {"combination": "ple"}, {"loss_weighting": "uncertainty"}, {"user_buckets": 50},
    {"subword_buckets": 0}, {"history_encoder": "transformer", "history_heads": 4, "history_blocks": 1},
])
def test_model_options_train_a_step(tiny_config, tiny_prepared, catalogue, batch, overrides):
    config = dataclasses.replace(tiny_config, model=dataclasses.replace(tiny_config.model, **overrides))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert {f"{t}_loss" for t in ("query_category", "ctr", "cvr", "next_item", "image_category")} <= set(logs)


@pytest.mark.parametrize("loss", [{"loss": "full_softmax"}, {"loss": "sampled_softmax", "negatives": 50},
                                  {"loss": "sampled_softmax", "negatives": 50, "negative_sampling": "uniform"},
                                  {"loss": "sampled_softmax", "negatives": 50, "negatives_top_up": True,
                                   "negative_sampling": "clicks"}])
def test_retrieval_losses_train_a_step_and_lower_the_loss(tiny_config, tiny_prepared, catalogue, batch, loss):
    keras.utils.set_random_seed(0)  # the sampled negatives do not depend on the tests run before
    config = select_tasks(tiny_config, ["next_item"])
    config = dataclasses.replace(config, tasks=(dataclasses.replace(config.tasks[0], **loss),),
                                 training=dataclasses.replace(config.training, learning_rate=0.003))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    first = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    for _ in range(10):
        last = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert np.isfinite(first["next_item_loss"]) and last["next_item_loss"] < 0.9 * first["next_item_loss"]


def test_query_subwords_match_the_title_table_and_reach_unseen_words(tiny_config, tiny_prepared, catalogue):
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    known = [t for t in tiny_prepared.statistics.tokens if len(t) > 3][:2]
    query = model.query_tokens(tf.constant([" ".join(known), known[0] + "zz"]))
    ids, subwords = query.ids.numpy(), query.subwords.numpy()
    # In-vocabulary tokens get the same subwords from their string as from the table of ids.
    np.testing.assert_array_equal(subwords[0, :2], model.text_encoder.token_subwords.numpy()[ids[0, :2]])
    # An unseen word is unknown (id 1) but keeps the trigrams it shares with the known word.
    assert ids[1, 0] == 1
    shared = set(subwords[1, 0]) & set(subwords[0, 0]) - {0}
    assert len(shared) >= len(known[0]) - 1


def test_the_query_ngram_bag_adds_linear_scores_to_the_query_logits_only(tiny_config, tiny_prepared, catalogue,
                                                                         batch):
    config = dataclasses.replace(tiny_config, model=dataclasses.replace(tiny_config.model, ngram_buckets=997))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert set(model.ngram_heads()) == {"query_category"}  # image_category does not read the query
    before = model(batch[0])
    head = model.ngram_heads()["query_category"].ngrams
    table = np.random.default_rng(0).normal(size=head.table.shape).astype("float32")
    head.table.assign(table)
    after = model(batch[0])
    for name in set(before) - {"query_category"}:
        np.testing.assert_allclose(after[name].numpy(), before[name].numpy(), atol=1e-6)
    # log p_after - log p_before = the bag's scores, up to each row's normaliser.
    scores = bag_scores(table, model.query_tokens(batch[0]["query"]).ngrams.numpy())
    shift = np.log(after["query_category"].numpy()) - np.log(before["query_category"].numpy()) - scores
    np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=1e-3)
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert np.isfinite(logs["query_category_loss"])


def test_a_batch_without_examples_of_a_task_evaluates(tiny_config, tiny_prepared, catalogue, batch):
    # A validation part may hold only image examples: no next_item, query or ctr label at all.
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    masks = {name: tf.zeros_like(mask) for name, mask in batch[2].items()}
    masks["image_category"] = tf.ones_like(batch[2]["image_category"])
    logs = model.test_on_batch(batch[0], batch[1], sample_weight=masks, return_dict=True)
    assert logs["next_item_loss"] == 0.0 and logs["query_category_loss"] == 0.0
    assert np.isfinite(logs["image_category_loss"]) and logs["image_category_loss"] > 0


def test_a_subset_of_tasks_builds_only_their_heads(tiny_config, tiny_prepared, catalogue, batch):
    config = select_tasks(tiny_config, ["query_category"])
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert set(model(batch[0])) == {"query_category"}


def test_save_and_reload_give_equal_outputs(tmp_path, tiny_config, tiny_prepared, catalogue, batch):
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    model.train_on_batch(batch[0], batch[1], sample_weight=batch[2])
    expected = model(batch[0])
    model.save_weights(str(tmp_path / "weights"))
    reloaded = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    reloaded.load_weights(str(tmp_path / "weights")).expect_partial()
    got = reloaded(batch[0])
    for name in expected:
        np.testing.assert_allclose(got[name].numpy(), expected[name].numpy(), atol=1e-6)


def test_a_task_whose_label_is_missing_from_the_data_is_named(tiny_config, tiny_prepared):
    config = dataclasses.replace(tiny_config, tasks=tiny_config.tasks + (
        TaskConfig("dwell", "regression", "dwell_time", ("user", "item")),))
    with pytest.raises(ConfigError, match="'dwell' learns label 'dwell_time', which the data does not provide"):
        check_tasks_against_data(config, tiny_prepared)
    # The sample shop has no ratings: a rating task has nothing to learn from.
    config = dataclasses.replace(tiny_config, tasks=(TaskConfig("rating", "regression", "rating", ("user", "item")),))
    with pytest.raises(ConfigError, match="'rating': no training example has a 'rating' label"):
        check_tasks_against_data(config, tiny_prepared)


def test_a_retrieval_task_may_not_read_the_candidate(tiny_config, tiny_prepared, catalogue):
    config = dataclasses.replace(tiny_config, tasks=(TaskConfig("next_item", "retrieval", "next_item", ("item",)),))
    with pytest.raises(ConfigError, match="'next_item': a retrieval task cannot read the candidate"):
        build_model(config, tiny_prepared.statistics, catalogue)


def test_without_a_text_encoder_the_query_head_is_its_ngram_bag(tiny_config, tiny_prepared, catalogue, batch):
    model_config = dataclasses.replace(tiny_config.model, text_encoder="none", ngram_buckets=997)
    config = dataclasses.replace(select_tasks(tiny_config, ["query_category", "image_category"]), model=model_config)
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert model.text_encoder.sequence_encoder is None
    before = model(batch[0])
    head = model.ngram_heads()["query_category"].ngrams
    table = np.random.default_rng(1).normal(size=head.table.shape).astype("float32")
    head.table.assign(table)
    after = model(batch[0])
    # The tower over a constant is a class bias shared by every query, so the query logits
    # are the bag's scores plus that bias: log-probabilities shift by the scores alone.
    scores = bag_scores(table, model.query_tokens(batch[0]["query"]).ngrams.numpy())
    bias = np.log(before["query_category"].numpy())
    np.testing.assert_allclose(bias - bias[:1], 0.0, atol=1e-5)
    shift = np.log(after["query_category"].numpy()) - bias - scores
    np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=1e-3)
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert np.isfinite(logs["query_category_loss"]) and np.isfinite(logs["image_category_loss"])


def test_a_hinge_task_learns_from_the_multiclass_hinge_of_its_scores(tiny_config, tiny_prepared, catalogue, batch):
    hinge = dataclasses.replace(tiny_config.task("query_category"), loss="hinge", label_smoothing=0.0)
    config = dataclasses.replace(tiny_config, tasks=(hinge,))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    losses, _ = model.compute_losses(features, labels, masks, training=False)
    _, logits, _ = model.forward(features, training=False)
    ids = model.category_lookup(labels["query_category"]).numpy() - 1
    mask = masks["query_category"].numpy() * (ids >= 0)
    ids = np.maximum(ids, 0)
    scores = logits["query_category"].numpy()
    margins = np.array([max(0.0, 1.0 + np.delete(row, y).max() - row[y]) for row, y in zip(scores, ids)])
    np.testing.assert_allclose(float(losses["query_category"]), (margins * mask).sum() / mask.sum(), rtol=1e-5)
    first = model.train_on_batch(features, labels, sample_weight=masks, return_dict=True)["query_category_loss"]
    for _ in range(20):
        last = model.train_on_batch(features, labels, sample_weight=masks, return_dict=True)["query_category_loss"]
    assert last < first


@pytest.mark.parametrize("tasks, buckets, named", [
    (["query_category", "ctr"], 997, "ctr"), (["query_category"], 0, "query_category"),
])
def test_without_a_text_encoder_only_bag_heads_may_read_the_query(tiny_config, tiny_prepared, catalogue, tasks,
                                                                  buckets, named):
    model_config = dataclasses.replace(tiny_config.model, text_encoder="none", ngram_buckets=buckets)
    config = dataclasses.replace(select_tasks(tiny_config, tasks), model=model_config)
    with pytest.raises(ConfigError, match=f"task '{named}' reads the query, which model.text_encoder='none'"):
        build_model(config, tiny_prepared.statistics, catalogue)


def test_a_catalogue_without_images_runs_no_image_encoder(tiny_config, tiny_prepared, batch):
    items = tiny_prepared.data.items.assign(image=None)
    catalogue = build_catalogue(items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    config = select_tasks(tiny_config, ["ctr", "next_item"])
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert not model.uses_images and model.catalogue.image is None
    model.build_from_batch(batch)
    assert not model.item_encoder.image_encoder.weights
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert np.isfinite(logs["ctr_loss"]) and np.isfinite(logs["next_item_loss"])


@pytest.mark.parametrize("case", ["untitled", "text_encoder_none"])
def test_without_titles_the_item_tower_reads_id_category_brand_and_price(tiny_config, tiny_prepared, batch,
                                                                          case):
    """Decided by the data (no item has a title) or by the configuration (no text encoder)."""
    items = tiny_prepared.data.items.assign(image=None)
    if case == "untitled":
        items = items.drop(columns=["title"])
    catalogue = build_catalogue(items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    # ctr reads the user and the item, next_item the user only: no query, so no text at all.
    tasks = (TaskConfig("ctr", "binary", "ctr", ("user", "item")),
             TaskConfig("next_item", "retrieval", "next_item", ("user",)))
    model_config = tiny_config.model
    if case == "text_encoder_none":
        model_config = dataclasses.replace(model_config, text_encoder="none")
    config = dataclasses.replace(tiny_config, tasks=tasks, model=model_config)
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert model.encodes_items and not model.uses_titles and not model.uses_images
    assert model.item_features() == ("id", "category", "brand", "price")
    assert catalogue.has_titles == (case != "untitled")
    model.build_from_batch(batch)
    assert not model.text_encoder.weights and not model.item_encoder.image_encoder.weights
    # The embeddings of the id, category and brand, and the price with its missing indicator.
    assert model.item_encoder.tower.weights[0].shape[0] == 3 * model_config.embedding_dim + 2
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    assert np.isfinite(logs["ctr_loss"]) and np.isfinite(logs["next_item_loss"])


def test_a_model_that_encodes_no_items_reads_no_image(tiny_config, tiny_prepared, catalogue):
    assert catalogue.has_images
    model = build_model(select_tasks(tiny_config, ["query_category"]), tiny_prepared.statistics, catalogue)
    assert not model.encodes_items and not model.uses_images and not model.uses_titles
    assert model.item_features() == ()
    assert model.catalogue.image is None and not model.catalogue.texts


@pytest.mark.parametrize("combination", ["shared_bottom", "mmoe"])
def test_a_ranking_task_reads_only_its_configured_inputs(tiny_config, tiny_prepared, catalogue, batch, combination):
    tasks = (TaskConfig("ctr", "binary", "ctr", ("user", "item", "query")),
             TaskConfig("cvr", "binary", "cvr", ("user", "item")))
    config = dataclasses.replace(tiny_config, tasks=tasks,
                                 model=dataclasses.replace(tiny_config.model, combination=combination))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    features = dict(batch[0])
    other = dict(features, query=tf.fill(tf.shape(features["query"]), "完全 different words"))
    before, after = model(features), model(other)
    np.testing.assert_allclose(after["cvr"].numpy(), before["cvr"].numpy(), atol=1e-6)
    assert np.abs(after["ctr"].numpy() - before["ctr"].numpy()).max() > 1e-4


def _per_click_and_sequence_batches(items, history_length):
    """Two users' behaviour as the per-click examples of their clicks, and as one example per
    user whose history holds every event before the last click (all-position training)."""
    users = {
        "u1": [(items[0], "click", 0), (items[1], "add_to_cart", 40), (items[2], "click", 100),
               (items[3], "click", 5_000), (items[4], "purchase", 5_030), (items[5], "click", 90_000)],
        "u2": [(items[6], "click", 10), (items[7], "click", 20), (items[8], "click", 3_000)],
    }

    def row(user, history, label, time):
        pad = history_length - len(history)
        return {"user_id": user, "query": "", "item_id": "",
                "history_item_ids": [h[0] for h in history] + [""] * pad,
                "history_event_types": [h[1] for h in history] + [""] * pad,
                "history_time_gaps": [float(time - h[2]) for h in history] + [0.0] * pad, "label": label}

    per_click = [row(user, events[:j], item, time) for user, events in users.items()
                 for j, (item, kind, time) in enumerate(events) if kind == "click" and j > 0]
    sequences = [row(user, events[:-1], events[-1][0], events[-1][2]) for user, events in users.items()]

    def batch(rows):
        features = {name: tf.constant([r[name] for r in rows]) for name in
                    ("user_id", "query", "item_id", "history_item_ids", "history_event_types", "history_time_gaps")}
        labels = {"next_item": tf.constant([r["label"] for r in rows])}
        return features, labels, {"next_item": tf.ones(len(rows))}

    return batch(per_click), batch(sequences), len(per_click)


@pytest.mark.parametrize("loss", ["", "full_softmax"])
def test_all_position_training_has_the_loss_of_per_click_training(tiny_config, tiny_prepared, loss, monkeypatch):
    config = select_tasks(tiny_config, ["next_item"])
    config = dataclasses.replace(
        config, tasks=(dataclasses.replace(config.tasks[0], inputs=("user",), loss=loss),),
        model=dataclasses.replace(config.model, history_encoder="transformer", history_dropout=0.0, dropout=0.0))
    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, config.model.max_title_tokens,
                                images=False)
    model = build_model(config, tiny_prepared.statistics, catalogue)
    assert model.position_tasks == ("next_item",)
    per_click, sequences, clicks = _per_click_and_sequence_batches(list(tiny_prepared.statistics.items[:9]),
                                                                   config.data.history_length)
    expected, expected_counts = model.compute_losses(*per_click, training=False)  # one example per click
    if not loss:
        # The in-batch softmax leaves a history's other steps out of each step's negatives; per
        # click, the same is to leave out the other clicks of the same user.
        head_loss = model.heads["next_item"].softmax_loss
        users = per_click[0]["user_id"]
        plain = head_loss.call
        monkeypatch.setattr(head_loss, "call", lambda *args: plain(*args[:4], users, users))
        expected, _ = model.compute_losses(*per_click, training=False)
        monkeypatch.setattr(head_loss, "call", plain)
    got, counts = model.compute_losses(*sequences, training=True)  # every step of two histories at once
    assert counts["next_item"].numpy() == expected_counts["next_item"].numpy() == clicks == 5
    np.testing.assert_allclose(got["next_item"].numpy(), expected["next_item"].numpy(), rtol=1e-5)
    # In validation the same rows are scored at their last step only.
    _, last_only = model.compute_losses(*sequences, training=False)
    assert last_only["next_item"].numpy() == 2


def test_an_all_position_batch_with_no_step_to_train_has_a_zero_loss(tiny_config, tiny_prepared, catalogue):
    config = select_tasks(tiny_config, ["next_item"])
    config = dataclasses.replace(
        config, tasks=(dataclasses.replace(config.tasks[0], inputs=("user",)),),
        model=dataclasses.replace(config.model, history_encoder="transformer"))
    model = build_model(config, tiny_prepared.statistics, catalogue)  # titles and images encoded
    assert model.uses_titles and model.uses_images and model.position_tasks == ("next_item",)
    per_click, _, _ = _per_click_and_sequence_batches(list(tiny_prepared.statistics.items[:9]),
                                                      config.data.history_length)
    features, labels, masks = per_click
    losses, counts = model.compute_losses(features, labels, {"next_item": tf.zeros_like(masks["next_item"])},
                                          training=True)
    assert float(losses["next_item"]) == 0.0 and float(counts["next_item"]) == 0.0


def test_the_position_bias_enters_the_losses_and_never_the_predictions(tiny_config, tiny_prepared, catalogue,
                                                                      batch):
    tasks = tuple(dataclasses.replace(t, position_bias=True) if t.name == "ctr" else t for t in tiny_config.tasks)
    model = build_model(dataclasses.replace(tiny_config, tasks=tasks), tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    bias = model.position_biases["ctr"]
    model.compute_losses(features, labels, masks, training=False)  # builds the tower
    bias.output_layer.set_weights([np.ones((bias.units, 1)), np.full(1, 2.0)])
    moved = dict(features, position=tf.fill(tf.shape(features["position"]), tf.constant(5, tf.int64)))

    # Predictions ignore the slot: the served score is the task's own logit.
    np.testing.assert_array_equal(model(moved)["ctr"].numpy(), model(features)["ctr"].numpy())
    # Losses fit the observed clicks with the slot's logit added, ESMM's product included.
    outputs, _, _ = model.forward(features, training=False, position_bias=True)
    unbiased = model(features)
    logit = np.log(unbiased["ctr"].numpy() / (1.0 - unbiased["ctr"].numpy()))
    expected = 1.0 / (1.0 + np.exp(-(logit + bias(features["position"]).numpy())))
    np.testing.assert_allclose(outputs["ctr"].numpy(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(outputs["cvr"].numpy() / outputs["ctr"].numpy(),
                               unbiased["cvr"].numpy() / unbiased["ctr"].numpy(), rtol=1e-4)
    base, _ = model.compute_losses(features, labels, masks, training=False)
    shifted, _ = model.compute_losses(moved, labels, masks, training=False)
    assert base["ctr"].numpy() != shifted["ctr"].numpy()
    assert base["query_category"].numpy() == shifted["query_category"].numpy()
    logs = model.train_on_batch(features, labels, sample_weight=masks, return_dict=True)
    assert np.isfinite(logs["ctr_loss"])


def test_position_bias_applies_to_ranking_tasks_that_read_the_item():
    with pytest.raises(ConfigError, match="position_bias applies to binary and regression tasks"):
        TaskConfig("next_item", "retrieval", "next_item", ("user",), position_bias=True)
    with pytest.raises(ConfigError, match="must read the item"):
        TaskConfig("ctr", "binary", "ctr", ("user",), position_bias=True)


@pytest.mark.parametrize("gradient", [True, False, "encoders"])
def test_the_ranking_tasks_train_the_item_encoding_unless_told_not_to(tiny_config, tiny_prepared, catalogue, batch,
                                                                      gradient):
    config = select_tasks(tiny_config, ["ctr", "cvr", "next_item"])
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, ranking_item_gradient=gradient))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    model.compute_losses(features, labels, masks, training=False)  # builds every weight
    # What encodes candidates only: the item tower (histories read the item table directly),
    # the target attention and the category table; and the item table itself.
    tower = model.item_encoder.tower.trainable_variables
    attention = model.target_attention.trainable_variables  # the ranking tasks' alone
    encoders = [*tower, *attention]
    tables = [model.item_encoder.feature_inputs.embeddings["category"].embeddings]
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(features, labels, masks, training=False)
        # Without the user (and its history of item embeddings), ctr reads the item table only
        # through the candidate's encoding.
        no_user = model.forward({**features, "history_item_ids": tf.fill(tf.shape(features["history_item_ids"]), "")},
                                training=False)[0]["ctr"]
        no_user = tf.reduce_sum(no_user)

    def reached(loss: tf.Tensor, variables: list[tf.Variable]) -> list[bool]:
        return [g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0
                for g in tape.gradient(loss, variables)]

    for name in ("ctr", "cvr"):
        assert all(reached(losses[name], tower)) if gradient else not any(reached(losses[name], tower)), name
        assert all(reached(losses[name], attention)), name
        assert all(reached(losses[name], tables)) if gradient is True else not any(reached(losses[name], tables))
    item_table = [model.item_encoder.item_embedding.embeddings]
    assert reached(no_user, item_table) == [gradient is True]
    assert all(reached(losses["next_item"], encoders[:1] + tables))  # next_item trains the item side either way
    assert all(reached(losses["next_item"], item_table))
    with pytest.raises(ConfigError, match="model.ranking_item_gradient must be true, false or encoders, got 'tables'"):
        dataclasses.replace(config.model, ranking_item_gradient="tables")


@pytest.mark.parametrize("gradient", [False, "encoders"])
def test_without_a_retrieval_task_the_ranking_tasks_train_all_of_the_item_encoding(tiny_config, tiny_prepared,
                                                                                    catalogue, batch, gradient):
    # A single-task ranking model (the claim's baseline) has no other task to train the item side.
    config = select_tasks(tiny_config, ["ctr", "cvr"])
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, ranking_item_gradient=gradient))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    model.compute_losses(features, labels, masks, training=False)  # builds every weight
    variables = [*model.item_encoder.tower.trainable_variables, *model.target_attention.trainable_variables,
                 model.item_encoder.feature_inputs.embeddings["category"].embeddings]
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses(features, labels, masks, training=False)
    gradients = tape.gradient(losses["ctr"], variables)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in gradients)


@pytest.mark.parametrize("item_gradient", [True, "encoders"])
@pytest.mark.parametrize("training", ["all", "not_ranking", "readers", "image_readers"])
def test_which_tasks_train_the_text_and_image_encoders(tiny_config, tiny_prepared, catalogue, batch, item_gradient,
                                                       training):
    model_config = dataclasses.replace(tiny_config.model, ranking_item_gradient=item_gradient,
                                       encoder_training=training)
    model = build_model(dataclasses.replace(tiny_config, model=model_config), tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    model.compute_losses(features, labels, masks, training=False)  # builds every weight
    encoders = {"text": model.text_encoder.trainable_variables,
                "image": model.item_encoder.image_encoder.trainable_variables}
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(features, labels, masks, training=False)

    def reached(loss: tf.Tensor, variables: list[tf.Variable]) -> bool:
        return any(g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0
                   for g in tape.gradient(loss, variables))

    # query_category and next_item read the query, image_category the image: they train those
    # encoders either way; the ranking tasks only with "all"; next_item trains the image
    # encoder through the item tower unless "readers" or "image_readers".
    assert reached(losses["query_category"], encoders["text"]) and reached(losses["next_item"], encoders["text"])
    assert reached(losses["image_category"], encoders["image"])
    assert reached(losses["next_item"], encoders["image"]) == (training not in ("readers", "image_readers"))
    for encoder, variables in encoders.items():
        for name in ("ctr", "cvr"):
            assert reached(losses[name], variables) == (training == "all"), (name, encoder)
    for name in ("ctr", "cvr", "next_item"):
        assert reached(losses[name], model.item_encoder.tower.trainable_variables), name
    if training != "all":
        # Serving reads the same encodings: the stop-gradients change no prediction.
        default = build_model(dataclasses.replace(tiny_config, model=dataclasses.replace(
            model_config, encoder_training="all")), tiny_prepared.statistics, catalogue)
        default.compute_losses(features, labels, masks, training=False)
        default.set_weights(model.get_weights())
        for name, output in model(features).items():
            np.testing.assert_allclose(output.numpy(), default(features)[name].numpy(), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("training", ["not_ranking", "readers"])
def test_an_encoder_no_other_task_reads_is_trained_by_every_task(tiny_config, tiny_prepared, catalogue, batch,
                                                                  training):
    # query_category reads the query; no task but the ranking ones reads the image.
    config = select_tasks(tiny_config, ["query_category", "ctr", "cvr"])
    model = build_model(dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                              encoder_training=training)),
                        tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    model.compute_losses(features, labels, masks, training=False)  # builds every weight
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(features, labels, masks, training=False)
    for variables, trained in ((model.text_encoder.trainable_variables, False),
                               (model.item_encoder.image_encoder.trainable_variables, True)):
        gradients = tape.gradient(losses["ctr"], variables)
        assert any(g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0
                   for g in gradients) == trained
    with pytest.raises(ConfigError, match="model.encoder_training"):
        dataclasses.replace(config.model, encoder_training="none")


@pytest.mark.parametrize("features", ["default", "id_only"])
def test_tied_item_embeddings_are_the_vectors_users_are_compared_with(tmp_path, tiny_config, tiny_prepared, catalogue,
                                                                      batch, features):
    """An item's retrieval vector is its id embedding (the row histories read) plus its other
    features' linear map; with the id alone, the embedding itself."""
    config = select_tasks(tiny_config, ["next_item"])
    model_config = dataclasses.replace(config.model, tie_item_embeddings=True, retrieval_similarity="dot",
                                       retrieval_dim=config.model.embedding_dim)
    config = dataclasses.replace(config, model=model_config, **({"features": ()} if features == "id_only" else {}))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    model.train_on_batch(batch[0], batch[1], sample_weight=batch[2])
    items = tf.constant([1, 2, 3], tf.int64)
    table = model.item_encoder.item_embedding.embeddings
    before = model.item_vectors(items, "next_item").numpy()
    shift = np.zeros(table.shape, np.float32)
    shift[2] = 0.5
    table.assign_add(shift)
    after = model.item_vectors(items, "next_item").numpy()
    np.testing.assert_allclose(after - before, shift[1:4], atol=1e-5)
    assert model.heads["next_item"].item_tower is None
    if features == "id_only":
        np.testing.assert_allclose(after, table.numpy()[1:4], atol=1e-6)
        assert not model.item_encoder.tower.weights
    model.save_weights(str(tmp_path / "weights"))
    reloaded = build_model(config, tiny_prepared.statistics, catalogue)
    reloaded.load_weights(str(tmp_path / "weights")).expect_partial()
    np.testing.assert_allclose(reloaded.item_vectors(items, "next_item").numpy(), after, atol=1e-6)


@pytest.mark.parametrize("gradient", [True, False])
@pytest.mark.parametrize("tasks", [["ctr", "cvr", "next_item"], ["ctr", "cvr"]])
def test_the_ranking_tasks_train_the_user_encoding_unless_told_not_to(tiny_config, tiny_prepared, catalogue, batch,
                                                                      gradient, tasks):
    config = select_tasks(tiny_config, tasks)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, ranking_user_gradient=gradient))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    features, labels, masks = batch
    model.compute_losses(features, labels, masks, training=False)  # builds every weight
    history_encoder = model.user_encoder.sequence_encoder.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(features, labels, masks, training=False)

    def reached(loss: tf.Tensor) -> bool:
        return any(g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0
                   for g in tape.gradient(loss, history_encoder))

    # Without a retrieval task to learn the user side, the ranking tasks train it whatever the setting.
    trains = gradient or "next_item" not in tasks
    for name in ("ctr", "cvr"):
        assert reached(losses[name]) == trains, name
    if "next_item" in tasks:
        assert reached(losses["next_item"])
    # Serving reads the same user vector: the stop-gradient changes no prediction.
    default = build_model(dataclasses.replace(config, model=dataclasses.replace(
        config.model, ranking_user_gradient=True)), tiny_prepared.statistics, catalogue)
    default.compute_losses(features, labels, masks, training=False)
    default.set_weights(model.get_weights())
    for name, output in model(features).items():
        np.testing.assert_allclose(output.numpy(), default(features)[name].numpy(), rtol=1e-6, err_msg=name)


def test_pcgrad_steps_with_the_projected_sum_of_the_task_gradients(tiny_config, tiny_prepared, catalogue):
    # Two tasks share the text encoder (the query and the titles): the order of projection is moot.
    config = select_tasks(tiny_config, ["query_category", "next_item"])
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, dropout=0.0, history_dropout=0.0, gradient_surgery="pcgrad"))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    batches = list(make_dataset(tiny_prepared.examples.parts["train"], batch_size=64,
                                history_length=config.data.history_length, shuffle_buffer=5_000, seed=3).take(4))
    model.build_from_batch(batches[0])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    variables = model.trainable_variables
    projected_steps = 0
    for features, labels, masks in batches:
        with tf.GradientTape(persistent=True) as tape:
            losses, _ = model.compute_losses(features, labels, masks, training=True)
            total = model.total_loss(losses)
            weighted = [task.weight * losses[task.name] for task in model.tasks]
        expected = combine_gradients([tape.gradient(loss, variables) for loss in weighted])
        summed = tape.gradient(total, variables)
        assert sum(g is not None for g in expected) > 0
        before = [v.numpy() for v in variables]
        model.train_step((features, labels, masks))
        projected = False
        for variable, start, gradient, plain in zip(variables, before, expected, summed):
            if gradient is None:
                np.testing.assert_array_equal(variable.numpy(), start, err_msg=variable.name)
                continue
            step = start - variable.numpy()
            # The step is read back from float32 weights: allow their rounding.
            atol = 1e-6 + 4 * float(np.abs(np.spacing(start)).max())
            np.testing.assert_allclose(step, tf.convert_to_tensor(gradient).numpy(), rtol=1e-4, atol=atol,
                                       err_msg=variable.name)
            projected |= not np.allclose(step, tf.convert_to_tensor(plain).numpy(), rtol=1e-4, atol=atol)
        projected_steps += projected
    # The tasks conflict on some batches in the shared encoder: those steps are not the plain sum.
    assert projected_steps > 0


def test_a_tasks_learning_rate_scale_reaches_the_weights_only_tasks_of_its_scale_train(tiny_config, tiny_prepared,
                                                                                      catalogue, batch):
    # ctr and cvr at twice the rate, next_item at half: ranking_item_gradient false and
    # ranking_user_gradient false leave the item tower and the history encoder to next_item.
    scales = {"ctr": 2.0, "cvr": 2.0, "next_item": 0.5}
    config = select_tasks(tiny_config, list(scales))
    config = dataclasses.replace(config, tasks=tuple(
        dataclasses.replace(task, learning_rate_scale=scales[task.name]) for task in config.tasks))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    factor = {variable.ref(): scale for variable, scale in model.rate_scaled_weights}

    def scales_of(layer: keras.layers.Layer) -> set[float | None]:
        return {factor.get(variable.ref()) for variable in layer.trainable_variables}

    assert scales_of(model.target_attention) == {2.0}  # the ranking tasks' alone
    assert scales_of(model.heads["ctr"]) == scales_of(model.heads["cvr"]) == {2.0}
    assert scales_of(model.item_encoder.tower) == {0.5}  # next_item's alone
    assert scales_of(model.heads["next_item"]) == {0.5}
    # The item table: next_item trains it, the ranking tasks read it through a stop-gradient.
    assert factor[model.item_encoder.item_embedding.embeddings.ref()] == 0.5
    # A weight trained by tasks of different scales keeps the rate: ctr's and next_item's
    # under ranking_user_gradient true share the history encoder.
    shared = dataclasses.replace(config, model=dataclasses.replace(config.model, ranking_user_gradient=True))
    model = build_model(shared, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    factor = {variable.ref(): scale for variable, scale in model.rate_scaled_weights}
    assert factor[model.target_attention.trainable_variables[0].ref()] == 2.0
    assert factor[model.item_encoder.tower.trainable_variables[0].ref()] == 0.5
    for layer in (model.user_encoder.sequence_encoder, model.user_encoder.event_type_embedding):
        assert scales_of(layer) == {None}, layer.name
    # Without a factor other than 1, nothing is scaled and no extra backward pass is run.
    plain = build_model(select_tasks(tiny_config, list(scales)), tiny_prepared.statistics, catalogue)
    plain.build_from_batch(batch)
    assert plain.rate_scaled_weights == []
