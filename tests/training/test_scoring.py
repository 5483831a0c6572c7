"""Offline scoring of tasks with a position-bias tower: served outputs without the slot, and the
observed view with it."""

from __future__ import annotations

import dataclasses

import numpy as np

from mtrec_tf import metrics
from mtrec_tf.config import select_tasks
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset, table_to_arrays
from mtrec_tf.training.fit import build_model
from mtrec_tf.training.scoring import evaluate_model, predict


def test_a_position_biased_task_reports_its_observed_auc_beside_the_served_one(tiny_config, tiny_prepared):
    config = select_tasks(tiny_config, ["ctr", "cvr", "query_category"])
    config = dataclasses.replace(config, tasks=tuple(
        dataclasses.replace(t, position_bias=True) if t.name == "ctr" else t for t in config.tasks))
    stats = tiny_prepared.statistics
    catalogue = build_catalogue(tiny_prepared.data.items, stats, config.model.max_title_tokens)
    model = build_model(config, stats, catalogue)
    test = tiny_prepared.examples.parts["test"]
    features, labels, masks = next(iter(make_dataset(test, batch_size=64, history_length=config.data.history_length)))
    model.compute_losses(features, labels, masks, training=False)  # builds the tower
    # A strong slot effect: the first slots are favoured.
    bias = model.position_biases["ctr"]
    table = np.zeros((bias.buckets + 1, bias.units))
    table[1:, 0] = np.linspace(3.0, 0.0, bias.buckets)
    bias.set_weights([table, np.eye(bias.units, 1), np.zeros(1)])

    assert model.position_biased_tasks() == ["ctr", "cvr"]  # ESMM's child changes with its parent
    report = evaluate_model(model, config, stats, test, catalogue.category[1:])
    arrays = table_to_arrays(test, config.data.history_length)
    rows = np.flatnonzero(arrays["mask_ctr"] > 0)
    observed = predict(model, test, config.data.history_length, position_bias=True)["ctr"][rows]
    served = predict(model, test, config.data.history_length)["ctr"][rows]
    assert report["ctr"]["observed_auc"] == metrics.auc(arrays["label_ctr"][rows], observed)
    assert report["ctr"]["auc"] == metrics.auc(arrays["label_ctr"][rows], served)
    assert report["ctr"]["observed_auc"] != report["ctr"]["auc"]
    assert "observed_auc" in report["cvr"] and "observed_accuracy" not in report["query_category"]
    assert "position_auc" in report["ctr"]  # impressions carry their slots
