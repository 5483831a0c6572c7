"""A command's wall time and peak resident memory, for the benchmarks that run each step in a
fresh process."""

from __future__ import annotations

import re
import subprocess
import time


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak resident GB of `command` (under /usr/bin/time -v), and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return seconds, peak_kb / 1024 / 1024, done.stdout
