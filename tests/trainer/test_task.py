"""`python -m trainer.task`: Vertex AI's environment decides where everything goes, and every
output file goes through `tf.io.gfile` (so `gs://` paths work)."""

from __future__ import annotations

import builtins
import io
import os
import pathlib
import shutil
import sys
import types
import uuid

import pytest

from trainer.task import main, parse_args, run

TRAIN = ["--preset", "tiny", "--tasks", "query_category", "--set", "data.sample_seed=3",
         "--set", "training.steps_per_epoch=2", "--set", "training.batch_size=64",
         "--set", "model.subword_buckets=0", "--set", "data.image_validation_fraction=0"]


def _forbid_python_file_apis(monkeypatch, root: pathlib.Path) -> list[str]:
    """Makes Python's own file functions fail on paths under `root`; returns what was tried."""
    root = os.path.realpath(root)
    attempts: list[str] = []

    def inside(value) -> bool:
        if isinstance(value, int):
            return False
        try:
            path = os.path.realpath(os.fspath(value))
        except TypeError:
            return False
        return path == root or path.startswith(root + os.sep)

    def guard(owner, name: str, positions=(0,)) -> None:
        original = getattr(owner, name)

        def guarded(*args, **kwargs):
            for position in positions:
                if len(args) > position and inside(args[position]):
                    attempts.append(f"{getattr(owner, '__name__', owner)}.{name}({args[position]})")
                    raise PermissionError(f"{name} on an output path: use tf.io.gfile")
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, guarded)

    guard(builtins, "open")
    guard(io, "open")
    for name in ("open", "makedirs", "mkdir", "remove", "unlink", "rmdir", "chmod"):
        guard(os, name)
    guard(os, "replace", (0, 1))
    guard(os, "rename", (0, 1))
    guard(shutil, "rmtree")
    guard(shutil, "move", (0, 1))
    guard(shutil, "copyfile", (0, 1))
    for name in ("open", "write_bytes", "write_text", "read_bytes", "read_text", "mkdir", "touch", "unlink",
                 "rmdir", "chmod"):
        guard(pathlib.Path, name)
    guard(pathlib.Path, "rename", (0, 1))
    guard(pathlib.Path, "replace", (0, 1))
    return attempts


def test_vertex_environment_places_the_run_and_only_gfile_writes_it(tmp_path, monkeypatch, capsys):
    from mtrec_tf.backend import tf

    # Local outputs are guarded against Python's file functions; the run itself and the logs
    # go to a URL (TensorFlow's in-memory file system), which only tf.io.gfile can reach and
    # which `pathlib.Path` would turn into a local "ram:/..." folder.
    job, url = tmp_path / "job", f"ram://{uuid.uuid4().hex}"
    environ = {"AIP_MODEL_DIR": f"{job}/model/", "AIP_CHECKPOINT_DIR": f"{job}/ckpt/",
               "AIP_TENSORBOARD_LOG_DIR": f"{url}/tb/"}
    (job / "cwd").mkdir(parents=True)
    monkeypatch.chdir(job / "cwd")
    reports: list[dict] = []

    class HyperTune:  # cloudml-hypertune's API
        def report_hyperparameter_tuning_metric(self, **kwargs) -> None:
            reports.append(kwargs)

    monkeypatch.setitem(sys.modules, "hypertune", types.SimpleNamespace(HyperTune=HyperTune))
    args = parse_args([*TRAIN, "--output-dir", f"{url}/run", "--training.learning_rate=0.01",
                       "--hypertune-metric", "query_category.accuracy"])
    attempts = _forbid_python_file_apis(monkeypatch, job)
    result = run(args, environ)
    monkeypatch.undo()
    assert attempts == []

    assert result.run_dir == f"{url}/run"
    for name in ("config.yaml", "history.json", "metrics.json", "training_curves.png", "multi_vs_single.png",
                 "vocab/statistics.json", "checkpoints/final/weights.index", "serving/models.config"):
        assert tf.io.gfile.exists(f"{url}/run/{name}"), name
    with tf.io.gfile.GFile(f"{url}/run/config.yaml") as config:
        assert "learning_rate: 0.01" in config.read()
    assert tf.io.gfile.glob(f"{url}/tb/train/events.out.tfevents.*")
    assert (job / "model" / "mtrec" / "1" / "saved_model.pb").is_file()
    assert (job / "ckpt" / "epoch-001" / "weights.index").is_file()
    assert sorted(p.name for p in job.iterdir()) == ["ckpt", "cwd", "model"]
    assert not list((job / "cwd").iterdir())  # no URL was mangled into a local path
    assert not [p for p in job.rglob("*.tmp")]
    # The chief reported the tuning metric.
    [report] = reports
    assert report["hyperparameter_metric_tag"] == "query_category.accuracy"
    assert 0.0 <= report["metric_value"] <= 1.0 and report["global_step"] == 1
    assert "reported query_category.accuracy" in capsys.readouterr().out
    tf.io.gfile.rmtree(url)


def test_tuning_arguments_become_overrides():
    args = parse_args(["--output-dir", "x", "--training.learning_rate=0.01", "--training__batch_size=32"])
    assert args.set == ["training.learning_rate=0.01", "training.batch_size=32"]
    with pytest.raises(SystemExit):
        parse_args(["--output-dir", "x", "--not-a-setting"])


@pytest.mark.parametrize("variable, value", [
    ("TF_CONFIG", "{not json"),
    ("TF_CONFIG", '{"cluster": {"worker": ["h:1", "h:2"]}}'),
    ("CLUSTER_SPEC", '{"cluster": {"workerpool0": ["h:1"]}, "task": {"type": "workerpool7"}}'),
])
def test_a_bad_cluster_variable_fails_before_training_and_names_it(variable, value, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("CLUSTER_SPEC", raising=False)
    monkeypatch.setenv(variable, value)
    assert main([*TRAIN, "--output-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert f"trainer.task: error: {variable}" in error and "expected JSON like" in error
    assert not (tmp_path / "run").exists()


def test_without_an_output_dir_or_aip_model_dir_it_says_what_it_needs(monkeypatch, capsys):
    monkeypatch.delenv("AIP_MODEL_DIR", raising=False)
    assert main(TRAIN) == 2
    assert "needs --output-dir, or AIP_MODEL_DIR" in capsys.readouterr().err


def test_a_tuning_metric_from_the_evaluation_needs_the_evaluation(capsys, tmp_path):
    assert main([*TRAIN, "--output-dir", str(tmp_path / "run"), "--no-evaluate",
                 "--hypertune-metric", "next_item.recall@50"]) == 2
    assert "reads the evaluation: drop --no-evaluate" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
