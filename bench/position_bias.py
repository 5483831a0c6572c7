"""Position bias on the sample shop: the five-task model with and without `ctr`'s position tower.

    python bench/position_bias.py [--seeds 42,1,2] [--scale 1] [--epochs 4] [--set KEY=VALUE ...]
        [--json OUT]

The sample's clicks fall with the slot an item is shown in (`1 / (1 + position) ** 0.7`).
For each seed, the same data, split and budget train the default model twice: as it is, and
with `tasks.ctr.position_bias=true` (a shallow tower's logit of the slot added to ctr's in
training, left out of predictions). Prints, on validation and on test, ctr's and CTCVR's
AUC as served (without the slot), as observed (`observed_auc`: the slot's logit added, the
view comparable with a model that reads the position as a plain feature; the model without
the tower has none) and within each slot (`position_auc`), and every other task's headline
metric: the median over seeds, the range, and the paired difference
(with the tower minus without) with its standard error. Choose on the validation rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from mtl_claim import paired_difference

import mtrec_tf  # noqa: F401
from mtrec_tf.config import Config, load_config
from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.prepare import PreparedData, prepare_configured
from mtrec_tf.tasks import task_type
from mtrec_tf.training.fit import train
from mtrec_tf.training.scoring import evaluate_model

VARIANTS = {"without": [], "with position tower": ["tasks.ctr.position_bias=true"]}
ROWS = (("ctr", "auc"), ("ctr", "observed_auc"), ("ctr", "position_auc"), ("cvr", "auc"), ("cvr", "observed_auc"),
        ("cvr", "position_auc"))


def headline_rows(config: Config) -> list[tuple[str, str]]:
    """The rows to print: ctr's and cvr's AUC views, then each other task's headline metric."""
    return list(ROWS) + [(t.name, task_type(t.type).headline) for t in config.tasks if t.name not in ("ctr", "cvr")]


def run_once(config: Config, prepared: PreparedData, catalogue: Catalogue) -> dict[str, dict[str, dict[str, float]]]:
    """Trains one variant; its metrics on validation and on test."""
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, run_dir, prepared=prepared, catalogue=catalogue, verbose=0)
    return {part: evaluate_model(result.model, config, prepared.statistics, prepared.examples.parts[part],
                                 catalogue.category[1:])
            for part in ("validation", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--scale", type=int, default=1, help="sample shop scale")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more configuration")
    parser.add_argument("--json", type=Path, help="write every run's metrics here")
    args = parser.parse_args()

    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    rows: list[tuple[str, str]] = []
    for seed in seeds:
        base = [f"seed={seed}", f"data.sample_scale={args.scale}", f"training.epochs={args.epochs}", *args.set]
        config = load_config(None, base)
        prepared = prepare_configured(config)  # one split and catalogue per seed, shared by both variants
        catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
        for name, overrides in VARIANTS.items():
            config = load_config(None, base + overrides)
            rows = headline_rows(config)
            results[name].append(run_once(config, prepared, catalogue))
            print(f"seed {seed} {name}: " + ", ".join(
                f"{task} {metric} {results[name][-1]['test'][task].get(metric, float('nan')):.4f}"
                for task, metric in rows[:4]), flush=True)

    names = list(VARIANTS)
    for part in ("validation", "test"):
        print(f"\n{part}, sample scale {args.scale}, seeds {args.seeds} (median [range]; paired difference "
              f"'{names[1]}' - '{names[0]}' ± standard error)")
        print(f"{'metric':28}" + "".join(f"{name:>26}" for name in names) + f"{'difference':>22}")
        for task, metric in rows:
            values = [[run[part][task].get(metric, float("nan")) for run in results[name]] for name in names]
            cells = "".join(f"{statistics.median(v):>10.4f} [{min(v):.3f}-{max(v):.3f}]" for v in values)
            mean, error = paired_difference(np.subtract(values[1], values[0]))
            print(f"{task + ' ' + metric:28}{cells}{mean:>+12.4f} ± {error:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
