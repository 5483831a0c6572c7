"""The `mtrec data` commands end to end on the sample shop."""

from __future__ import annotations

import json

import pytest

from trainer.cli import main


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    assert main(["data", "sample", "--out", str(out), "--seed", "5"]) == 0
    return out


def test_sample_writes_the_tables_images_and_truth(sample_dir):
    names = {p.name for p in sample_dir.iterdir()}
    assert {"events.parquet", "items.parquet", "queries.parquet", "images", "truth"} <= names
    assert any((sample_dir / "images").glob("*.png"))


def test_inspect_prints_the_report_and_writes_json(sample_dir, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert main(["data", "inspect", str(sample_dir), "--json", str(report_path)]) == 0
    printed = capsys.readouterr().out
    for word in ("events", "items", "click", "sparsity"):
        assert word in printed.lower()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report


def test_examples_writes_shards_vocabularies_and_config(sample_dir, tmp_path, capsys):
    out = tmp_path / "examples"
    code = main(["data", "examples", str(sample_dir), "--out", str(out), "--split", "leave_last_out",
                 "--format", "parquet", "--set", "data.history_length=10"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "examples.json").read_text(encoding="utf-8"))
    assert summary["split"]["method"] == "leave_last_out"
    for part in ("train", "validation", "test"):
        assert summary["examples"][part]["next_item"] > 0
        assert (out / part / summary["shards"][part][0]).exists()
    assert (out / "vocab" / "tokens.txt").stat().st_size > 0
    config = (out / "config.yaml").read_text(encoding="utf-8")
    assert "history_length: 10" in config and "events.parquet" in config


def test_a_bad_table_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "events.csv").write_text("user_id,timestamp\nu1,1\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item_id,title,category\na,t,c\n", encoding="utf-8")
    assert main(["data", "inspect", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "events.csv" in error and "event_type" in error
