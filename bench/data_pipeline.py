"""Examples per second out of the tf.data pipeline on the built-in sample.

    python bench/data_pipeline.py [--scale 10] [--batch-size 512] [--repeats 3]
                                  [--sources memory,parquet,tfrecord,buckets] [--no-training]

Prints the time to generate, prepare and write the sample, then the median examples/s
over `--repeats` full shuffled passes for an in-memory table, Parquet shards, TFRecord
shards and the training shards that `mtrec data examples --runner local` writes (one or
more per bucket of users: `buckets`, what `mtrec train --examples` streams), and each
rate's ratio to the training rate of the default five-task model at the same batch size,
measured in the same run on the same machine. The input pipeline must never be what limits
training: a ratio of at least 10.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import mtrec_tf  # noqa: F401
from mtrec_tf.config import DataConfig
from mtrec_tf.data.pipeline import make_dataset, write_shards
from mtrec_tf.data.prepare import load_configured_data, prepare_data


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
    parser.add_argument("--sources", default="memory,parquet,tfrecord,buckets")
    parser.add_argument("--no-training", action="store_true", help="skip the training-rate measurement")
    args = parser.parse_args()
    sources_wanted = [s.strip() for s in args.sources.split(",") if s.strip()]

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

    training_rate = None if args.no_training else measure_training_rate(prepared, config, args.batch_size)
    if training_rate:
        print(f"training rate of the five-task model: {training_rate:,.0f} examples/s (batch {args.batch_size})")

    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for name in sources_wanted:
            if name == "memory":
                sources[name] = train
                continue
            start = time.perf_counter()
            if name == "buckets":
                sources[name] = bucketed_shards(config, Path(tmp) / name)
            else:
                sources[name] = write_shards(train, Path(tmp) / name, name, examples_per_shard=50_000)
            print(f"write {name} shards: {time.perf_counter() - start:.1f} s ({len(sources[name])} shards)")

        print(f"\n{'source':10} {'examples/s':>12} {'ratio to training':>18}  (median of {args.repeats}, "
              f"batch {args.batch_size}, history {args.history_length}, shuffled)")
        for name, source in sources.items():
            dataset = make_dataset(source, batch_size=args.batch_size, history_length=args.history_length,
                                   shuffle_buffer=10_000, seed=0)
            rate, count = examples_per_second(dataset, args.repeats)
            assert count == train.num_rows, (name, count)
            ratio = f"{rate / training_rate:18.1f}" if training_rate else f"{'-':>18}"
            print(f"{name:10} {rate:12,.0f} {ratio}")


def bucketed_shards(data_config: DataConfig, folder: Path) -> list[str]:
    """The training shards of the sample's tables built by the local driver, in its order."""
    import dataclasses

    from mtrec_tf.config import Config
    from mtrec_tf.data.examples_dir import ExamplesDir
    from mtrec_tf.data.sample import generate_sample
    from mtrec_tf.data.scale.local import write_examples_locally

    world = generate_sample(scale=data_config.sample_scale, seed=data_config.sample_seed)
    folder.mkdir(parents=True)
    for name in ("events", "items", "queries"):
        getattr(world, name).to_parquet(folder / f"{name}.parquet")
    tables = {name: str(folder / f"{name}.parquet") for name in ("events", "items", "queries")}
    config = Config(data=dataclasses.replace(data_config, **tables))
    write_examples_locally(config, folder / "examples")
    return ExamplesDir(str(folder / "examples"), json.loads((folder / "examples" / "examples.json").read_text()),
                       config).files("train")


def measure_training_rate(prepared, data_config: DataConfig, batch_size: int, steps: int = 10) -> float:
    """Examples/s of training steps of the default five-task model, after tracing."""
    from mtrec_tf.backend import tf
    from mtrec_tf.config import Config
    from mtrec_tf.data.catalogue import build_catalogue
    from mtrec_tf.training.fit import build_model

    config = Config(data=data_config)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    model = build_model(config, prepared.statistics, catalogue)
    batches = list(make_dataset(prepared.examples.parts["train"], batch_size=batch_size,
                                history_length=data_config.history_length, shuffle_buffer=1, seed=0)
                   .take(steps + 1))
    model.build_from_batch(batches[0])
    step = tf.function(model.train_step)
    step(batches[0])
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    return steps * batch_size / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
