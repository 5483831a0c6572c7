"""A run trained from an examples folder's shards (`data.examples`) is interrupted and resumed as one from tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mtrec_tf.config import Config, dump_config, load_config
from mtrec_tf.data.examples_dir import use_examples
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.io_utils import write_text_atomic


class _Interrupt(Exception):
    pass


def _short(config: Config, epochs: int) -> Config:
    return dataclasses.replace(config, training=dataclasses.replace(
        config.training, epochs=epochs, steps_per_epoch=3, batch_size=64))


class _OptimizerState:
    """The optimizer's step count and variables, as numbers."""

    @staticmethod
    def of(model) -> tuple[int, list[np.ndarray]]:
        optimizer = model.optimizer
        return int(optimizer.iterations.numpy()), [v.numpy().copy() for v in optimizer.variables]


@pytest.fixture(scope="module")
def examples(sample_world, tmp_path_factory) -> tuple[Config, Path]:
    """The sample's tables, their examples written as Parquet shards, and the tiny preset training from them."""
    folder = tmp_path_factory.mktemp("shards")
    tables = [f"data.{name}={folder / f'{name}.parquet'}" for name in ("events", "items", "queries")]
    for name in ("events", "items", "queries"):
        getattr(sample_world, name).to_parquet(folder / f"{name}.parquet")
    config = load_config(None, tables, preset="tiny")
    write_prepared(prepare_configured(config), folder / "examples", examples_per_shard=20_000)
    write_text_atomic(folder / "examples" / "config.yaml", dump_config(config))
    return use_examples(config, folder / "examples"), folder / "examples"


def test_an_interrupted_run_from_shards_resumes_with_its_history_and_optimizer_state(tmp_path, examples, caplog,
                                                                                     monkeypatch):
    from mtrec_tf.backend import keras
    from mtrec_tf.training import fit
    from mtrec_tf.training.run_dir import load_run_inputs

    shards, folder = examples
    config = _short(shards, epochs=3)
    saved: dict = {}

    class Preempt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved["state"] = _OptimizerState.of(self.model)

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    class Restored(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            saved.setdefault("restored", (epoch, _OptimizerState.of(self.model)))

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.setdefault("uninterrupted", _OptimizerState.of(self.model))

    def no_tables(*args, **kwargs):
        raise AssertionError("a run from shards prepared examples from the tables")

    monkeypatch.setattr(fit, "prepare_configured", no_tables)
    run = tmp_path / "run"
    with pytest.raises(_Interrupt):
        fit.train(config, run, verbose=0, extra_callbacks=[Preempt()])
    assert (run / "checkpoints" / "backup").exists()
    first = json.loads((run / "history.json").read_text(encoding="utf-8"))["epochs"]
    assert len(first["loss"]) == 1
    with caplog.at_level("WARNING"):
        result = fit.train(config, run, verbose=0, extra_callbacks=[Restored()])
    assert "is unbuilt" not in caplog.text
    # The step count and the moments are those of the end of the first epoch.
    epoch, (steps, variables) = saved["restored"]
    saved_steps, saved_variables = saved["state"]
    assert epoch == 1 and steps == saved_steps == 3
    assert len(variables) == len(saved_variables) > 1
    for restored, before in zip(variables, saved_variables):
        np.testing.assert_array_equal(restored, before)
    assert int(result.model.optimizer.iterations.numpy()) == 9
    # Every epoch is in the history: the one before the interruption kept as it was logged.
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))["epochs"]
    assert len(history["loss"]) == 3 and history["loss"][0] == first["loss"][0]
    assert result.history["loss"] == history["loss"]
    assert (run / "checkpoints" / "final" / "weights.index").exists()
    # Up to the interruption, the run is the uninterrupted one; it ends after as many steps and epochs.
    uninterrupted = fit.train(config, tmp_path / "uninterrupted", verbose=0, extra_callbacks=[FirstEpoch()])
    _, uninterrupted_variables = saved["uninterrupted"]
    for restored, before in zip(variables, uninterrupted_variables):
        np.testing.assert_array_equal(restored, before)
    assert {name: values[0] for name, values in history.items()} == {
        name: values[0] for name, values in uninterrupted.history.items()}
    assert result.history.keys() == uninterrupted.history.keys()
    assert int(uninterrupted.model.optimizer.iterations.numpy()) == 9
    # The resumed run still read the shards, and records them as its examples.
    assert result.prepared is None
    assert load_run_inputs(run)[0].data.examples == str(folder)
    report = json.loads((run / "data_report.json").read_text(encoding="utf-8"))
    assert report["examples"]["counts"] == json.loads((folder / "examples.json").read_text())["examples"]
