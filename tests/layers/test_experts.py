"""MixtureOfExperts (MMoE) and ProgressiveLayeredExtraction (PLE) against loop-by-loop NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers import MixtureOfExperts, ProgressiveLayeredExtraction

RNG = np.random.default_rng(3)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def mmoe_reference(x, expert_kernel, gate_kernel, expert_bias, gate_bias):
    """One sample at a time, one expert at a time."""
    num_experts, num_tasks = expert_kernel.shape[0], gate_kernel.shape[0]
    outputs = [np.zeros((x.shape[0], expert_kernel.shape[2])) for _ in range(num_tasks)]
    for n in range(x.shape[0]):
        experts = [relu(x[n] @ expert_kernel[e] + expert_bias[e]) for e in range(num_experts)]
        for t in range(num_tasks):
            gate = softmax(x[n] @ gate_kernel[t] + gate_bias[t])
            outputs[t][n] = sum(gate[e] * experts[e] for e in range(num_experts))
    return outputs


def ple_reference(x, weights, tasks, shared, per_task, levels):
    """PLE as in Tang et al. (2020), written with explicit loops over tasks and experts."""
    outputs = [np.zeros((x.shape[0], weights[0]["expert_kernel"].shape[2])) for _ in range(tasks)]
    for n in range(x.shape[0]):
        task_in, shared_in = [x[n]] * tasks, x[n]
        for level in range(levels):
            w = weights[level]
            ek, eb = w["expert_kernel"], w["expert_bias"]

            def expert(e, inp, ek=ek, eb=eb):
                return relu(inp @ ek[e] + eb[e])

            own = [[expert(k * per_task + m, task_in[k]) for m in range(per_task)] for k in range(tasks)]
            common = [expert(tasks * per_task + s, shared_in) for s in range(shared)]
            new_task_in = []
            for k in range(tasks):
                gate = softmax(task_in[k] @ w["task_gate_kernel"][k] + w["task_gate_bias"][k])
                candidates = own[k] + common
                new_task_in.append(sum(g * c for g, c in zip(gate, candidates)))
            if level < levels - 1:
                gate = softmax(shared_in @ w["shared_gate_kernel"] + w["shared_gate_bias"])
                everything = [e for group in own for e in group] + common
                shared_in = sum(g * c for g, c in zip(gate, everything))
            task_in = new_task_in
        for k in range(tasks):
            outputs[k][n] = task_in[k]
    return outputs


def randomize(layer):
    """Random weights (kept by name) for `layer`, which must be built."""
    values = {}
    for variable in layer.weights:
        value = RNG.normal(scale=0.7, size=variable.shape).astype("float32")
        variable.assign(value)
        values[variable.name.split("/")[-1].split(":")[0]] = value
    return values


# ---------------------------------------------------------------------------- MMoE


def test_mmoe_output_shapes_and_batched_kernel():
    layer = MixtureOfExperts(num_experts=4, expert_units=5, num_tasks=3)
    outputs, gates = layer(tf.zeros((2, 7)), return_gates=True)
    assert [o.shape for o in outputs] == [(2, 5)] * 3
    assert gates.shape == (2, 3, 4)
    np.testing.assert_allclose(gates.numpy().sum(-1), 1.0, atol=1e-6)
    assert layer.expert_kernel.shape == (4, 7, 5)  # one batched kernel for all experts
    assert layer.gate_kernel.shape == (3, 7, 4)
    assert len(layer.trainable_weights) == 4


def test_mmoe_matches_numpy_reference():
    x = RNG.normal(size=(5, 6)).astype("float32")
    layer = MixtureOfExperts(num_experts=3, expert_units=4, num_tasks=2)
    layer.build(x.shape)
    w = randomize(layer)
    expected = mmoe_reference(x, w["expert_kernel"], w["gate_kernel"], w["expert_bias"], w["gate_bias"])
    for got, want in zip(layer(x), expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_mmoe_constant_initializers():
    # Equal gate kernels give uniform gates; equal expert kernels give equal experts.
    x = RNG.normal(size=(3, 2)).astype("float32")
    layer = MixtureOfExperts(
        num_experts=3,
        expert_units=2,
        num_tasks=2,
        activation="linear",
        kernel_initializer=keras.initializers.Constant(0.25),
        bias_initializer=keras.initializers.Constant(1.0),
    )
    expected = x.sum(axis=1, keepdims=True) * 0.25 + 1.0  # every expert: x . 0.25 + 1
    for task in layer(x):
        np.testing.assert_allclose(task, np.repeat(expected, 2, axis=1), atol=1e-6)


def test_mmoe_experts_start_different_with_glorot_scale():
    layer = MixtureOfExperts(num_experts=8, expert_units=64, num_tasks=1)
    layer.build((None, 64))
    kernel = layer.expert_kernel.numpy()
    assert not np.allclose(kernel[0], kernel[1])
    # Each expert is initialised like one Dense(64) kernel: std sqrt(2 / (64 + 64)).
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / 128), rtol=0.1)
    seeded = MixtureOfExperts(4, 3, 1, kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    seeded.build((None, 5))
    assert not np.allclose(seeded.expert_kernel[0], seeded.expert_kernel[1])


def test_mmoe_config_roundtrip(config_roundtrip):
    x = RNG.normal(size=(4, 6)).astype("float32")
    layer = MixtureOfExperts(3, 4, 2, activation="gelu", use_bias=False, kernel_regularizer="l2")
    copy = config_roundtrip(layer, x)
    assert copy.get_config()["num_experts"] == 3 and not copy.use_bias


def test_mmoe_save_and_reload(save_and_reload, save_format):
    x = RNG.normal(size=(4, 6)).astype("float32")
    inputs = keras.Input((6,))
    towers = MixtureOfExperts(3, 4, 2)(inputs)
    heads = {f"task_{k}": keras.layers.Dense(1)(t) for k, t in enumerate(towers)}
    save_and_reload(keras.Model(inputs, heads), x, save_format)


# ---------------------------------------------------------------------------- PLE


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_ple_output_shapes_and_batched_kernel(levels):
    layer = ProgressiveLayeredExtraction(
        num_tasks=3, num_shared_experts=2, num_task_experts=1, expert_units=4, num_levels=levels
    )
    outputs = layer(tf.zeros((2, 7)))
    assert [o.shape for o in outputs] == [(2, 4)] * 3
    kernels = [w for w in layer.weights if w.name.endswith("expert_kernel:0")]
    assert [k.shape for k in kernels] == [(5, 7, 4)] + [(5, 4, 4)] * (levels - 1)
    shared_gates = [w for w in layer.weights if "shared_gate" in w.name]
    assert len(shared_gates) == 2 * (levels - 1)  # no shared gate at the last level


@pytest.mark.parametrize(
    "tasks, shared, per_task, levels", [(2, 2, 1, 2), (3, 1, 2, 3), (2, 0, 2, 2), (2, 3, 0, 2)]
)
def test_ple_matches_numpy_reference(tasks, shared, per_task, levels):
    x = RNG.normal(size=(4, 5)).astype("float32")
    layer = ProgressiveLayeredExtraction(tasks, shared, per_task, expert_units=3, num_levels=levels)
    layer.build(x.shape)
    values = randomize(layer)
    weights = [
        {
            key[len(f"level_{level}_"):]: value
            for key, value in values.items()
            if key.startswith(f"level_{level}_")
        }
        for level in range(levels)
    ]
    expected = ple_reference(x, weights, tasks, shared, per_task, levels)
    for got, want in zip(layer(x), expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_ple_constant_initializers():
    x = RNG.normal(size=(3, 2)).astype("float32")
    layer = ProgressiveLayeredExtraction(
        2,
        2,
        1,
        expert_units=2,
        num_levels=2,
        activation="linear",
        kernel_initializer=keras.initializers.Constant(0.5),
        bias_initializer="zeros",
    )
    # Every expert at level 0 is x . 0.5 in each unit; level 1 sums its input times 0.5.
    level0 = x.sum(axis=1, keepdims=True) * 0.5
    level1 = 2 * level0 * 0.5
    for task in layer(x):
        np.testing.assert_allclose(task, np.repeat(level1, 2, axis=1), atol=1e-6)


def test_ple_config_roundtrip(config_roundtrip):
    x = RNG.normal(size=(4, 6)).astype("float32")
    layer = ProgressiveLayeredExtraction(2, 1, 2, expert_units=4, num_levels=3, activation="elu")
    copy = config_roundtrip(layer, x)
    assert copy.get_config()["num_levels"] == 3


def test_ple_save_and_reload(save_and_reload, save_format):
    x = RNG.normal(size=(4, 6)).astype("float32")
    inputs = keras.Input((6,))
    towers = ProgressiveLayeredExtraction(2, 2, 1, expert_units=4)(inputs)
    heads = {f"task_{k}": keras.layers.Dense(1)(t) for k, t in enumerate(towers)}
    save_and_reload(keras.Model(inputs, heads), x, save_format)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_experts"):
        MixtureOfExperts(num_experts=0, expert_units=2, num_tasks=1)
    with pytest.raises(ValueError, match="at least one expert"):
        ProgressiveLayeredExtraction(2, 0, 0, expert_units=2)
    with pytest.raises(ValueError, match="num_shared_experts"):
        ProgressiveLayeredExtraction(2, -1, 1, expert_units=2)
    with pytest.raises(ValueError, match="features"):
        MixtureOfExperts(2, 2, 1)(tf.zeros((2, 3, 4)))
