"""Training throughput of the five-task model against the same model with only `next_item`.

    python bench/train_throughput.py [--batch-size 512] [--steps 20] [--rounds 3]
        [--position-bias | --history-searches | --extended-events | --variant KEY=VALUE ...]

Both models train on the same batches of the built-in sample, in alternating rounds so that
machine noise hits both alike; the script prints the median examples/s of each and their
ratio. The five-task model should cost at most 2x per example: the towers are shared. With
`--position-bias` the second model is the five-task model with ctr's position tower
(`tasks.ctr.position_bias`) instead, and the ratio is the tower's cost. With
`--history-searches` the second model is the five-task model whose histories hold past
searches (`data.history_includes_searches`), on batches of its own examples (the same
sample, split and order), and the ratio is the cost of the searches per example; with
`--extended-events`, the sample with view and favorite events trains with them as behaviour
against the same events declared without a role (in no history). With `--variant KEY=VALUE`
(repeatable), the second model is the five-task model with those settings, on the same
batches (`--variant model.ranking_item_gradient=encoders`: what the ranking tasks' own pass
of the candidates through the item tower costs).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from timing import print_rates, rates_in_alternating_rounds, rates_of_variants, traced_train_step

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
    return (config, *sample_batches_of(config, steps))


def sample_batches_of(config: Config, steps: int) -> tuple[DataStatistics, Catalogue, list]:
    """The statistics, catalogue and first `steps` training batches of `config`'s sample."""
    batch_size = config.training.batch_size
    prepared = prepare_configured(config)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    dataset = make_dataset(prepared.examples.parts["train"], batch_size=batch_size,
                           history_length=config.data.history_length, shuffle_buffer=20_000, seed=0)
    return prepared.statistics, catalogue, list(dataset.take(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--position-bias", action="store_true", help="against ctr's position tower instead")
    parser.add_argument("--history-searches", action="store_true",
                        help="against the same model with past searches in the history instead")
    parser.add_argument("--extended-events", action="store_true",
                        help="on the sample with view and favorite events: as behaviour against without a role")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                        help="against the five-task model with this setting instead")
    args = parser.parse_args()

    if args.history_searches or args.extended_events:
        pair = SEARCHES if args.history_searches else EXTENDED_EVENTS
        rates = rates_on_own_batches(pair, args)
        first, second = pair
        ratio = statistics.median(rates[first[0]]) / statistics.median(rates[second[0]])
        print(f"cost per example of {second[0]}: {ratio:.2f}x {first[0]}")
        return
    config, statistics_, catalogue, batches = sample_batches(args.batch_size, args.steps, args.preset)
    other = "with position tower" if args.position_bias else "next_item only"
    if args.variant:
        other = ", ".join(args.variant)
        second = load_config(None, [f"training.batch_size={args.batch_size}", *args.variant], preset=args.preset)
    else:
        second = with_position_bias(config) if args.position_bias else select_tasks(config, ["next_item"])
    variants = {"five tasks": config, other: second}
    steps = {name: traced_train_step(name, variant, statistics_, catalogue, batches[0])
             for name, variant in variants.items()}

    rates = rates_in_alternating_rounds(steps, batches, len(batches) * args.batch_size, args.rounds)

    print(f"\nbatch {args.batch_size}, preset {args.preset}, {args.steps} steps x {args.rounds} rounds, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    print_rates(rates)
    if args.position_bias or args.variant:
        ratio = statistics.median(rates["five tasks"]) / statistics.median(rates[other])
        print(f"cost per example with {other}: {ratio:.2f}x the five-task model")
        return
    ratio = statistics.median(rates["next_item only"]) / statistics.median(rates["five tasks"])
    print(f"cost of the five-task model per example: {ratio:.2f}x the next_item-only model")


EXTENDED = str(Path(__file__).resolve().parents[1] / "configs" / "sample_extended_events.yaml")
# (name, overrides) of the two variants that train on batches of their own examples.
SEARCHES = (("five tasks", ()), ("with searches", ("data.history_includes_searches=true",)))
EXTENDED_EVENTS = (("view, favorite without role", (f"@{EXTENDED}", "data.event_types.view=[]",
                                                    "data.event_types.favorite=[]")),
                   ("view, favorite as behaviour", (f"@{EXTENDED}",)))


def rates_on_own_batches(pair: tuple, args: argparse.Namespace) -> dict[str, list[float]]:
    """Examples/s of the two variants of `pair`, each on the first batches of its own examples
    of the built-in sample (a "@FILE" override is the configuration file), in alternating rounds."""
    runs: dict[str, tuple[Callable, Sequence, int]] = {}
    for name, overrides in pair:
        files = [o[1:] for o in overrides if o.startswith("@")]
        config = load_config(files[0] if files else None,
                             [f"training.batch_size={args.batch_size}", *(o for o in overrides if o[0] != "@")],
                             preset=args.preset)
        statistics_, catalogue, batches = sample_batches_of(config, args.steps)
        runs[name] = (traced_train_step(name, config, statistics_, catalogue, batches[0]), batches,
                      len(batches) * args.batch_size)
    rates = rates_of_variants(runs, args.rounds)
    print(f"\nbatch {args.batch_size}, preset {args.preset}, {args.steps} steps x {args.rounds} rounds")
    print_rates(rates, width=30)
    return rates


def with_position_bias(config: Config) -> Config:
    """`config` with ctr's position-bias tower."""
    return dataclasses.replace(config, tasks=tuple(dataclasses.replace(t, position_bias=True) if t.name == "ctr"
                                                   else t for t in config.tasks))


if __name__ == "__main__":
    main()
