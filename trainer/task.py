"""`python -m trainer.task`: `mtrec train` for Vertex AI custom jobs (container or Python package).

It takes the arguments of `mtrec train` and reads the environment Vertex AI sets:

    AIP_MODEL_DIR             the export goes to AIP_MODEL_DIR/<model name>/<version>/
    AIP_CHECKPOINT_DIR        epoch checkpoints and the backup a preempted job resumes from
    AIP_TENSORBOARD_LOG_DIR   TensorBoard logs
    TF_CONFIG, CLUSTER_SPEC   the cluster: a chief and workers train with MultiWorkerMirroredStrategy

The run directory is `--output-dir`, else the folder above AIP_MODEL_DIR (the job's base output
directory). Every path may be `gs://...`. Only the chief writes the run files, metrics, plots and
the export. Hyperparameter tuning passes `--KEY=VALUE`: a configuration key (dots or `__`
between its parts) becomes a `--set` override, and the chief reports `--hypertune-metric`
through cloudml-hypertune when it is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mtrec_tf import progress
from mtrec_tf.config import ConfigError
from mtrec_tf.errors import DataValidationError, OpAuditError
from trainer.cli import add_train_arguments, export_options, print_report, resolve_train_config

if TYPE_CHECKING:
    from mtrec_tf.training.fit import TrainingResult


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.task", allow_abbrev=False,
        description="mtrec train for Vertex AI: reads AIP_MODEL_DIR, AIP_CHECKPOINT_DIR, "
                    "AIP_TENSORBOARD_LOG_DIR and TF_CONFIG or CLUSTER_SPEC.")
    add_train_arguments(parser, output_dir_required=False)
    parser.add_argument("--hypertune-metric", metavar="NAME",
                        help="report this metric to hyperparameter tuning: TASK.METRIC of metrics.json "
                             "(next_item.recall@50) or a training history key (val_loss; last epoch)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments; `--KEY=VALUE` with a configuration key is taken as `--set KEY=VALUE`."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = []
    for item in extra:
        key, sep, value = item[2:].partition("=") if item.startswith("--") else ("", "", "")
        if not sep or not key:
            parser.error(f"unrecognized argument {item!r} (configuration values: --set KEY=VALUE or --KEY=VALUE)")
        overrides.append(f"{key.replace('__', '.')}={value}")
    args.set = list(args.set) + overrides
    return args


def run_dir_of(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """`--output-dir`, else the job's base output directory (the folder above AIP_MODEL_DIR)."""
    from mtrec_tf.io_utils import parent

    if args.output_dir:
        return args.output_dir
    if environ.get("AIP_MODEL_DIR"):
        return parent(environ["AIP_MODEL_DIR"])
    raise ConfigError("trainer.task needs --output-dir, or AIP_MODEL_DIR set by a Vertex AI job")


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> TrainingResult:
    """Runs the job (`mtrec_tf.job.run_job`): trains; on the chief, evaluates, exports and
    reports the tuning metric.

    Returns:
        The `TrainingResult` of this process (every worker holds the same weights).
    """
    from mtrec_tf.training.distribution import make_strategy, resolve_cluster

    environ = os.environ if environ is None else environ
    cluster = resolve_cluster(environ)
    run_dir = run_dir_of(args, environ)
    config = resolve_train_config(args)
    if args.hypertune_metric and "." in args.hypertune_metric and args.no_evaluate:
        raise ConfigError(f"--hypertune-metric {args.hypertune_metric} reads the evaluation: drop --no-evaluate")
    # Before anything else runs a TensorFlow op: collectives are configured at start-up.
    strategy = make_strategy(cluster)

    from mtrec_tf.job import JobOptions, run_job

    where = f"{cluster.task_type} {cluster.task_index}" if cluster.task_type else "single process"
    print(f"trainer.task: {where}, {strategy.num_replicas_in_sync} replica(s) in sync "
          f"({type(strategy).__name__}); run: {run_dir}", flush=True)
    export = None
    if not args.no_export:
        export = dataclasses.replace(export_options(args), export_dir=environ.get("AIP_MODEL_DIR") or None)
    job = run_job(config, run_dir, JobOptions(
        single_task=args.single_task, evaluate=not args.no_evaluate, export=export, overwrite=args.overwrite,
        verbose=2, strategy=strategy, checkpoint_dir=environ.get("AIP_CHECKPOINT_DIR") or None,
        log_dir=environ.get("AIP_TENSORBOARD_LOG_DIR") or None))
    result = job.training
    epochs = len(result.history.get("loss", []))
    print(f"trainer.task: {where} trained {epochs} epoch(s) in {result.seconds:.1f} s "
          f"({result.examples_per_second:,.0f} examples/s)", flush=True)
    if not job.chief:
        return result
    if job.report is not None:
        print_report(job.report, config, run_dir)
    if job.exported is not None:
        print(f"trainer.task: exported {args.model_name} version {job.exported.version} to {job.exported.path}",
              flush=True)
    if args.hypertune_metric:
        report_metric(args.hypertune_metric, metric_value(args.hypertune_metric, job.report, result.history), epochs)
    return result


def metric_value(name: str, report: dict | None, history: dict[str, list[float]]) -> float:
    """`TASK.METRIC` of the evaluation report, or the last epoch's value of a history key."""
    task, dot, metric = name.partition(".")
    if dot:
        if report is None:
            raise ConfigError(f"--hypertune-metric {name} reads the evaluation: drop --no-evaluate")
        if metric not in report.get(task, {}):
            sections = ("baselines", "single_task", "comparison", "latency")
            known = [f"{t}.{m}" for t, values in report.items() if t not in sections
                     and isinstance(values, dict) for m in values]
            raise ConfigError(f"--hypertune-metric {name} is not in the evaluation; metrics: {', '.join(known)}")
        return float(report[task][metric])
    if not history.get(name):
        raise ConfigError(f"--hypertune-metric {name} is not in the training history; keys: {', '.join(history)}")
    return float(history[name][-1])


def report_metric(name: str, value: float, step: int) -> bool:
    """Reports to Vertex AI hyperparameter tuning; False when cloudml-hypertune is not installed."""
    try:
        import hypertune
    except ImportError:
        print(f"trainer.task: {name} = {value:.6g} (cloudml-hypertune is not installed: not reported)")
        return False
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=name, metric_value=value, global_step=step)
    print(f"trainer.task: reported {name} = {value:.6g} to hyperparameter tuning")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m trainer.task`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    try:
        with progress.shown():
            run(args)
        return 0
    except (ConfigError, DataValidationError, FileNotFoundError, FileExistsError, OpAuditError) as error:
        print(f"trainer.task: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
