"""Side-by-side timing for the benchmarks: variants measured in alternating rounds."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def rates_in_alternating_rounds(steps: dict[str, Callable], batches: Sequence, examples: int,
                                rounds: int) -> dict[str, list[float]]:
    """Examples/s of each variant's step over `batches`, one pass per variant per round, in
    turn, so that machine noise hits every variant alike."""
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
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
