"""Helpers of the tuning tests: light settings, and a stand-in for a trial's training.

`fake_train_and_validate` replaces `mtrec_tf.tuning.tuner.train_and_validate`: it trains
nothing, appends a line to `RUN/runs.txt` (so a test can count how often each trial ran), and
returns validation metrics that trade the tasks off against each other by their weight share.

Run as a script, it is `mtrec` with that stand-in:
`python tests/tuning/tuning_helpers.py tune --output-dir DIR ...`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# The tiny preset with two light tasks and two training steps per trial.
LIGHT_OVERRIDES = (
    "data.sample_seed=7",
    "model.subword_buckets=0",
    "training.steps_per_epoch=2",
    "tasks={query_category: {type: multiclass, label: query_category, inputs: [query]}, "
    "ctr: {type: binary, label: ctr, inputs: [query]}}",
    "tuning.objective=0.6 * ctr.auc + 0.4 * query_category.accuracy",
)
RUNS_FILE = "runs.txt"
# "FOLDER:N": the first trial of each process waits until N processes hold a trial, so that
# every worker of a distributed test gets one, however late it starts.
BARRIER = "MTREC_FAKE_TRIAL_BARRIER"


def fake_train_and_validate(config, run_dir, prepared, catalogue, validation_arrays, ks):
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    if os.environ.get(BARRIER):
        _wait_for_others(tuner_id, *os.environ[BARRIER].rsplit(":", 1))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / RUNS_FILE, "a", encoding="utf-8") as handle:
        handle.write(f"{tuner_id}\n")
    total = sum(task.weight for task in config.tasks) or 1.0
    metrics = {}
    for task in config.tasks:
        share = task.weight / total
        if task.type == "multiclass":
            metrics[task.name] = {"accuracy": 0.2 + 0.6 * share, "macro_f1": 0.1 + 0.5 * share,
                                  "top3_accuracy": 0.5 + 0.4 * share}
        elif task.type == "binary":
            metrics[task.name] = {"auc": 0.5 + 0.4 * share, "gauc": 0.5 + 0.3 * share, "logloss": 0.7 - 0.3 * share}
        elif task.type == "regression":
            metrics[task.name] = {"rmse": 1.2 - 0.5 * share}
        else:
            metrics[task.name] = {f"{name}@{k}": 0.05 + 0.5 * share for k in ks
                                  for name in ("recall", "hit_rate", "ndcg")}
            metrics[task.name]["mrr"] = 0.02 + 0.2 * share
    return metrics


def _wait_for_others(tuner_id: str, folder: str, count: str, timeout: float = 120.0) -> None:
    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    (folder_path / tuner_id).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder_path.iterdir())) < int(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tuner_id}: the other workers did not start a trial in {timeout:.0f} s")
        time.sleep(0.2)


def runs_per_trial(search_dir: Path) -> dict[str, list[str]]:
    """{trial id: the tuner ids that ran it, once per run}."""
    return {path.parent.parent.name.removeprefix("trial_"): path.read_text(encoding="utf-8").split()
            for path in Path(search_dir).glob(f"trial_*/run/{RUNS_FILE}")}


if __name__ == "__main__":
    import mtrec_tf.tuning.tuner as tuner_module
    from trainer.cli import main

    tuner_module.train_and_validate = fake_train_and_validate
    sys.exit(main(sys.argv[1:]))
