"""`mtrec train`: prepare the data, build the model, fit it, and keep everything in a run."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from mtrec_tf import progress
from mtrec_tf.backend import keras, tf
from mtrec_tf.config import Config, ConfigError
from mtrec_tf.data.catalogue import IMAGE_SIZE, Catalogue, build_catalogue
from mtrec_tf.data.catalogue_images import ImageFile, ImageFileWriter
from mtrec_tf.data.examples import label_counts
from mtrec_tf.data.inspect import data_quality, format_quality
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.positions import PositionSelection, select_position_examples
from mtrec_tf.data.prepare import PreparedData, prepare_configured
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.embeddings.warm_start import apply_warm_start
from mtrec_tf.features.columns import table_columns
from mtrec_tf.features.statistics import describe_features
from mtrec_tf.io_utils import (
    as_path,
    basename,
    exists,
    is_url,
    join,
    makedirs,
    parent,
    remove,
    rename,
    rmtree,
    write_json_atomic,
)
from mtrec_tf.models import ModelData, MultiTaskModel, encodes_items
from mtrec_tf.tasks import task_type
from mtrec_tf.training.callbacks import EpochHistory, StopOnNaNTaskLoss
from mtrec_tf.training.distribution import is_chief, worker_files, worker_temp_dir
from mtrec_tf.training.optimizers import LazyAdam, ScaledRateAdam
from mtrec_tf.training.ranking_validation import (
    EarlyStoppingThatNamesItsEpoch,
    ranking_metric_names,
    ranking_validation,
)
from mtrec_tf.training.run_dir import RunPaths, load_run_inputs, save_run_inputs

VALIDATION_BATCH_SIZE = 1024
# A run trained from shards computes its ranking validation metrics on the first validation
# examples, as many as this (its validation losses on all of them).
RANKING_VALIDATION_EXAMPLES = 100_000


@dataclasses.dataclass
class TrainingResult:
    """What a training run produced."""

    run_dir: Path | str
    model: MultiTaskModel
    prepared: PreparedData | None  # None: trained from shards (`data.examples`)
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
    """Fails, naming every task whose label has no training example, and the `--tasks` that
    would train the others."""
    check_tasks_against_labels(config, label_counts(prepared.examples.parts["train"]))


def check_tasks_against_labels(config: Config, labelled: dict[str, int]) -> None:
    """`check_tasks_against_data` from the training examples' counts per label."""
    missing: dict[str, str] = {}
    for task in config.tasks:
        if task.label not in labelled:
            missing[task.name] = (f"{task.name!r} learns label {task.label!r}, which the data does not provide "
                                  f"(labels: {', '.join(labelled)})")
        elif not labelled[task.label]:
            missing[task.name] = f"{task.name!r}: no training example has a {task.label!r} label"
    if not missing:
        return
    rest = [task.name for task in config.tasks if task.name not in missing]
    advice = (f"train the others with --tasks {','.join(rest)}" if rest
              else "no configured task can be trained on these data")
    raise ConfigError(f"{len(missing)} of {len(config.tasks)} tasks cannot learn from these data:\n  "
                      + "\n  ".join(missing.values()) + f"\n{advice}")


def training_examples(config: Config, examples: pa.Table) -> tuple[pa.Table, list[PositionSelection]]:
    """The examples training reads: with a task that trains all positions, its label's
    examples reduced to one per history stretch, and no example that carries no task's label
    (`mtrec_tf.data.positions`)."""
    selections = []
    labels = [task.label for task in config.tasks]
    for task in config.tasks:
        if task_type(task.type).all_positions(task, config.model):
            selections.append(select_position_examples(examples, task.label, labels,
                                                       config.data.event_types.next_item))
            examples = selections[-1].table
    return examples, selections


def run_catalogue(config: Config, prepared: PreparedData, catalogue: Catalogue | None = None) -> Catalogue:
    """The catalogue arrays a run of `config` keeps: `catalogue` (or those of `prepared`'s
    items), without the image array when no task encodes items."""
    return _catalogue(config, prepared.statistics, prepared.data.items, catalogue)


def _catalogue(config: Config, statistics: DataStatistics, items: pd.DataFrame | None,
               catalogue: Catalogue | None, images: bool = True) -> Catalogue:
    wanted = encodes_items(config.tasks)
    if catalogue is None:
        assert items is not None
        return build_catalogue(items, statistics, config.model.max_title_tokens, images=wanted and images,
                               features=config.features)
    return catalogue if wanted else dataclasses.replace(catalogue, image=None)


def _reads_images(config: Config) -> bool:
    """Whether the model's item tower reads the catalogue's images."""
    return encodes_items(config.tasks) and any(f.kind == "image" and f.table == "items" for f in config.features)


def _image_file_path(paths: RunPaths) -> str:
    """Where a run from shards decodes the catalogue's images (`catalogue_images`): its own
    `vocab/` when local, else this machine's temporary folder (`save_run_inputs` copies it)."""
    target = paths.catalogue_images
    if is_url(target):
        target = os.path.join(tempfile.mkdtemp(prefix="mtrec-images-"), os.path.basename(target))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return target


@dataclasses.dataclass
class TrainingData:
    """What training reads: examples prepared in memory, or the shards of an examples folder
    (`data.examples`), whose training part is streamed.

    Attributes:
        statistics: the training statistics.
        quality: what reading the tables did (`inspect.data_quality`'s keys).
        report: the examples' counts per part and kind, and what was skipped.
        labelled: training examples that carry each label.
        train: the training examples: a table, or shard files.
        train_rows: how many.
        validation: the validation examples, in memory; from shards, the first
            `RANKING_VALIDATION_EXAMPLES` of them, for the ranking validation.
        validation_files: from shards, the validation shards, which the validation loss streams.
        items: the catalogue table (None when the catalogue is given).
        prepared: the prepared data, for examples in memory.
        image_file: from shards, the catalogue's images decoded while the table was read.
    """

    statistics: DataStatistics
    quality: dict
    report: dict
    labelled: dict[str, int]
    train: pa.Table | list[str]
    train_rows: int
    validation: pa.Table
    items: pd.DataFrame | None
    prepared: PreparedData | None = None
    validation_files: list[str] | None = None
    image_file: ImageFile | None = None

    @classmethod
    def in_memory(cls, prepared: PreparedData) -> TrainingData:
        examples = prepared.examples
        train = examples.parts["train"]
        return cls(prepared.statistics, data_quality(prepared.data),
                   {"counts": examples.report.counts, "skipped": examples.report.skipped}, label_counts(train),
                   train, train.num_rows, examples.parts["validation"], prepared.data.items, prepared)

    @classmethod
    def from_shards(cls, config: Config, items: bool = True, image_file: str | None = None) -> TrainingData:
        """The examples folder `config.data.examples` names; with `items`, its catalogue table
        read without the images, which are decoded into `image_file` (a local path) if given."""
        from mtrec_tf.data.examples_dir import ExamplesDir
        from mtrec_tf.data.readers import read_table

        assert config.data.examples is not None
        source = ExamplesDir.open(config.data.examples)
        summary, statistics = source.summary, source.statistics()
        table = images = None
        if items:
            assert config.data.items is not None  # the examples were built from tables
            writer = ImageFileWriter(image_file, statistics, IMAGE_SIZE) if image_file else None
            with progress.step("reading the catalogue" + (" and decoding its images" if writer else "")) as done, \
                    writer or contextlib.nullcontext():
                table, _ = read_table(config.data.items, "items", bad_rows=config.data.bad_rows,
                                      extra_columns=table_columns(config.features, "items"), image_bytes=False,
                                      images=writer.add if writer else None)
                done.report(f"{len(table):,} items", len(table), "items")
            images = ImageFile(image_file) if image_file else None
        return cls(statistics, {"data_quality": summary["tables"],
                                         "unknown_item_events": summary["unknown_item_events"]},
                   {"counts": summary["examples"], "skipped": summary["skipped"]}, source.labels("train"),
                   source.files("train"), source.count("train"),
                   source.table("validation", limit=RANKING_VALIDATION_EXAMPLES), table,
                   validation_files=source.files("validation") or None, image_file=images)


def build_model(config: Config, statistics: DataStatistics, catalogue: Catalogue,
                total_steps: int = 0) -> MultiTaskModel:
    """The compiled model of a configuration; `total_steps`, the training steps of the run,
    sets the length of a decaying learning rate (`training.learning_rate_schedule`)."""
    model = MultiTaskModel(config.tasks, config.model,
                           ModelData(statistics, catalogue, history_length=config.data.history_length,
                                     features=config.features,
                                     history_searches=config.data.history_includes_searches))
    _compile(model, config, total_steps)
    return model


def make_optimizer(config: Config, total_steps: int = 0) -> ScaledRateAdam:
    """The configured optimizer (`training.optimizer`) at `training.learning_rate`, decayed
    over `total_steps` as `training.learning_rate_schedule` says (constant without them)."""
    training = config.training
    optimizer = LazyAdam if training.optimizer == "lazy_adam" else ScaledRateAdam
    rate: float | keras.optimizers.schedules.LearningRateSchedule = training.learning_rate
    if training.learning_rate_schedule == "cosine" and total_steps > 0:
        rate = keras.optimizers.schedules.CosineDecay(training.learning_rate, total_steps)
    return optimizer(rate)


def _compile(model: MultiTaskModel, config: Config, total_steps: int = 0) -> None:
    # Masks arrive as per-task sample weights; the model weighs them itself.
    model.compile(optimizer=make_optimizer(config, total_steps), weighted_metrics=[])


def load_trained_model(run_dir: str | os.PathLike) -> TrainedRun:
    """The model of a finished run with its final weights, and what it was built from."""
    paths = RunPaths(run_dir)
    config, statistics, catalogue = load_run_inputs(run_dir)
    if not exists(paths.final_weights + ".index"):
        raise FileNotFoundError(f"{run_dir} has no final weights ({paths.final_weights}): did training finish?")
    model = build_model(config, statistics, catalogue)
    model.load_weights(paths.final_weights).expect_partial()
    return TrainedRun(config, model, statistics, catalogue)


def train(config: Config, run_dir: str | os.PathLike, prepared: PreparedData | None = None,
          verbose: int | str = "auto",
          extra_callbacks: Sequence[keras.callbacks.Callback] = (),
          catalogue: Catalogue | None = None, strategy: tf.distribute.Strategy | None = None,
          checkpoint_dir: str | None = None, log_dir: str | None = None,
          overwrite: bool = False) -> TrainingResult:
    """Trains the configured tasks and writes the run directory.

    Under a multi-worker strategy every worker runs this with the same arguments; the chief
    writes the run directory, the other workers write into a temporary folder of their own
    that they delete at the end (saving may need every worker, so all of them save).

    Args:
        config: the resolved configuration.
        run_dir: the run directory, local or a URL such as `gs://...` (created; an interrupted
            run in it resumes).
        prepared: already prepared data; by default it is loaded as `config.data` says.
        verbose: Keras verbosity (progress bar by default).
        extra_callbacks: more Keras callbacks for `fit`.
        catalogue: the catalogue arrays of `prepared`, when already built.
        strategy: the distribution strategy, made at process start (default: the current one).
        checkpoint_dir: epoch checkpoints and the backup for resuming (default: `run_dir/checkpoints`).
        log_dir: TensorBoard logs (default: `run_dir/logs`).
        overwrite: train a finished run again from scratch (its exports are kept); without
            it a finished run is refused.

    Raises:
        FileExistsError: `run_dir` holds a finished run and `overwrite` is False.
    """
    strategy = strategy or tf.distribute.get_strategy()
    # Keras callbacks take the shared paths and send non-chief workers elsewhere themselves.
    shared = RunPaths(run_dir, checkpoint_dir, log_dir)
    chief = is_chief(strategy)
    _claim_run(shared, overwrite=overwrite, clear=chief)
    paths = shared if chief else RunPaths(worker_temp_dir(run_dir, strategy))
    makedirs(paths.root)
    keras.utils.set_random_seed(config.seed)
    read_here = prepared is None
    if config.data.examples and prepared is None:
        image_file = _image_file_path(paths) if catalogue is None and _reads_images(config) else None
        data = TrainingData.from_shards(config, items=catalogue is None, image_file=image_file)
    else:
        data = TrainingData.in_memory(prepared or prepare_configured(config))
    statistics = data.statistics
    if read_here and chief:
        print(format_quality(data.quality), flush=True)
    check_tasks_against_labels(config, data.labelled)
    # A table read from shards holds image markers, not images: those are in `data.image_file`.
    catalogue = _catalogue(config, statistics, data.items, catalogue, images=data.prepared is not None)
    if data.image_file is not None and catalogue.has_image.any():
        catalogue = dataclasses.replace(catalogue, image=data.image_file)
    elif data.image_file is not None:  # no item has an image: nothing to read
        os.remove(data.image_file.filename)
    save_run_inputs(paths, config, statistics, catalogue)
    train_examples, selections = _training_examples(config, data.train)
    if chief and verbose != 0:
        for selection in selections:
            print(selection.line(), flush=True)
    write_json_atomic(paths.data_report, {**data.quality, "examples": {
        **data.report, "all_positions": {s.label: {"examples": s.examples, "histories": s.histories,
                                                   "without_history": s.without_history} for s in selections}}})

    training = config.training
    # The batch size is the global batch: a strategy splits each batch among its replicas. With
    # several workers, each reads its own shard files where there are enough, else every
    # worker keeps its share of each batch (DATA sharding, the same seeded order everywhere).
    sharded = False
    if isinstance(train_examples, list):
        every_file = len(train_examples)
        train_examples, sharded = worker_files(train_examples, strategy)
        if sharded and verbose != 0:
            print(f"this worker reads {len(train_examples)} of the {every_file} training shard files: "
                  f"{', '.join(basename(path) for path in train_examples)}", flush=True)
    train_data = make_dataset(
        train_examples, batch_size=training.batch_size,
        history_length=config.data.history_length, shuffle_buffer=training.shuffle_buffer,
        seed=config.seed, repeat=training.steps_per_epoch > 0, length_sorted_batches=training.length_sorted_batches,
        example_type_batches=training.example_type_batches,
    )
    train_data = train_data.with_options(_unsharded()) if sharded else _distributable(train_data)
    train_rows = train_examples.num_rows if isinstance(train_examples, pa.Table) else data.train_rows
    validation = data.validation
    validation_data = None
    if validation.num_rows:
        validation_data = _distributable(make_dataset(data.validation_files or validation,
                                                      batch_size=VALIDATION_BATCH_SIZE,
                                                      history_length=config.data.history_length))

    steps = training.steps_per_epoch or -(-train_rows // training.batch_size)
    total_steps = training.epochs * steps  # the length of a decaying learning rate
    with strategy.scope():
        model = build_model(config, statistics, catalogue, total_steps)
        # Weights exist before fit so that a backup can be restored into them; in replica
        # context, where a strategy lets the metrics it syncs be updated.
        strategy.run(model.build_from_batch, args=(next(iter(train_data)),))
        if config.model.init_embeddings and apply_warm_start(model, config.model, statistics):
            _compile(model, config, total_steps)  # frozen tables leave the trainable variables
        model.optimizer.scale_rates(model.rate_scaled_weights)
    if chief and verbose != 0 and model.encodes_items:
        print(f"item tower reads: {', '.join(model.item_features())} ({_item_data(catalogue)})", flush=True)
    if chief and verbose != 0 and config.features:
        print("features:\n  " + "\n  ".join(describe_features(config.features, statistics.features)),
              flush=True)
    epoch_history = EpochHistory(paths.history)
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=validation_data,
        epochs=training.epochs,
        steps_per_epoch=training.steps_per_epoch or None,
        callbacks=(_callbacks(config, shared, statistics, validation, catalogue) + [epoch_history]
                   + list(extra_callbacks)),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    _save_weights_atomically(model, paths.final_weights)
    # Every epoch of the run, those before a resume included.
    logs = epoch_history.history
    epochs_run = len(next(iter(history.history.values()), []))
    rate = epochs_run * steps * training.batch_size / seconds if seconds > 0 else 0.0
    write_json_atomic(paths.history, {"epochs": logs, "seconds": seconds, "examples_per_second": rate})
    if not chief:
        rmtree(paths.root)
    return TrainingResult(as_path(shared.root), model, data.prepared, logs, seconds, rate, catalogue)


def _item_data(catalogue: Catalogue) -> str:
    """How many items have each text feature and an image, in words."""
    rows = catalogue.size - 1
    texts = [f"{int((tokens[1:] > 0).any(axis=1).sum()):,} a {name}" for name, tokens in catalogue.texts.items()]
    return f"of {rows:,} items, {', '.join(texts + [f'{int(catalogue.has_image[1:].sum()):,} an image'])}"


def _claim_run(paths: RunPaths, overwrite: bool, clear: bool) -> None:
    """Refuses a finished run unless `overwrite`; then (where `clear`) removes what training
    wrote, keeping the exports."""
    if not exists(paths.final_weights + ".index"):
        return
    if not overwrite:
        raise FileExistsError(
            f"{paths.root} holds a finished run (it has {paths.final_weights}); give --overwrite to train "
            "it again from scratch, or another --output-dir"
        )
    if clear:
        for path in (paths.checkpoints, join(paths.root, "checkpoints"), paths.logs, paths.history,
                     paths.metrics, paths.data_report, join(paths.root, "single_task")):
            remove(path)


def _training_examples(config: Config, train: pa.Table | list[str]
                       ) -> tuple[pa.Table | list[str], list[PositionSelection]]:
    """`training_examples` of a table; shard files as they are, all-position training refused."""
    if isinstance(train, pa.Table):
        return training_examples(config, train)
    for task in config.tasks:
        if task_type(task.type).all_positions(task, config.model):
            raise ConfigError(f"task {task.name!r} trains on all positions of the history, which selects among the "
                              f"whole training part: train it from the tables, or from shards with "
                              f"--set tasks.{task.name}.positions=last")
    return train, []


def _unsharded() -> tf.data.Options:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return options


def _distributable(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def train_with_single_tasks(config: Config, run_dir: str | os.PathLike, single_task: bool = False,
                            verbose: int | str = "auto", strategy: tf.distribute.Strategy | None = None,
                            checkpoint_dir: str | None = None, log_dir: str | None = None,
                            overwrite: bool = False) -> TrainingResult:
    """Trains the multi-task model and, with `single_task`, the same architecture once per task
    into `RUN/single_task/<task>/`, on the same prepared data (arguments as for `train`)."""
    from mtrec_tf.config import select_tasks

    result = train(config, run_dir, verbose=verbose, strategy=strategy, checkpoint_dir=checkpoint_dir,
                   log_dir=log_dir, overwrite=overwrite)
    if single_task and len(config.tasks) > 1:
        for task in config.tasks:
            part = join("single_task", task.name)
            train(select_tasks(config, [task.name]), join(run_dir, part), prepared=result.prepared,
                  verbose=verbose, catalogue=result.catalogue, strategy=strategy,
                  checkpoint_dir=join(checkpoint_dir, part) if checkpoint_dir else None,
                  log_dir=join(log_dir, part) if log_dir else None)
    return result


def _callbacks(config: Config, paths: RunPaths, statistics: DataStatistics, validation: pa.Table,
               catalogue: Catalogue) -> list[keras.callbacks.Callback]:
    training = config.training
    every = training.checkpoint_every_steps
    callbacks: list[keras.callbacks.Callback] = []
    ranking = ranking_validation(config, statistics, validation, catalogue.category[1:])
    if ranking is not None:
        callbacks.append(ranking)  # first: the callbacks after it read its metrics in the epoch's logs
    callbacks += [
        StopOnNaNTaskLoss([task.name for task in config.tasks]),
        keras.callbacks.BackupAndRestore(paths.backup, save_freq=every or "epoch", delete_checkpoint=True),
        keras.callbacks.ModelCheckpoint(join(paths.checkpoints, "epoch-{epoch:03d}", "weights"),
                                        save_weights_only=True, save_freq="epoch"),
        keras.callbacks.TensorBoard(paths.logs, write_graph=False, profile_batch=0),
    ]
    if every:
        callbacks.append(keras.callbacks.ModelCheckpoint(join(paths.checkpoints, "latest-step", "weights"),
                                                         save_weights_only=True, save_freq=every))
    if training.early_stopping_metric:
        if not validation.num_rows:
            raise ConfigError(
                f"training.early_stopping_metric is {training.early_stopping_metric!r} but the split has "
                "no validation part"
            )
        callbacks.append(EarlyStoppingThatNamesItsEpoch(training.early_stopping_metric, training.early_stopping_mode,
                                                        training.patience, ranking_metric_names(config)))
    return callbacks


def _save_weights_atomically(model: keras.Model, prefix: str) -> None:
    """Writes a TF checkpoint into a temporary folder, then renames the folder into place."""
    folder = parent(prefix)
    staging = join(parent(folder), f".{basename(folder)}.tmp")
    rmtree(staging)
    model.save_weights(join(staging, basename(prefix)))
    if exists(folder):
        retired = join(parent(folder), f".{basename(folder)}.old")
        rmtree(retired)
        rename(folder, retired)
        rename(staging, folder)
        rmtree(retired)
    else:
        rename(staging, folder)
