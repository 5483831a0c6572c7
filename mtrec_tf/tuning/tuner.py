"""`mtrec tune`: a keras-tuner search over task loss weights, on one machine or several.

keras-tuner 1.4.8 rejects tf-keras models from its stock tuners, so `TaskWeightTuner`
subclasses `keras_tuner.Tuner` with its own `run_trial` (DESIGN.md §1): a trial is
`mtrec_tf.training.fit.train` on the trial's configuration, so it gets the callbacks, early
stopping and metrics of `mtrec train`, then `evaluate_model` on the validation part, scored by
`tuning.objective`. The data are prepared once per process, not once per trial.

Distributed tuning uses keras-tuner's own chief and workers: every process runs the same
command with `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT` and its own `KERASTUNER_TUNER_ID`
("chief" for the one that holds the oracle, anything else for a worker). The chief serves trials
and, once all are done, writes the results; the workers run trials.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras_tuner

from mtrec_tf.backend import keras
from mtrec_tf.config import Config, ConfigError, dump_config, load_config, to_dict
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.prepare import PreparedData, prepare_configured
from mtrec_tf.io_utils import write_json_atomic, write_text_atomic
from mtrec_tf.models import MultiTaskModel
from mtrec_tf.training.fit import load_trained_model, run_catalogue, train
from mtrec_tf.training.scoring import KS, evaluate_model
from mtrec_tf.tuning.objective import Objective, parse_objective, reported_metrics, tradeoff_metrics
from mtrec_tf.tuning.results import (
    COMPLETED,
    SearchPaths,
    format_rows,
    last_error_line,
    plot_tradeoff,
    trial_config,
    trial_rows,
    write_best_config,
    write_csv,
)
from mtrec_tf.tuning.search_space import SearchSpace

ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
SINGLE, CHIEF, WORKER = "single", "chief", "worker"
# keras-tuner stops a search after this many failed trials in a row.
MAX_CONSECUTIVE_FAILURES = 3
_CONSECUTIVE_FAILURES_MESSAGE = "Number of consecutive failures exceeded the limit"


class TuningError(RuntimeError):
    """A search produced no usable result; the message names the trial and its error."""


def tuning_role(environ: Mapping[str, str] = os.environ) -> str:
    """"single", or "chief" / "worker" of a distributed search (keras-tuner's variables)."""
    if ENV_ORACLE_IP not in environ:
        return SINGLE
    for name in (ENV_ORACLE_PORT, ENV_TUNER_ID):
        if not environ.get(name):
            raise ConfigError(f"{ENV_ORACLE_IP} is set, so this is a distributed search, but {name} is not; "
                              f"set {ENV_ORACLE_IP}, {ENV_ORACLE_PORT} and {ENV_TUNER_ID} in every process")
    # keras-tuner's own rule: a tuner id containing "chief" holds the oracle.
    return CHIEF if "chief" in environ[ENV_TUNER_ID] else WORKER


def objective_of(config: Config) -> Objective:
    """The configured objective (or equal weights over the headline metrics)."""
    return parse_objective(config.tuning.objective, {task.name: task.type for task in config.tasks})


def train_and_validate(config: Config, run_dir: Path, prepared: PreparedData, catalogue: Catalogue,
                       validation_arrays: dict | None, ks: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """Trains `config` into `run_dir` as `mtrec train` does; returns its validation metrics by task."""
    result = train(config, run_dir, prepared=prepared, catalogue=catalogue, verbose=0)
    validation = prepared.examples.parts["validation"]
    return evaluate_model(result.model, config, prepared.statistics, validation, catalogue.category[1:],
                          ks=ks, arrays=validation_arrays)


class TaskWeightTuner(keras_tuner.Tuner):
    """A keras-tuner `Tuner` whose trials are `mtrec train` runs scored on validation metrics.

    Args:
        config: the search's configuration; each trial changes what `space` names.
        space: the searched hyperparameters.
        objective: the score of a trial, from its validation metrics.
        oracle: the keras-tuner oracle (random, Bayesian or hyperband).
        paths: the search's output folder.
        prepared: the prepared data (None on a distributed chief, which runs no trial).
        catalogue: the catalogue arrays of `prepared`.
        verbose: print one line per trial.
    """

    def __init__(self, config: Config, space: SearchSpace, objective: Objective, oracle: keras_tuner.Oracle,
                 paths: SearchPaths, prepared: PreparedData | None = None, catalogue: Catalogue | None = None,
                 verbose: int = 1) -> None:
        super().__init__(oracle=oracle, directory=str(paths.root), project_name=paths.project.name, overwrite=False)
        self.config = config
        self.space = space
        self.objective = objective
        self.paths = paths
        self.prepared = prepared
        self.catalogue = catalogue
        self.verbose = verbose
        self.task_types = {task.name: task.type for task in config.tasks}
        self.reported = reported_metrics(objective, self.task_types)
        self.ks = tuple(sorted(set(KS) | set(objective.ks)))
        self.trials_run: list[str] = []
        self.errors: dict[str, BaseException] = {}
        self._validation_arrays: dict | None = None
        if prepared is not None:
            validation = prepared.examples.parts["validation"]
            if not validation.num_rows:
                raise ConfigError("tuning scores trials on the validation part, which is empty: "
                                  "raise data.split.validation_fraction")
            self._validation_arrays = table_to_arrays(validation, config.data.history_length)

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Trains the trial's configuration and returns its objective and validation metrics."""
        if self.prepared is None or self.catalogue is None:
            raise TuningError("this tuner has no data to run trials with")
        values = trial.hyperparameters.values
        config = trial_config(self.config, self.space, values)
        self.trials_run.append(trial.trial_id)
        keras.backend.clear_session()
        gc.collect()
        start = time.perf_counter()
        try:
            metrics = train_and_validate(config, self.paths.trial_run(trial.trial_id), self.prepared,
                                         self.catalogue, self._validation_arrays, self.ks)
            score = self.objective.value(metrics)
        except Exception as error:
            self.errors[trial.trial_id] = error
            if self.verbose:
                print(f"trial {trial.trial_id} ({self.tuner_id}) failed: {type(error).__name__}: {error}", flush=True)
            raise
        seconds = time.perf_counter() - start
        reported = {key: metrics[key.partition(".")[0]][key.partition(".")[2]] for key in self.reported}
        write_json_atomic(self.paths.trial(trial.trial_id) / "validation.json", _json_safe({
            "tuner_id": self.tuner_id, "hyperparameters": dict(values),
            "weights": {task.name: task.weight for task in config.tasks},
            "objective": score, "metrics": metrics, "seconds": seconds,
        }))
        if self.verbose:
            weights = ", ".join(f"{task.name} {task.weight:.3g}" for task in config.tasks)
            shown = ", ".join(f"{key} {value:.4f}" for key, value in reported.items())
            print(f"trial {trial.trial_id} ({self.tuner_id}): objective {score:.4f}; {shown}; "
                  f"weights {weights}; {seconds:.0f} s", flush=True)
        return {self.objective.name: score, **reported, "seconds": seconds}

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Nothing to do: the trial's run directory already holds its weights."""

    def load_model(self, trial: keras_tuner.engine.trial.Trial) -> MultiTaskModel:
        """The trained model of a trial, from its run directory."""
        return load_trained_model(self.paths.trial_run(trial.trial_id)).model


def make_oracle(config: Config, space: SearchSpace, objective: Objective) -> keras_tuner.Oracle:
    """The oracle that `tuning.tuner` names, over `space`, maximising `objective`."""
    hyperparameters = keras_tuner.HyperParameters()
    space.declare(hyperparameters)
    tuning = config.tuning
    common: dict[str, Any] = {
        "objective": keras_tuner.Objective(objective.name, direction="max"),
        "hyperparameters": hyperparameters,
        "seed": config.seed or 1,  # keras-tuner draws a random seed for 0
        "max_consecutive_failed_trials": MAX_CONSECUTIVE_FAILURES,
    }
    if tuning.tuner == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=tuning.max_trials, **common)
    if tuning.tuner == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=tuning.max_trials, **common)
    # Hyperband brackets run until max_trials trials; the longest trials train training.epochs.
    oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=config.training.epochs, factor=tuning.hyperband_factor,
                                                 hyperband_iterations=None, **common)
    oracle.max_trials = tuning.max_trials
    return oracle


@dataclasses.dataclass
class SearchResult:
    """What `run_search` did.

    Args:
        role: "single", "chief" or "worker".
        paths: the output folder.
        trials_run: the trials this process trained.
        rows: one row per trial (single and chief).
        best_trial: the best trial's id (single and chief).
        best_score: its objective.
        best_config: its configuration, as written to `best_config.yaml`.
    """

    role: str
    paths: SearchPaths
    trials_run: list[str]
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_trial: str | None = None
    best_score: float | None = None
    best_config: Config | None = None

    def summary(self) -> str:
        if self.role == WORKER:
            return f"ran trials {', '.join(self.trials_run) or 'none'}"
        return format_rows(self.rows)


def search_config_path(output_dir: str | os.PathLike) -> Path:
    """Where a search keeps its configuration (what `--resume` starts from)."""
    return SearchPaths(Path(output_dir)).config


def run_search(config: Config, output_dir: str | os.PathLike, resume: bool = False,
               prepared: PreparedData | None = None, catalogue: Catalogue | None = None,
               verbose: int = 1) -> SearchResult:
    """Searches `config.tuning`'s space and writes the results into `output_dir`.

    Args:
        config: the resolved configuration; its `tuning` section says what to search.
        output_dir: the search's folder (see `mtrec_tf.tuning.results`).
        resume: continue the search in `output_dir` (up to `tuning.max_trials` in all).
        prepared: already prepared data (default: loaded as `config.data` says).
        catalogue: the catalogue arrays of `prepared`, when already built.
        verbose: print one line per trial.

    Raises:
        TuningError: no trial succeeded (with the first trial's error), or keras-tuner stopped
            the search after failed trials in a row.
        FileExistsError / FileNotFoundError: a search is already there without `resume`, or
            there is none to resume.
        ConfigError: the tuning section cannot be searched, or differs from the resumed search's.
    """
    paths = SearchPaths(Path(output_dir))
    role = tuning_role()
    objective = objective_of(config)
    space = SearchSpace.from_config(config)
    if role != WORKER:
        _check_output_dir(paths, config, resume)
        write_text_atomic(paths.config, dump_config(config))
    if role != CHIEF:
        if prepared is None:
            prepared = prepare_configured(config)
        catalogue = run_catalogue(config, prepared, catalogue)
    else:
        prepared, catalogue = None, None

    tuner = TaskWeightTuner(config, space, objective, make_oracle(config, space, objective), paths,
                            prepared=prepared, catalogue=catalogue, verbose=verbose)
    stopped: RuntimeError | None = None
    try:
        tuner.search(verbose=0)
    except RuntimeError as error:
        if _CONSECUTIVE_FAILURES_MESSAGE not in str(error):
            raise
        stopped = error
    if role == WORKER:
        return SearchResult(role, paths, tuner.trials_run)

    trials = list(tuner.oracle.trials.values())
    completed = [trial for trial in trials if trial.status == COMPLETED]
    if not completed:
        raise _no_success_error(tuner, trials) from _first_exception(tuner, trials)
    task_types = {task.name: task.type for task in config.tasks}
    rows = trial_rows(trials, config, space, reported_metrics(objective, task_types))
    write_csv(rows, paths.results)
    plot_tradeoff(rows, tradeoff_metrics(objective, task_types), task_types, objective, paths.tradeoff)
    best = tuner.oracle.get_best_trials(1)[0]
    best_config = trial_config(config, space, best.hyperparameters.values, final=True)
    write_best_config(best_config, paths.best_config, best.trial_id, best.score, objective)
    if stopped is not None:
        raise TuningError(f"keras-tuner stopped the search after {MAX_CONSECUTIVE_FAILURES} failed trials in a row "
                          f"(results so far are in {paths.root}); the last error: "
                          f"{last_error_line(str(stopped))}") from stopped
    return SearchResult(role, paths, tuner.trials_run, rows, best.trial_id, best.score, best_config)


def _check_output_dir(paths: SearchPaths, config: Config, resume: bool) -> None:
    exists = paths.oracle.exists()
    if exists and not resume:
        raise FileExistsError(f"{paths.root} already holds a search; pass --resume to continue it, "
                              "or choose another --output-dir")
    if resume and not exists:
        raise FileNotFoundError(f"--resume: {paths.root} holds no search to continue ({paths.oracle} is missing)")
    if resume and paths.config.exists():
        difference = _first_difference(to_dict(load_config(paths.config)), to_dict(config))
        if difference:
            raise ConfigError(f"--resume: the configuration differs from the search's ({paths.config}) at "
                              f"{difference}; only tuning.max_trials may change")


def _first_difference(saved: dict, new: dict, prefix: str = "") -> str | None:
    for key in list(saved) + [k for k in new if k not in saved]:
        name = f"{prefix}{key}"
        if name == "tuning.max_trials":
            continue
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, prefix=f"{name}.")
            if found:
                return found
        elif a != b:
            return f"{name}: {a!r} there, {b!r} here"
    return None


def _first_failed(trials: list) -> Any:
    return min(trials, key=lambda trial: int(trial.trial_id)) if trials else None


def _no_success_error(tuner: TaskWeightTuner, trials: list) -> TuningError:
    first = _first_failed(trials)
    if first is None:
        return TuningError("the search ran no trial: the oracle stopped at once (is the search space exhausted, "
                           "or tuning.max_trials already reached?)")
    error = tuner.errors.get(first.trial_id)
    what = f"{type(error).__name__}: {error}" if error is not None else last_error_line(first.message)
    if not what:
        what = f"it ended {first.status} without an error message"
    return TuningError(f"no trial succeeded ({len(trials)} failed); the first, trial {first.trial_id}, "
                       f"failed with {what}")


def _first_exception(tuner: TaskWeightTuner, trials: list) -> BaseException | None:
    first = _first_failed(trials)
    return tuner.errors.get(first.trial_id) if first is not None else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
