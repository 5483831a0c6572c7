"""TensorFlow's native start-up lines follow TF_CPP_MIN_LOG_LEVEL; other output passes untouched."""

from __future__ import annotations

import os
import sys

import pytest

from mtrec_tf.native_logs import ABSL_BANNER, keep_line, native_logs_filtered

INFO = b"I0000 00:00:1796157892.060174   14452 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
WARNING = b"W0000 00:00:1796157892.060174   14452 port.cc:153] a warning\n"
ERROR = b"E0000 00:00:1796157892.303327   14452 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
PLAIN = b"/site-packages/module.py:12: UserWarning: a Python warning\n"


@pytest.mark.parametrize("level, kept", [
    (0, [ABSL_BANNER + b"\n", INFO, WARNING, ERROR, PLAIN]),
    (1, [WARNING, ERROR, PLAIN]),
    (2, [ERROR, PLAIN]),
    (3, [PLAIN]),
])
def test_lines_below_the_level_are_dropped_and_others_kept(level, kept):
    lines = [ABSL_BANNER + b"\n", INFO, WARNING, ERROR, PLAIN]
    assert [line for line in lines if keep_line(line, level)] == kept


@pytest.mark.parametrize("level, expected", [
    ("3", PLAIN + b"from Python\n"),
    ("0", ABSL_BANNER + b"\n" + INFO + ERROR + PLAIN + b"from Python\n"),
])
def test_what_is_written_to_standard_error_in_the_block_comes_out_filtered(level, expected, monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    with native_logs_filtered():
        for line in (ABSL_BANNER + b"\n", INFO, ERROR, PLAIN):
            os.write(2, line)  # as C++ code writes
        print("from Python", file=sys.stderr)
    # (pytest sends Python's writes past file descriptor 2: only their presence is checked)
    assert sorted(capfd.readouterr().err.encode().splitlines()) == sorted(expected.splitlines())


def test_standard_error_is_restored_after_an_error_in_the_block(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with pytest.raises(ImportError), native_logs_filtered():
        os.write(2, INFO + b"held back\n")
        raise ImportError("no such module")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "held back\nafter\n"
