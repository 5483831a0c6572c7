"""Training end to end on the tiny preset: the run directory, learning, evaluation, NaN guard."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtrec_tf.backend import keras
from mtrec_tf.training.callbacks import StopOnNaNTaskLoss, TaskLossNaNError

TASKS = ("query_category", "ctr", "cvr", "next_item", "image_category")


def test_the_run_directory_holds_everything(tiny_run):
    result, _ = tiny_run
    run = result.run_dir
    for name in ("config.yaml", "history.json", "metrics.json", "training_curves.png", "multi_vs_single.png",
                 "vocab/tokens.txt", "vocab/catalogue.npz", "checkpoints/final/weights.index",
                 "checkpoints/epoch-001/weights.index"):
        assert (run / name).exists(), name
    assert any((run / "logs").rglob("events.out.tfevents.*"))
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))["epochs"]
    for task in TASKS:
        assert len(history[f"{task}_loss"]) == 2 and len(history[f"val_{task}_loss"]) == 2


def test_metrics_json_holds_every_task_its_baseline_and_latency(tiny_run):
    result, _ = tiny_run
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    expected = {
        "query_category": {"accuracy", "macro_f1", "top3_accuracy"},
        "image_category": {"accuracy", "macro_f1", "top3_accuracy"},
        "ctr": {"auc", "logloss", "gauc", "position_auc"},
        "cvr": {"auc", "logloss", "gauc", "position_auc"},
        "next_item": {f"{m}@{k}" for m in ("recall", "precision", "hit_rate", "ndcg", "coverage", "novelty",
                                            "diversity") for k in (10, 50)} | {"mrr"},
    }
    for task, keys in expected.items():
        assert keys <= set(metrics[task]), task
        assert keys <= set(metrics["baselines"][task]), task
    assert set(metrics["latency"]) == {"latency_ms_b1", "latency_ms_b256"}


def test_the_model_recovers_planted_structure_above_chance(tiny_run, tiny_prepared):
    _, report = tiny_run
    chance = 1.0 / len(tiny_prepared.statistics.categories)
    assert report["query_category"]["accuracy"] > 4 * chance
    assert report["ctr"]["auc"] > 0.6
    assert report["next_item"]["recall@50"] > report["baselines"]["next_item"]["recall@50"] * 0.8


def test_a_nan_task_loss_stops_training_naming_the_task():
    guard = StopOnNaNTaskLoss(["ctr", "next_item"])
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"ctr_loss": 0.5, "next_item_loss": 1.0})
    with pytest.raises(TaskLossNaNError, match="task 'next_item' became nan at epoch 3, step 8"):
        guard.on_train_batch_end(7, {"ctr_loss": 0.5, "next_item_loss": math.nan})


def test_checkpoints_hold_trainable_state_only(tiny_run):
    from mtrec_tf.backend import tf

    result, _ = tiny_run
    final = result.run_dir / "checkpoints" / "final"
    variables = tf.train.list_variables(str(final / "weights"))
    assert variables and not any("catalogue" in name or "sampling_probability" in name for name, _ in variables)
    shapes = {tuple(shape) for _, shape in variables}
    catalogue = result.catalogue
    assert catalogue.image.shape not in shapes and catalogue.texts["title"].shape not in shapes
    # The catalogue's images alone are larger than every checkpoint of the tiny model.
    for folder in [final, *(result.run_dir / "checkpoints").glob("epoch-*")]:
        assert sum(f.stat().st_size for f in folder.iterdir()) < catalogue.image.nbytes / 4, folder


def test_a_new_task_on_a_column_of_the_events_trains_with_no_code(tmp_path, sample_world):
    """A regression task on the shop's own numeric column: configuration only."""
    import numpy as np

    from mtrec_tf.config import load_config
    from mtrec_tf.data.examples import label_columns
    from mtrec_tf.data.prepare import prepare_data
    from mtrec_tf.data.readers import load_data
    from mtrec_tf.evaluation.report import evaluate_run
    from mtrec_tf.training.fit import train

    config = load_config(None, ["data.sample_seed=7", "training.steps_per_epoch=60", "training.epochs=2",
                                "training.learning_rate=0.01", "tasks={ctr: {type: binary, label: ctr, "
                                "inputs: [user, item, query]}, view: {type: regression, label: view_seconds, "
                                "inputs: [user, item]}}"], preset="tiny")
    events = sample_world.events.copy()
    impressions = (events["event_type"] == "impression").to_numpy()
    # Seconds an impression stays on screen: planted per item, plus noise.
    codes = events["item_id"].astype("category").cat.codes.to_numpy()
    noise = np.random.default_rng(0).normal(0.0, 0.5, len(events))
    events["view_seconds"] = np.where(impressions, (codes % 5) * 2.0 + noise, np.nan)
    columns = label_columns(config.tasks)
    data = load_data(events, sample_world.items, sample_world.queries,
                     event_columns={"view_seconds": "number"})
    prepared = prepare_data(data, config.data, seed=config.seed, columns=columns)
    result = train(config, tmp_path, prepared=prepared, verbose=0)
    assert len(result.history["view_loss"]) == 2 and result.history["view_loss"][-1] < result.history["view_loss"][0]
    report = evaluate_run(tmp_path, prepared=prepared)
    assert report["view"]["examples"] > 100
    assert report["view"]["rmse"] < 0.9 * report["baselines"]["view"]["rmse"]


def _few_examples(prepared, train: int = 2_000, validation: int = 500):
    """The prepared data with only the first `train` and `validation` examples of those parts."""
    import dataclasses

    parts = prepared.examples.parts
    few = {**parts, "train": parts["train"].slice(0, train), "validation": parts["validation"].slice(0, validation)}
    return dataclasses.replace(prepared, examples=dataclasses.replace(prepared.examples, parts=few))


@pytest.fixture(scope="module")
def untitled_run(tmp_path_factory, tiny_config, sample_world):
    """A next_item-only run, briefly trained, on the sample shop's events without queries and
    its items without images or titles (every title empty or null)."""
    import dataclasses

    import numpy as np

    from mtrec_tf.config import select_tasks
    from mtrec_tf.data.prepare import prepare_data
    from mtrec_tf.data.readers import load_data
    from mtrec_tf.training.fit import train

    events = sample_world.events.drop(columns=["query"])
    items = sample_world.items.drop(columns=["image"])
    items["title"] = np.where(np.arange(len(items)) % 2 == 0, "", None)
    data = load_data(events, items)
    assert data.reports[1].rows_kept == len(items) and not data.reports[1].dropped
    config = select_tasks(dataclasses.replace(
        tiny_config, training=dataclasses.replace(tiny_config.training, epochs=2, steps_per_epoch=6)), ["next_item"])
    prepared = prepare_data(data, config.data, seed=config.seed)
    run_dir = tmp_path_factory.mktemp("untitled")
    return train(config, run_dir, prepared=prepared, verbose=0)


def test_empty_titles_train(untitled_run):
    model = untitled_run.model
    assert not untitled_run.catalogue.has_titles and not untitled_run.catalogue.has_images
    assert model.encodes_items and not model.uses_titles and not model.uses_images
    losses = untitled_run.history["next_item_loss"]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]


def test_a_next_item_only_checkpoint_holds_no_image_array(untitled_run):
    import numpy as np

    from mtrec_tf.backend import tf

    run = untitled_run.run_dir
    catalogue = untitled_run.catalogue
    blank_images = catalogue.size * 64 * 64 * 3  # the array such a run kept before (bytes)
    folders = [run / "checkpoints" / "final", *(run / "checkpoints").glob("epoch-*")]
    assert len(folders) == 3
    for folder in folders:
        variables = tf.train.list_variables(str(folder / "weights"))
        assert variables and not any("image" in name for name, _ in variables), folder
        # No image-shaped variable (rows, size, size, 3), nor an image encoder's convolution kernels.
        assert not [name for name, shape in variables if len(shape) == 4], folder
        assert sum(f.stat().st_size for f in folder.iterdir()) < blank_images / 10, folder
    with np.load(run / "vocab" / "catalogue.npz") as saved:
        assert "image" not in saved.files and not [name for name in saved.files if name.startswith("text_")]
    assert (run / "vocab" / "catalogue.npz").stat().st_size < 20_000


def test_a_reloaded_run_without_titles_and_images_has_the_same_structure_and_outputs(untitled_run):
    import numpy as np

    from mtrec_tf.data.pipeline import make_dataset
    from mtrec_tf.training.fit import load_trained_model

    trained = load_trained_model(untitled_run.run_dir)
    assert trained.catalogue.image is None and not trained.catalogue.has_titles
    assert not trained.model.uses_titles and not trained.model.uses_images
    test = untitled_run.prepared.examples.parts["test"]
    features, _, _ = next(iter(make_dataset(test, batch_size=32, history_length=trained.config.data.history_length)))
    np.testing.assert_allclose(trained.model(features, training=False)["next_item"].numpy(),
                               untitled_run.model(features, training=False)["next_item"].numpy(), atol=1e-5)
    item_index = np.arange(trained.catalogue.size)
    np.testing.assert_allclose(trained.model.encode_items(item_index)[0].numpy(),
                               untitled_run.model.encode_items(item_index)[0].numpy(), atol=1e-5)


def test_a_transformer_run_trains_all_positions_and_reports_what_it_read(tmp_path, tiny_config, tiny_prepared,
                                                                         capsys):
    import dataclasses
    import json

    from mtrec_tf.config import select_tasks
    from mtrec_tf.training.fit import train

    config = select_tasks(dataclasses.replace(
        tiny_config, model=dataclasses.replace(tiny_config.model, history_encoder="transformer"),
        training=dataclasses.replace(tiny_config.training, epochs=2, learning_rate=0.01)), ["next_item"])
    config = dataclasses.replace(config, tasks=(dataclasses.replace(config.tasks[0], inputs=("user",)),))
    result = train(config, tmp_path / "run", prepared=tiny_prepared, verbose=2)
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())["examples"]["all_positions"]
    clicks = int(sum(tiny_prepared.examples.parts["train"].column("mask_next_item").to_numpy()))
    assert report["next_item"]["examples"] == clicks > report["next_item"]["histories"] > 0
    line = (f"next_item trains all positions: {clicks:,} examples in {report['next_item']['histories']:,} "
            "histories")
    assert line in capsys.readouterr().out
    losses = result.history["next_item_loss"]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    # Validation scores each example's last step, one per click, as evaluation does.
    assert all(math.isfinite(loss) for loss in result.history["val_next_item_loss"])


def test_length_sorted_batches_train_one_pass_per_epoch(tmp_path, tiny_config, tiny_prepared):
    import dataclasses

    from mtrec_tf.config import select_tasks
    from mtrec_tf.training.fit import train

    training = dataclasses.replace(tiny_config.training, epochs=3, learning_rate=0.01, batch_size=256,
                                   length_sorted_batches=3)
    config = select_tasks(dataclasses.replace(
        tiny_config, model=dataclasses.replace(tiny_config.model, history_encoder="transformer"), training=training),
        ["next_item"])
    result = train(config, tmp_path / "run", prepared=_few_examples(tiny_prepared), verbose=0)
    # Windows of 3 batches cut into batches: as many steps as uniform batches take (8 a pass).
    assert int(result.model.optimizer.iterations) == 3 * math.ceil(2_000 / 256)
    losses = result.history["next_item_loss"]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]


def test_example_type_batches_train_every_task_one_pass_per_epoch(tmp_path, tiny_config, tiny_prepared):
    import dataclasses

    from mtrec_tf.training.fit import train

    training = dataclasses.replace(tiny_config.training, epochs=2, batch_size=128, example_type_batches=4)
    config = dataclasses.replace(tiny_config, training=training)
    prepared = _few_examples(tiny_prepared)
    result = train(config, tmp_path / "run", prepared=prepared, verbose=0)
    rows = prepared.examples.parts["train"].num_rows
    assert int(result.model.optimizer.iterations) == 2 * math.ceil(rows / 128)
    # Batches without a task's rows leave its loss finite, not NaN.
    for task in config.tasks:
        assert all(math.isfinite(loss) for loss in result.history[f"{task.name}_loss"]), task.name


def test_a_cosine_schedule_spans_the_run_and_ends_near_zero(tmp_path, tiny_config, tiny_prepared):
    import dataclasses

    from mtrec_tf.training.fit import train

    training = dataclasses.replace(tiny_config.training, epochs=2, learning_rate=0.01, learning_rate_schedule="cosine")
    prepared = _few_examples(tiny_prepared)
    result = train(dataclasses.replace(tiny_config, training=training), tmp_path / "run", prepared=prepared, verbose=0)
    steps = 2 * math.ceil(prepared.examples.parts["train"].num_rows / training.batch_size)
    optimizer = result.model.optimizer
    assert int(optimizer.iterations) == steps
    # The rate of the last step taken: the schedule's length is the run's.
    last_rate = 0.005 * (1 + math.cos(math.pi * (steps - 1) / steps))
    assert float(optimizer.learning_rate) == pytest.approx(last_rate, rel=1e-3)



class _HeadSteps(keras.callbacks.Callback):
    """What one training step moved the first weight of each named head by."""

    def __init__(self, heads: tuple[str, ...]):
        super().__init__()
        self.heads, self.starts, self.moves = heads, {}, {}

    def _first_weights(self) -> dict:
        return {name: self.model.heads[name].trainable_variables[0].numpy() for name in self.heads}

    def on_train_begin(self, logs=None):
        self.starts = self._first_weights()

    def on_train_end(self, logs=None):
        self.moves = {name: after - self.starts[name] for name, after in self._first_weights().items()}


def test_a_tasks_learning_rate_scale_multiplies_the_step_of_the_weights_it_alone_trains(tmp_path, tiny_config,
                                                                                        tiny_prepared):
    import dataclasses

    from mtrec_tf.training.fit import train

    # One step from the same start (same seed): the scaled task's own weights move four times
    # as far, the other tasks' alike.
    training = dataclasses.replace(tiny_config.training, epochs=1, steps_per_epoch=1)
    moves = {}
    for scale in (1.0, 4.0):
        tasks = tuple(dataclasses.replace(task, learning_rate_scale=scale) if task.name == "query_category" else task
                      for task in tiny_config.tasks)
        steps = _HeadSteps(("query_category", "next_item"))
        result = train(dataclasses.replace(tiny_config, training=training, tasks=tasks), tmp_path / f"run_{scale}",
                       prepared=tiny_prepared, verbose=0, extra_callbacks=[steps])
        optimizer, heads = result.model.optimizer, result.model.heads
        assert optimizer.rate_scale(heads["query_category"].trainable_variables[0]) == scale
        assert optimizer.rate_scale(heads["next_item"].trainable_variables[0]) == 1.0
        moves[scale] = steps.moves
    assert np.abs(moves[1.0]["query_category"]).max() > 0
    np.testing.assert_allclose(moves[4.0]["query_category"], 4 * moves[1.0]["query_category"], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(moves[4.0]["next_item"], moves[1.0]["next_item"], rtol=1e-3, atol=1e-7)
