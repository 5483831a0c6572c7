"""The search on one machine: a real three-trial search, resume, and a search where every trial fails."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from mtrec_tf.config import ConfigError, load_config

from tuning_helpers import fake_train_and_validate, runs_per_trial


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def with_tuning(config, **changes):
    return dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, **changes))


def test_a_three_trial_search_writes_its_table_and_a_best_config_that_trains(tmp_path, light_config, light_prepared):
    from mtrec_tf.training.fit import train
    from mtrec_tf.tuning.tuner import run_search

    result = run_search(light_config, tmp_path / "search", prepared=light_prepared, verbose=0)

    rows = read_rows(result.paths.results)
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert {row["status"] for row in rows} == {"COMPLETED"}
    for column in ("weight.query_category", "weight.ctr", "ctr.auc", "query_category.accuracy", "objective"):
        assert all(row[column] for row in rows), column
    for row in rows:  # the objective is the configured sum of validation metrics
        expected = 0.6 * float(row["ctr.auc"]) + 0.4 * float(row["query_category.accuracy"])
        assert float(row["objective"]) == pytest.approx(expected)
    assert len({(row["weight.query_category"], row["weight.ctr"]) for row in rows}) == 3
    best = max(rows, key=lambda row: float(row["objective"]))
    assert result.best_trial == best["trial"]
    assert result.paths.tradeoff.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Each trial is a complete `mtrec train` run.
    for trial in ("0", "1", "2"):
        assert (result.paths.trial_run(trial) / "checkpoints" / "final").is_dir()

    best_config = load_config(result.paths.best_config)
    assert best_config == result.best_config
    assert best_config.task("ctr").weight == pytest.approx(float(best["weight.ctr"]))
    assert best_config.task("query_category").weight == pytest.approx(float(best["weight.query_category"]))
    trained = train(best_config, tmp_path / "best", prepared=light_prepared, verbose=0)
    assert set(trained.history) >= {"loss", "ctr_loss", "query_category_loss"}


@pytest.fixture
def fake_training(monkeypatch):
    import mtrec_tf.tuning.tuner as tuner_module

    monkeypatch.setattr(tuner_module, "train_and_validate", fake_train_and_validate)


def test_resume_adds_trials_without_repeating(tmp_path, light_config, light_prepared, fake_training):
    from mtrec_tf.tuning.tuner import run_search

    out = tmp_path / "search"
    first = run_search(with_tuning(light_config, max_trials=2), out, prepared=light_prepared, verbose=0)
    assert first.trials_run == ["0", "1"]
    before = read_rows(first.paths.results)

    with pytest.raises(FileExistsError, match="--resume"):
        run_search(with_tuning(light_config, max_trials=4), out, prepared=light_prepared, verbose=0)
    with pytest.raises(ConfigError, match="tuning.weights: 'log' there, 'simplex' here"):
        run_search(with_tuning(light_config, max_trials=4, weights="simplex"), out, resume=True,
                   prepared=light_prepared, verbose=0)

    resumed = run_search(with_tuning(light_config, max_trials=4), out, resume=True, prepared=light_prepared,
                         verbose=0)
    assert resumed.trials_run == ["2", "3"]
    after = read_rows(resumed.paths.results)
    assert [row["trial"] for row in after] == ["0", "1", "2", "3"]
    assert after[:2] == before  # the earlier trials are kept as they were
    assert runs_per_trial(first.paths.project) == {trial: ["tuner0"] for trial in ("0", "1", "2", "3")}
    assert len({(row["weight.query_category"], row["weight.ctr"]) for row in after}) == 4

    with pytest.raises(FileNotFoundError, match="holds no search"):
        run_search(light_config, tmp_path / "elsewhere", resume=True, prepared=light_prepared, verbose=0)


@pytest.mark.parametrize("max_trials", [2, 5])
def test_a_search_without_a_successful_trial_fails_with_the_first_trials_error(
        tmp_path, light_config, light_prepared, monkeypatch, max_trials):
    import mtrec_tf.tuning.tuner as tuner_module

    def failing(config, run_dir, *args, **kwargs):
        raise ValueError(f"cannot train {run_dir.parent.name}")

    monkeypatch.setattr(tuner_module, "train_and_validate", failing)
    # With 2 trials keras-tuner returns normally; with 5 it stops after 3 failures in a row.
    with pytest.raises(tuner_module.TuningError, match="no trial succeeded") as caught:
        tuner_module.run_search(with_tuning(light_config, max_trials=max_trials), tmp_path / "search",
                                prepared=light_prepared, verbose=0)
    assert "the first, trial 0, failed with ValueError: cannot train trial_0" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)
    assert not (tmp_path / "search" / "best_config.yaml").exists()


def test_a_nan_objective_fails_the_trial_with_the_metric_named(tmp_path, light_config, light_prepared, monkeypatch):
    import mtrec_tf.tuning.tuner as tuner_module

    def nan_auc(*args, **kwargs):
        metrics = fake_train_and_validate(*args, **kwargs)
        metrics["ctr"]["auc"] = float("nan")
        return metrics

    monkeypatch.setattr(tuner_module, "train_and_validate", nan_auc)
    with pytest.raises(tuner_module.TuningError, match="ctr.auc is nan on the validation part"):
        tuner_module.run_search(with_tuning(light_config, max_trials=1), tmp_path / "search",
                                prepared=light_prepared, verbose=0)


@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_the_bayesian_and_hyperband_oracles_drive_the_same_trials(tmp_path, light_config, light_prepared,
                                                                  fake_training, kind):
    from mtrec_tf.tuning.tuner import run_search

    config = dataclasses.replace(light_config, training=dataclasses.replace(light_config.training, epochs=3))
    result = run_search(with_tuning(config, tuner=kind, max_trials=4), tmp_path / "search", prepared=light_prepared,
                        verbose=0)
    rows = read_rows(result.paths.results)
    assert len(rows) == 4 and {row["status"] for row in rows} == {"COMPLETED"}
    if kind == "hyperband":  # trials train keras-tuner's epochs; the best configuration the full budget
        assert {row["tuner/epochs"] for row in rows} <= {"1", "3"}
    assert result.best_config.training.epochs == 3
