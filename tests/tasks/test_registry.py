"""The task registry: one object per task type, metric names and directions, baselines, and no
switch on the task type left outside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtrec_tf.config import TaskConfig
from mtrec_tf.tasks import MAXIMISE, MINIMISE, TASK_TYPES, OfflineData, task_type

REPO = Path(__file__).resolve().parents[2]


def test_every_type_is_judged_by_one_of_its_own_metrics():
    assert set(TASK_TYPES) == {"multiclass", "binary", "regression", "retrieval"}
    for kind in TASK_TYPES.values():
        assert kind.metric_direction(kind.headline) in (MAXIMISE, MINIMISE), kind.name


@pytest.mark.parametrize(("kind", "metric", "direction"), [
    ("binary", "logloss", MINIMISE), ("binary", "auc", MAXIMISE), ("regression", "rmse", MINIMISE),
    ("retrieval", "ndcg@7", MAXIMISE), ("retrieval", "ndcg@0", None), ("retrieval", "auc", None),
    ("multiclass", "recall@10", None),
])
def test_metric_directions(kind, metric, direction):
    assert task_type(kind).metric_direction(metric) == direction


def test_an_unknown_type_is_named():
    with pytest.raises(ValueError, match="unknown task type 'ranking'; known: multiclass, binary"):
        task_type("ranking")


def test_the_registry_imports_no_tensorflow():
    code = "import sys, mtrec_tf.tasks, mtrec_tf.config; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_no_switch_on_the_task_type_outside_the_registry():
    switch = re.compile(r"\.type\s*(==|!=)\s*[\"']|\.type\s+(not\s+)?in\s*[(\[{]")
    found = [f"{path.relative_to(REPO)}:{number}"
             for folder in ("mtrec_tf", "trainer", "serving")
             for path in sorted((REPO / folder).rglob("*.py")) if "tasks" not in path.parts
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if switch.search(line) and "dtype" not in line]
    assert not found, found


def test_the_binary_baseline_is_the_smoothed_rate_of_the_candidate_category(tiny_prepared):
    # Two categories; training rates 3/4 and 0/2, overall 1/2, smoothed with 10 pseudo-examples.
    stats = tiny_prepared.statistics
    items = list(stats.items[:2])
    item_categories = np.zeros(len(stats.items), dtype=np.int64)
    item_categories[0], item_categories[1] = 1, 2
    train = OfflineData({"label_ctr": np.array([1, 1, 1, 0, 0, 0], np.float32),
                         "item_id": np.array([items[0]] * 4 + [items[1]] * 2, object),
                         "user_id": np.array(["u"] * 6, object)}, stats, item_categories)
    test = OfflineData({"label_ctr": np.array([1, 0], np.float32), "item_id": np.array(items, object),
                        "user_id": np.array(["u", "v"], object)}, stats, item_categories)
    task = TaskConfig("ctr", "binary", "ctr", ("user", "item"))
    report = task_type("binary").baseline(task, train, np.arange(6), test, np.arange(2))
    first, second = (3 + 10 * 0.5) / (4 + 10), (0 + 10 * 0.5) / (2 + 10)
    assert first > second and report["auc"] == 1.0
    assert report["examples"] == 2 and report["positives"] == 1
