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


def test_a_meter_prints_rows_rate_share_and_time_left_at_most_every_interval(capsys, monkeypatch):
    clock = iter([0.0, 5.0, 12.0, 14.0, 30.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.shown():
        meter = progress.Meter("partitioning events", total=1000.0, unit="events", every=10.0)
        meter.advance(100)  # at 5 s: too soon
        meter.advance(200, work=300.0)  # at 12 s: 300 events, 40% of the work
        meter.advance(100)  # at 14 s: too soon after the last line
        meter.advance(600, work=600.0)  # at 30 s
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["partitioning events: 300 events, 40% (25 events/s, about 18 s left)",
                     "partitioning events: 1,000 events, 100% (33 events/s, about 0 s left)"]
