"""The Keras 2 half of a bench that compares with DeepCTR, which needs `tf_keras`: run in a
child process of its own (`TF_USE_LEGACY_KERAS=1`), since a process picks its Keras once."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def add_child_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments a bench's child reads: its data folder and seed (hidden from --help)."""
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)


def run_child(script: str, folder: Path, seed: int, max_epochs: int, what: str) -> str:
    """Runs `script --child folder --seed seed --max-epochs max_epochs` under Keras 2; its
    standard output. Stops with the end of the child's error output if it fails."""
    done = subprocess.run([sys.executable, script, "--child", str(folder), "--seed", str(seed),
                           "--max-epochs", str(max_epochs)], capture_output=True, text=True,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise SystemExit(f"{what} failed for seed {seed}:\n{done.stderr[-3000:]}")
    return done.stdout
