"""The retrieval task's losses: the configuration they take, their negatives and their guard; the
training positions and what each step of a history predicts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.config import ConfigError, TaskConfig
from mtrec_tf.tasks import task_type
from mtrec_tf.tasks.retrieval import FULL_SOFTMAX_MAX_ITEMS, step_targets


def _task(**values):
    return TaskConfig("next_item", "retrieval", "next_item", ("user",), **values)


@pytest.mark.parametrize("values, message", [
    ({"loss": "sampled_softmax"}, "negatives .got 0. must be at least 1 with loss 'sampled_softmax'"),
    ({"negatives": 8}, "and 0 with any other loss .got 'the default'"),
    ({"loss": "full_softmax", "negatives": 8}, "and 0 with any other loss .got 'full_softmax'"),
    ({"loss": "sampled_softmax", "negatives": 8, "negative_sampling": "zipf"},
     "negative_sampling must be one of popularity, clicks, uniform"),
    ({"negatives_top_up": True}, "negatives_top_up applies to loss 'sampled_softmax' .got 'the default'"),
    ({"loss": "hinge"}, "applies to multiclass tasks, not 'retrieval'"),
    ({"loss": "bpr"}, "loss must be empty .the type's loss. or one of full_softmax, sampled_softmax; got 'bpr'"),
])
def test_the_loss_settings_are_checked_together(values, message):
    with pytest.raises(ConfigError, match=message):
        _task(**values)


def test_full_softmax_refuses_a_catalogue_too_large_to_encode_at_every_step(tiny_config, tiny_prepared):
    statistics = dataclasses.replace(tiny_prepared.statistics,
                                     items=tuple(f"i{n}" for n in range(FULL_SOFTMAX_MAX_ITEMS + 1)))
    kind = task_type("retrieval")
    kind.check(_task(loss="full_softmax"), tiny_config.model, tiny_prepared.statistics)  # small enough
    with pytest.raises(ConfigError, match=r"100,001 items \(at most 100,000\): use sampled_softmax"):
        kind.check(_task(loss="full_softmax"), tiny_config.model, statistics)


def test_drawing_by_clicks_refuses_training_events_without_a_click(tiny_config, tiny_prepared):
    task = _task(loss="sampled_softmax", negatives=8, negative_sampling="clicks")
    kind = task_type("retrieval")
    kind.check(task, tiny_config.model, tiny_prepared.statistics)
    statistics = dataclasses.replace(tiny_prepared.statistics,
                                     item_popularity=(0,) * len(tiny_prepared.statistics.items))
    with pytest.raises(ConfigError, match="negative_sampling 'clicks' draws clicked items, and the training events "
                                          "hold no click"):
        kind.check(task, tiny_config.model, statistics)
    kind.check(dataclasses.replace(task, negative_sampling="uniform"), tiny_config.model, statistics)


@pytest.mark.parametrize("sampling", ["popularity", "clicks", "uniform"])
def test_negatives_are_catalogue_rows_drawn_by_their_share(sampling):
    from mtrec_tf.backend import tf
    from mtrec_tf.tasks.base import LossContext
    from mtrec_tf.tasks.retrieval import sample_negatives

    # Row 0 is the unknown item, never drawn; item 2 was never clicked (its smoothed share is not 0).
    probability = np.array([0.1, 0.2, 0.1, 0.6], np.float32)
    clicks = np.array([0.0, 0.25, 0.0, 0.75], np.float32)
    context = LossContext(None, None, tf.constant(probability), tf.constant(clicks), {}, True, None, 3)
    tf.random.set_seed(0)
    draws, share = sample_negatives(_task(loss="sampled_softmax", negatives=8, negative_sampling=sampling),
                                    context, tf.constant(20_000))
    draws, share = draws.numpy(), share.numpy()
    expected = {"popularity": probability[1:] / probability[1:].sum(), "clicks": clicks[1:],
                "uniform": np.full(3, 1 / 3)}[sampling]
    np.testing.assert_allclose(share, np.concatenate([[0.0], expected]), rtol=1e-6)
    assert len(draws) == 20_000 and draws.min() >= 1 and draws.max() <= 3
    np.testing.assert_allclose(np.bincount(draws, minlength=4)[1:] / len(draws), expected, atol=0.015)


@pytest.mark.parametrize("top_up, targets, drawn", [(False, 3, 6), (False, 8, 6), (True, 3, 3), (True, 8, 0)])
def test_mixed_negatives_top_up_the_targets_and_count_each_candidate_from_both_sources(top_up, targets, drawn):
    from mtrec_tf.backend import tf
    from mtrec_tf.tasks.base import LossContext
    from mtrec_tf.tasks.retrieval import mixed_negatives

    probability = np.array([0.1, 0.2, 0.1, 0.6], np.float32)
    clicks = np.array([0.0, 0.25, 0.0, 0.75], np.float32)
    context = LossContext(None, None, tf.constant(probability), tf.constant(clicks), {}, True, None, 3)
    task = _task(loss="sampled_softmax", negatives=6, negatives_top_up=top_up, negative_sampling="clicks")
    target_index = tf.constant(np.arange(targets) % 3 + 1, tf.int64)
    negatives, candidate_ids, expected = mixed_negatives(task, context, target_index)
    negatives = negatives.numpy()
    assert len(negatives) == drawn and set(negatives) <= {1, 3}  # never the unclicked item 2
    ids = np.concatenate([target_index.numpy(), negatives])
    np.testing.assert_array_equal(candidate_ids.numpy(), ids)
    np.testing.assert_allclose(expected.numpy(), targets * probability[ids] + drawn * clicks[ids], rtol=1e-6)


def test_training_positions_follow_the_history_encoder_unless_set(tiny_config, tiny_prepared):
    kind = task_type("retrieval")
    transformer = dataclasses.replace(tiny_config.model, history_encoder="transformer")
    assert kind.all_positions(_task(), transformer) and not kind.all_positions(_task(), tiny_config.model)
    assert not kind.all_positions(_task(positions="last"), transformer)
    with_query = TaskConfig("next_item", "retrieval", "next_item", ("user", "query"))
    assert not kind.all_positions(with_query, transformer)  # the query is the request's, not a step's
    kind.check(_task(positions="all"), transformer, tiny_prepared.statistics)
    with pytest.raises(ConfigError, match="needs a causal history encoder: set model.history_encoder=transformer"):
        kind.check(_task(positions="all"), tiny_config.model, tiny_prepared.statistics)
    with pytest.raises(ConfigError, match=r"no query\): the task must read the user alone .inputs: \[user\]; "
                                          "it reads user, query"):
        kind.check(dataclasses.replace(with_query, positions="all"), transformer, tiny_prepared.statistics)
    with pytest.raises(ConfigError, match="positions applies to retrieval tasks, not 'binary'"):
        TaskConfig("ctr", "binary", "ctr", ("user", "item"), positions="all")
    with pytest.raises(ConfigError, match="positions must be one of auto, last, all; got 'every'"):
        _task(positions="every")


def test_each_step_predicts_the_next_click_and_the_last_step_the_label():
    from mtrec_tf.backend import tf

    ids = tf.constant([["a", "b", "c", "d", ""], ["e", "", "", "", ""], ["", "", "", "", ""], ["f", "g", "", "", ""]])
    types = tf.constant([["click", "add_to_cart", "click", "purchase", ""], ["click", "", "", "", ""],
                         ["", "", "", "", ""], ["click", "click", "", "", ""]])
    gaps = tf.constant([[50.0, 40.0, 30.0, 30.0, 0.0], [9.0, 0, 0, 0, 0], [0.0] * 5, [8.0, 8.0, 0, 0, 0]])
    label, mask = tf.constant(["x", "y", "z", "w"]), tf.constant([1.0, 1.0, 1.0, 1.0])
    targets, trains = step_targets(ids, types, gaps, label, mask)
    np.testing.assert_array_equal(targets.numpy()[:2].astype(str),
                                  [["b", "c", "d", "x", ""], ["y", "", "", "", ""]])
    # Step 0 of the first row predicts an add to cart (no click), step 2 a purchase: neither trains.
    # Row 2 has no history; in row 3 the second click is of the first one's second, which a
    # click's own history never holds: only the label trains.
    expected = [[False, True, False, True, False], [True, False, False, False, False],
                [False] * 5, [False, True, False, False, False]]
    np.testing.assert_array_equal(trains.numpy(), expected)
    assert not step_targets(ids, types, gaps, label, tf.zeros([4]))[1].numpy().any()  # rows without the label


def test_training_positions_are_refused_when_the_configuration_is_read():
    from mtrec_tf.config import load_config

    with pytest.raises(ConfigError, match="positions 'all' trains every step of a history at once, which needs"):
        load_config(None, ["tasks.next_item.positions=all"])  # the default BiLSTM
    with pytest.raises(ConfigError, match=r"the task must read the user alone .inputs: \[user\]; it reads user, q"):
        load_config(None, ["model.history_encoder=transformer", "tasks.next_item.positions=all"])
    both = ("model.history_encoder=transformer", "tasks.next_item.inputs=[user]",
            "tasks.also={type: retrieval, label: next_item, inputs: [user, query]}")
    with pytest.raises(ConfigError, match="next_item trains all positions of label 'next_item'.*and also learn the "
                                          "same label one example per click"):
        load_config(None, list(both))
    load_config(None, [*both, "tasks.next_item.positions=last"])  # each per click


def test_a_filter_over_the_whole_history_trains_the_last_step_alone():
    from mtrec_tf.config import load_config

    kind = task_type("retrieval")
    whole = ["model.history_encoder=transformer", "model.history_norm=post", "model.history_frequency_mix=0.5",
             "model.history_frequency_window=whole", "tasks.next_item.inputs=[user]"]
    config = load_config(None, whole)
    assert not kind.all_positions(config.task("next_item"), config.model)  # auto: one example per click
    causal = load_config(None, [*whole, "model.history_frequency_window=causal"])
    assert kind.all_positions(causal.task("next_item"), causal.model)
    unfiltered = load_config(None, [*whole, "model.history_frequency_mix=0"])  # no filter, nothing read ahead
    assert kind.all_positions(unfiltered.task("next_item"), unfiltered.model)
    with pytest.raises(ConfigError, match="filter reads the whole history .model.history_frequency_window=whole., so "
                                          "a step would see the clicks it predicts"):
        load_config(None, [*whole, "tasks.next_item.positions=all"])
    with pytest.raises(ConfigError, match="model.history_frequency_window must be one of causal, whole"):
        load_config(None, ["model.history_frequency_window=future"])
