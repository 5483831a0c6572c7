"""The tuning section of the configuration and the search space it declares."""

from __future__ import annotations

import math

import pytest

from mtrec_tf.config import Config, ConfigError, dump_config, load_config, select_tasks
from mtrec_tf.tuning.search_space import SearchSpace


class FakeHyperParameters:
    """Records what `SearchSpace.declare` asks keras-tuner for."""

    def __init__(self):
        self.declared = {}

    def Float(self, name, min_value, max_value, sampling="linear", default=None):
        self.declared[name] = ("Float", min_value, max_value, sampling)

    def Choice(self, name, values, ordered=None):
        self.declared[name] = ("Choice", tuple(values))


def test_the_tuning_section_round_trips_through_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "tuning:\n"
        "  objective: {ctr.auc: 0.4, next_item.recall@50: 0.3, query_category.accuracy: 0.3}\n"
        "  tuner: bayesian\n  max_trials: 7\n  weights: simplex\n  tasks: [ctr, next_item, query_category]\n"
        "  learning_rate: [0.0005, 0.01]\n  embedding_dim: [16, 32]\n  units: [16, 32, 64]\n",
        encoding="utf-8")
    config = load_config(path)
    tuning = config.tuning
    assert tuning.objective == "0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy"
    assert (tuning.tuner, tuning.max_trials, tuning.weights) == ("bayesian", 7, "simplex")
    assert tuning.tasks == ("ctr", "next_item", "query_category") and tuning.units == (16, 32, 64)
    path.write_text(dump_config(config), encoding="utf-8")
    assert load_config(path) == config
    assert load_config(None) == Config()


@pytest.mark.parametrize("override, message", [
    ("tuning.tuner=grid", "tuning.tuner must be one of random, bayesian, hyperband"),
    ("tuning.weights=linear", "tuning.weights must be one of log, simplex, fixed"),
    ("tuning.max_trials=0", "tuning.max_trials must be a whole number of at least 1"),
    ("tuning.weight_range=[2, 1]", "tuning.weight_range must be \\[low, high\\]"),
    ("tuning.learning_rate=[0.01]", "tuning.learning_rate must be \\[low, high\\]"),
    ("tuning.units=[16, 0]", "tuning.units must list whole numbers of at least 1"),
    ("tuning.tasks=[ctr, nope]", "tuning.tasks names 'nope', which is not a task"),
    ("tuning.hyperband_factor=1", "tuning.hyperband_factor must be a whole number of at least 2"),
    ("tuning.nope=1", "unknown configuration key tuning.nope"),
])
def test_bad_tuning_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_selecting_tasks_drops_the_others_from_the_tuning_section():
    config = load_config(None, ["tuning.objective=0.5 * ctr.auc + 0.5 * next_item.recall@50",
                                "tuning.tasks=[ctr, next_item]"])
    kept = select_tasks(config, ["ctr", "cvr"])
    assert kept.tuning.objective == "0.5 * ctr.auc" and kept.tuning.tasks == ("ctr",)
    alone = select_tasks(config, ["query_category"]).tuning
    assert (alone.objective, alone.tasks, alone.weights) == ("", (), "fixed")


def test_log_weights_are_declared_and_applied():
    config = load_config(None, ["tuning.tasks=[ctr, next_item]", "tuning.weight_range=[0.5, 4]"])
    space = SearchSpace.from_config(config)
    hp = FakeHyperParameters()
    space.declare(hp)
    assert hp.declared == {"weight.ctr": ("Float", 0.5, 4, "log"), "weight.next_item": ("Float", 0.5, 4, "log")}
    trial = space.apply(config, {"weight.ctr": 2.5, "weight.next_item": 0.123456789})
    assert trial.task("ctr").weight == 2.5 and trial.task("next_item").weight == 0.123457
    assert trial.task("image_category").weight == config.task("image_category").weight  # not searched


def test_simplex_weights_sum_to_the_number_of_searched_tasks():
    config = load_config(None, ["tuning.weights=simplex", "tuning.tasks=[ctr, cvr, next_item]"])
    space = SearchSpace.from_config(config)
    shares = {"share.ctr": 0.2, "share.cvr": 0.5, "share.next_item": 0.9}
    weights = space.task_weights(shares)
    assert sum(weights.values()) == pytest.approx(3.0, abs=1e-5)
    draws = {task: -math.log(shares["share." + task]) for task in ("ctr", "cvr", "next_item")}
    assert weights["ctr"] == pytest.approx(3 * draws["ctr"] / sum(draws.values()), rel=1e-5)
    assert space.task_weights({name: 0.3 for name in shares}) == {"ctr": 1.0, "cvr": 1.0, "next_item": 1.0}
    extremes = space.task_weights({"share.ctr": 0.0, "share.cvr": 1.0, "share.next_item": 1.0})
    assert all(math.isfinite(w) and w >= 0 for w in extremes.values())


def test_learning_rate_embedding_size_and_units_are_searched_when_declared():
    config = load_config(None, ["tuning.weights=fixed", "tuning.learning_rate=[0.0001, 0.01]",
                                "tuning.embedding_dim=[8, 16]", "tuning.units=[8, 32]"])
    space = SearchSpace.from_config(config)
    hp = FakeHyperParameters()
    space.declare(hp)
    assert set(hp.declared) == {"learning_rate", "embedding_dim", "units"}
    trial = space.apply(config, {"learning_rate": 0.00123, "embedding_dim": 16, "units": 32, "tuner/epochs": 2})
    assert trial.training.learning_rate == 0.00123 and trial.training.epochs == 2
    assert (trial.model.embedding_dim, trial.model.text_units, trial.model.history_units) == (16, 32, 32)
    assert [t.weight for t in trial.tasks] == [t.weight for t in config.tasks]


@pytest.mark.parametrize("overrides, message", [
    (["model.loss_weighting=uncertainty"], "model.loss_weighting is 'uncertainty', which learns the weights itself"),
    (["tuning.weights=fixed"], "tuning: nothing to search"),
    (["tuning.weights=simplex", "tuning.tasks=[ctr]"], "tuning.weights=simplex needs at least two tasks"),
])
def test_a_space_that_cannot_be_searched_is_an_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_config(load_config(None, overrides))


def test_uncertainty_weighting_with_other_settings_searched_is_allowed():
    config = load_config(None, ["model.loss_weighting=uncertainty", "tuning.weights=fixed", "tuning.units=[8, 16]"])
    assert SearchSpace.from_config(config).names == ("units",)
