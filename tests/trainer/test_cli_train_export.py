"""`mtrec train` exports at its end; `mtrec export` adds versions and never overwrites one."""

from __future__ import annotations

from trainer.cli import main


def test_train_exports_and_export_adds_versions(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=3", "--set", "data.sample_seed=3",
                 "--tasks", "query_category,next_item", "--output-dir", str(run)]) == 0
    base = run / "export" / "mtrec"
    assert (base / "1" / "saved_model.pb").is_file()
    assert "retrieve" in capsys.readouterr().out  # the signatures the tasks support are listed
    assert (run / "serving" / "models.config").is_file()

    assert main(["export", str(run), "--target", "core", "--model-name", "mtrec"]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]

    assert main(["export", str(run), "--version", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
