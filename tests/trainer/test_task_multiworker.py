"""Two `trainer.task` processes on 127.0.0.1 train together with MultiWorkerMirroredStrategy:
killed after the first epoch, restarted, they resume from the backup and finish with the same
weights, and only the chief exports; from an examples folder, each reads its own shard files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
# Small and quick: the retrieval task (in-batch softmax across replicas), two steps an epoch,
# no validation part.
ARGS = ["--preset", "tiny", "--tasks", "next_item", "--no-evaluate", "--set", "data.sample_seed=3",
        "--set", "training.epochs=2", "--set", "training.steps_per_epoch=2", "--set", "training.batch_size=64",
        "--set", "model.subword_buckets=0", "--set", "data.split.validation_fraction=0",
        "--set", "data.image_validation_fraction=0"]
# Runs the entrypoint, then keeps this worker's weights and epoch count for the test to compare.
WORKER = """
import sys
import numpy as np
from trainer.task import parse_args, run
result = run(parse_args(sys.argv[2:]))
np.savez(sys.argv[1], *result.model.get_weights(), epochs=len(result.history["loss"]))
"""
START_SECONDS = 420


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(tmp_path: Path, run: Path, attempt: str, args: list[str] = ARGS) -> list[subprocess.Popen]:
    chief_port, worker_port = _free_ports(2)
    cluster = {"chief": [f"127.0.0.1:{chief_port}"], "worker": [f"127.0.0.1:{worker_port}"]}
    workers = []
    for task_type in ("chief", "worker"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": task_type, "index": 0}}),
                   AIP_MODEL_DIR=str(tmp_path / "model"))
        env.pop("CLUSTER_SPEC", None)
        with open(tmp_path / f"{attempt}-{task_type}.log", "w") as log:
            workers.append(subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path / f"{task_type}.npz"), *args, "--output-dir", str(run)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return workers


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def _finish(workers: list[subprocess.Popen], tmp_path: Path, attempt: str) -> None:
    """Waits for both workers, which must succeed."""
    try:
        for worker in workers:
            worker.wait(timeout=START_SECONDS)
    finally:
        _stop(workers)
    assert [w.returncode for w in workers] == [0, 0], _log(tmp_path, attempt)


def _log(tmp_path: Path, attempt: str) -> str:
    logs = sorted(tmp_path.glob(f"{attempt}-*.log"))
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in logs)


def test_two_workers_resume_after_being_killed_and_only_the_chief_exports(tmp_path):
    run = tmp_path / "run"
    backup = run / "checkpoints" / "backup" / "chief" / "checkpoint"

    workers = _start(tmp_path, run, "first")
    try:
        deadline = time.monotonic() + START_SECONDS
        while not backup.exists():
            assert all(w.poll() is None for w in workers), _log(tmp_path, "first")
            assert time.monotonic() < deadline, "no backup after the first epoch\n" + _log(tmp_path, "first")
            time.sleep(0.1)
    finally:
        _stop(workers)  # preempted: both killed after the first epoch's backup
    assert not (run / "checkpoints" / "final").exists()

    _finish(_start(tmp_path, run, "second"), tmp_path, "second")

    chief, worker = np.load(tmp_path / "chief.npz"), np.load(tmp_path / "worker.npz")
    # The restart ran only the second epoch, from the backup.
    assert int(chief["epochs"]) == int(worker["epochs"]) == 1
    assert len(json.loads((run / "history.json").read_text())["epochs"]["loss"]) == 1
    weights = [name for name in chief.files if name != "epochs"]
    assert weights and sorted(weights) == sorted(n for n in worker.files if n != "epochs")
    for name in weights:
        np.testing.assert_array_equal(chief[name], worker[name])

    # The chief wrote the run and the export; the worker's own files are gone.
    assert (tmp_path / "model" / "mtrec" / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["mtrec"]
    assert sorted(p.name for p in (tmp_path / "model" / "mtrec").iterdir()) == ["1"]
    assert (run / "checkpoints" / "final" / "weights.index").is_file()
    assert (run / "config.yaml").is_file() and (run / "serving" / "models.config").is_file()
    assert [p.name for p in run.glob("workertemp*")] == []


def test_two_workers_training_from_shards_each_read_their_own_files(tmp_path):
    from trainer.cli import main

    assert main(["data", "sample", "--out", str(tmp_path / "tables"), "--seed", "3"]) == 0
    examples = tmp_path / "examples"
    assert main(["data", "examples", str(tmp_path / "tables"), "--out", str(examples), "--buckets", "4"]) == 0
    files = json.loads((examples / "examples.json").read_text())["shards"]["train"]
    args = ["--preset", "tiny", "--tasks", "next_item", "--no-evaluate", "--no-export", "--examples", str(examples),
            "--set", "training.epochs=1", "--set", "training.steps_per_epoch=2", "--set", "training.batch_size=64",
            "--set", "model.subword_buckets=0"]
    _finish(_start(tmp_path, tmp_path / "run", "shards", args), tmp_path, "shards")

    read = {}
    for task_type in ("chief", "worker"):
        line = next(line for line in (tmp_path / f"shards-{task_type}.log").read_text().splitlines()
                    if line.startswith("this worker reads"))
        read[task_type] = line.split(": ", 1)[1].split(", ")
    assert sorted(read["chief"] + read["worker"]) == sorted(files) and not set(read["chief"]) & set(read["worker"])
    chief, worker = np.load(tmp_path / "chief.npz"), np.load(tmp_path / "worker.npz")
    for name in (n for n in chief.files if n != "epochs"):
        np.testing.assert_array_equal(chief[name], worker[name])
