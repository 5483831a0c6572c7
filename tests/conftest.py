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


@pytest.fixture(scope="session")
def tiny_config():
    from mtrec_tf.config import load_config

    return load_config(None, ["data.sample_seed=7"], preset="tiny")


@pytest.fixture(scope="session")
def tiny_prepared(sample_world, tiny_config):
    """The sample world (seed 7) prepared with the tiny preset."""
    from mtrec_tf.data.prepare import prepare_data
    from mtrec_tf.data.readers import load_data

    data = load_data(sample_world.events, sample_world.items, sample_world.queries)
    return prepare_data(data, tiny_config.data, seed=tiny_config.seed)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_config, tiny_prepared):
    """A run of the five-task model trained briefly on the tiny preset, then evaluated."""
    import dataclasses

    from mtrec_tf.evaluation.report import evaluate_run
    from mtrec_tf.training.fit import train

    config = dataclasses.replace(
        tiny_config, training=dataclasses.replace(tiny_config.training, epochs=2, steps_per_epoch=80,
                                                  learning_rate=0.01))
    run_dir = tmp_path_factory.mktemp("run")
    result = train(config, run_dir, prepared=tiny_prepared, verbose=0)
    report = evaluate_run(run_dir, prepared=tiny_prepared)
    return result, report
