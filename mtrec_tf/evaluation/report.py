"""`mtrec evaluate RUN`: metrics.json, a console table and plots for a trained run."""

from __future__ import annotations

import math
import os
from typing import Any

from mtrec_tf import progress
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.prepare import PreparedData, prepare_configured
from mtrec_tf.evaluation.baselines import baseline_metrics
from mtrec_tf.evaluation.comparison import BEHIND, behind_metrics, compare_with_single_task
from mtrec_tf.evaluation.latency import forward_latency
from mtrec_tf.evaluation.plots import plot_comparison, plot_training_curves
from mtrec_tf.io_utils import exists, join, read_json, write_json_atomic
from mtrec_tf.tasks import task_type
from mtrec_tf.training.fit import TrainedRun, load_trained_model
from mtrec_tf.training.run_dir import RunPaths
from mtrec_tf.training.scoring import evaluate_model

SINGLE_TASK_DIR = "single_task"
# A run trained from shards (`data.examples`) is evaluated on its first test examples, as
# many as this (the shards are buckets of users: a sample of users), and fits the baselines
# on its first training examples, as many as that; `test_examples` in metrics.json says how
# many of the test part were evaluated.
EVALUATION_TEST_EXAMPLES = 250_000
BASELINE_TRAIN_EXAMPLES = 1_000_000


def evaluate_run(run_dir: str | os.PathLike, prepared: PreparedData | None = None,
                 exclude_seen: bool = True, trained: TrainedRun | None = None) -> dict:
    """Evaluates a run on its test split and writes metrics.json and plots into it.

    The report maps each task to its metrics, plus `baselines`, `single_task` (when
    `RUN/single_task/<task>/` runs exist) with `comparison` (`compare_with_single_task`:
    where the multi-task model is ahead, behind or level) and `latency`. `trained` is the
    run's `load_trained_model`, when already loaded. A run trained from an examples folder
    (`data.examples`) is evaluated on its test shards.
    """
    paths = RunPaths(run_dir)
    config, model, statistics, catalogue = trained or load_trained_model(run_dir)
    if prepared is None and config.data.examples:
        from mtrec_tf.data.examples_dir import ExamplesDir

        source = ExamplesDir.open(config.data.examples)
        test = source.table("test", limit=EVALUATION_TEST_EXAMPLES)
        without_histories = [name for name in source.column_names() if not name.startswith("history_")]
        train = source.table("train", limit=BASELINE_TRAIN_EXAMPLES, columns=without_histories)
        test_part = source.count("test")
    else:
        prepared = prepared or prepare_configured(config)
        test, train = prepared.examples.parts["test"], prepared.examples.parts["train"]
        test_part = test.num_rows
    item_categories = catalogue.category[1:]
    # Every model of the run reads the same test examples: convert them once.
    arrays = table_to_arrays(test, config.data.history_length)

    report: dict = evaluate_model(model, config, statistics, test, item_categories, exclude_seen, arrays=arrays)
    with progress.step("baselines") as done:
        report["baselines"] = baseline_metrics(config, statistics, train, test, item_categories, exclude_seen,
                                               test_arrays=arrays)
        done.report(f"{len(report['baselines'])} tasks on {test.num_rows:,} examples", test.num_rows, "examples")
    single = {}
    for task in config.tasks:
        task_run = join(paths.root, SINGLE_TASK_DIR, task.name)
        if exists(task_run):
            task_config, task_model, _, _ = load_trained_model(task_run)
            single.update(evaluate_model(task_model, task_config, statistics, test, item_categories, exclude_seen,
                                         arrays=arrays))
    task_types = {task.name: task.type for task in config.tasks}
    if single:
        report["single_task"] = single
        report["comparison"] = compare_with_single_task(report, task_types)
    with progress.step("measuring forward latency"):
        report["latency"] = forward_latency(model, test, config.data.history_length)
    report["test_examples"] = {"evaluated": test.num_rows, "in_test_part": test_part}
    write_json_atomic(paths.metrics, _json_safe(report))

    if exists(paths.history):
        history = read_json(paths.history)["epochs"]
        plot_training_curves(history, list(task_types), join(paths.root, "training_curves.png"))
    plot_comparison(report, task_types, join(paths.root, "multi_vs_single.png"))
    return report


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_report(report: dict, task_types: dict[str, str]) -> str:
    """A plain-text table: one block per task, multi-task next to single-task and baseline;
    a metric where the multi-task model is behind its single-task model is marked."""
    lines = []
    comparison = compare_with_single_task(report, task_types)
    for name, kind in task_types.items():
        if name not in report:
            continue
        columns = [("multi-task", report[name])]
        if name in report.get("single_task", {}):
            columns.append(("single-task", report["single_task"][name]))
        if name in report.get("baselines", {}):
            columns.append(("baseline", report["baselines"][name]))
        lines.append(f"{name} ({kind}; headline {task_type(kind).headline})")
        lines.append(f"  {'metric':16}" + "".join(f"{title:>14}" for title, _ in columns))
        for metric in report[name]:
            cells = "".join(f"{_cell(values.get(metric)):>14}" for _, values in columns)
            marked = comparison.get(name, {}).get(metric, {}).get("verdict") == BEHIND
            lines.append(f"  {metric:16}{cells}" + ("  << behind single-task" if marked else ""))
        lines.append("")
    behind = behind_metrics(comparison)
    if behind:
        lines.append(f"multi-task behind single-task on {len(behind)} metric(s): {', '.join(behind)}")
    latency = report.get("latency", {})
    if latency:
        lines.append("latency of one forward pass: " +
                     ", ".join(f"{k} {v:.1f}" for k, v in latency.items()))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.4f}"

