"""Shared fixtures: the real data folder and a small sample world."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mtrec_tf  # noqa: F401  (selects tf-keras before any test imports TensorFlow)

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`$MTREC_DATA_DIR`, or `../shared/data` beside the repository."""
    return Path(os.environ.get("MTREC_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def sample_world():
    from mtrec_tf.data.sample import generate_sample

    return generate_sample(scale=1, seed=7)
