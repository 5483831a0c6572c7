"""Validation by ranking: the callback's metrics are the evaluation's, and early stopping on them
restores the best epoch and says which."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.config import ConfigError, select_tasks
from mtrec_tf.training.ranking_validation import ranking_metric, ranking_metric_names


def _config(tiny_config, metric: str, epochs: int = 2):
    config = select_tasks(tiny_config, ["next_item", "ctr"])
    return dataclasses.replace(config, training=dataclasses.replace(
        config.training, epochs=epochs, steps_per_epoch=12, learning_rate=0.01, early_stopping_metric=metric,
        patience=5))


def test_ranking_metrics_are_named_after_retrieval_tasks_only(tiny_config):
    assert ranking_metric(tiny_config, "val_next_item_ndcg@10") == ("next_item", "ndcg@10")
    assert ranking_metric(tiny_config, "val_next_item_mrr") == ("next_item", "mrr")
    for key in ("val_next_item_loss", "val_ctr_auc", "val_next_item_ndcg@0", "next_item_ndcg@10", ""):
        assert ranking_metric(tiny_config, key) is None, key
    assert "val_next_item_recall@K" in ranking_metric_names(tiny_config)


def test_early_stopping_on_ndcg_keeps_the_best_epoch_whose_ndcg_the_evaluation_reproduces(
        tiny_config, tiny_prepared, tmp_path, capsys):
    from mtrec_tf.training.fit import train
    from mtrec_tf.training.scoring import evaluate_model

    config = _config(tiny_config, "val_next_item_ndcg@20", epochs=3)
    result = train(config, tmp_path, prepared=tiny_prepared, verbose=0)
    values = result.history["val_next_item_ndcg@20"]
    assert len(values) == 3 and len(result.history["val_next_item_recall@10"]) == 3  # the default cutoffs too
    assert "val_ctr_auc" in result.history  # Keras's own validation metrics stay
    best = int(np.argmax(values))
    assert f"early stopping: restored the weights of epoch {best + 1} (val_next_item_ndcg@20" in capsys.readouterr().out

    validation = tiny_prepared.examples.parts["validation"]
    report = evaluate_model(result.model, config, tiny_prepared.statistics, validation,
                            result.catalogue.category[1:], exclude_seen=True, ks=(10, 20, 50))
    assert report["next_item"]["ndcg@20"] == pytest.approx(values[best], rel=1e-5)


def test_an_unknown_early_stopping_metric_is_an_error_listing_the_known_ones(tiny_config, tiny_prepared, tmp_path):
    from mtrec_tf.training.fit import train

    config = _config(tiny_config, "val_next_item_ndgc@10", epochs=1)
    with pytest.raises(ConfigError, match=r"'val_next_item_ndgc@10' is not a validation metric.*val_ctr_auc.*"
                                          r"val_next_item_ndcg@K"):
        train(config, tmp_path, prepared=tiny_prepared, verbose=0)
