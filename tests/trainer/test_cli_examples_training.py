"""`mtrec train --examples`: build examples bucket by bucket, then train, evaluate and export from their shards."""

from __future__ import annotations

import json

import mtrec_tf.evaluation.report as evaluation_report
from trainer.cli import main


def test_examples_built_by_bucket_train_evaluate_and_export(sample_world, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    sample_world.events.to_parquet(data / "events.parquet")
    sample_world.items.to_parquet(data / "items.parquet")
    examples, run = tmp_path / "examples", tmp_path / "run"
    assert main(["data", "examples", str(data), "--out", str(examples), "--runner", "local", "--buckets", "3",
                 "--set", "data.history_length=10"]) == 0
    assert main(["train", "--examples", str(examples), "--preset", "tiny", "--set", "training.steps_per_epoch=3",
                 "--tasks", "ctr,next_item", "--output-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Data quality\n  events (" in out  # the report of the tables the examples were built from
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= {"ctr", "next_item", "baselines"} and metrics["next_item"]["recall@50"] > 0
    assert (run / "export" / "mtrec" / "1" / "saved_model.pb").is_file()
    report = json.loads((run / "data_report.json").read_text(encoding="utf-8"))
    assert report["examples"]["counts"] == json.loads((examples / "examples.json").read_text())["examples"]
    # The run records where its examples are: `mtrec evaluate` reads the same test shards.
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["next_item"] == metrics["next_item"]
    test_part = sum(report["examples"]["counts"]["test"].values())
    assert metrics["test_examples"] == {"evaluated": test_part, "in_test_part": test_part}
    # A large test part is evaluated on its first examples, and metrics.json says so.
    monkeypatch.setattr(evaluation_report, "EVALUATION_TEST_EXAMPLES", 1_000)
    assert main(["evaluate", str(run)]) == 0
    sampled = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert sampled["test_examples"] == {"evaluated": 1_000, "in_test_part": test_part}
    assert sampled["next_item"] != metrics["next_item"] and set(sampled["baselines"]) == set(metrics["baselines"])


def test_examples_go_without_the_tables_and_a_folder_that_is_not_one_is_named(tmp_path, capsys):
    assert main(["train", "--examples", str(tmp_path), "--events", "e.csv", "--output-dir", str(tmp_path / "r")]) == 2
    assert "--examples trains from examples already built" in capsys.readouterr().err
    assert main(["train", "--examples", str(tmp_path), "--output-dir", str(tmp_path / "r")]) == 2
    assert f"{tmp_path} is not a `mtrec data examples` output" in capsys.readouterr().err
