"""Side-by-side timing for the benchmarks: variants measured in alternating rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from mtrec_tf.backend import tf
from mtrec_tf.config import Config
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.training.fit import build_model


def traced_train_step(name: str, config: Config, statistics: DataStatistics, catalogue: Catalogue,
                      first_batch: Any) -> Callable:
    """The compiled training step of a fresh model of `config`, traced on `first_batch`
    (the tracing time is printed, and kept out of the rounds)."""
    model = build_model(config, statistics, catalogue)
    model.build_from_batch(first_batch)
    step = tf.function(model.train_step)
    start = time.perf_counter()
    step(first_batch)
    print(f"{name}: first step (tracing) {time.perf_counter() - start:.1f} s", flush=True)
    return step


def rates_in_alternating_rounds(steps: dict[str, Callable], batches: Sequence, examples: int,
                                rounds: int) -> dict[str, list[float]]:
    """Examples/s of each variant's step over `batches`, one pass per variant per round, in
    turn, so that machine noise hits every variant alike."""
    return rates_of_variants({name: (step, batches, examples) for name, step in steps.items()}, rounds)


def rates_of_variants(runs: dict[str, tuple[Callable, Sequence, int]], rounds: int) -> dict[str, list[float]]:
    """Examples/s of each variant's step over its own batches (`runs`: name -> step, batches,
    the examples in them), one pass per variant per round, in turn."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (step, batches, examples) in runs.items():
            start = time.perf_counter()
            for batch in batches:
                step(batch)
            rates[name].append(examples / (time.perf_counter() - start))
    return rates


def print_rates(rates: dict[str, list[float]], width: int = 16) -> None:
    """One line per variant: the median examples/s and every round's."""
    for name, values in rates.items():
        print(f"{name:{width}} {statistics.median(values):9,.0f} examples/s  (rounds: "
              + ", ".join(f"{v:,.0f}" for v in values) + ")")
