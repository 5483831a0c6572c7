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
