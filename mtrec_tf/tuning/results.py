"""What a search leaves in its output folder.

    DIR/config.yaml          the resolved configuration of the search
    DIR/search/              keras-tuner's project: oracle.json and one trial_<id>/ per trial,
                             holding trial.json, validation.json and run/ (the trial's training run)
    DIR/results.csv          one row per trial: task weights, other hyperparameters, each
                             task's validation metrics, the objective, seconds, error
    DIR/tradeoff.png         the two most weighted tasks' metrics, one point per trial
    DIR/best_config.yaml     the best trial's configuration, for `mtrec train --config`
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mtrec_tf.config import Config, dump_config
from mtrec_tf.io_utils import write_bytes_atomic, write_text_atomic
from mtrec_tf.tuning.objective import MAXIMISE, Objective, metric_direction
from mtrec_tf.tuning.search_space import EMBEDDING_DIM, HYPERBAND_EPOCHS, LEARNING_RATE, UNITS, SearchSpace

COMPLETED = "COMPLETED"


@dataclasses.dataclass(frozen=True)
class SearchPaths:
    """Paths inside a search's output folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def project(self) -> Path:
        return self.root / "search"

    @property
    def oracle(self) -> Path:
        return self.project / "oracle.json"

    @property
    def results(self) -> Path:
        return self.root / "results.csv"

    @property
    def tradeoff(self) -> Path:
        return self.root / "tradeoff.png"

    @property
    def best_config(self) -> Path:
        return self.root / "best_config.yaml"

    def trial(self, trial_id: str) -> Path:
        return self.project / f"trial_{trial_id}"

    def trial_run(self, trial_id: str) -> Path:
        return self.trial(trial_id) / "run"


def trial_config(config: Config, space: SearchSpace, values: Mapping[str, Any], final: bool = False) -> Config:
    """The configuration a trial trains; `final` keeps `training.epochs` (no hyperband budget)."""
    if final:
        values = {name: value for name, value in values.items() if not name.startswith("tuner/")}
    return space.apply(config, values)


def trial_rows(trials: Sequence[Any], config: Config, space: SearchSpace,
               reported: Sequence[str]) -> list[dict[str, Any]]:
    """One row per `keras_tuner` trial, in trial order."""
    rows = []
    for trial in sorted(trials, key=lambda t: int(t.trial_id)):
        values = trial.hyperparameters.values
        trained = trial_config(config, space, values)
        row: dict[str, Any] = {"trial": trial.trial_id, "status": trial.status}
        row.update({f"weight.{task.name}": task.weight for task in trained.tasks})
        applied = {LEARNING_RATE: trained.training.learning_rate, EMBEDDING_DIM: trained.model.embedding_dim,
                   UNITS: trained.model.text_units, HYPERBAND_EPOCHS: trained.training.epochs}
        row.update({name: value for name, value in applied.items() if name in values})
        for name in (*reported, "objective", "seconds"):
            row[name] = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
        if trial.status != COMPLETED:
            row["objective"] = None
        row["error"] = last_error_line(trial.message)
        rows.append(row)
    return rows


def last_error_line(message: str | None) -> str:
    """The exception line of a traceback (its last non-empty line), or ""."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """The rows as CSV; the columns are the union of the rows' keys, in order of appearance."""
    columns: list[str] = []
    for row in rows:
        columns += [name for name in row if name not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or ["trial"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})
    write_text_atomic(path, buffer.getvalue())


def plot_tradeoff(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], task_types: Mapping[str, str],
                  objective: Objective, path: str | Path) -> None:
    """A scatter of the completed trials on the two metrics `keys`, coloured by objective, with the
    non-dominated trials joined and the best one starred. One key: the metric against the trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [row for row in rows if row["status"] == COMPLETED and row.get("objective") is not None]
    figure, axis = plt.subplots(figsize=(5.6, 4.4))
    if len(keys) == 2:
        x_key, y_key = keys
        xs = [_number(row.get(x_key)) for row in done]
        axis.set_xlabel(f"{x_key} ({_direction_label(x_key, task_types)})")
    else:
        x_key, y_key = "trial", keys[0]
        xs = [float(int(row["trial"])) for row in done]
        axis.set_xlabel("trial")
    ys = [_number(row.get(y_key)) for row in done]
    axis.set_ylabel(f"{y_key} ({_direction_label(y_key, task_types)})")
    if done:
        scores = [float(row["objective"]) for row in done]
        points = axis.scatter(xs, ys, c=scores, cmap="viridis", s=36, zorder=2)
        figure.colorbar(points, ax=axis, label="objective")
        for x, y, row in zip(xs, ys, done):
            axis.annotate(str(row["trial"]), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        best = max(range(len(done)), key=lambda i: scores[i])
        axis.scatter([xs[best]], [ys[best]], marker="*", s=220, facecolors="none", edgecolors="crimson",
                     linewidths=1.5, zorder=3, label=f"best: trial {done[best]['trial']}")
        if len(keys) == 2:
            front = _pareto_front(xs, ys, [_is_max(key, task_types) for key in keys])
            axis.plot([xs[i] for i in front], [ys[i] for i in front], "--", color="gray", lw=1, zorder=1,
                      label="not dominated")
        axis.legend(fontsize=7, loc="best")
    else:
        axis.text(0.5, 0.5, "no completed trial", ha="center", va="center", transform=axis.transAxes)
    axis.set_title(f"Validation trade-off, {len(done)} trials\nobjective: {objective.text}", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _is_max(key: str, task_types: Mapping[str, str]) -> bool:
    task, _, metric = key.partition(".")
    return metric_direction(task, task_types[task], metric) == MAXIMISE


def _direction_label(key: str, task_types: Mapping[str, str]) -> str:
    return "higher is better" if _is_max(key, task_types) else "lower is better"


def _pareto_front(xs: Sequence[float], ys: Sequence[float], maximise: Sequence[bool]) -> list[int]:
    """Indices of the points that no other point beats on both metrics, sorted by x."""
    sx, sy = (1.0 if maximise[0] else -1.0), (1.0 if maximise[1] else -1.0)
    finite = [i for i in range(len(xs)) if math.isfinite(xs[i]) and math.isfinite(ys[i])]

    def dominated(i: int) -> bool:
        return any(sx * xs[j] >= sx * xs[i] and sy * ys[j] >= sy * ys[i]
                   and (xs[j], ys[j]) != (xs[i], ys[i]) for j in finite)

    return sorted((i for i in finite if not dominated(i)), key=lambda i: xs[i])


def write_best_config(config: Config, path: str | Path, trial_id: str, score: float, objective: Objective) -> None:
    """The best configuration as YAML that `mtrec train --config` and `load_config` read as it is."""
    header = (f"# The best trial ({trial_id}) of `mtrec tune`: validation objective {score:.6g}\n"
              f"# objective: {objective.text}\n")
    write_text_atomic(path, header + dump_config(config))


def format_rows(rows: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """The best `limit` completed rows as a plain-text table, objective first."""
    done = sorted((row for row in rows if row.get("objective") is not None), key=lambda r: -float(r["objective"]))
    if not done:
        return "no completed trial"
    columns = ["trial", "objective"] + [name for name in done[0]
                                        if name not in ("trial", "objective", "status", "error")]
    widths = {name: max(len(name), 8) for name in columns}
    lines = ["  ".join(f"{name:>{widths[name]}}" for name in columns)]
    for row in done[:limit]:
        lines.append("  ".join(f"{_cell(row.get(name)):>{widths[name]}}" for name in columns))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
