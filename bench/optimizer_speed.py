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
import functools
import statistics

from online_shopping import CONFIG, empty_catalogue, query_dataset, text_statistics
from timing import print_rates, rates_in_alternating_rounds, traced_train_step
from train_throughput import sample_batches

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.config import OPTIMIZERS, Config, load_config, select_tasks
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.public import load_online_shopping, stratified_split
from mtrec_tf.data.statistics import DataStatistics


def online_shopping_batches(steps: int) -> tuple[Config, DataStatistics, Catalogue, list]:
    """The online_shopping configuration, and the first `steps` batches of its training part."""
    config = select_tasks(load_config(CONFIG, []), ["query_category"])
    train, _ = stratified_split(load_online_shopping().frame, test_fraction=0.2, seed=42)
    statistics_ = text_statistics(train["query"], set(train["category"]))
    batches = list(query_dataset(config, train).take(steps))
    return config, statistics_, empty_catalogue(), batches


def with_optimizer(config: Config, optimizer: str) -> Config:
    return dataclasses.replace(config, training=dataclasses.replace(config.training, optimizer=optimizer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    for title, setup in (("online_shopping n-gram bag", online_shopping_batches),
                         ("five-task sample", functools.partial(sample_batches, 512))):
        config, statistics_, catalogue, batches = setup(args.steps)
        examples = sum(int(tf.shape(batch[0]["query"])[0]) for batch in batches)
        steps = {optimizer: traced_train_step(optimizer, with_optimizer(config, optimizer), statistics_, catalogue,
                                              batches[0])
                 for optimizer in OPTIMIZERS}
        rates = rates_in_alternating_rounds(steps, batches, examples, args.rounds)
        print(f"\n{title}: {args.steps} steps x {args.rounds} rounds")
        print_rates(rates, width=10)
        speedup = statistics.median(rates["lazy_adam"]) / statistics.median(rates["adam"])
        print(f"lazy_adam speed-up: {speedup:.2f}x", flush=True)


if __name__ == "__main__":
    main()
