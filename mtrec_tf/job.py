"""A configured job from start to end: train, then evaluate and export, as `mtrec train` and the
Vertex AI entrypoint (`python -m trainer.task`) both run it.

Every process of a distributed job trains; only the chief evaluates and exports, so the run
files are written once.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from mtrec_tf.config import Config
from serving.contract import DEFAULT_MODEL_NAME

if TYPE_CHECKING:
    from mtrec_tf.backend import tf
    from mtrec_tf.export import ExportResult
    from mtrec_tf.training.fit import TrainedRun, TrainingResult


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Where and how a run is exported.

    Args:
        export_dir: the folder of model names (default: `RUN/export`); the version goes to
            `export_dir/<model_name>/<version>/`.
        model_name, version, target, top_k: as `mtrec export` takes them (version None: next).
    """

    export_dir: str | None = None
    model_name: str = DEFAULT_MODEL_NAME
    version: int | None = None
    target: str = "tfserving"
    top_k: int = 100


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """What a job does beside training.

    Args:
        single_task: also train the same architecture once per task, for comparison.
        evaluate: evaluate on the test split (metrics.json and plots).
        export: an `ExportOptions`, or None not to export.
        overwrite: train a finished run again from scratch.
        verbose: Keras's verbosity.
        strategy: the distribution strategy (default: the default strategy).
        checkpoint_dir, log_dir: elsewhere than in the run directory (Vertex AI sets both).
    """

    single_task: bool = False
    evaluate: bool = True
    export: ExportOptions | None = dataclasses.field(default_factory=ExportOptions)
    overwrite: bool = False
    verbose: int | str = "auto"
    strategy: tf.distribute.Strategy | None = None
    checkpoint_dir: str | None = None
    log_dir: str | None = None


@dataclasses.dataclass
class JobResult:
    """What a job produced: the training, and on the chief the evaluation report and the export."""

    training: TrainingResult
    chief: bool
    report: dict[str, Any] | None = None
    exported: ExportResult | None = None


def run_job(config: Config, run_dir: str | os.PathLike, options: JobOptions = JobOptions()) -> JobResult:
    """Trains `config` into `run_dir`; on the chief, then evaluates and exports as `options` say."""
    from mtrec_tf.training.distribution import is_chief
    from mtrec_tf.training.fit import train_with_single_tasks

    training = train_with_single_tasks(
        config, run_dir, single_task=options.single_task, verbose=options.verbose, strategy=options.strategy,
        checkpoint_dir=options.checkpoint_dir, log_dir=options.log_dir, overwrite=options.overwrite)
    result = JobResult(training, chief=is_chief(options.strategy))
    if not result.chief or not (options.evaluate or options.export):
        return result
    from mtrec_tf.training.fit import load_trained_model

    trained = load_trained_model(run_dir)  # the final weights, loaded once for both
    if options.evaluate:
        from mtrec_tf.evaluation.report import evaluate_run

        result.report = evaluate_run(run_dir, prepared=training.prepared, trained=trained)
    if options.export is not None:
        result.exported = export_run(run_dir, options.export, trained)
    return result


def export_run(run_dir: str | os.PathLike, options: ExportOptions = ExportOptions(),
               trained: TrainedRun | None = None) -> ExportResult:
    """Exports a finished run's final weights as a new SavedModel version; the TF Serving
    configuration goes to `RUN/serving`. `trained`: the run's `load_trained_model`, when loaded."""
    from mtrec_tf.export import export_model
    from mtrec_tf.io_utils import join
    from mtrec_tf.training.fit import load_trained_model

    trained = trained or load_trained_model(run_dir)
    return export_model(
        trained.model, trained.statistics, trained.catalogue, trained.config.data.history_length,
        options.export_dir or join(run_dir, "export"), model_name=options.model_name, version=options.version,
        target=options.target, top_k=options.top_k, serving_dir=join(run_dir, "serving"))
