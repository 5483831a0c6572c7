"""The `mtrec` command line. It parses arguments and calls the library; no model code here.

Building the parser imports no TensorFlow, so `--help` and argument errors answer at once;
each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtrec_tf import progress
from mtrec_tf.config import (
    BAD_ROW_POLICIES,
    SAMPLE_EVENT_TYPE_SETS,
    SPLIT_METHODS,
    UNKNOWN_ITEM_POLICIES,
    Config,
    ConfigError,
)
from mtrec_tf.data.scale import BEAM_RUNNERS, RUNNERS
from mtrec_tf.errors import DataValidationError, OpAuditError

if TYPE_CHECKING:
    from mtrec_tf.data.event_types import EventTypes
    from mtrec_tf.data.readers import EcommerceData
    from mtrec_tf.export import ExportResult
    from mtrec_tf.job import ExportOptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtrec", description="Multi-task recommendation for e-commerce.")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="make, inspect and prepare data").add_subparsers(
        dest="data_command", required=True
    )
    sample = data.add_parser("sample", help="write the built-in sample shop")
    sample.add_argument("--out", required=True, help="output folder")
    sample.add_argument("--scale", type=int, default=1, help="size multiplier (1: about 1,000 users)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--format", default="parquet", choices=("parquet", "csv", "jsonl"))
    sample.add_argument("--event-types", default="default", choices=SAMPLE_EVENT_TYPE_SETS,
                        help="extended adds view and favorite events (train it with "
                             "configs/sample_extended_events.yaml, which declares them)")
    sample.set_defaults(handler=_data_sample)

    inspect = data.add_parser("inspect", help="validate tables and print a report")
    inspect.add_argument("paths", nargs="+", help="table files or folders (events, items, queries, users)")
    _add_validation_options(inspect)
    inspect.add_argument("--config", help="YAML configuration file (its data.event_types declare the event types)")
    inspect.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    inspect.add_argument("--json", help="also write the report as JSON to this file")
    inspect.add_argument("--suggest-features", metavar="FILE",
                         help="write a configuration inferred from the tables: the roles of the event types "
                              "found (data.event_types) and a `features:` section of their own columns")
    inspect.set_defaults(handler=_data_inspect)

    movielens = data.add_parser("movielens", help="write MovieLens 100K as events and items tables")
    movielens.add_argument("--out", required=True, help="output folder")
    movielens.add_argument("--data-dir", help="folder holding ml-100k/ (default: $MTREC_DATA_DIR or ../shared/data)")
    movielens.set_defaults(handler=_data_movielens)

    examples = data.add_parser("examples", help="split the events and write every task's examples")
    examples.add_argument("paths", nargs="*", help="table files or folders; none: the built-in sample")
    examples.add_argument("--out", required=True, help="output folder")
    examples.add_argument("--config", help="YAML configuration file")
    examples.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    examples.add_argument("--split", choices=SPLIT_METHODS, help="time or leave_last_out")
    examples.add_argument("--format", default="parquet", choices=("parquet", "tfrecord"))
    examples.add_argument("--examples-per-shard", type=int, default=100_000)
    examples.add_argument("--runner", choices=RUNNERS, metavar="RUNNER",
                          help="local: one bucket of users at a time, memory bounded whatever the log's size "
                               "(the default for tables); memory: the whole log at once (the default for the "
                               f"built-in sample); or an Apache Beam runner ({', '.join(BEAM_RUNNERS)}), which "
                               "takes Beam's pipeline options after the others, as --name=value")
    examples.add_argument("--buckets", type=int,
                          help="local runner: user buckets, each built in memory at once "
                               "(default: one per 250,000 events)")
    _add_validation_options(examples, defaults=False)
    examples.set_defaults(handler=_data_examples)

    pretrain = commands.add_parser(
        "pretrain", help="pre-train word or item vectors (skip-gram) for warm start",
        description="mtrec pretrain --kind words|items --output-dir DIR, or mtrec pretrain neighbours DIR QUERY")
    add_pretrain_arguments(pretrain)
    pretrain.set_defaults(handler=_pretrain)
    pretrain_commands = pretrain.add_subparsers(dest="pretrain_command", required=False)
    neighbours = pretrain_commands.add_parser("neighbours", help="nearest neighbours of a token or item")
    neighbours.add_argument("dir", help="a `mtrec pretrain` output folder")
    neighbours.add_argument("query", help="a token (or text, tokenized as the model does) or an item id")
    neighbours.add_argument("--k", type=int, default=10, help="how many neighbours")
    neighbours.set_defaults(handler=_pretrain_neighbours)

    train = commands.add_parser("train", help="train the multi-task model")
    add_train_arguments(train)
    train.set_defaults(handler=_train)

    from mtrec_tf.config import PRESETS, TUNERS

    tune = commands.add_parser(
        "tune", help="search the task loss weights with keras-tuner",
        description="Searches tuning.* (task loss weights; optionally learning rate, embedding size, units) "
                    "and scores each trial by tuning.objective on the validation part. Distributed: run the "
                    "same command with KERASTUNER_TUNER_ID (chief, tuner0, ...), KERASTUNER_ORACLE_IP and "
                    "KERASTUNER_ORACLE_PORT.")
    tune.add_argument("--config", help="YAML configuration file (with --resume: default the search's own)")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    tune.add_argument("--preset", choices=tuple(PRESETS), help="a starting configuration")
    tune.add_argument("--output-dir", required=True, help="the search's folder")
    tune.add_argument("--tuner", choices=TUNERS, help="the search algorithm (default: tuning.tuner)")
    tune.add_argument("--max-trials", type=int,
                      help="trials in all, earlier ones included (default: tuning.max_trials)")
    tune.add_argument("--resume", action="store_true", help="continue the search in --output-dir")
    tune.set_defaults(handler=_tune)

    evaluate = commands.add_parser("evaluate", help="evaluate a run on its test split")
    evaluate.add_argument("run", help="the run directory of `mtrec train`")
    evaluate.add_argument("--include-seen", action="store_true",
                          help="do not exclude items the user already interacted with from recommendations")
    evaluate.set_defaults(handler=_evaluate)

    export = commands.add_parser("export", help="export a run as a SavedModel for TF Serving")
    export.add_argument("run", help="the run directory of `mtrec train`")
    add_export_arguments(export)
    export.set_defaults(handler=_export)

    from serving.dev_server import add_serve_arguments

    serve = commands.add_parser(
        "serve", help="development server speaking TF Serving's REST and gRPC protocol (production: TF Serving)")
    add_serve_arguments(serve)
    serve.set_defaults(handler=_serve)
    return parser


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how a run is exported (`mtrec export`, and `mtrec train` at its end)."""
    from mtrec_tf.export import TARGETS
    from serving.contract import DEFAULT_MODEL_NAME

    parser.add_argument("--target", choices=TARGETS, default="tfserving",
                        help="the runtime whose ops the export may use (core: any TensorFlow)")
    parser.add_argument("--version", type=int, help="version number (default: one more than the newest)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="TF Serving model name")
    parser.add_argument("--top-k", type=int, default=100, help="items the `retrieve` signature returns")


def add_train_arguments(parser: argparse.ArgumentParser, output_dir_required: bool = True) -> None:
    """The arguments of `mtrec train`, shared with the cloud entrypoint (`trainer.task`)."""
    from mtrec_tf.config import PRESETS

    parser.add_argument("--config", help="YAML configuration file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--preset", choices=tuple(PRESETS), help="a starting configuration")
    parser.add_argument("--events", help="events table: a file or a folder of shards")
    parser.add_argument("--items", help="items table: a file or a folder of shards")
    parser.add_argument("--queries", help="labelled queries table (optional)")
    parser.add_argument("--users", help="users table: user_id and profile columns that `features` read (optional)")
    parser.add_argument("--examples", help="a `mtrec data examples` output (Parquet shards) to train from, "
                                           "streamed, instead of the tables; its data settings are those it was "
                                           "built with")
    parser.add_argument("--split", choices=SPLIT_METHODS, help="time, leave_last_out or random")
    parser.add_argument("--tasks", help="comma-separated subset of the configured tasks")
    parser.add_argument("--single-task", action="store_true",
                        help="also train the same architecture once per task, for comparison")
    parser.add_argument("--output-dir", required=output_dir_required,
                        help="the run directory (a local folder or gs://...)")
    parser.add_argument("--no-evaluate", action="store_true",
                        help="skip the test-split evaluation (metrics.json and plots)")
    parser.add_argument("--no-export", action="store_true", help="do not export the trained model")
    parser.add_argument("--overwrite", action="store_true",
                        help="train a finished run in --output-dir again from scratch (its exports are kept)")
    _add_validation_options(parser, defaults=False)
    add_export_arguments(parser)


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `mtrec pretrain` (defaults per kind: `skipgram.KIND_DEFAULTS`)."""
    from mtrec_tf.config import PRESETS

    parser.add_argument("--kind", choices=("words", "items"), help="word vectors or item vectors (item2vec)")
    parser.add_argument("--config", help="YAML configuration file (data and model.embedding_dim)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--preset", choices=tuple(PRESETS), help="a starting configuration")
    parser.add_argument("--output-dir", help="where the vectors go")
    parser.add_argument("--dim", type=int, help="vector width (default: model.embedding_dim)")
    parser.add_argument("--window", type=int, help="context window (default: 5 words, 3 items)")
    parser.add_argument("--negatives", type=int, default=5, help="noise ids per pair")
    parser.add_argument("--epochs", type=int, help="passes over the corpus (default: 5 words, 20 items)")
    parser.add_argument("--subsample", type=float, help="sub-sampling threshold (default: 1e-3 words, 0 items)")
    parser.add_argument("--learning-rate", type=float, help="starting learning rate (default: 0.01)")
    parser.add_argument("--batch-size", type=int, help="pairs per step (default: 256)")
    parser.add_argument("--cbow", action="store_true", help="continuous bag of words instead of skip-gram")


def resolve_train_config(args: argparse.Namespace) -> Config:
    """The configuration that `mtrec train` arguments describe."""
    from mtrec_tf.config import load_config, select_tasks

    overrides = []
    for kind in ("events", "items", "queries", "users"):
        value = getattr(args, kind)
        if value:
            overrides.append(f"data.{kind}={json.dumps(value)}")
    overrides += _split_and_policy_overrides(args)
    if args.examples and overrides:
        raise ConfigError("--examples trains from examples already built: the tables, split and data policies "
                          "are those they were built with, not --events/--items/--split/...")
    config = load_config(args.config, overrides + list(args.set), preset=args.preset)
    if args.examples:
        from mtrec_tf.data.examples_dir import use_examples

        config = use_examples(config, args.examples)
    if args.tasks:
        config = select_tasks(config, [name.strip() for name in args.tasks.split(",") if name.strip()])
    return config


def _split_and_policy_overrides(args: argparse.Namespace) -> list[str]:
    """`--set` overrides of `--split`, `--bad-rows` and `--unknown-items`, where given."""
    given = {"data.split.method": args.split, "data.bad_rows": args.bad_rows, "data.unknown_items": args.unknown_items}
    return [f"{key}={value}" for key, value in given.items() if value]


def _add_validation_options(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    parser.add_argument("--bad-rows", choices=BAD_ROW_POLICIES, default="error" if defaults else None,
                        help="stop at the first bad row, or skip it and count it")
    parser.add_argument("--unknown-items", choices=UNKNOWN_ITEM_POLICIES, default="keep" if defaults else None,
                        help="events on items missing from the catalogue: keep as unknown, or drop")


def _data_sample(args: argparse.Namespace) -> int:
    from mtrec_tf.data.sample import write_sample

    start = time.perf_counter()
    out = write_sample(args.out, scale=args.scale, seed=args.seed, fmt=args.format, event_types=args.event_types)
    print(f"wrote the sample shop (scale {args.scale}, seed {args.seed}) to {out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _data_movielens(args: argparse.Namespace) -> int:
    from mtrec_tf.data.public import write_movielens_tables

    paths = write_movielens_tables(args.out, Path(args.data_dir) if args.data_dir else None)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _suggest_features(paths: Sequence[str], out: str) -> None:
    import pandas as pd

    from mtrec_tf.data.event_types import suggest_roles
    from mtrec_tf.data.readers import find_tables, found_event_types, read_raw, table_files
    from mtrec_tf.features.suggest import suggest_features, suggestions_yaml
    from mtrec_tf.io_utils import write_text_atomic

    tables = find_tables(paths)
    frames = {kind: pd.concat([read_raw(path).frame for path in table_files(found[0])], ignore_index=True)
              for kind, found in tables.items() if kind != "queries"}
    suggestions = suggest_features(frames)
    roles = suggest_roles(found_event_types(frames["events"])) if "events" in frames else None
    write_text_atomic(out, suggestions_yaml(suggestions, {kind: str(found[0]) for kind, found in tables.items()
                                                          if kind in frames}, roles))
    print(f"wrote {len(suggestions)} suggested features" + (f" and the roles of {len(roles)} event types"
                                                             if roles else "") + f" to {out}")


def _load_tables(paths: Sequence[str], bad_rows: str, unknown_items: str,
                 event_types: EventTypes | None = None) -> EcommerceData:
    """The tables among `paths`; `event_types` declares the events' types (default: the
    contract's five)."""
    from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES
    from mtrec_tf.data.readers import find_tables, load_data

    tables = find_tables(paths)
    if not tables.get("events") or not tables.get("items"):
        found = ", ".join(f"{k}: {len(v)}" for k, v in tables.items()) or "nothing"
        raise ConfigError(f"need an events table and an items table among {list(paths)}; found {found}")
    for kind, files in tables.items():
        if len(files) > 1:
            raise ConfigError(f"more than one {kind} table: {', '.join(map(str, files))}; "
                              "put shards of one table in one folder")
    queries = tables["queries"][0] if tables.get("queries") else None
    users = tables["users"][0] if tables.get("users") else None
    return load_data(tables["events"][0], tables["items"][0], queries,
                     bad_rows=bad_rows, unknown_items=unknown_items, users=users,
                     event_types=event_types or DEFAULT_EVENT_TYPES)


def _data_inspect(args: argparse.Namespace) -> int:
    from mtrec_tf.config import load_config
    from mtrec_tf.data.inspect import format_report, inspect_data
    from mtrec_tf.data.readers import find_tables, found_event_types
    from mtrec_tf.io_utils import write_json_atomic

    # Types the configuration does not declare are read and listed, not refused.
    declared = load_config(args.config, args.set).data.event_types
    events = find_tables(args.paths).get("events")
    readable = declared.with_undeclared(found_event_types(events[0])) if events else declared
    report = inspect_data(_load_tables(args.paths, args.bad_rows, args.unknown_items, readable), declared)
    print(format_report(report))
    if args.json:
        write_json_atomic(args.json, report)
    if args.suggest_features:
        _suggest_features(args.paths, args.suggest_features)
    return 0


def _data_examples(args: argparse.Namespace) -> int:
    from mtrec_tf.config import dump_config, load_config
    from mtrec_tf.data.examples import ExampleReport
    from mtrec_tf.data.prepare import prepare_configured, write_prepared
    from mtrec_tf.data.readers import find_tables
    from mtrec_tf.data.statistics import DataStatistics
    from mtrec_tf.io_utils import join, write_text_atomic

    overrides = list(args.set) + _split_and_policy_overrides(args)
    if args.paths:
        tables = find_tables(args.paths)
        for kind in ("events", "items", "queries", "users"):
            if tables.get(kind):
                overrides.append(f"data.{kind}={json.dumps(str(tables[kind][0]))}")
    config = load_config(args.config, overrides)

    runner = args.runner or ("memory" if config.data.events is None else "local")
    if runner != "memory" and config.data.events is None:
        raise ConfigError(f"--runner {runner} reads tables: give the events and items tables "
                          "(the built-in sample is built in memory)")
    start = time.perf_counter()
    if runner == "memory":
        summary = write_prepared(prepare_configured(config), args.out, args.format, args.examples_per_shard)
    elif runner == "local":
        from mtrec_tf.data.scale.local import write_examples_locally

        summary = write_examples_locally(config, args.out, fmt=args.format,
                                         examples_per_shard=args.examples_per_shard, buckets=args.buckets)
    else:
        from mtrec_tf.data.scale.beam import write_examples_with_beam

        summary = write_examples_with_beam(config, args.out, runner=runner, pipeline_args=args.pipeline_options,
                                           fmt=args.format, examples_per_shard=args.examples_per_shard,
                                           buckets=args.buckets)
    write_text_atomic(join(args.out, "config.yaml"), dump_config(config))
    for table in summary["tables"]:
        print(f"{table['kind']}: {table['rows_read']:,} rows read, {table['rows_kept']:,} kept, "
              f"{sum(table['repaired'].values()):,} repaired, {sum(table['dropped'].values()):,} dropped")
    for line in ExampleReport(summary["examples"], summary["skipped"]).lines():
        print(line)
    split = summary["split"]
    print(f"split: {split['method']}, events per part {split['events']}")
    statistics = DataStatistics.load(join(args.out, "vocab"))
    print(f"vocabularies: {len(statistics.items):,} items, {len(statistics.tokens):,} tokens, "
          f"{len(statistics.categories)} categories")
    print(f"wrote {args.format} shards to {args.out} in {time.perf_counter() - start:.1f} s ({runner} runner)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from mtrec_tf.job import JobOptions, run_job

    config = resolve_train_config(args)
    result = run_job(config, args.output_dir, JobOptions(
        single_task=args.single_task, evaluate=not args.no_evaluate,
        export=None if args.no_export else export_options(args), overwrite=args.overwrite,
        verbose=keras_verbosity()))
    training = result.training
    print(f"trained {', '.join(t.name for t in config.tasks)} in {training.seconds:.0f} s "
          f"({training.examples_per_second:,.0f} examples/s); run: {training.run_dir}")
    if result.report is not None:
        print_report(result.report, config, args.output_dir)
    if result.exported is not None:
        print_export(result.exported, args, args.output_dir)
    if result.report is None:
        print(f"next: mtrec evaluate {training.run_dir}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from mtrec_tf.config import load_config
    from mtrec_tf.tuning.tuner import WORKER, TuningError, run_search, search_config_path

    overrides = list(args.set)
    if args.tuner:
        overrides.append(f"tuning.tuner={args.tuner}")
    if args.max_trials is not None:
        overrides.append(f"tuning.max_trials={args.max_trials}")
    config_file = args.config
    if args.resume and config_file is None and search_config_path(args.output_dir).exists():
        config_file = search_config_path(args.output_dir)
    config = load_config(config_file, overrides, preset=args.preset)
    start = time.perf_counter()
    try:
        result = run_search(config, args.output_dir, resume=args.resume)
    except TuningError as error:
        print(f"mtrec: error: {error}", file=sys.stderr)
        return 1
    if result.role == WORKER:
        print(f"{result.summary()} in {time.perf_counter() - start:.0f} s")
        return 0
    print(result.summary())
    paths = result.paths
    print(f"best: trial {result.best_trial}, objective {result.best_score:.4f}; wrote {paths.results}, "
          f"{paths.tradeoff} and {paths.best_config} in {time.perf_counter() - start:.0f} s")
    print(f"next: mtrec train --config {paths.best_config} --output-dir RUN")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from mtrec_tf.config import load_config
    from mtrec_tf.data.prepare import prepare_configured
    from mtrec_tf.embeddings.corpus import build_corpus
    from mtrec_tf.embeddings.skipgram import default_config, pretrain
    from mtrec_tf.embeddings.store import save_vectors

    if not args.kind or not args.output_dir:
        raise ConfigError("mtrec pretrain needs --kind words|items and --output-dir DIR "
                          "(or: mtrec pretrain neighbours DIR QUERY)")
    config = load_config(args.config, list(args.set), preset=args.preset)
    try:
        settings = default_config(
            args.kind, dim=args.dim or config.model.embedding_dim, window=args.window, negatives=args.negatives,
            epochs=args.epochs, subsample=args.subsample, learning_rate=args.learning_rate,
            batch_size=args.batch_size, cbow=args.cbow or None, seed=config.seed)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    prepared = prepare_configured(config)
    corpus = build_corpus(args.kind, prepared)
    print(f"{args.kind}: {corpus.num_tokens:,} ids in {len(corpus.sequences):,} sentences of the training part, "
          f"vocabulary {len(corpus.vocabulary):,}")
    result = pretrain(corpus, settings)
    out = save_vectors(args.output_dir, args.kind, result.vectors, result.counts, corpus.vocabulary, {
        "settings": {k: v for k, v in vars(settings).items()}, "pairs": result.pairs,
        "seconds": result.seconds, "pairs_per_second": result.pairs_per_second, "losses": result.losses,
    })
    print(f"trained {result.pairs:,} pairs in {result.seconds:.1f} s ({result.pairs_per_second:,.0f} pairs/s); "
          f"vectors: {out}")
    print(f"next: mtrec train --set model.init_embeddings={out}   (TensorBoard projector: {out / 'projector'})")
    return 0


def _pretrain_neighbours(args: argparse.Namespace) -> int:
    from mtrec_tf.embeddings.neighbours import neighbours_of
    from mtrec_tf.embeddings.store import load_vectors

    try:
        found = neighbours_of(load_vectors(args.dir), args.query, args.k)
    except KeyError as error:
        raise ConfigError(str(error.args[0])) from error
    for name, score in found:
        print(f"{score:.3f}\t{name}")
    return 0


def export_options(args: argparse.Namespace) -> ExportOptions:
    """The `ExportOptions` of `add_export_arguments`' arguments."""
    from mtrec_tf.job import ExportOptions

    return ExportOptions(model_name=args.model_name, version=args.version, target=args.target, top_k=args.top_k)


def print_export(result: ExportResult, args: argparse.Namespace, run: str) -> None:
    """What an export wrote, and how to serve it."""
    from mtrec_tf.io_utils import join

    print(f"exported {args.model_name} version {result.version} ({', '.join(result.signatures)}; "
          f"{result.bytes / 1e6:.1f} MB, {len(result.op_types)} op types, all in {args.target!r}) "
          f"to {result.path} in {result.seconds:.0f} s")
    print(f"TF Serving: sh {join(run, 'serving', 'run_tfserving.sh')}")


def print_report(report: dict[str, Any], config: Config, run: str) -> None:
    """The evaluation report as a table, and where it was written."""
    from mtrec_tf.evaluation.report import format_report
    from mtrec_tf.io_utils import join

    print(format_report(report, {task.name: task.type for task in config.tasks}))
    print(f"wrote {join(run, 'metrics.json')} and plots")


def _export(args: argparse.Namespace) -> int:
    from mtrec_tf.job import export_run

    print_export(export_run(args.run, export_options(args)), args, args.run)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mtrec_tf.evaluation.report import evaluate_run
    from mtrec_tf.training.run_dir import load_run_inputs

    config, _, _ = load_run_inputs(args.run)
    print_report(evaluate_run(args.run, exclude_seen=not args.include_seen), config, args.run)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from mtrec_tf.native_logs import native_logs_filtered
    from serving.dev_server import run_from_args

    with native_logs_filtered():
        import tensorflow  # noqa: F401  (the server's, loaded here so that its start-up messages follow the log level)
    return run_from_args(args)


def keras_verbosity() -> int:
    """Keras's progress bar on a terminal; one line per epoch in a log file or a pipe."""
    return 1 if sys.stdout.isatty() else 2


def _pipeline_options(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The Beam pipeline options of `mtrec data examples --runner <Beam runner>`; any other
    command refuses arguments it does not know."""
    beam = getattr(args, "runner", None) in BEAM_RUNNERS
    odd = [arg for arg in extra if not (beam and arg.startswith("--"))]
    if odd or (extra and not beam):
        parser.error(f"unrecognized arguments: {' '.join(odd or extra)}"
                     + ("; Beam pipeline options go as --name=value" if beam else ""))
    return extra


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mtrec` console script."""
    import os

    # TensorFlow's native messages (INFO to ERROR) stay hidden unless the user asks for them;
    # its failures reach the user as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.pipeline_options = _pipeline_options(parser, args, extra)
    try:
        with progress.shown():
            return args.handler(args)
    except (ConfigError, DataValidationError, FileNotFoundError, FileExistsError, OpAuditError) as error:
        print(f"mtrec: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
