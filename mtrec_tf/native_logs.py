"""Make TensorFlow's native start-up messages honour `TF_CPP_MIN_LOG_LEVEL`.

TensorFlow's C++ libraries log through absl before absl is initialised, and such messages
ignore `TF_CPP_MIN_LOG_LEVEL`: every import prints, twice (two libraries), the banner
"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
the oneDNN notice and, on a machine without a GPU, "Could not find cuda drivers". While
TensorFlow is imported, standard error (file descriptor 2, where C++ writes) goes to a
temporary file; afterwards the lines the level hides are dropped and the rest is written out.

Levels as TensorFlow's: 0 shows everything (nothing is filtered, TensorFlow's own default),
1 hides INFO, 2 also WARNING, 3 also ERROR. Lines that are not absl log lines (Python
warnings, tracebacks) always pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
ABSL_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITIES = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
# absl's prefix: severity letter, MMDD, time, thread id, file:line]
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]\s]+:\d+\] ")


def min_log_level() -> int:
    """`TF_CPP_MIN_LOG_LEVEL` as a number (0 when unset or not a number)."""
    try:
        return int(os.environ.get(LEVEL_VARIABLE, "0"))
    except ValueError:
        return 0


def keep_line(line: bytes, level: int) -> bool:
    """Whether `line` (one line of standard error) is shown at `level`."""
    if level <= 0:
        return True
    if line.rstrip(b"\r\n") == ABSL_BANNER:
        return False
    match = _LOG_LINE.match(line)
    return match is None or _SEVERITIES[match.group(1)] >= level


@contextlib.contextmanager
def native_logs_filtered() -> Iterator[None]:
    """Within the block, standard error is held back, then written out without the lines
    that `TF_CPP_MIN_LOG_LEVEL` hides. At level 0 it does nothing."""
    level = min_log_level()
    if level <= 0:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to redirect
        yield
        return
    with tempfile.TemporaryFile() as held:
        _flush_stderr()
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = b"".join(line for line in held if keep_line(line, level))
            while kept:
                kept = kept[os.write(2, kept):]


def _flush_stderr() -> None:
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
