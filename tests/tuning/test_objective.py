"""The tuning objective: parsing, directions, the weighted sum, and errors that name the field."""

from __future__ import annotations

import math

import pytest

from mtrec_tf.config import ConfigError, load_config
from mtrec_tf.tuning.objective import (
    canonical_objective,
    parse_objective,
    reported_metrics,
    tradeoff_metrics,
)

TASKS = {"query_category": "multiclass", "ctr": "binary", "cvr": "binary", "next_item": "retrieval",
         "rating": "regression"}
METRICS = {
    "query_category": {"accuracy": 0.7, "macro_f1": 0.5},
    "ctr": {"auc": 0.8, "logloss": 0.3, "gauc": 0.6},
    "cvr": {"auc": 0.65, "logloss": 0.1},
    "next_item": {"recall@50": 0.4, "recall@10": 0.2, "mrr": 0.1},
    "rating": {"rmse": 0.9},
}


def test_the_objective_is_the_weighted_sum_of_the_metrics():
    objective = parse_objective("0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy", TASKS)
    assert objective.value(METRICS) == pytest.approx(0.4 * 0.8 + 0.3 * 0.4 + 0.3 * 0.7)
    assert objective.tasks == ("ctr", "next_item", "query_category")
    assert objective.ks == (50,)


@pytest.mark.parametrize("metric, better, worse", [
    ("ctr.auc", 0.9, 0.6),               # up
    ("query_category.accuracy", 0.8, 0.2),
    ("next_item.recall@50", 0.5, 0.1),
    ("next_item.mrr", 0.3, 0.1),
    ("ctr.logloss", 0.2, 0.6),           # down
    ("rating.rmse", 0.5, 1.5),
])
def test_each_metric_counts_in_its_own_direction(metric, better, worse):
    objective = parse_objective(f"2 * {metric}", TASKS)
    task, name = metric.split(".")

    def score(value):
        return objective.value({**METRICS, task: {**METRICS[task], name: value}})

    assert score(better) > score(worse)
    assert abs(score(better) - score(worse)) == pytest.approx(2 * abs(better - worse))


def test_log_loss_is_subtracted_by_itself():
    objective = parse_objective("0.5 * ctr.auc + 0.5 * ctr.logloss", TASKS)
    assert objective.value(METRICS) == pytest.approx(0.5 * 0.8 - 0.5 * 0.3)
    assert [term.direction for term in objective.terms] == ["max", "min"]


def test_text_and_mapping_give_the_same_objective():
    text = "0.4*ctr.auc + 0.6 *query_category.accuracy"
    mapping = {"ctr.auc": 0.4, "query_category.accuracy": 0.6}
    assert canonical_objective(text) == canonical_objective(mapping) == "0.4 * ctr.auc + 0.6 * query_category.accuracy"
    assert parse_objective(text, TASKS) == parse_objective(mapping, TASKS)
    assert parse_objective("ctr.auc + 1e-1 * cvr.auc", TASKS).value(METRICS) == pytest.approx(0.8 + 0.065)


def test_no_objective_weighs_every_headline_metric_equally():
    objective = parse_objective("", TASKS)
    assert [term.key for term in objective.terms] == [
        "query_category.accuracy", "ctr.auc", "cvr.auc", "next_item.recall@50", "rating.rmse"]
    assert objective.value(METRICS) == pytest.approx((0.7 + 0.8 + 0.65 + 0.4 - 0.9) / 5)


def test_a_missing_or_nan_metric_is_an_error_naming_it():
    objective = parse_objective("ctr.auc + cvr.auc", TASKS)
    with pytest.raises(ValueError, match="cvr.auc is nan"):
        objective.value({**METRICS, "cvr": {"auc": math.nan}})
    with pytest.raises(ValueError, match="needs cvr.auc"):
        objective.value({"ctr": METRICS["ctr"]})


def test_reported_and_tradeoff_metrics():
    objective = parse_objective("0.2 * ctr.logloss + 0.5 * next_item.recall@10 + 0.3 * query_category.accuracy",
                                TASKS)
    assert reported_metrics(objective, TASKS) == (
        "query_category.accuracy", "ctr.auc", "ctr.logloss", "cvr.auc", "next_item.recall@50",
        "next_item.recall@10", "rating.rmse")
    assert tradeoff_metrics(objective, TASKS) == ("next_item.recall@10", "query_category.accuracy")
    assert tradeoff_metrics(parse_objective("ctr.auc", TASKS), TASKS) == ("ctr.auc", "query_category.accuracy")
    assert tradeoff_metrics(parse_objective("", {"ctr": "binary"}), {"ctr": "binary"}) == ("ctr.auc",)


@pytest.mark.parametrize("objective, message", [
    ("0.5 * nope.auc", "nope.auc names task 'nope', which is not a task; tasks: query_category, ctr"),
    ("ctr.recall@50", "task 'ctr' \\(binary\\) has no metric 'recall@50'; its metrics: auc, gauc, logloss"),
    ("next_item.recall@0", "task 'next_item' \\(retrieval\\) has no metric 'recall@0'"),
    ("query_category.auc", "task 'query_category' \\(multiclass\\) has no metric 'auc'"),
    ("ctr.auc - 0.1 * ctr.logloss", "subtracts; write positive weights only"),
    ("0 * ctr.auc", "the weight of ctr.auc must be a positive number"),
    ("ctr.auc + ctr.auc", "ctr.auc appears twice"),
    ("ctr auc", "cannot read 'ctr auc'"),
    ("ctr.auc +", "a term is missing after the last"),
])
def test_bad_objectives_are_errors_naming_the_field(objective, message):
    with pytest.raises(ConfigError, match=f"tuning.objective.*({message})"):
        load_config(None, [f"tuning.objective={objective}"])
