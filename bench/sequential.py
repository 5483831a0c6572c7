"""Next-item recommendation on a public sequence benchmark, against its published numbers.

    python bench/sequential.py [--data-dir DIR] [--name Toys_and_Games] [--config configs/sequential.yaml]
        [--encoder bilstm,transformer] [--loss default,full_softmax,sampled_softmax] [--negatives 256]
        [--positions auto,last,all] [--batch-size N]
        [--epochs N] [--patience 10] [--seeds 0] [--set KEY=VALUE ...] [--json OUT]

Reads `DIR/<name>.txt` (one user per line: the user id, then the item ids in order) and
`DIR/<name>_item2attributes.json` (`{item: [attribute, ...]}`, optional), as S3-Rec's repository
publishes them, and converts them to the input contract: one click per item, the position as
its timestamp, the item's first attribute as its category, no titles and no images. Then,
from the configuration (`configs/sequential.yaml` by default: settings chosen on this set's
validation split) and for each encoder, loss and training positions (comma-separated lists;
`auto` trains all positions with the transformer, one example per click with the BiLSTM), a
next_item-only model trains with the leave-last-out split, stops early on validation NDCG@10
over the whole catalogue (the epoch is chosen on validation only), and the kept weights are
scored on test: the whole catalogue ranked, the items of the user's sequence left out. Prints
HR@5/10/20 and NDCG@5/10/20 beside the published table (for the Toys set), the chosen epoch,
seconds per epoch (with the validation ranking) and training clicks/s (the clicks of the
training part learnt per second of training and validation, whichever way they are batched);
`--json` writes the test metrics (`hit_rate@10`, `ndcg@10`, ...) of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mtrec_tf  # noqa: F401
from mtrec_tf.config import Config, load_config, select_tasks
from mtrec_tf.data.prepare import PreparedData, prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.training.fit import train, training_examples
from mtrec_tf.training.scoring import evaluate_model

REPO = Path(__file__).resolve().parents[1]
KS = (5, 10, 20)
STOPPING_METRIC = "val_next_item_ndcg@10"

# S3-Rec (Zhou et al., CIKM 2020), all-item ranking, Toys and Games test split.
PUBLISHED = {
    "Toys_and_Games": {
        "PopRec": (0.0066, 0.0046, 0.0113, 0.0061, 0.0163, 0.0073),
        "GRU4Rec": (0.0097, 0.0059, 0.0176, 0.0084, 0.0301, 0.0116),
        "SASRec": (0.0463, 0.0306, 0.0675, 0.0374, 0.0941, 0.0441),
        "S3-Rec": (0.0443, 0.0294, 0.0700, 0.0376, 0.1065, 0.0468),
    },
}
COLUMNS = ("hit_rate@5", "ndcg@5", "hit_rate@10", "ndcg@10", "hit_rate@20", "ndcg@20")


def read_sequences(data_dir: Path, name: str, attributes_as: str = "category") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events (a click per item, its position as the timestamp) and the items (no title) of
    a sequence file. `attributes_as` "category": the first attribute is the category;
    "brand-category": the first is the brand and the last the category (Amazon's lists read as
    a brand, then categories from the broadest)."""
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    with open(data_dir / f"{name}.txt", encoding="utf-8") as handle:
        for line in handle:
            user, *sequence = line.split()
            users += [user] * len(sequence)
            items += sequence
            positions += range(len(sequence))
    events = pd.DataFrame({"user_id": users, "timestamp": np.asarray(positions, np.int64), "event_type": "click",
                           "item_id": items})
    attributes_path = data_dir / f"{name}_item2attributes.json"
    attributes = json.loads(attributes_path.read_text(encoding="utf-8")) if attributes_path.exists() else {}
    catalogue = pd.DataFrame({"item_id": sorted(set(items), key=lambda item: (len(item), item))})
    catalogue["title"] = ""
    lists = [attributes.get(item) or [] for item in catalogue["item_id"]]
    if attributes_as == "category":
        catalogue["category"] = [f"attribute {values[0]}" if values else "none" for values in lists]
    else:
        catalogue["brand"] = [f"attribute {values[0]}" if values else "" for values in lists]
        catalogue["category"] = [f"attribute {values[-1]}" if len(values) > 1 else "none" for values in lists]
    return events, catalogue


def run_config(encoder: str, loss: str, positions: str, args: argparse.Namespace, seed: int) -> Config:
    """The next_item-only configuration of one run."""
    # Sequences have no queries: the task reads the history alone.
    overrides = ["tasks.next_item.inputs=[user]", f"tasks.next_item.positions={positions}",
        "data.split.method=leave_last_out", f"data.history_length={args.history_length}",
        f"model.history_encoder={encoder}", f"training.early_stopping_metric={STOPPING_METRIC}",
        f"training.patience={args.patience}", f"seed={seed}",
        f"tasks.next_item.loss={'' if loss == 'default' else loss}",
    ]
    overrides += [f"training.epochs={args.epochs}"] if args.epochs else []
    overrides += [f"training.batch_size={args.batch_size}"] if args.batch_size else []
    if loss == "sampled_softmax":
        overrides.append(f"tasks.next_item.negatives={args.negatives}")
    return select_tasks(load_config(args.config or None, overrides + list(args.set)), ["next_item"])


def trained_clicks(config: Config, prepared: PreparedData) -> int:
    """The clicks of the training part one epoch learns from: all of them per click; with all
    positions, all but each user's first (nothing precedes it)."""
    _, selections = training_examples(config, prepared.examples.parts["train"])
    clicks = int(np.sum(prepared.examples.parts["train"].column("mask_next_item").to_numpy() > 0))
    return clicks - sum(s.without_history for s in selections)


def run_once(config: Config, prepared: PreparedData) -> dict[str, float]:
    """Trains with early stopping on validation; the test metrics of the kept weights."""
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = train(config, run_dir, prepared=prepared, verbose=2)
        seconds = time.perf_counter() - start
    clicks = trained_clicks(config, prepared)
    report = evaluate_model(result.model, config, prepared.statistics, prepared.examples.parts["test"],
                            result.catalogue.category[1:], exclude_seen=True, ks=KS)["next_item"]
    validation = result.history[STOPPING_METRIC]
    return {**{name: report[name] for name in COLUMNS}, "epochs": len(validation),
            "chosen_epoch": int(np.argmax(validation)) + 1, "validation_ndcg@10": max(validation),
            "seconds_per_epoch": seconds / len(validation),
            "clicks_per_second": clicks * len(validation) / result.seconds}


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that say which sequence set to read and how its examples are batched."""
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("MTREC_DATA_DIR", REPO.parent / "shared" / "data"))
                        / "amazon_toys_s3rec")
    parser.add_argument("--name", default="Toys_and_Games")
    parser.add_argument("--config", default=str(REPO / "configs" / "sequential.yaml"),
                        help="the configuration the runs start from ('' for the package's defaults)")
    parser.add_argument("--batch-size", type=int, help="default: the configuration's")
    parser.add_argument("--history-length", type=int, default=50)
    parser.add_argument("--attributes", choices=("category", "brand-category"), default="category",
                        help="the items' attributes as the category (the first), or as the brand (the first) and "
                             "the category (the last)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more configuration")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--encoder", default="bilstm,transformer", help="comma-separated: bilstm, transformer")
    parser.add_argument("--loss", default="default,full_softmax",
                        help="comma-separated: default (in-batch), full_softmax, sampled_softmax")
    parser.add_argument("--negatives", type=int, default=256, help="sampled_softmax's negatives per step")
    parser.add_argument("--positions", default="auto", help="comma-separated: auto, last, all")
    parser.add_argument("--epochs", type=int, help="at most (default: the configuration's); early stopping on "
                        "validation keeps the best")
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; medians and ranges are printed")
    parser.add_argument("--json", type=Path, help="write every run's test metrics here")
    args = parser.parse_args()

    events, items = read_sequences(args.data_dir, args.name, args.attributes)
    print(f"{args.name}: {events['user_id'].nunique():,} users, {len(items):,} items, {len(events):,} actions")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    data = load_data(events, items)
    results: dict[str, list[dict[str, float]]] = {}
    for encoder in args.encoder.split(","):
        for loss in args.loss.split(","):
            for positions in args.positions.split(","):
                for seed in seeds:
                    config = run_config(encoder, loss, positions, args, seed)
                    prepared = prepare_data(data, config.data, seed=config.seed)
                    name = f"{encoder} / {loss}" + (f" / {positions}" if positions != "auto" else "")
                    run = run_once(config, prepared)
                    results.setdefault(name, []).append(run)
                    print(f"{name}, seed {seed}: " + ", ".join(f"{column} {run[column]:.4f}" for column in COLUMNS)
                          + f" (epoch {run['chosen_epoch']} of {run['epochs']})", flush=True)

    print(f"\n{args.name}, test split, whole catalogue ranked, seen items left out "
          f"(ours: median over seeds {args.seeds}; epoch chosen on validation NDCG@10)")
    print(f"{'model':34}" + "".join(f"{name:>12}" for name in COLUMNS))
    for model, values in PUBLISHED.get(args.name, {}).items():
        print(f"{model + ' (published)':34}" + "".join(f"{value:>12.4f}" for value in values))
    for model, runs in results.items():
        print(f"{model:34}" + "".join(f"{statistics.median(r[name] for r in runs):>12.4f}" for name in COLUMNS))
        if len(runs) > 1:
            print(f"{'  range over seeds':34}" + "".join(
                f"{min(r[name] for r in runs):>6.3f}-{max(r[name] for r in runs):.3f}"[-12:].rjust(12)
                for name in COLUMNS))
        print(f"{'':34}epochs {[r['epochs'] for r in runs]}, chosen {[r['chosen_epoch'] for r in runs]}, "
              f"{statistics.median(r['seconds_per_epoch'] for r in runs):.1f} s/epoch, "
              f"{statistics.median(r['clicks_per_second'] for r in runs):,.0f} clicks/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
