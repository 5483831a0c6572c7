"""`mtrec train` evaluates and exports at its end; `mtrec export` adds versions and never overwrites one."""

from __future__ import annotations

import json

from trainer.cli import main


def test_train_evaluates_exports_and_export_adds_versions(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=3", "--set", "data.sample_seed=3",
                 "--tasks", "query_category,next_item", "--output-dir", str(run)]) == 0
    out = capsys.readouterr().out
    base = run / "export" / "mtrec"
    assert (base / "1" / "saved_model.pb").is_file()
    assert "retrieve" in out  # the signatures the tasks support are listed
    assert (run / "serving" / "models.config").is_file()
    # The evaluation ran on the data the training prepared, and reads as `mtrec evaluate`'s.
    assert "recall@50" in out and f"wrote {run / 'metrics.json'}" in out and "next: mtrec evaluate" not in out
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= {"query_category", "next_item", "baselines"}
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["next_item"] == metrics["next_item"]

    assert main(["export", str(run), "--target", "core", "--model-name", "mtrec"]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]

    assert main(["export", str(run), "--version", "2"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_train_without_evaluation_says_what_to_run_next(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=2", "--set", "data.sample_seed=3",
                 "--tasks", "ctr", "--no-evaluate", "--no-export", "--output-dir", str(run)]) == 0
    assert f"next: mtrec evaluate {run}" in capsys.readouterr().out
    assert not (run / "metrics.json").exists() and not (run / "export").exists()
