"""One line per long step: what was done, how much of it and how fast.

The library reports its long steps (reading and preparing data, writing examples, evaluating,
exporting) through `step`. Lines are printed only within `shown()`, which the command line
enters, so library users and tests see nothing unasked. They go to standard error, apart from
a command's results on standard output.

Example:
    with progress.step("preparing data") as done:
        examples = build_examples(...)
        done.report(f"{events:,} events -> {len(examples):,} examples", len(examples), "examples")
    # preparing data: 86,854 events -> 83,952 examples in 0.4 s (203,875 examples/s)

    with progress.shown():
        ...  # the command
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

_enabled = False


@contextlib.contextmanager
def shown(enabled: bool = True) -> Iterator[None]:
    """Progress lines are printed within the block (not at all with `enabled=False`, for steps
    that repeat within a longer one, such as each epoch's validation)."""
    global _enabled
    before, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = before


class Step:
    """A running step; `report` says what it did before it ends."""

    def __init__(self, what: str):
        self.what = what
        self.start = time.perf_counter()
        self.detail: str | None = None
        self.count: float | None = None
        self.unit = ""

    def report(self, detail: str, count: float | None = None, unit: str = "") -> None:
        """`detail` describes the work; `count` of `unit` gives the rate."""
        self.detail, self.count, self.unit = detail, count, unit

    def line(self, seconds: float) -> str:
        text = f"{self.what}: {self.detail}" if self.detail else self.what
        text += f" in {seconds:.1f} s"
        if self.count is not None and seconds > 0:
            text += f" ({self.count / seconds:,.0f} {self.unit}/s)"
        return text


@contextlib.contextmanager
def step(what: str) -> Iterator[Step]:
    """Times the block and, when enabled, prints its line once it ends without an error."""
    current = Step(what)
    yield current
    if _enabled:
        say(current.line(time.perf_counter() - current.start))


def say(line: str) -> None:
    """Prints one progress line when enabled (after what standard output holds so far)."""
    if not _enabled:
        return
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


class Meter:
    """Progress of a long pass, printed at most every `every` seconds: rows so far, their rate,
    and, when the total work is known, the share done and the time left.

    Example:
        meter = progress.Meter("partitioning events", total=total_bytes)
        for chunk in chunks:
            ...
            meter.advance(len(chunk), work=chunk_bytes)
        # partitioning events: 1,200,000 rows, 41% (310,000 rows/s, about 6 s left)
    """

    def __init__(self, what: str, total: float | None = None, unit: str = "rows", every: float = 10.0):
        self.what, self.total, self.unit, self.every = what, total, unit, every
        self.start = self.last = time.perf_counter()
        self.rows = 0
        self.done = 0.0

    def advance(self, rows: int, work: float | None = None) -> None:
        """`rows` more rows, and `work` more of the total (default: the rows)."""
        self.rows += rows
        self.done += rows if work is None else work
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            say(self.line(now - self.start))

    def line(self, seconds: float) -> str:
        text = f"{self.what}: {self.rows:,} {self.unit}"
        if self.total:
            text += f", {min(self.done / self.total, 1.0):.0%}"
        rate = self.rows / seconds if seconds > 0 else 0.0
        text += f" ({rate:,.0f} {self.unit}/s"
        if self.total and self.done > 0:
            left = seconds * max(self.total - self.done, 0.0) / self.done
            text += f", about {_duration(left)} left"
        return text + ")"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
