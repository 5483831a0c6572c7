"""Progress lines: one per step with its count and rate, printed only when shown."""

from __future__ import annotations

import re

import pytest

from mtrec_tf import progress


def test_a_step_prints_one_line_with_count_and_rate_when_shown(capsys):
    with progress.shown():
        with progress.step("preparing data") as done:
            done.report("12,345 events -> 3,456 examples", 3456, "examples")
        with progress.step("measuring latency"):
            pass
    out, err = capsys.readouterr()
    assert out == ""
    first, second = err.splitlines()
    assert re.fullmatch(r"preparing data: 12,345 events -> 3,456 examples in \d+\.\d s \([\d,]+ examples/s\)", first)
    assert re.fullmatch(r"measuring latency in \d+\.\d s", second)


def test_nothing_is_printed_unless_shown_nor_for_a_step_that_failed(capsys):
    with progress.step("preparing data") as done:
        done.report("1 event -> 1 example", 1, "examples")
    progress.say("a line")
    with progress.shown(), pytest.raises(ValueError), progress.step("writing examples"):
        raise ValueError("disk full")
    assert capsys.readouterr().err == ""
    assert not progress._enabled
