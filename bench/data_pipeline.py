"""Examples per second out of the tf.data pipeline on the built-in sample.

    python bench/data_pipeline.py [--scale 10] [--batch-size 512] [--repeats 3]

Prints the time to generate, prepare and write the sample, then the median examples/s
over `--repeats` full passes for TFRecord shards, Parquet shards and an in-memory table,
and each rate's ratio to the reference training rate (one BiLSTM(64) tower over a 50-long
history, 3,100 examples/s on 2 CPU cores; DESIGN.md section 1). The input pipeline must
never be what limits training: a ratio of at least 10.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mtrec_tf  # noqa: F401
from mtrec_tf.config import DataConfig
from mtrec_tf.data.pipeline import make_dataset, write_shards
from mtrec_tf.data.prepare import load_configured_data, prepare_data

REFERENCE_TRAINING_RATE = 3_100.0


def examples_per_second(dataset, repeats: int) -> tuple[float, int]:
    rates, count = [], 0
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        for features, _, _ in dataset:
            count += int(features["user_id"].shape[0])
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--history-length", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = DataConfig(sample_scale=args.scale, history_length=args.history_length)
    start = time.perf_counter()
    data = load_configured_data(config)
    loaded = time.perf_counter()
    prepared = prepare_data(data, config)
    built = time.perf_counter()
    train = prepared.examples.parts["train"]
    print(f"sample scale {args.scale}: {len(data.events):,} events, {len(data.items):,} items; "
          f"{train.num_rows:,} training examples")
    print(f"generate + validate {loaded - start:.1f} s, split + build examples + statistics {built - loaded:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for fmt in ("tfrecord", "parquet"):
            start = time.perf_counter()
            sources[fmt] = write_shards(train, Path(tmp) / fmt, fmt, examples_per_shard=50_000)
            print(f"write {fmt} shards: {time.perf_counter() - start:.1f} s ({len(sources[fmt])} shards)")
        sources["memory"] = train

        print(f"\n{'source':10} {'examples/s':>12} {'ratio to 3,100/s':>18}  (median of {args.repeats}, "
              f"batch {args.batch_size}, history {args.history_length}, shuffled)")
        for name, source in sources.items():
            dataset = make_dataset(source, batch_size=args.batch_size, history_length=args.history_length,
                                   shuffle_buffer=10_000, seed=0)
            rate, count = examples_per_second(dataset, args.repeats)
            assert count == train.num_rows, (name, count)
            print(f"{name:10} {rate:12,.0f} {rate / REFERENCE_TRAINING_RATE:18.1f}")


if __name__ == "__main__":
    main()
