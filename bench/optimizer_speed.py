"""Training speed of `training.optimizer=adam` against `lazy_adam`, side by side.

    python bench/optimizer_speed.py [--steps 30] [--rounds 3]

Two models, each trained by both optimizers on the same batches, in alternating rounds so
that machine noise hits both alike:
- the online_shopping_10_cats query classifier (`configs/online_shopping.yaml`: a bag of
  2^20 hashed n-gram buckets, batch 256, full texts);
- the default five-task model on the built-in sample (batch 512).
The script prints the median examples/s of each and the speed-up of `lazy_adam`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

from online_shopping import empty_catalogue, text_statistics
from timing import print_rates, rates_in_alternating_rounds

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.config import Config, load_config, select_tasks
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.examples import build_query_examples
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import load_configured_data, prepare_data
from mtrec_tf.data.public import load_online_shopping, stratified_split
from mtrec_tf.training.fit import build_model

OPTIMIZERS = ("adam", "lazy_adam")


def online_shopping_setup(steps: int):
    config = load_config(Path(__file__).resolve().parents[1] / "configs/online_shopping.yaml", [])
    config = select_tasks(config, ["query_category"])
    train, _ = stratified_split(load_online_shopping().frame, test_fraction=0.2, seed=42)
    statistics_ = text_statistics(train["query"], set(train["category"]))
    dataset = make_dataset(build_query_examples(train), batch_size=config.training.batch_size, history_length=1,
                           shuffle_buffer=len(train), seed=0)
    return config, statistics_, empty_catalogue(config.model.max_title_tokens), list(dataset.take(steps))


def sample_setup(steps: int):
    config = load_config(None, ["training.batch_size=512"])
    prepared = prepare_data(load_configured_data(config.data), config.data, seed=config.seed)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens)
    dataset = make_dataset(prepared.examples.parts["train"], batch_size=512,
                           history_length=config.data.history_length, shuffle_buffer=20_000, seed=0)
    return config, prepared.statistics, catalogue, list(dataset.take(steps))


def with_optimizer(config: Config, optimizer: str) -> Config:
    return dataclasses.replace(config, training=dataclasses.replace(config.training, optimizer=optimizer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    for title, setup in (("online_shopping n-gram bag", online_shopping_setup), ("five-task sample", sample_setup)):
        config, statistics_, catalogue, batches = setup(args.steps)
        examples = sum(int(tf.shape(batch[0]["query"])[0]) for batch in batches)
        steps = {}
        for optimizer in OPTIMIZERS:
            model = build_model(with_optimizer(config, optimizer), statistics_, catalogue)
            model.build_from_batch(batches[0])
            steps[optimizer] = tf.function(model.train_step)
            steps[optimizer](batches[0])  # tracing
        rates = rates_in_alternating_rounds(steps, batches, examples, args.rounds)
        print(f"\n{title}: {args.steps} steps x {args.rounds} rounds")
        print_rates(rates, width=10)
        speedup = statistics.median(rates["lazy_adam"]) / statistics.median(rates["adam"])
        print(f"lazy_adam speed-up: {speedup:.2f}x", flush=True)


if __name__ == "__main__":
    main()
