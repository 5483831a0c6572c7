"""PNG plots of a run: per-task training curves, and multi-task against single-task."""

from __future__ import annotations

import io
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mtrec_tf.io_utils import write_bytes_atomic  # noqa: E402
from mtrec_tf.tasks import task_type  # noqa: E402


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def plot_training_curves(history: dict[str, list[float]], task_names: list[str], path: str | os.PathLike) -> None:
    """One panel per task: training and validation loss per epoch."""
    columns = min(3, len(task_names))
    rows = math.ceil(len(task_names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, name in zip(axes.flat, task_names):
        for key, style in ((f"{name}_loss", "-"), (f"val_{name}_loss", "--")):
            if key in history:
                values = history[key]
                axis.plot(range(1, len(values) + 1), values, style, marker="o", label=key)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        if axis.lines:
            axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(task_names):]:
        axis.axis("off")
    figure.suptitle("Training curves")
    figure.tight_layout()
    _save(figure, path)


def plot_comparison(report: dict, task_types: dict[str, str], path: str | os.PathLike) -> None:
    """Each task's headline metric: multi-task, single-task and baseline side by side."""
    names = [n for n in task_types if n in report]
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for axis, name in zip(axes.flat, names):
        metric = task_type(task_types[name]).headline
        bars = {"multi-task": report[name].get(metric)}
        if name in report.get("single_task", {}):
            bars["single-task"] = report["single_task"][name].get(metric)
        if name in report.get("baselines", {}):
            bars["baseline"] = report["baselines"][name].get(metric)
        labels = [k for k, v in bars.items() if v is not None]
        values = [bars[k] for k in labels]
        axis.bar(labels, values, color=["#3a6ea5", "#e0a030", "#999999"][: len(labels)])
        for x, v in enumerate(values):
            axis.text(x, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        axis.set_title(f"{name}: {metric}")
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.suptitle("Multi-task against single-task and baselines (test split)")
    _save(figure, path)
