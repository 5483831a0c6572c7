"""The claim: is the multi-task model at least as good as one single-task model per task?

    python bench/mtl_claim.py [--data sample,movielens] [--seeds 42,1,2] [--scale 3]
        [--epochs N] [--set KEY=VALUE ...] [--part test|validation|validation,test|far_validation]
        [--variant KEY=VALUE ...] [--refit]
        [--json OUT]
    python bench/mtl_claim.py --merge OUT [OUT ...]

For each data set and seed, the multi-task model and the same architecture trained on each
task alone (`select_tasks`) learn from the same prepared data, split and budget, and are
scored on the test part. `sample` is the built-in shop at `--scale` (scale 3 and more give
several hundred image items and tail examples) with the default five tasks; `movielens` is
MovieLens 100K (from `$MTREC_DATA_DIR`) with `configs/movielens.yaml` (retrieval + rating).
Prints, per task and metric (the headline, and ndcg@10, tail_recall@50 and coverage@50 for
retrieval), the mean and standard deviation over seeds of both models, the paired difference
(multi-task minus single-task, signed so that positive is better) with its standard error,
and a verdict: `ahead` or `behind` by more than one standard error, else `within noise`.

To choose a default, `--variant KEY=VALUE` (repeatable) compares the multi-task model with
those settings against the multi-task model without them, in place of the single-task
models, and `--part validation` scores the validation part, which choices are made on.
`--part validation,test` scores both parts with the same trained models (a table and a
`--json` file per part: OUT.json becomes OUT.validation.json and OUT.test.json), to see whether
what validation says of a comparison holds on the later test period.

`--part far_validation` scores the validation period as far from training as the test period
is: training stops one period earlier (the validation fraction doubled; the test cut stays)
and the period scored is the default validation part's, so one period lies between them, as
the validation period lies between training and test. A gap that opens only with distance
from training (the test part's) shows there, and choices can be made on it.

`--refit` trains both models on the training and validation parts together (events and image
items) before scoring the test part, as a shop that chose its settings on validation and
retrains on everything it has would: both models then stand as far from the test period as
they stood from the validation period when the settings were chosen. The test part is the
same (the time split's test cut does not move with the validation fraction, nor the image
test items).

`--merge` prints the table of earlier `--json` outputs together, training nothing: seeds run
in separate processes or on separate machines, with the same settings (each run records them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import mtrec_tf  # noqa: F401
from mtrec_tf.config import Config, load_config, select_tasks
from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.prepare import PreparedData, prepare_configured, prepare_data
from mtrec_tf.data.public import load_movielens_100k
from mtrec_tf.data.readers import load_data
from mtrec_tf.data.splits import split_events
from mtrec_tf.tasks import task_type
from mtrec_tf.training.fit import train
from mtrec_tf.training.scoring import evaluate_model

REPO = Path(__file__).resolve().parents[1]
RETRIEVAL_EXTRAS = ("ndcg@10", "tail_recall@50", "coverage@50")
# What --refit sets: no event and no image item held out for validation.
REFIT = ["data.split.validation_fraction=0", "data.image_validation_fraction=0"]
FAR_VALIDATION = "far_validation"


def task_types(config: Config) -> dict[str, str]:
    """Each task's type by name, in the configuration's order (a run records it)."""
    return {task.name: task.type for task in config.tasks}


def claim_metrics(config: Config) -> list[tuple[str, str]]:
    """(task, metric) rows of a configuration's tasks."""
    return claim_rows(task_types(config))


def claim_rows(types: dict[str, str]) -> list[tuple[str, str]]:
    """(task, metric) rows: each task's headline, and for retrieval the top of the list, the long
    tail and coverage."""
    rows = []
    for name, type_name in types.items():
        kind = task_type(type_name)
        rows.append((name, kind.headline))
        if kind.ranks_catalogue:
            rows += [(name, metric) for metric in RETRIEVAL_EXTRAS]
    return rows


def configuration(name: str, seed: int, args: argparse.Namespace, more: list[str] | None = None) -> Config:
    """The configuration of one data set and seed, with `more` settings (for the far validation
    part, the validation fraction doubled: training stops one validation period earlier)."""
    overrides = [f"seed={seed}", *args.set, *(more or [])]
    overrides += [f"training.epochs={args.epochs}"] if args.epochs else []
    config = _load(name, args, overrides)
    if FAR_VALIDATION in args.part.split(","):
        config = _load(name, args, [*overrides, f"data.split.validation_fraction={far_fraction(config)}"])
    return config


def _load(name: str, args: argparse.Namespace, overrides: list[str]) -> Config:
    if name == "sample":
        return load_config(None, [f"data.sample_scale={args.scale}", *overrides])
    if name == "movielens":
        return load_config(REPO / "configs" / "movielens.yaml", overrides)
    raise SystemExit(f"--data: unknown data set {name!r}; known: sample, movielens")


def prepared_data(name: str, seed: int, args: argparse.Namespace) -> tuple[Config, PreparedData]:
    """The configuration and prepared data of one data set and seed."""
    config = configuration(name, seed, args)
    if name == "sample":
        return config, prepare_configured(config)
    events, items = load_movielens_100k(args.data_dir)
    return config, prepare_data(load_data(events, items), config.data, seed=config.seed)


def far_fraction(config: Config) -> float:
    """The validation fraction that ends training one validation period earlier."""
    split = config.data.split
    if split.method != "time" or not split.validation_fraction:
        raise SystemExit(f"--part {FAR_VALIDATION} needs a time split with a validation part "
                         f"(data.split.method {split.method}, validation_fraction {split.validation_fraction})")
    return 2 * split.validation_fraction


def scored_tables(config: Config, prepared: PreparedData, parts: list[str]) -> dict[str, pa.Table]:
    """The examples each part scores. The far validation part (`config`'s validation fraction is
    the doubled one) is the validation part's from the undoubled split's validation cut on, with
    its image examples (images are split by item, not by time)."""
    tables = {part: prepared.examples.parts[part] for part in parts if part != FAR_VALIDATION}
    if FAR_VALIDATION in parts:
        split = config.data.split
        near = dataclasses.replace(split, validation_fraction=split.validation_fraction / 2)
        start = split_events(prepared.data.events, near).validation_start
        table = prepared.examples.parts["validation"]
        tables[FAR_VALIDATION] = table.filter(pc.or_(pc.greater_equal(table["timestamp"], start),
                                                     pc.equal(table["example_type"], "image")))
    return tables


def part_metrics(config: Config, prepared: PreparedData, catalogue: Catalogue, parts: dict[str, pa.Table],
                 ks: tuple[int, ...] = (10, 50)) -> dict[str, dict[str, dict[str, float]]]:
    """Trains `config` on `prepared` once; by part, every task's metrics on that part's examples,
    ranking ones at `ks`."""
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, run_dir, prepared=prepared, catalogue=catalogue, verbose=0)
    return {part: evaluate_model(result.model, config, prepared.statistics, table, catalogue.category[1:], ks=ks)
            for part, table in parts.items()}


def test_metrics(config: Config, prepared: PreparedData, catalogue: Catalogue,
                 ks: tuple[int, ...] = (10, 50), part: str = "test") -> dict[str, dict[str, float]]:
    """Trains `config` on `prepared`; every task's metrics on `part` (the test part unless
    told), ranking ones at `ks`."""
    return part_metrics(config, prepared, catalogue, scored_tables(config, prepared, [part]), ks)[part]


def paired_difference(differences: np.ndarray) -> tuple[float, float]:
    """The mean of paired differences over seeds and its standard error (NaN for one seed)."""
    error = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else float("nan")
    return float(differences.mean()), error


def verdict(differences: np.ndarray) -> tuple[float, float, str]:
    """Mean paired difference (positive: multi-task better), its standard error, the verdict."""
    mean, error = paired_difference(differences)
    if not np.isfinite(error) or abs(mean) <= error:
        return mean, error, "within noise"
    return mean, error, "ahead" if mean > 0 else "behind"


def print_table(runs: dict[str, list[dict]], part: str) -> None:
    """The mean and spread of both models, the paired difference and the verdict, per data set."""
    for name, results in runs.items():
        other, against = comparison(results[0])
        seeds = ",".join(str(r["seed"]) for r in results)
        parts = {r.get("settings", {}).get("part", part) for r in results}
        print(f"\n{name} ({'/'.join(sorted(parts))} part, seeds {seeds}; {other} / {against} mean ± std; paired "
              f"difference signed so that positive favours the {other} model, ± standard error)".replace("_", "-"))
        print(f"{'task metric':32}{other.replace('_', '-'):>18}{against.replace('_', '-'):>18}{'difference':>20}  "
              "verdict")
        types = results[0]["types"]
        # Rows by today's list (runs written before a row was added score it from their metrics).
        for task, metric in claim_rows(types):
            multi = np.array([r[other][task][metric] for r in results], dtype=np.float64)
            single = np.array([r[against][task][metric] for r in results], dtype=np.float64)
            sign = 1.0 if task_type(types[task]).metric_direction(metric) == "max" else -1.0
            mean, error, said = verdict(sign * (multi - single))
            print(f"{task + ' ' + metric:32}{multi.mean():>10.4f} ± {multi.std():.3f}"
                  f"{single.mean():>10.4f} ± {single.std():.3f}{mean:>+12.4f} ± {error:.4f}  {said}")


def comparison(run: dict) -> tuple[str, str]:
    """What a run measured against what: its two models' keys."""
    return ("variant", "default") if "variant" in run else ("multi_task", "single_task")


def merged_runs(paths: list[Path]) -> dict[str, list[dict]]:
    """The runs of several `--json` outputs, by data set; the same seed twice, or runs with other
    settings or another comparison, stop with the files named."""
    runs: dict[str, list[dict]] = {}
    origin: dict[tuple[str, int], Path] = {}
    for path in paths:
        for name, results in json.loads(path.read_text(encoding="utf-8")).items():
            for run in results:
                if (name, run["seed"]) in origin:
                    raise SystemExit(f"--merge: {name} seed {run['seed']} is in both {origin[name, run['seed']]} "
                                     f"and {path}")
                first = runs.get(name, [None])[0]
                if first is not None:
                    kept = origin[name, first["seed"]]
                    # Rows follow from the task types (print_table), so runs written before a row
                    # joined the table merge with later ones.
                    if comparison(run) != comparison(first) or run["types"] != first["types"]:
                        raise SystemExit(f"--merge: {path} ({name}) compares other models or metrics than {kept}")
                    if run.get("settings") != first.get("settings"):
                        raise SystemExit(f"--merge: {path} ({name}) was run with {run.get('settings')}, "
                                         f"{kept} with {first.get('settings')}")
                origin[name, run["seed"]] = path
                runs.setdefault(name, []).append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample,movielens", help="comma-separated: sample, movielens")
    parser.add_argument("--data-dir", type=Path, help="the public data folder (default: $MTREC_DATA_DIR, else "
                        "../shared/data)")
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--scale", type=int, default=3, help="sample shop scale")
    parser.add_argument("--epochs", type=int, default=0, help="training epochs (default: the configuration's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more configuration")
    parser.add_argument("--part", choices=("test", "validation", "validation,test", FAR_VALIDATION), default="test",
                        help="the part scored, or both by the same models; far_validation: the validation period "
                        "with one period between it and training")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                        help="compare the multi-task model with this setting against it without")
    parser.add_argument("--refit", action="store_true",
                        help="train on the training and validation parts together, then score the test part")
    parser.add_argument("--json", type=Path, help="write every run's metrics here")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="OUT",
                        help="print the table of earlier --json outputs together, training nothing")
    args = parser.parse_args()
    parts = args.part.split(",")
    if args.refit:
        if parts != ["test"]:
            parser.error("--refit trains on the validation part: it scores --part test only")
        args.set = [*REFIT, *args.set]
    if args.merge:
        print_table(merged_runs(args.merge), parts[0])
        return
    # What is measured against what: the keys of each run in the JSON, the table's columns.
    other, against = ("variant", "default") if args.variant else ("multi_task", "single_task")

    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, dict[str, list[dict]]] = {part: {} for part in parts}
    for name in args.data.split(","):
        for seed in seeds:
            config, prepared = prepared_data(name, seed, args)
            tables = scored_tables(config, prepared, parts)
            empty = [part for part in parts if not tables[part].num_rows]
            if empty:
                raise SystemExit(f"--part: {name}'s split has no {empty[0]} examples "
                                 f"(data.split.validation_fraction {config.data.split.validation_fraction}, "
                                 f"test_fraction {config.data.split.test_fraction})")
            catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                        features=config.features)
            if args.variant:
                single = part_metrics(config, prepared, catalogue, tables)
                multi = part_metrics(configuration(name, seed, args, args.variant), prepared, catalogue, tables)
            else:
                multi = part_metrics(config, prepared, catalogue, tables)
                single = {part: {} for part in parts}
                for task in config.tasks:
                    alone = part_metrics(select_tasks(config, [task.name]), prepared, catalogue, tables)
                    for part in parts:
                        single[part].update(alone[part])
            for part in parts:
                # Recorded with each run, so that --merge joins only runs of the same settings.
                settings = {"part": part, "scale": args.scale, "epochs": args.epochs, "set": args.set,
                            "variant": args.variant}
                runs[part].setdefault(name, []).append({
                    "seed": seed, other: multi[part], against: single[part], "types": task_types(config),
                    "settings": settings})
                print(f"{name} seed {seed}, {part} part: " + ", ".join(
                    f"{task} {metric} {multi[part][task][metric]:.4f} / {single[part][task][metric]:.4f}"
                    for task, metric in claim_metrics(config)), flush=True)

    for part in parts:
        print_table(runs[part], part)
        if args.json:
            path = args.json if len(parts) == 1 else args.json.with_suffix(f".{part}{args.json.suffix}")
            path.write_text(json.dumps(runs[part], indent=2), encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
