"""Training speed on a public sequence set: the all-position transformer against per-click training.

    python bench/sequential_speed.py [--data-dir DIR] [--name Toys_and_Games] [--steps 20] [--rounds 3]
        [--config configs/sequential.yaml] [--batch-size N] [--history-length 50] [--set KEY=VALUE ...]

Reads the set as `bench/sequential.py` does and builds, for each variant, the training batches
`mtrec train` would feed it: the transformer training all positions (one example per history
stretch), the transformer trained per click (`positions: last`) and the BiLSTM (per click),
the per-click ones also in batches of about one history length
(`training.length_sorted_batches=64`), each with the full softmax over the catalogue, at the
settings of `bench/sequential.py` (`configs/sequential.yaml`). The compiled training steps run
on their first `--steps` batches in alternating rounds, so that machine noise hits every
variant alike. Prints the clicks learnt per second (each step target of a history, or each
per-click example; the median over rounds), the seconds an epoch of the training part takes
at that rate, and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
from sequential import add_data_arguments, read_sequences, run_config, trained_clicks
from timing import rates_of_variants, traced_train_step

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.tasks.retrieval import step_targets
from mtrec_tf.training.fit import training_examples

VARIANTS = {  # name: (history encoder, positions, training.length_sorted_batches)
    "transformer, all positions": ("transformer", "all", 0),
    "transformer, per click": ("transformer", "last", 0),
    "transformer, per click, sorted": ("transformer", "last", 64),
    "bilstm, per click": ("bilstm", "last", 0),
    "bilstm, per click, sorted": ("bilstm", "last", 64),
}


def clicks_in(batch: tuple, all_positions: bool) -> int:
    """The targets a training step learns from in `batch`."""
    features, labels, masks = batch
    if not all_positions:
        return int(np.sum(masks["next_item"].numpy() > 0))
    _, trains = step_targets(features["history_item_ids"], features["history_event_types"],
                             features["history_time_gaps"], labels["next_item"], masks["next_item"])
    return int(tf.reduce_sum(tf.cast(trains, tf.int32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="training steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # What run_config reads beside these.
    args.epochs, args.patience, args.negatives = 1, 1, 0

    events, items = read_sequences(args.data_dir, args.name, args.attributes)
    data = load_data(events, items)
    runs: dict[str, tuple[Callable, list, int]] = {}  # variant: step, batches, clicks in them
    per_epoch: dict[str, int] = {}
    for name, (encoder, positions, sorted_batches) in VARIANTS.items():
        config = run_config(encoder, "full_softmax", positions, args, seed=0)
        prepared = prepare_data(data, config.data, seed=config.seed)
        catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                    images=False)
        train, _ = training_examples(config, prepared.examples.parts["train"])
        batch_size = config.training.batch_size
        dataset = make_dataset(train, batch_size=batch_size, history_length=config.data.history_length,
                               shuffle_buffer=config.training.shuffle_buffer, seed=config.seed,
                               length_sorted_batches=sorted_batches)
        batches = list(dataset.take(args.steps))
        step = traced_train_step(name, config, prepared.statistics, catalogue, batches[0])
        runs[name] = step, batches, sum(clicks_in(batch, positions == "all") for batch in batches)
        per_epoch[name] = trained_clicks(config, prepared)

    # Each variant's clicks/s on its own batches, the variants in turn within every round.
    rates = rates_of_variants(runs, args.rounds)

    print(f"\n{args.name}: {args.steps} steps of batch {batch_size} per variant and round, "
          f"{args.rounds} alternating rounds, full softmax over {len(items):,} items")
    base = statistics.median(rates["bilstm, per click"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:32} {median:9,.0f} clicks/s (rounds: {', '.join(f'{v:,.0f}' for v in values)}), "
              f"{runs[name][2] / args.steps:6,.0f} clicks/step, epoch ({per_epoch[name]:,} clicks) "
              f"{per_epoch[name] / median:6.1f} s, {median / base:4.1f}x the per-click BiLSTM")


if __name__ == "__main__":
    main()
