"""Baselines are fitted on the training part and scored on the test part, one per task type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_tf import metrics
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.evaluation.baselines import baseline_metrics
from mtrec_tf.tasks import task_type
from mtrec_tf.tasks.binary import PRIOR_SMOOTHING


@pytest.fixture(scope="module")
def parts(tiny_config, tiny_prepared):
    statistics = tiny_prepared.statistics
    catalogue = build_catalogue(tiny_prepared.data.items, statistics, tiny_config.model.max_title_tokens)
    train, test = (tiny_prepared.examples.parts[name] for name in ("train", "test"))
    history = tiny_config.data.history_length
    return statistics, catalogue.category[1:], table_to_arrays(train, history), table_to_arrays(test, history)


@pytest.fixture(scope="module")
def baselines(tiny_config, tiny_prepared, parts):
    statistics, item_categories, _, _ = parts
    return baseline_metrics(tiny_config, statistics, tiny_prepared.examples.parts["train"],
                            tiny_prepared.examples.parts["test"], item_categories, exclude_seen=False)


def _rows(arrays, label):
    return np.flatnonzero(arrays[f"mask_{label}"] > 0)


def test_every_task_has_its_headline_metric_on_its_labelled_test_examples(tiny_config, parts, baselines):
    _, _, _, test = parts
    assert set(baselines) == {task.name for task in tiny_config.tasks}
    for task in tiny_config.tasks:
        report = baselines[task.name]
        assert np.isfinite(report[task_type(task.type).headline]), task.name
        if task.label != "image_category":
            assert report["examples"] == len(_rows(test, task.label)), task.name


def test_the_category_baseline_predicts_the_most_frequent_training_category(tiny_config, parts, baselines):
    _, _, train, test = parts
    task = next(t for t in tiny_config.tasks if t.name == "query_category")
    train_labels = train[f"label_{task.label}"][_rows(train, task.label)]
    test_labels = test[f"label_{task.label}"][_rows(test, task.label)]
    most_frequent = pd.Series(train_labels).value_counts().index[0]
    assert baselines["query_category"]["accuracy"] == pytest.approx(np.mean(test_labels == most_frequent))


def test_the_click_baseline_ranks_by_the_category_rate_of_the_training_part(tiny_config, parts, baselines):
    statistics, item_categories, train, test = parts
    category = dict(zip(statistics.items, item_categories))
    train_rows, test_rows = _rows(train, "ctr"), _rows(test, "ctr")
    clicks = pd.DataFrame({"category": [category.get(i, 0) for i in train["item_id"][train_rows]],
                           "click": train["label_ctr"][train_rows].astype(float)})
    overall = clicks["click"].mean()
    grouped = clicks.groupby("category")["click"].agg(["sum", "count"])
    rate = (grouped["sum"] + PRIOR_SMOOTHING * overall) / (grouped["count"] + PRIOR_SMOOTHING)
    predicted = [rate.get(category.get(i, 0), overall) for i in test["item_id"][test_rows]]
    assert baselines["ctr"]["auc"] == pytest.approx(metrics.auc(test["label_ctr"][test_rows], predicted))


def test_the_next_item_baseline_recommends_the_most_popular_training_items(tiny_config, parts, baselines):
    statistics, _, _, test = parts
    popularity = np.asarray(statistics.item_popularity)
    ranked = np.sort(popularity)[::-1]
    k = next(k for k in (10, 50) if ranked[k - 1] != ranked[k])  # a cut that no tie straddles
    top = {statistics.items[i] for i in np.argsort(-popularity, kind="stable")[:k]}
    targets = test["label_next_item"][_rows(test, "next_item")]
    assert baselines["next_item"][f"hit_rate@{k}"] == pytest.approx(np.mean([t in top for t in targets]))
