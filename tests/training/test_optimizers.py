"""LazyAdam: Adam's update on the rows a sparse gradient touches, nothing elsewhere; a weight's
own factor of the learning rate; the learning rate's schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import load_config
from mtrec_tf.errors import ConfigError
from mtrec_tf.training.fit import make_optimizer
from mtrec_tf.training.optimizers import LazyAdam, ScaledRateAdam

BETA_1, BETA_2, EPSILON, RATE = 0.9, 0.999, 1e-7, 0.1


def adam_reference(weights: np.ndarray, gradients: list[np.ndarray], rate: float = RATE) -> np.ndarray:
    """Keras's Adam in NumPy, one row's steps: each gradient is one step of that row."""
    m = v = np.zeros_like(weights)
    for step, gradient in enumerate(gradients, start=1):
        m = BETA_1 * m + (1 - BETA_1) * gradient
        v = BETA_2 * v + (1 - BETA_2) * gradient**2
        alpha = rate * np.sqrt(1 - BETA_2**step) / (1 - BETA_1**step)
        weights = weights - alpha * m / (np.sqrt(v) + EPSILON)
    return weights


def sparse(values: list[list[float]], rows: list[int], shape: tuple[int, int]) -> tf.IndexedSlices:
    return tf.IndexedSlices(tf.constant(values, tf.float32), tf.constant(rows, tf.int64), tf.constant(shape, tf.int64))


def test_sparse_gradients_update_only_the_rows_they_touch():
    start = np.arange(8, dtype="float32").reshape(4, 2)
    table = tf.Variable(start)
    optimizer = LazyAdam(RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)
    # Step 1: row 1 twice (its gradients add up) and row 3; step 2: row 1 only.
    optimizer.apply_gradients([(sparse([[1.0, -2.0], [0.5, 0.5], [3.0, 1.0]], [1, 3, 1], (4, 2)), table)])
    optimizer.apply_gradients([(sparse([[-1.0, 2.0]], [1], (4, 2)), table)])
    result = table.numpy()
    np.testing.assert_array_equal(result[[0, 2]], start[[0, 2]])  # never looked up: untouched
    np.testing.assert_allclose(result[1], adam_reference(start[1], [np.array([4.0, -1.0]), np.array([-1.0, 2.0])]),
                               rtol=1e-5)
    # Row 3 was seen at step 1 only: its later steps wait until it is seen again.
    np.testing.assert_allclose(result[3], adam_reference(start[3], [np.array([0.5, 0.5])]), rtol=1e-5)
    momentum = optimizer.variables()[1].numpy()  # [iterations, m, v]
    np.testing.assert_array_equal(momentum[[0, 2]], 0.0)


def test_dense_gradients_get_keras_adam():
    start = np.array([[1.0, -1.0], [0.5, 2.0]], "float32")
    lazy, plain = tf.Variable(start), tf.Variable(start)
    lazy_optimizer, plain_optimizer = LazyAdam(RATE), keras.optimizers.Adam(RATE)
    for gradient in ([[0.1, 0.2], [-0.3, 0.4]], [[1.0, -1.0], [0.0, 0.5]]):
        lazy_optimizer.apply_gradients([(tf.constant(gradient), lazy)])
        plain_optimizer.apply_gradients([(tf.constant(gradient), plain)])
    np.testing.assert_allclose(lazy.numpy(), plain.numpy(), rtol=1e-6)


@pytest.mark.parametrize("optimizer_class", [ScaledRateAdam, LazyAdam])
def test_a_scaled_weight_steps_at_its_factor_of_the_rate_and_the_others_at_the_rate(optimizer_class):
    start = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 3.0]], "float32")
    scaled, unscaled, table = tf.Variable(start), tf.Variable(start), tf.Variable(start)
    optimizer = optimizer_class(RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)
    optimizer.scale_rates([(scaled, 0.25), (table, 3.0)])
    assert optimizer.rate_scale(scaled) == 0.25 and optimizer.rate_scale(unscaled) == 1.0
    gradients = [np.array([[0.1, 0.2], [-0.3, 0.4], [1.0, -2.0]], "float32"),
                 np.array([[1.0, -1.0], [0.0, 0.5], [0.5, 0.5]], "float32")]
    for gradient in gradients:
        optimizer.apply_gradients([(tf.constant(gradient), scaled), (tf.constant(gradient), unscaled),
                                   (sparse(gradient[1:].tolist(), [1, 2], (3, 2)), table)])
    np.testing.assert_allclose(scaled.numpy(), adam_reference(start, gradients, rate=0.25 * RATE), rtol=1e-5)
    np.testing.assert_allclose(unscaled.numpy(), adam_reference(start, gradients), rtol=1e-5)
    # A table's rows at three times the rate, row 0 untouched (LazyAdam) or with Keras's decay of
    # moments that stay zero (ScaledRateAdam): the same weights either way here.
    np.testing.assert_allclose(table.numpy()[1:], adam_reference(start[1:], [g[1:] for g in gradients], rate=3 * RATE),
                               rtol=1e-5)
    np.testing.assert_array_equal(table.numpy()[0], start[0])
    optimizer.scale_rates([])  # new factors replace the old ones
    assert optimizer.rate_scale(scaled) == 1.0


def test_fits_an_embedding_model_and_checkpoints(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,), dtype="int64")
    embedding = keras.layers.Embedding(50, 4)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(embedding(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=LazyAdam(0.05), loss="mse")
    ids = np.random.default_rng(0).integers(0, 10, size=(256, 2))  # rows 10.. never used
    targets = (ids[:, :1] % 3 - ids[:, 1:] % 2).astype("float32")
    before = embedding.get_weights()[0].copy()
    history = model.fit(ids, targets, epochs=5, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    after = embedding.get_weights()[0]
    np.testing.assert_array_equal(after[10:], before[10:])
    assert not np.allclose(after[:10], before[:10])
    # The optimizer's state is checkpointed and restored with the model.
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    state = [v.numpy() for v in model.optimizer.variables()]
    model.fit(ids, targets, epochs=1, batch_size=32, verbose=0)
    checkpoint.restore(path)
    for saved, restored in zip(state, model.optimizer.variables()):
        np.testing.assert_array_equal(saved, restored.numpy())


def test_config_roundtrip_and_amsgrad_refused():
    copy = LazyAdam.from_config(LazyAdam(0.02, beta_1=0.8).get_config())
    assert isinstance(copy, LazyAdam) and copy.beta_1 == 0.8
    assert not copy.jit_compile  # no XLA for the sparse update's tf.unique
    assert float(copy.learning_rate) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="LazyAdam does not support amsgrad"):
        LazyAdam(amsgrad=True)
    with pytest.raises(ValueError, match="ScaledRateAdam does not support amsgrad"):
        ScaledRateAdam(amsgrad=True)


@pytest.mark.parametrize("kind", ["adam", "lazy_adam"])
def test_a_cosine_schedule_decays_the_rate_to_zero_over_the_run(kind):
    config = load_config(None, [f"training.optimizer={kind}", "training.learning_rate=0.01",
                                "training.learning_rate_schedule=cosine"])
    optimizer = make_optimizer(config, total_steps=10)
    weights = tf.Variable(np.ones((3, 2), "float32"))
    rates = []
    for _ in range(11):
        optimizer.apply_gradients([(tf.ones_like(weights), weights)])
        rates.append(float(optimizer.learning_rate))  # the rate of the step just taken
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * min(step, 10) / 10)) for step in range(11)]
    np.testing.assert_allclose(rates, expected, atol=1e-7)
    # Without it, or without the run's length, the rate stays put.
    assert float(make_optimizer(config).learning_rate) == pytest.approx(0.01)
    constant = load_config(None, ["training.learning_rate=0.01"])
    assert float(make_optimizer(constant, total_steps=10).learning_rate) == pytest.approx(0.01)


def test_an_unknown_schedule_is_refused_by_name():
    with pytest.raises(ConfigError, match="training.learning_rate_schedule"):
        load_config(None, ["training.learning_rate_schedule=linear"])
