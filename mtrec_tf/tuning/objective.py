"""The tuning objective: a weighted sum of validation task metrics, each in its own direction.

    objective = sum_i c_i * s_i * metric_i,    s_i = +1 (AUC, accuracy, Recall@K, ...)
                                                s_i = -1 (log loss, RMSE)

written as text, for example "0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy",
or as a mapping {"ctr.auc": 0.4, ...}. The coefficients c_i are positive: the direction comes
from the metric, so "0.2 * ctr.logloss" rewards a lower log loss. The objective is maximised,
on the validation part, never on `val_loss`.

No TensorFlow here: `mtrec_tf.config` validates objectives with this module.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from mtrec_tf.errors import ConfigError
from mtrec_tf.tasks import MAXIMISE, task_type

OBJECTIVE_NAME = "objective"
FIELD = "tuning.objective"

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(
    rf"\s*(?:(?P<coefficient>{_NUMBER})\s*\*\s*)?(?P<task>[^\s.*+@]+)\.(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:@\d+)?)\s*"
)
_EXAMPLE = "'0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy'"


@dataclasses.dataclass(frozen=True)
class Term:
    """One `coefficient * task.metric` term.

    Args:
        task: the task's name.
        metric: a metric of the task, such as "auc" or "recall@50".
        coefficient: its positive weight in the objective.
        direction: "max" when higher is better, "min" when lower is.
    """

    task: str
    metric: str
    coefficient: float
    direction: str

    @property
    def key(self) -> str:
        return f"{self.task}.{self.metric}"

    @property
    def signed_coefficient(self) -> float:
        return self.coefficient if self.direction == MAXIMISE else -self.coefficient


@dataclasses.dataclass(frozen=True)
class Objective:
    """A weighted sum of validation task metrics to maximise.

    Args:
        terms: the terms, in the order written.

    Example:

    >>> objective = parse_objective("0.5 * ctr.auc + 0.5 * ctr.logloss", {"ctr": "binary"})
    >>> round(objective.value({"ctr": {"auc": 0.8, "logloss": 0.3}}), 4)
    0.25
    """

    terms: tuple[Term, ...]
    name: str = OBJECTIVE_NAME

    @property
    def text(self) -> str:
        return canonical_objective({term.key: term.coefficient for term in self.terms})

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks of the terms, the most weighted first (ties: in the order written)."""
        totals: dict[str, float] = {}
        for term in self.terms:
            totals[term.task] = totals.get(term.task, 0.0) + term.coefficient
        order = list(totals)
        return tuple(sorted(totals, key=lambda task: (-totals[task], order.index(task))))

    @property
    def ks(self) -> tuple[int, ...]:
        """The cutoffs K that the terms' retrieval metrics need."""
        return tuple(sorted({int(term.metric.partition("@")[2]) for term in self.terms if "@" in term.metric}))

    def value(self, metrics: Mapping[str, Mapping[str, float]]) -> float:
        """The objective of per-task metrics `{task: {metric: value}}`.

        Raises:
            ValueError: a term's metric is missing, NaN or infinite.
        """
        total = 0.0
        for term in self.terms:
            value = metrics.get(term.task, {}).get(term.metric)
            if value is None:
                raise ValueError(f"the objective needs {term.key}, which the validation metrics lack")
            if not math.isfinite(value):
                raise ValueError(f"the objective's {term.key} is {value} on the validation part "
                                 f"(AUC, for one, needs positive and negative examples)")
            total += term.signed_coefficient * float(value)
        return total


def metric_direction(task: str, kind: str, metric: str) -> str:
    """"max" or "min" for a metric of a task of type `kind`; a ConfigError names an unknown one."""
    direction = task_type(kind).metric_direction(metric)
    if direction is None:
        raise ConfigError(f"{FIELD}: task {task!r} ({kind}) has no metric {metric!r}; "
                          f"its metrics: {', '.join(task_type(kind).metric_names())}")
    return direction


def headline(kind: str) -> str:
    """The metric a task of type `kind` is judged by when the objective does not say."""
    return task_type(kind).headline


def objective_terms(value: str | Mapping[str, Any]) -> dict[str, float]:
    """The `{"task.metric": coefficient}` of an objective's text or mapping (syntax only)."""
    if isinstance(value, Mapping):
        pairs = []
        for key, coefficient in value.items():
            match = _TERM.fullmatch(str(key))
            if not match or match.group("coefficient"):
                raise ConfigError(f"{FIELD}: {key!r} is not a task.metric name such as 'ctr.auc'")
            name = f"{match.group('task')}.{match.group('metric')}"
            pairs.append((name, _coefficient(name, coefficient)))
        return _no_duplicates(pairs)
    if not isinstance(value, str):
        raise ConfigError(f"{FIELD} must be text such as {_EXAMPLE}, or a mapping from task.metric to its "
                          f"weight; got {value!r}")
    if not value.strip():
        return {}
    pairs = []
    position = 0
    while True:
        match = _TERM.match(value, position)
        rest = value[position:].strip()
        if not match:
            _check_no_subtraction(value, rest)
            what = f"cannot read {rest!r}" if rest else "a term is missing after the last '+'"
            raise ConfigError(f"{FIELD}: {what} in {value!r}; write terms like {_EXAMPLE}")
        key = f"{match.group('task')}.{match.group('metric')}"
        pairs.append((key, _coefficient(key, match.group("coefficient") or 1.0)))
        position = match.end()
        if position == len(value):
            break
        if value[position] != "+":
            rest = value[position:].strip()
            _check_no_subtraction(value, rest)
            raise ConfigError(f"{FIELD}: expected '+' before {rest!r} in {value!r}")
        position += 1
    return _no_duplicates(pairs)


def _check_no_subtraction(value: str, rest: str) -> None:
    if rest.startswith("-"):
        raise ConfigError(f"{FIELD}: {value!r} subtracts; write positive weights only: each metric keeps its "
                          f"own direction (log loss and RMSE count negatively by themselves)")


def _coefficient(key: Any, raw: Any) -> float:
    try:
        coefficient = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{FIELD}: the weight of {key} must be a number, got {raw!r}") from None
    if isinstance(raw, bool) or not math.isfinite(coefficient) or coefficient <= 0:
        raise ConfigError(f"{FIELD}: the weight of {key} must be a positive number, got {raw!r}")
    return coefficient


def _no_duplicates(pairs: list[tuple[str, float]]) -> dict[str, float]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"{FIELD}: {key} appears twice")
    return dict(pairs)


def canonical_objective(value: str | Mapping[str, Any]) -> str:
    """The objective as normalised text: "0.4 * ctr.auc + 0.6 * query_category.accuracy"."""
    return " + ".join(f"{coefficient:.12g} * {key}" for key, coefficient in objective_terms(value).items())


def parse_objective(value: str | Mapping[str, Any], task_types: Mapping[str, str]) -> Objective:
    """The objective, checked against the tasks `{name: type}`; "" weighs headline metrics equally.

    Raises:
        ConfigError: naming `tuning.objective` and the unknown task or metric.
    """
    terms = objective_terms(value)
    if not terms:
        return default_objective(task_types)
    parsed = []
    for key, coefficient in terms.items():
        task, _, metric = key.partition(".")
        if task not in task_types:
            raise ConfigError(f"{FIELD}: {key} names task {task!r}, which is not a task; "
                              f"tasks: {', '.join(task_types)}")
        parsed.append(Term(task, metric, coefficient, metric_direction(task, task_types[task], metric)))
    return Objective(tuple(parsed))


def default_objective(task_types: Mapping[str, str]) -> Objective:
    """Every task's headline metric, weighted equally."""
    if not task_types:
        raise ConfigError(f"{FIELD}: there are no tasks to score")
    share = 1.0 / len(task_types)
    return Objective(tuple(Term(task, headline(kind), share, metric_direction(task, kind, headline(kind)))
                           for task, kind in task_types.items()))


def reported_metrics(objective: Objective, task_types: Mapping[str, str]) -> tuple[str, ...]:
    """The `task.metric` names a trial reports: each task's headline metric, then the objective's
    other metrics of that task, task by task in configuration order."""
    names: list[str] = []
    for task, kind in task_types.items():
        for key in [f"{task}.{headline(kind)}"] + [term.key for term in objective.terms if term.task == task]:
            if key not in names:
                names.append(key)
    return tuple(names)


def tradeoff_metrics(objective: Objective, task_types: Mapping[str, str]) -> tuple[str, ...]:
    """The `task.metric` of the two most weighted tasks of the objective (one if there is one task):
    each task's most weighted term, or its headline metric for a task outside the objective."""
    tasks = list(objective.tasks) + [task for task in task_types if task not in objective.tasks]
    keys = []
    for task in tasks[:2]:
        terms = sorted((term for term in objective.terms if term.task == task), key=lambda t: -t.coefficient)
        keys.append(terms[0].key if terms else f"{task}.{headline(task_types[task])}")
    return tuple(keys)
