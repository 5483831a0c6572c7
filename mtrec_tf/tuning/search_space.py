"""The hyperparameters `mtrec tune` searches, and the configuration of a trial's values.

Task loss weights are searched one of two ways (`tuning.weights`; "fixed" keeps them as configured):

- "log": each searched task's weight is log-uniform in `tuning.weight_range`
  (hyperparameter `weight.<task>`);
- "simplex": each searched task draws `share.<task>` uniform in [0, 1], and

      w_t = n * e_t / sum_s e_s,    e_t = -ln(share_t),    n = number of searched tasks,

  which is uniform on the simplex scaled to sum n (a Dirichlet(1, ..., 1) draw), so equal
  weights are all 1.

Optionally also `learning_rate` (log-uniform), `embedding_dim` and `units` (choices). Under
the hyperband tuner a trial trains for keras-tuner's `tuner/epochs`.

No TensorFlow or keras-tuner import here: `declare` fills a `keras_tuner.HyperParameters`
that the caller makes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mtrec_tf.config import Config, ConfigError

WEIGHT = "weight."
SHARE = "share."
LEARNING_RATE = "learning_rate"
EMBEDDING_DIM = "embedding_dim"
UNITS = "units"
HYPERBAND_EPOCHS = "tuner/epochs"
_SHARE_FLOOR = 1e-6  # keeps -ln(share) finite


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a search varies.

    Args:
        tasks: the tasks whose loss weights are searched (empty when `weights` is "fixed").
        weights: "log", "simplex" or "fixed".
        weight_range: (low, high) of the "log" search.
        learning_rate: () or (low, high).
        embedding_dim: choices of `model.embedding_dim`.
        units: choices of `model.text_units` and `model.history_units`.
    """

    tasks: tuple[str, ...]
    weights: str
    weight_range: tuple[float, ...]
    learning_rate: tuple[float, ...] = ()
    embedding_dim: tuple[int, ...] = ()
    units: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> SearchSpace:
        """The space that `config.tuning` declares; a ConfigError says why it cannot be searched."""
        tuning = config.tuning
        tasks: tuple[str, ...] = ()
        if tuning.weights != "fixed":
            if config.model.loss_weighting != "fixed":
                raise ConfigError(
                    f"tuning.weights is {tuning.weights!r} but model.loss_weighting is "
                    f"{config.model.loss_weighting!r}, which learns the weights itself; set "
                    "model.loss_weighting=fixed, or tuning.weights=fixed to search the other settings only")
            tasks = tuning.tasks or tuple(task.name for task in config.tasks)
            if tuning.weights == "simplex" and len(tasks) < 2:
                raise ConfigError(f"tuning.weights=simplex needs at least two tasks to share the weight; "
                                  f"searched tasks: {', '.join(tasks)}")
        space = cls(tasks, tuning.weights, tuple(tuning.weight_range), tuple(tuning.learning_rate),
                    tuple(tuning.embedding_dim), tuple(tuning.units))
        if not space.names:
            raise ConfigError("tuning: nothing to search: tuning.weights is fixed and tuning.learning_rate, "
                              "tuning.embedding_dim and tuning.units are empty")
        return space

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameter names, in declaration order."""
        prefix = {"log": WEIGHT, "simplex": SHARE}.get(self.weights)
        names = [prefix + task for task in self.tasks] if prefix else []
        for name in (LEARNING_RATE, EMBEDDING_DIM, UNITS):
            if getattr(self, name):
                names.append(name)
        return tuple(names)

    def declare(self, hp: Any) -> None:
        """Declares the space on a `keras_tuner.HyperParameters`."""
        low, high = self.weight_range
        for task in self.tasks:
            if self.weights == "log":
                hp.Float(WEIGHT + task, low, high, sampling="log", default=min(max(1.0, low), high))
            else:
                hp.Float(SHARE + task, 0.0, 1.0, default=0.5)
        if self.learning_rate:
            low, high = self.learning_rate
            hp.Float(LEARNING_RATE, low, high, sampling="log")
        if self.embedding_dim:
            hp.Choice(EMBEDDING_DIM, list(self.embedding_dim), ordered=True)
        if self.units:
            hp.Choice(UNITS, list(self.units), ordered=True)

    def task_weights(self, values: Mapping[str, Any]) -> dict[str, float]:
        """The loss weight of each searched task for hyperparameter `values`, to 6 significant digits."""
        if self.weights == "log":
            weights = {task: float(values[WEIGHT + task]) for task in self.tasks}
        elif self.weights == "simplex":
            draws = {task: -math.log(min(max(float(values[SHARE + task]), _SHARE_FLOOR), 1.0 - _SHARE_FLOOR))
                     for task in self.tasks}
            total = sum(draws.values())
            weights = {task: len(self.tasks) * draw / total for task, draw in draws.items()}
        else:
            weights = {}
        return {task: float(f"{weight:.6g}") for task, weight in weights.items()}

    def apply(self, config: Config, values: Mapping[str, Any]) -> Config:
        """`config` with a trial's hyperparameter values in place."""
        weights = self.task_weights(values)
        tasks = tuple(dataclasses.replace(task, weight=weights[task.name]) if task.name in weights else task
                      for task in config.tasks)
        model, training = config.model, config.training
        if EMBEDDING_DIM in values and self.embedding_dim:
            model = dataclasses.replace(model, embedding_dim=int(values[EMBEDDING_DIM]))
        if UNITS in values and self.units:
            model = dataclasses.replace(model, text_units=int(values[UNITS]), history_units=int(values[UNITS]))
        if LEARNING_RATE in values and self.learning_rate:
            training = dataclasses.replace(training, learning_rate=float(f"{float(values[LEARNING_RATE]):.6g}"))
        if HYPERBAND_EPOCHS in values:
            training = dataclasses.replace(training, epochs=int(values[HYPERBAND_EPOCHS]))
        return dataclasses.replace(config, tasks=tasks, model=model, training=training)
