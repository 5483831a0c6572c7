"""The report table and metrics.json's JSON-safe values."""

from __future__ import annotations

import json
import math

import pytest

from mtrec_tf.evaluation.comparison import compare_with_single_task
from mtrec_tf.evaluation.report import _json_safe, format_report

REPORT = {
    "ctr": {"auc": 0.71234, "gauc": float("nan"), "examples": 12345.0},
    "next_item": {"recall@10": 0.25},
    "baselines": {"ctr": {"auc": 0.6, "gauc": 0.55, "examples": 12345.0}, "next_item": {"recall@10": 0.125}},
    "single_task": {"ctr": {"auc": 0.7, "gauc": 0.66, "examples": 12345.0}},
    "latency": {"latency_ms_b1": 2.345, "latency_ms_b256": 20.0},
}


def test_each_task_is_a_block_of_multi_task_single_task_and_baseline_columns():
    lines = format_report(REPORT, {"ctr": "binary", "next_item": "retrieval", "absent": "binary"}).splitlines()
    assert lines[0] == "ctr (binary; headline auc)"
    assert lines[1].split() == ["metric", "multi-task", "single-task", "baseline"]
    assert lines[2].split() == ["auc", "0.7123", "0.7000", "0.6000"]
    assert lines[3].split() == ["gauc", "-", "0.6600", "0.5500"]  # NaN is shown as "-"
    assert lines[4].split() == ["examples", "12,345", "12,345", "12,345"]
    block = lines[lines.index("next_item (retrieval; headline recall@50)"):]
    assert block[1].split() == ["metric", "multi-task", "baseline"]  # no single-task run of it
    assert block[2].split() == ["recall@10", "0.2500", "0.1250"]
    assert not any(line.startswith("absent") for line in lines)  # a task the report lacks is left out
    assert lines[-1] == "latency of one forward pass: latency_ms_b1 2.3, latency_ms_b256 20.0"


def test_non_finite_values_become_null_at_every_depth():
    safe = _json_safe({"a": {"b": float("nan"), "c": [1.0]}, "d": float("inf"), "e": 0.5})
    assert safe == {"a": {"b": None, "c": [1.0]}, "d": None, "e": 0.5}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
    assert math.isnan(REPORT["ctr"]["gauc"])  # the input is left as it was


def test_a_metric_where_multi_task_is_behind_is_marked_in_the_table_and_the_comparison():
    report = {
        "ctr": {"auc": 0.68, "logloss": 0.30, "gauc": 0.61, "examples": 100.0},
        "next_item": {"recall@50": 0.5, "coverage@50": 0.7},
        "single_task": {"ctr": {"auc": 0.70, "logloss": 0.32, "gauc": 0.61, "examples": 100.0},
                        "next_item": {"recall@50": 0.4, "coverage@50": 0.9}},
    }
    types = {"ctr": "binary", "next_item": "retrieval"}
    comparison = compare_with_single_task(report, types)
    assert comparison["ctr"]["auc"] == {"multi_task": 0.68, "single_task": 0.70, "difference": pytest.approx(-0.02),
                                        "verdict": "behind"}
    assert comparison["ctr"]["logloss"]["verdict"] == "ahead"  # lower is better
    assert comparison["ctr"]["gauc"]["verdict"] == "level"
    assert "examples" not in comparison["ctr"]  # a count has no direction
    assert comparison["next_item"]["coverage@50"]["verdict"] == "behind"
    lines = format_report(report, types).splitlines()
    assert lines[2].split() == ["auc", "0.6800", "0.7000", "<<", "behind", "single-task"]
    assert lines[3].split() == ["logloss", "0.3000", "0.3200"]
    assert lines[-1] == "multi-task behind single-task on 2 metric(s): ctr auc, next_item coverage@50"
