"""Checkpoint size and training speed of a model on a catalogue with and without titles and images.

    python bench/model_footprint.py [--data sample|toys] [--titles none|id] [--tasks a,b]
                                    [--scale 1] [--steps 20] [--rounds 3]

`sample`: the five-task model (or `--tasks`) on the built-in sample shop at `--scale` (its
items have titles and images). `toys`: a next_item-only model (or `--tasks`) on the Amazon
Toys and Games sequences (`amazon_toys_s3rec/` of the shared data: one click per item in
each user's order, no queries, items without images); `--titles none` leaves the items
without titles, `--titles id` titles each with its item id (versions that required a
title need it). The script builds the model on the training examples, saves its weights as
a training checkpoint does, and prints the checkpoint's size, the catalogue's image array
and the saved catalogue arrays, then the median training examples/s over `--rounds` passes
of the same `--steps` batches. It uses only APIs that earlier versions of the package have
too, so that one run per version, alternating, compares them side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.config import load_config, select_tasks
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import load_configured_data, prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.training.fit import build_model
from mtrec_tf.training.run_dir import RunPaths, save_run_inputs

REPO = Path(__file__).resolve().parents[1]


def toys_tables(data_dir: Path, titles: str = "none") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (one click per item, a minute apart, in each user's order) and image-less items,
    without titles (`titles="none"`) or titled with their item id (`"id"`)."""
    users, items, times = [], [], []
    with open(data_dir / "amazon_toys_s3rec" / "Toys_and_Games.txt", encoding="utf-8") as handle:
        for line in handle:
            user, *sequence = line.split()
            users += [user] * len(sequence)
            items += sequence
            times += list(range(1_600_000_000, 1_600_000_000 + 60 * len(sequence), 60))
    events = pd.DataFrame({"user_id": users, "timestamp": times, "event_type": "click", "item_id": items,
                           "query": ""})
    catalogue = pd.DataFrame({"item_id": sorted(set(items))})
    catalogue["title"] = catalogue["item_id"] if titles == "id" else ""
    catalogue["category"] = "Toys and Games"
    return events, catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("sample", "toys"), default="sample")
    parser.add_argument("--titles", choices=("none", "id"), default="none", help="toys: item titles")
    parser.add_argument("--tasks", help="comma-separated tasks (default: all for sample, next_item for toys)")
    parser.add_argument("--scale", type=int, default=1, help="sample size multiplier")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()

    config = load_config(None, [f"training.batch_size={args.batch_size}", f"data.sample_scale={args.scale}"])
    if args.data == "toys":
        data_dir = Path(os.environ.get("MTREC_DATA_DIR", REPO.parent / "shared" / "data"))
        config = select_tasks(load_config(None, [f"training.batch_size={args.batch_size}",
                                                 "data.split.method=leave_last_out"]), ["next_item"])
        events, items = toys_tables(data_dir, args.titles)
        data = load_data(events, items)
    else:
        data = load_configured_data(config.data)
    if args.tasks:
        config = select_tasks(config, args.tasks.split(","))
    prepared = prepare_data(data, config.data, seed=config.seed)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    batches = list(make_dataset(prepared.examples.parts["train"], batch_size=args.batch_size,
                                history_length=config.data.history_length, shuffle_buffer=20_000,
                                seed=0).take(args.steps + 1))
    model = build_model(config, prepared.statistics, catalogue)
    model.build_from_batch(batches[0])
    step = tf.function(model.train_step)
    step(batches[0])  # traces, and creates the optimizer's slots as training does
    with tempfile.TemporaryDirectory() as folder:
        model.save_weights(os.path.join(folder, "weights"))
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        save_run_inputs(RunPaths(folder), config, prepared.statistics, catalogue)
        saved_catalogue = (Path(folder) / "vocab" / "catalogue.npz").stat().st_size
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for batch in batches[1:]:
            step(batch)
        rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    image = getattr(catalogue, "image", None)
    # Versions before the model said what its item tower reads always read the title.
    reads = [name for name, used in (("title", getattr(model, "uses_titles", True)),
                                     ("image", getattr(model, "uses_images", False))) if used]
    print(f"{args.data} (scale {args.scale}): {len(prepared.data.items):,} items, "
          f"{len(prepared.data.events):,} events, tasks {', '.join(t.name for t in config.tasks)}; "
          f"catalogue image array {0 if image is None else image.nbytes / 1e6:,.1f} MB; "
          f"item tower reads id, category, brand, price{''.join(f', {name}' for name in reads)}")
    print(f"checkpoint {size / 1e6:,.1f} MB; saved catalogue {saved_catalogue / 1e6:,.2f} MB; "
          f"training {statistics.median(rates):,.0f} examples/s "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in rates)})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
