"""Fixtures of the tuning tests: a light two-task configuration and a small slice of the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuning_helpers import LIGHT_OVERRIDES


@pytest.fixture(scope="session")
def light_config():
    """The tiny preset with two light tasks and two training steps per trial."""
    from mtrec_tf.config import load_config

    return load_config(None, list(LIGHT_OVERRIDES) + ["tuning.max_trials=3"], preset="tiny")


@pytest.fixture(scope="session")
def light_prepared(tiny_prepared):
    """`tiny_prepared` with 4,000 training and 1,000 validation examples drawn at random (one validation batch)."""
    rng = np.random.default_rng(0)
    parts = dict(tiny_prepared.examples.parts)
    for name, size in (("train", 4000), ("validation", 1000)):
        table = parts[name]
        parts[name] = table.take(np.sort(rng.choice(table.num_rows, size=min(size, table.num_rows), replace=False)))
    examples = dataclasses.replace(tiny_prepared.examples, parts=parts)
    return dataclasses.replace(tiny_prepared, examples=examples)
