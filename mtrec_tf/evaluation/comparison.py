"""Where the multi-task model stands against the single-task models, metric by metric."""

from __future__ import annotations

import math
from collections.abc import Mapping

from mtrec_tf.tasks import task_type

AHEAD, BEHIND, LEVEL = "ahead", "behind", "level"


def compare_with_single_task(report: Mapping[str, dict], task_types: Mapping[str, str]) -> dict[str, dict]:
    """For every task with a single-task run and every metric with a direction (higher or
    lower is better, `TaskType.metric_direction`; counts such as `examples` have none), the
    two values, the difference (multi-task minus single-task) and whether the multi-task
    model is `ahead`, `behind` or `level`. Metrics missing or not finite on either side are
    left out.

    >>> compare_with_single_task({"ctr": {"auc": 0.70, "logloss": 0.31, "examples": 9.0},
    ...                           "single_task": {"ctr": {"auc": 0.68, "logloss": 0.30, "examples": 9.0}}},
    ...                          {"ctr": "binary"})["ctr"]["logloss"]["verdict"]
    'behind'
    """
    single = report.get("single_task", {})
    comparison: dict[str, dict] = {}
    for task, kind in task_types.items():
        if task not in report or task not in single:
            continue
        rows = {}
        for metric, multi_value in report[task].items():
            direction = task_type(kind).metric_direction(metric)
            single_value = single[task].get(metric)
            if direction is None or not _finite(multi_value) or not _finite(single_value):
                continue
            difference = float(multi_value) - float(single_value)
            better = difference if direction == "max" else -difference
            rows[metric] = {"multi_task": float(multi_value), "single_task": float(single_value),
                            "difference": difference,
                            "verdict": AHEAD if better > 0 else BEHIND if better < 0 else LEVEL}
        comparison[task] = rows
    return comparison


def behind_metrics(comparison: Mapping[str, dict]) -> list[str]:
    """`task metric` of every metric where the multi-task model is behind."""
    return [f"{task} {metric}" for task, rows in comparison.items() for metric, row in rows.items()
            if row["verdict"] == BEHIND]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
