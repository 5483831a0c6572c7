"""Shared helpers for the layer tests: config round trips and save/reload checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mtrec_tf  # noqa: F401  (selects tf-keras before anything imports TensorFlow)
from mtrec_tf.backend import keras


def _as_list(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def assert_outputs_close(actual: Any, expected: Any, atol: float = 1e-5) -> None:
    actual, expected = _as_list(actual), _as_list(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=atol)


@pytest.fixture
def config_roundtrip() -> Callable[..., keras.layers.Layer]:
    """`check(layer, inputs, **call_kwargs)`: rebuilds `layer` from its config and compares.

    The copy must have an equal config and, given the original's weights, equal outputs.
    Returns the copy.
    """

    def check(layer: keras.layers.Layer, inputs: Any, **call_kwargs: Any) -> keras.layers.Layer:
        expected = layer(inputs, **call_kwargs)
        config = layer.get_config()
        copy = type(layer).from_config(config)
        assert copy.get_config() == config
        copy(inputs, **call_kwargs)  # builds the weights
        copy.set_weights(layer.get_weights())
        assert_outputs_close(copy(inputs, **call_kwargs), expected)
        return copy

    return check


@pytest.fixture(params=["keras", "savedmodel"])
def save_format(request: pytest.FixtureRequest) -> str:
    """Both tf-keras formats: the Keras v3 `.keras` zip file and a TensorFlow SavedModel folder."""
    return request.param


@pytest.fixture
def save_and_reload(tmp_path: Path) -> Callable[..., keras.Model]:
    """`check(model, inputs, fmt)`: saves `model`, reloads it without custom objects, compares.

    `save_traces=False` (SavedModel only) stores layer configs without per-layer traces;
    the model is then rebuilt from the registered classes, which is what reloading
    exercises, in a fraction of the time.
    """

    def check(model: keras.Model, inputs: Any, fmt: str, save_traces: bool = True) -> keras.Model:
        expected = model(inputs, training=False)
        if fmt == "keras":
            path = tmp_path / "model.keras"
            model.save(path)
        else:
            path = tmp_path / "saved_model"
            model.save(path, save_format="tf", save_traces=save_traces)
        reloaded = keras.models.load_model(path)  # no custom_objects: layers are registered
        assert_outputs_close(reloaded(inputs, training=False), expected)
        return reloaded

    return check
