"""MovieLens 100K with and without its own features: the user table and the movie attributes.

    python bench/own_features.py [--seeds 42,1,2] [--epochs N] [--set KEY=VALUE ...] [--json OUT]

`configs/movielens.yaml` (retrieval of liked movies, rating regression; random 80/20 split),
trained twice per seed on the same prepared split and budget: as it is, and with the
features of `FEATURES` (age, gender, occupation and zip prefix from `ml-100k.user`; release
year and all genres from `ml-100k.item`). Prints each test metric's mean ± std over seeds,
and the paired difference (with features minus without, signed so that positive is better)
± its standard error, with the verdict of `mtl_claim.verdict`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from mtl_claim import test_metrics, verdict

import mtrec_tf  # noqa: F401
from mtrec_tf.config import Config, load_config
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.prepare import prepare_data, with_features
from mtrec_tf.data.public import load_movielens_100k, load_movielens_features
from mtrec_tf.data.readers import load_data
from mtrec_tf.features.columns import table_columns
from mtrec_tf.tasks import task_type

REPO = Path(__file__).resolve().parents[1]
FEATURES = {
    "age": {"table": "users", "kind": "numeric", "transform": "quantile", "quantiles": 8},
    "gender": {"table": "users", "kind": "categorical"},
    "occupation": {"table": "users", "kind": "categorical"},
    "zip_prefix": {"table": "users", "kind": "categorical", "min_count": 2},
    "release_year": {"table": "items", "kind": "numeric"},
    "genres": {"table": "items", "kind": "multi_categorical"},
}
METRICS = (("rating", "rmse"), ("next_item", "recall@10"), ("next_item", "recall@50"), ("next_item", "recall@100"),
           ("next_item", "ndcg@10"))
WORDS = {"ahead": "better", "behind": "worse", "within noise": "within noise"}


def configs(seed: int, args: argparse.Namespace) -> tuple[Config, Config]:
    """The configuration without and with the features."""
    overrides = [f"seed={seed}", *args.set] + ([f"training.epochs={args.epochs}"] if args.epochs else [])
    own = [f"features.{name}.{key}={value}" for name, spec in FEATURES.items() for key, value in spec.items()]
    base = load_config(REPO / "configs" / "movielens.yaml", overrides)
    # The tables are named so that the configuration accepts users features; the bench passes the frames.
    tables = ["data.events=ml-100k.inter", "data.items=ml-100k.item", "data.users=ml-100k.user"]
    return base, load_config(REPO / "configs" / "movielens.yaml", overrides + own + tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--epochs", type=int, default=0, help="training epochs (default: the configuration's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    events, items = load_movielens_100k()
    users, attributes = load_movielens_features()
    items = items.drop(columns=["genres"]).merge(attributes, on="item_id", how="left")
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        plain, featured = configs(seed, args)
        data = load_data(events, items, users=users, item_columns=table_columns(featured.features, "items"),
                         user_columns=table_columns(featured.features, "users"))
        data = with_features(data, featured.features)
        prepared = prepare_data(data, featured.data, seed=seed, features=featured.features)
        results = {}
        for name, config in (("without", plain), ("with", featured)):
            catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                        features=config.features)
            start = time.perf_counter()
            results[name] = test_metrics(config, prepared, catalogue, ks=(10, 50, 100))
            print(f"seed {seed} {name} features ({time.perf_counter() - start:.0f} s): " + ", ".join(
                f"{task} {metric} {results[name][task][metric]:.4f}" for task, metric in METRICS), flush=True)
        runs.append({"seed": seed, **results})

    print(f"\nMovieLens 100K, random 80/20 split, test part, seeds {args.seeds}: without / with the features "
          "(mean ± std); paired difference signed so that positive favours the features, ± standard error")
    print(f"{'task metric':28}{'without':>18}{'with':>18}{'difference':>20}  verdict")
    types = {task.name: task.type for task in configs(0, args)[0].tasks}
    for task, metric in METRICS:
        without = np.array([r["without"][task][metric] for r in runs])
        with_ = np.array([r["with"][task][metric] for r in runs])
        sign = 1.0 if task_type(types[task]).metric_direction(metric) == "max" else -1.0
        mean, error, said = verdict(sign * (with_ - without))
        print(f"{task + ' ' + metric:28}{without.mean():>10.4f} ± {without.std():.3f}{with_.mean():>10.4f} ± "
              f"{with_.std():.3f}{mean:>+12.4f} ± {error:.4f}  {WORDS[said]}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
