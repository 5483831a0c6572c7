"""Distributed tuning with keras-tuner's chief and workers: one chief and two workers on 127.0.0.1.

The processes run `mtrec tune` through `tuning_helpers.py`, which stands in for the training of a
trial (the search machinery, the chief's oracle server and the workers are the real ones), so
that the test checks the distribution, not the model: every trial runs exactly once.
"""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tuning_helpers import BARRIER, LIGHT_OVERRIDES, runs_per_trial

HELPER = Path(__file__).with_name("tuning_helpers.py")
TRIALS = 5
TIMEOUT_S = 300
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_chief_and_two_workers_run_every_trial_exactly_once(tmp_path):
    out = tmp_path / "search"
    command = [sys.executable, str(HELPER), "tune", "--preset", "tiny", "--output-dir", str(out),
               "--tuner", "random", "--max-trials", str(TRIALS)]
    for setting in LIGHT_OVERRIDES:
        command += ["--set", setting]
    base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port()),
            "TF_CPP_MIN_LOG_LEVEL": "2", BARRIER: f"{tmp_path / 'barrier'}:2"}
    processes = {
        tuner_id: subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": tuner_id}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        for tuner_id in ("chief", "tuner0", "tuner1")
    }
    outputs = {}
    try:
        for tuner_id, process in processes.items():
            outputs[tuner_id] = process.communicate(timeout=TIMEOUT_S)[0]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id} exited with {process.returncode}:\n{outputs[tuner_id]}"

    # Each trial ran once, on a worker; both workers ran trials.
    runs = runs_per_trial(out / "search")
    assert sorted(runs, key=int) == [str(i) for i in range(TRIALS)]
    assert all(len(tuners) == 1 for tuners in runs.values()), runs
    by_worker = {tuner_id: {trial for trial, tuners in runs.items() if tuners == [tuner_id]}
                 for tuner_id in ("tuner0", "tuner1")}
    assert all(by_worker.values()), by_worker
    for tuner_id, trials in by_worker.items():
        reported = re.search(r"ran trials ([\d, ]+) in", outputs[tuner_id])
        assert reported and set(reported.group(1).split(", ")) == trials, outputs[tuner_id]

    # The chief wrote the results of all of them.
    with open(out / "results.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["trial"] for row in rows) == sorted(runs)
    assert {row["status"] for row in rows} == {"COMPLETED"}
    assert "best: trial" in outputs["chief"]
    assert (out / "best_config.yaml").exists() and (out / "tradeoff.png").exists()
