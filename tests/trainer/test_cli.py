"""The `mtrec data` commands end to end on the sample shop; help without TensorFlow, no native noise."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from mtrec_tf.data.schema import CATEGORY_SEPARATOR
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
    # The figures are the tables' own, counted independently here.
    events = pd.read_parquet(sample_dir / "events.parquet")
    items = pd.read_parquet(sample_dir / "items.parquet")
    assert report["rows"] == {"events": len(events), "items": len(items),
                              "queries": len(pd.read_parquet(sample_dir / "queries.parquet"))}
    assert report["event_types"] == events["event_type"].value_counts().to_dict()
    assert report["users"] == events["user_id"].nunique()
    behaviour = events[events["event_type"].isin(["click", "add_to_cart", "purchase"])]
    assert report["interactions"] == len(behaviour)
    pairs = len(behaviour[["user_id", "item_id"]].drop_duplicates())
    assert report["user_item_pairs"] == pairs
    assert report["sparsity"] == pytest.approx(1 - pairs / (report["users"] * len(items)))
    leaves = items["category"].str.split(CATEGORY_SEPARATOR).str[-1]
    assert report["categories"]["catalogue"] == leaves.value_counts().to_dict()
    queries = report["rows"]["queries"]
    assert [(table["kind"], table["rows_read"], table["rows_kept"]) for table in report["data_quality"]] == [
        ("events", len(events), len(events)), ("items", len(items), len(items)), ("queries", queries, queries)]
    assert f"{len(events):,} rows" in printed


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


# --- a quiet, fast command line --------------------------------------------------------------

NATIVE_NOISE = ("absl::InitializeLog", "Could not find cuda drivers", "cuInit", "oneDNN", "cudart_stub")

_MAIN = """
import os, sys
from trainer.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
if os.environ.get("RUN_AN_OP"):
    from mtrec_tf.backend import tf
    tf.reduce_sum(tf.constant([1, 2], tf.int64)).numpy()
print("RESULT", code, "tensorflow" in sys.modules, os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def _run_main(*argv: str, **env: str) -> tuple[list[str], str]:
    """Runs `trainer.cli.main(argv)` in a fresh process: ([exit code, TensorFlow imported, level], stderr)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "RUN_AN_OP")}
    result = subprocess.run([sys.executable, "-c", _MAIN, *argv], capture_output=True, text=True,
                            env={**environ, **env}, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("RESULT")[-1].split(), result.stderr


@pytest.mark.parametrize("argv, code", [
    (["--help"], "0"), (["train", "--help"], "0"), (["export", "--help"], "0"), (["serve", "--help"], "0"),
    (["tune", "--help"], "0"), (["data", "examples", "--help"], "0"), (["pretrain", "--help"], "0"),
    ([], "2"), (["bogus"], "2"), (["train", "--preset", "no-such-preset"], "2"),
    (["export", "run", "--target", "nowhere"], "2"),
])
def test_help_and_argument_errors_do_not_import_tensorflow(argv, code):
    (exit_code, imported, _), _ = _run_main(*argv)
    assert exit_code == code
    assert imported == "False"


def test_a_command_that_imports_tensorflow_prints_none_of_its_native_noise(tmp_path):
    (code, imported, level), stderr = _run_main("export", str(tmp_path / "no-run"), RUN_AN_OP="1")
    assert (code, imported, level) == ("2", "True", "3")
    assert "mtrec: error:" in stderr
    assert [noise for noise in NATIVE_NOISE if noise in stderr] == []


def test_the_users_own_log_level_wins(tmp_path):
    (code, _, level), _ = _run_main("export", str(tmp_path / "no-run"), TF_CPP_MIN_LOG_LEVEL="0")
    assert (code, level) == ("2", "0")


def test_keras_shows_one_line_per_epoch_when_standard_output_is_not_a_terminal(monkeypatch):
    from trainer.cli import keras_verbosity

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert keras_verbosity() == 2


@pytest.mark.parametrize("runner, steps", [
    ("memory", (("reading tables", "events/s"), ("preparing data", "examples/s"), ("writing examples", "examples/s"))),
    ("local", (("partitioning events by user", "events/s"), ("building examples", "events/s"))),
])
def test_examples_print_one_progress_line_per_step(sample_dir, tmp_path, capsys, runner, steps):
    assert main(["data", "examples", str(sample_dir), "--out", str(tmp_path / "examples"), "--runner", runner]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    for step, unit in steps:
        found = [line for line in lines if line.startswith(step + ": ")]
        assert len(found) == 1 and found[0].endswith(f" {unit})"), lines
    assert f"({runner} runner)" in out and re.search(r"^events: [\d,]+ rows read, [\d,]+ kept", out, re.M)


def test_a_beam_runner_takes_beams_pipeline_options_and_other_commands_refuse_them(sample_dir, tmp_path, capsys):
    out = tmp_path / "examples"
    assert main(["data", "examples", str(sample_dir), "--out", str(out), "--runner", "DirectRunner",
                 "--direct_running_mode=in_memory", "--buckets", "3"]) == 0
    summary = json.loads((out / "examples.json").read_text(encoding="utf-8"))
    assert summary["driver"] == {"runner": "DirectRunner", "buckets": 3,
                                 "pipeline_options": ["--direct_running_mode=in_memory"]}
    assert "(DirectRunner runner)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "examples", str(sample_dir), "--out", str(out), "--runner", "local",
              "--direct_running_mode=in_memory"])
    assert "unrecognized arguments: --direct_running_mode=in_memory" in capsys.readouterr().err


def test_the_local_runner_needs_tables(tmp_path, capsys):
    assert main(["data", "examples", "--out", str(tmp_path), "--runner", "local"]) == 2
    assert "--runner local reads tables" in capsys.readouterr().err
