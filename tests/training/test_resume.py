"""Training can be interrupted and resumed, and is reproducible on CPU."""

from __future__ import annotations

import pytest


class _Interrupt(Exception):
    pass


def _short(config, epochs):
    import dataclasses

    return dataclasses.replace(config, training=dataclasses.replace(
        config.training, epochs=epochs, steps_per_epoch=3, batch_size=64))


def test_an_interrupted_run_resumes_from_its_backup(tmp_path, tiny_config, tiny_prepared):
    from mtrec_tf.backend import keras
    from mtrec_tf.training.fit import train

    class Preempt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    config = _short(tiny_config, epochs=2)
    with pytest.raises(_Interrupt):
        train(config, tmp_path, prepared=tiny_prepared, verbose=0, extra_callbacks=[Preempt()])
    assert (tmp_path / "checkpoints" / "backup").exists()
    result = train(config, tmp_path, prepared=tiny_prepared, verbose=0)
    # Only the second epoch ran after the restart.
    assert len(result.history["loss"]) == 1
    assert (tmp_path / "checkpoints" / "final" / "weights.index").exists()


def test_training_is_reproducible_on_cpu(tmp_path, tiny_config, tiny_prepared):
    import numpy as np

    from mtrec_tf.training.fit import train

    config = _short(tiny_config, epochs=1)
    first = train(config, tmp_path / "a", prepared=tiny_prepared, verbose=0).model.get_weights()
    second = train(config, tmp_path / "b", prepared=tiny_prepared, verbose=0).model.get_weights()
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
