"""`mtrec train`: prepare the data, build the model, fit it, and keep everything in a run."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import pyarrow.compute as pc

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import Config, ConfigError
from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import PreparedData, load_configured_data, prepare_data
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.embeddings.warm_start import apply_warm_start
from mtrec_tf.io_utils import write_json_atomic
from mtrec_tf.models import ModelData, MultiTaskModel
from mtrec_tf.training.callbacks import StopOnNaNTaskLoss
from mtrec_tf.training.run_dir import RunPaths, load_run_inputs, save_run_inputs

VALIDATION_BATCH_SIZE = 1024


@dataclasses.dataclass
class TrainingResult:
    """What a training run produced."""

    run_dir: Path
    model: MultiTaskModel
    prepared: PreparedData
    history: dict[str, list[float]]
    seconds: float
    examples_per_second: float
    catalogue: Catalogue


class TrainedRun(NamedTuple):
    """A finished run loaded back: its configuration, model, statistics and catalogue."""

    config: Config
    model: MultiTaskModel
    statistics: DataStatistics
    catalogue: Catalogue


def check_tasks_against_data(config: Config, prepared: PreparedData) -> None:
    """Fails, naming the task, when a task's label has no training example at all."""
    train = prepared.examples.parts["train"]
    for task in config.tasks:
        column = f"mask_{task.label}"
        if column not in train.column_names:
            raise ConfigError(
                f"task {task.name!r} learns label {task.label!r}, which the data does not provide; "
                f"labels: {', '.join(c[5:] for c in train.column_names if c.startswith('mask_'))}"
            )
        if pc.sum(train.column(column)).as_py() in (None, 0):
            raise ConfigError(f"task {task.name!r}: no training example has a {task.label!r} label")


def build_model(config: Config, statistics: DataStatistics, catalogue: Catalogue) -> MultiTaskModel:
    """The compiled model of a configuration."""
    model = MultiTaskModel(config.tasks, config.model, ModelData(statistics, catalogue))
    _compile(model, config)
    return model


def _compile(model: MultiTaskModel, config: Config) -> None:
    # Masks arrive as per-task sample weights; the model weighs them itself.
    model.compile(optimizer=keras.optimizers.Adam(config.training.learning_rate), weighted_metrics=[])


def load_trained_model(run_dir: str | os.PathLike) -> TrainedRun:
    """The model of a finished run with its final weights, and what it was built from."""
    paths = RunPaths(Path(run_dir))
    config, statistics, catalogue = load_run_inputs(run_dir)
    if not paths.final_weights.with_suffix(".index").exists():
        raise FileNotFoundError(f"{run_dir} has no final weights ({paths.final_weights}): did training finish?")
    model = build_model(config, statistics, catalogue)
    model.load_weights(str(paths.final_weights)).expect_partial()
    return TrainedRun(config, model, statistics, catalogue)


def train(config: Config, run_dir: str | os.PathLike, prepared: PreparedData | None = None,
          verbose: int | str = "auto",
          extra_callbacks: Sequence[keras.callbacks.Callback] = (),
          catalogue: Catalogue | None = None) -> TrainingResult:
    """Trains the configured tasks and writes the run directory.

    Args:
        config: the resolved configuration.
        run_dir: the run directory (created; an interrupted run in it resumes).
        prepared: already prepared data; by default it is loaded as `config.data` says.
        verbose: Keras verbosity (progress bar by default).
        extra_callbacks: more Keras callbacks for `fit`.
        catalogue: the catalogue arrays of `prepared`, when already built.
    """
    paths = RunPaths(Path(run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    if prepared is None:
        prepared = prepare_data(load_configured_data(config.data), config.data, seed=config.seed)
    check_tasks_against_data(config, prepared)
    if catalogue is None:
        catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens)
    save_run_inputs(paths, config, prepared.statistics, catalogue)

    model = build_model(config, prepared.statistics, catalogue)
    training = config.training
    train_data = make_dataset(
        prepared.examples.parts["train"], batch_size=training.batch_size,
        history_length=config.data.history_length, shuffle_buffer=training.shuffle_buffer,
        seed=config.seed, repeat=training.steps_per_epoch > 0,
    )
    validation = prepared.examples.parts["validation"]
    validation_data = None
    if validation.num_rows:
        validation_data = make_dataset(validation, batch_size=VALIDATION_BATCH_SIZE,
                                       history_length=config.data.history_length)

    model.build_from_batch(next(iter(train_data)))  # so that a backup can be restored into the weights
    if config.model.init_embeddings and apply_warm_start(model, config.model, prepared.statistics):
        _compile(model, config)  # frozen tables leave the trainable variables
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=validation_data,
        epochs=training.epochs,
        steps_per_epoch=training.steps_per_epoch or None,
        callbacks=_callbacks(config, paths, has_validation=validation_data is not None) + list(extra_callbacks),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    _save_weights_atomically(model, paths.final_weights)
    logs = {name: [float(v) for v in values] for name, values in history.history.items()}
    epochs_run = len(next(iter(logs.values()), []))
    steps = training.steps_per_epoch or -(-prepared.examples.parts["train"].num_rows // training.batch_size)
    rate = epochs_run * steps * training.batch_size / seconds if seconds > 0 else 0.0
    write_json_atomic(paths.history, {"epochs": logs, "seconds": seconds, "examples_per_second": rate})
    return TrainingResult(paths.root, model, prepared, logs, seconds, rate, catalogue)


def train_with_single_tasks(config: Config, run_dir: str | os.PathLike, single_task: bool = False,
                            verbose: int | str = "auto") -> TrainingResult:
    """Trains the multi-task model and, with `single_task`, the same architecture once per task
    into `RUN/single_task/<task>/`, on the same prepared data."""
    from mtrec_tf.config import select_tasks

    result = train(config, run_dir, verbose=verbose)
    if single_task and len(config.tasks) > 1:
        for task in config.tasks:
            train(select_tasks(config, [task.name]), Path(run_dir) / "single_task" / task.name,
                  prepared=result.prepared, verbose=verbose, catalogue=result.catalogue)
    return result


def _callbacks(config: Config, paths: RunPaths, has_validation: bool) -> list[keras.callbacks.Callback]:
    training = config.training
    every = training.checkpoint_every_steps
    callbacks = [
        StopOnNaNTaskLoss([task.name for task in config.tasks]),
        keras.callbacks.BackupAndRestore(str(paths.backup), save_freq=every or "epoch",
                                         delete_checkpoint=True),
        keras.callbacks.ModelCheckpoint(str(paths.checkpoints / "epoch-{epoch:03d}" / "weights"),
                                        save_weights_only=True, save_freq="epoch"),
        keras.callbacks.TensorBoard(str(paths.logs), write_graph=False, profile_batch=0),
    ]
    if every:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(paths.checkpoints / "latest-step" / "weights"),
                                                         save_weights_only=True, save_freq=every))
    if training.early_stopping_metric:
        if not has_validation:
            raise ConfigError(
                f"training.early_stopping_metric is {training.early_stopping_metric!r} but the split has "
                "no validation part"
            )
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=training.early_stopping_metric, mode=training.early_stopping_mode,
            patience=training.patience, restore_best_weights=True,
        ))
    return callbacks


def _save_weights_atomically(model: keras.Model, prefix: Path) -> None:
    """Writes a TF checkpoint into a temporary folder, then renames the folder into place."""
    folder = prefix.parent
    staging = folder.with_name(f".{folder.name}.tmp")
    if staging.exists():
        tf.io.gfile.rmtree(str(staging))
    model.save_weights(str(staging / prefix.name))
    if folder.exists():
        retired = folder.with_name(f".{folder.name}.old")
        if retired.exists():
            tf.io.gfile.rmtree(str(retired))
        os.replace(folder, retired)
        os.replace(staging, folder)
        tf.io.gfile.rmtree(str(retired))
    else:
        os.replace(staging, folder)
