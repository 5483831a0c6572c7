"""Training can be interrupted and resumed, and is reproducible on CPU."""

from __future__ import annotations

import pytest


class _Interrupt(Exception):
    pass


def _short(config, epochs):
    import dataclasses

    return dataclasses.replace(config, training=dataclasses.replace(
        config.training, epochs=epochs, steps_per_epoch=3, batch_size=64))


class _OptimizerState:
    """The optimizer's step count and variables, as numbers."""

    @staticmethod
    def of(model):
        optimizer = model.optimizer
        return int(optimizer.iterations.numpy()), [v.numpy().copy() for v in optimizer.variables]


@pytest.fixture(scope="module")
def from_shards(sample_world, tmp_path_factory):
    """The tiny preset training from the examples folder of the sample's tables."""
    from mtrec_tf.config import dump_config, load_config
    from mtrec_tf.data.examples_dir import use_examples
    from mtrec_tf.data.prepare import prepare_configured, write_prepared
    from mtrec_tf.io_utils import write_text_atomic

    folder = tmp_path_factory.mktemp("tables")
    for name in ("events", "items", "queries"):
        getattr(sample_world, name).to_parquet(folder / f"{name}.parquet")
    config = load_config(None, [f"data.{name}={folder / f'{name}.parquet'}" for name in ("events", "items", "queries")],
                         preset="tiny")
    write_prepared(prepare_configured(config), folder / "examples", examples_per_shard=20_000)
    write_text_atomic(folder / "examples" / "config.yaml", dump_config(config))
    return use_examples(config, folder / "examples")


@pytest.mark.parametrize("source", ["memory", "shards"])
def test_an_interrupted_run_resumes_with_its_history_and_optimizer_state(tmp_path, tiny_config, tiny_prepared,
                                                                         from_shards, caplog, source):
    import dataclasses
    import json
    import math

    import numpy as np

    from mtrec_tf.backend import keras
    from mtrec_tf.training.fit import train
    from mtrec_tf.training.run_dir import load_run_inputs

    saved = {}
    prepared = tiny_prepared if source == "memory" else None

    class Preempt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved["state"] = _OptimizerState.of(self.model)

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    class Restored(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            saved.setdefault("restored", (epoch, _OptimizerState.of(self.model)))

    config = _short(tiny_config if source == "memory" else from_shards, epochs=3)
    # A decaying rate resumes where it stopped: its step count is the optimizer's.
    config = dataclasses.replace(config, training=dataclasses.replace(config.training,
                                                                      learning_rate_schedule="cosine"))
    with pytest.raises(_Interrupt):
        train(config, tmp_path, prepared=prepared, verbose=0, extra_callbacks=[Preempt()])
    assert (tmp_path / "checkpoints" / "backup").exists()
    first = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))["epochs"]
    assert len(first["loss"]) == 1
    with caplog.at_level("WARNING"):
        result = train(config, tmp_path, prepared=prepared, verbose=0, extra_callbacks=[Restored()])
    assert "is unbuilt" not in caplog.text
    # From shards, the resumed run reads the same folder again.
    assert load_run_inputs(tmp_path)[0].data.examples == config.data.examples
    assert (result.prepared is None) == (source == "shards")
    # The step count and the moments are those of the end of the first epoch.
    epoch, (steps, variables) = saved["restored"]
    saved_steps, saved_variables = saved["state"]
    assert epoch == 1 and steps == saved_steps == 3
    assert len(variables) == len(saved_variables) > 1
    for restored, before in zip(variables, saved_variables):
        np.testing.assert_array_equal(restored, before)
    assert int(result.model.optimizer.iterations.numpy()) == 9
    last_rate = config.training.learning_rate * 0.5 * (1 + math.cos(math.pi * 8 / 9))
    assert float(result.model.optimizer.learning_rate) == pytest.approx(last_rate, rel=1e-3)
    # Every epoch is in the history: the one before the interruption kept as it was logged.
    history = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))["epochs"]
    assert len(history["loss"]) == 3 and history["loss"][0] == first["loss"][0]
    assert result.history["loss"] == history["loss"]
    assert (tmp_path / "checkpoints" / "final" / "weights.index").exists()


def test_a_finished_run_is_refused_unless_overwritten(tmp_path, tiny_config, tiny_prepared):
    from mtrec_tf.training.fit import train

    config = _short(tiny_config, epochs=1)
    train(config, tmp_path, prepared=tiny_prepared, verbose=0)
    (tmp_path / "export" / "mtrec" / "1").mkdir(parents=True)
    final = (tmp_path / "checkpoints" / "final" / "weights.index").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match=rf"{tmp_path} holds a finished run .* give --overwrite"):
        train(config, tmp_path, prepared=tiny_prepared, verbose=0)
    assert (tmp_path / "checkpoints" / "final" / "weights.index").stat().st_mtime_ns == final
    result = train(_short(tiny_config, epochs=2), tmp_path, prepared=tiny_prepared, verbose=0, overwrite=True)
    # Trained from scratch: both epochs ran, none was restored from the earlier run.
    assert len(result.history["loss"]) == 2 and int(result.model.optimizer.iterations.numpy()) == 6
    assert (tmp_path / "export" / "mtrec" / "1").is_dir()


def test_training_is_reproducible_on_cpu(tmp_path, tiny_config, tiny_prepared):
    import numpy as np

    from mtrec_tf.training.fit import train

    config = _short(tiny_config, epochs=1)
    first = train(config, tmp_path / "a", prepared=tiny_prepared, verbose=0).model.get_weights()
    second = train(config, tmp_path / "b", prepared=tiny_prepared, verbose=0).model.get_weights()
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
