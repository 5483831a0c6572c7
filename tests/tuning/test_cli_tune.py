"""`mtrec tune` on the command line: outputs, resume from the search's own configuration, errors.

Training is replaced by `tuning_helpers` and the data by the light slice: the command line is
what is tested here.
"""

from __future__ import annotations

import csv

import pytest

from trainer.cli import main

from tuning_helpers import LIGHT_OVERRIDES, fake_train_and_validate


@pytest.fixture
def fast_search(monkeypatch, light_prepared):
    import mtrec_tf.tuning.tuner as tuner_module

    monkeypatch.setattr(tuner_module, "train_and_validate", fake_train_and_validate)
    monkeypatch.setattr(tuner_module, "prepare_configured", lambda config: light_prepared)
    return tuner_module


def tune(out, *extra):
    argv = ["tune", "--preset", "tiny", "--output-dir", str(out)]
    for setting in LIGHT_OVERRIDES:
        argv += ["--set", setting]
    return main(argv + list(extra))


def trial_ids(out):
    with open(out / "results.csv", encoding="utf-8", newline="") as handle:
        return [row["trial"] for row in csv.DictReader(handle)]


def test_tune_writes_the_results_and_resumes_from_its_own_configuration(tmp_path, fast_search, capsys):
    out = tmp_path / "tune"
    assert tune(out, "--tuner", "random", "--max-trials", "2") == 0
    printed = capsys.readouterr().out
    assert "best: trial" in printed and "best_config.yaml" in printed
    assert trial_ids(out) == ["0", "1"]

    assert tune(out, "--max-trials", "3") == 2
    assert "already holds a search; pass --resume" in capsys.readouterr().err

    # No --config: the search's own configuration, with only the number of trials changed.
    assert main(["tune", "--output-dir", str(out), "--resume", "--max-trials", "3"]) == 0
    assert trial_ids(out) == ["0", "1", "2"]
    assert main(["tune", "--output-dir", str(out), "--resume", "--set", "tuning.weights=simplex"]) == 2
    assert "tuning.weights: 'log' there, 'simplex' here" in capsys.readouterr().err


def test_tune_fails_when_no_trial_succeeds(tmp_path, fast_search, monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(fast_search, "train_and_validate", failing)
    assert tune(tmp_path / "tune", "--max-trials", "1") == 1
    assert "no trial succeeded (1 failed); the first, trial 0, failed with RuntimeError: out of memory" in \
        capsys.readouterr().err


def test_tune_names_a_bad_objective(tmp_path, capsys):
    assert tune(tmp_path / "tune", "--set", "tuning.objective=0.5 * ctr.recall@10") == 2
    assert "tuning.objective: task 'ctr' (binary) has no metric 'recall@10'" in capsys.readouterr().err
