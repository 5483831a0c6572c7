"""Training throughput of the five-task model against the same model with only `next_item`.

    python bench/train_throughput.py [--batch-size 512] [--steps 20] [--rounds 3] [--position-bias]

Both models train on the same batches of the built-in sample, in alternating rounds so that
machine noise hits both alike; the script prints the median examples/s of each and their
ratio. The five-task model should cost at most 2x per example: the towers are shared. With
`--position-bias` the second model is the five-task model with ctr's position tower
(`tasks.ctr.position_bias`) instead, and the ratio is the tower's cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from timing import print_rates, rates_in_alternating_rounds, traced_train_step

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.config import Config, load_config, select_tasks
from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.data.statistics import DataStatistics


def sample_batches(batch_size: int, steps: int, preset: str = "default",
                   ) -> tuple[Config, DataStatistics, Catalogue, list]:
    """The configuration of `preset`, and the first `steps` training batches of the built-in sample."""
    config = load_config(None, [f"training.batch_size={batch_size}"], preset=preset)
    prepared = prepare_configured(config)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    dataset = make_dataset(prepared.examples.parts["train"], batch_size=batch_size,
                           history_length=config.data.history_length, shuffle_buffer=20_000, seed=0)
    return config, prepared.statistics, catalogue, list(dataset.take(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--position-bias", action="store_true", help="against ctr's position tower instead")
    args = parser.parse_args()

    config, statistics_, catalogue, batches = sample_batches(args.batch_size, args.steps, args.preset)
    other = "with position tower" if args.position_bias else "next_item only"
    variants = {"five tasks": config, other: with_position_bias(config) if args.position_bias
                else select_tasks(config, ["next_item"])}
    steps = {name: traced_train_step(name, variant, statistics_, catalogue, batches[0])
             for name, variant in variants.items()}

    rates = rates_in_alternating_rounds(steps, batches, len(batches) * args.batch_size, args.rounds)

    print(f"\nbatch {args.batch_size}, preset {args.preset}, {args.steps} steps x {args.rounds} rounds, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    print_rates(rates)
    if args.position_bias:
        ratio = statistics.median(rates["five tasks"]) / statistics.median(rates[other])
        print(f"cost of ctr's position tower per example: {ratio:.2f}x the five-task model")
        return
    ratio = statistics.median(rates["next_item only"]) / statistics.median(rates["five tasks"])
    print(f"cost of the five-task model per example: {ratio:.2f}x the next_item-only model")


def with_position_bias(config: Config) -> Config:
    """`config` with ctr's position-bias tower."""
    return dataclasses.replace(config, tasks=tuple(dataclasses.replace(t, position_bias=True) if t.name == "ctr"
                                                   else t for t in config.tasks))


if __name__ == "__main__":
    main()
