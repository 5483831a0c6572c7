"""Configuration: defaults, YAML round trip, overrides and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtrec_tf.config import Config, ConfigError, dump_config, from_dict, load_config


def test_yaml_round_trip(tmp_path):
    config = load_config(None, ["data.split.method=leave_last_out", "data.history_length=20", "seed=3"])
    assert config.data.split.method == "leave_last_out" and config.data.history_length == 20
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config), encoding="utf-8")
    assert load_config(path) == config
    assert from_dict(Config, yaml.safe_load(dump_config(Config()))) == Config()


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.nope=1", "unknown configuration key data.nope"),
        ("data.split.method=weekly", "data.split.method must be one of time, leave_last_out, random"),
        ("tasks.ctr.type=ranking", "tasks.ctr.type must be one of multiclass"),
        ("tasks.ctr.inputs=[user, price]", "tasks.ctr.inputs: unknown input .price."),
        ("tasks.cvr.parent=nope", "tasks.cvr.parent names .nope."),
        ("model.combination=moe", "model.combination must be one of shared_bottom, mmoe, ple"),
        ("data.bad_rows=ignore", "data.bad_rows must be one of error, skip"),
        ("data.history_length=0", "data.history_length must be at least 1"),
        ("data.split.test_fraction=0.95", "must be below 1"),
        ("data.events=e.csv", "data.events and data.items go together"),
        ("novalue", "--set expects key=value"),
        ("model.dropout=1.0", r"model.dropout must be in \[0, 1\)"),
        ("model.ngram_dropout=1.0", r"model.ngram_dropout must be in \[0, 1\)"),
        ("model.text_encoder=cnn", "model.text_encoder must be one of bilstm, none"),
        ("model.history_encoder=gru", "model.history_encoder must be one of bilstm, transformer"),
        ("model.history_heads=0", "model.history_heads must be at least 1"),
        ("model.history_blocks=0", "model.history_blocks must be at least 1"),
        ("model.history_dropout=1.0", r"model.history_dropout must be in \[0, 1\)"),
        ("model.gradient_surgery=gradnorm", "model.gradient_surgery must be one of none, pcgrad"),
        ("training.optimizer=sgd", "training.optimizer must be one of adam, lazy_adam"),
        ("training.example_type_batches=-1", "training.example_type_batches must be 0 or more, got -1"),
        ("tasks.query_category.label_smoothing=1.5", r"tasks.query_category.label_smoothing must be in \[0, 1\)"),
        ("tasks.ctr.label_smoothing=0.1", "tasks.ctr.label_smoothing applies to multiclass tasks"),
        ("tasks.query_category.loss=svm", "tasks.query_category.loss must be empty .the type's loss. or one of hinge"),
        ("tasks.ctr.loss=hinge", "tasks.ctr.loss 'hinge' applies to multiclass tasks, not 'binary'"),
        ("tasks.query_category.loss=hinge", "label_smoothing applies to the cross-entropy loss, not 'hinge'"),
        ("training.epochs=2.5", r"training.epochs: expected a whole number, got 2.5$"),
        ("training.epochs=two", r"training.epochs: expected a whole number, got 'two'$"),
        ("training.epochs=true", r"training.epochs: expected a whole number, got True$"),
        ("training.learning_rate=fast", r"training.learning_rate: expected a number, got 'fast'$"),
        ("model.freeze_embeddings=3", r"model.freeze_embeddings: expected true or false, got 3$"),
        ("model.tower_units=64", r"model.tower_units: expected a list of whole numbers, got 64$"),
        ("model.tower_units=[64, 1.5]", r"model.tower_units: expected a list of whole numbers, got \[64, 1.5\]$"),
        ("model.image_backbone=7", r"model.image_backbone: expected text or nothing \(null\), got 7$"),
        ("tasks.ctr.inputs=user", r"tasks.ctr.inputs: expected a list of texts, got 'user'$"),
        ("tasks.ctr.weight=heavy", r"tasks.ctr.weight: expected a number, got 'heavy'$"),
        ("tasks.next_item.learning_rate_scale=0", "tasks.next_item.learning_rate_scale must be positive, got 0"),
        ("seed=1e3", r"seed: expected a whole number, got '1e3'$"),
        ("tasks.ctr.parent=ctr", "tasks.ctr.parent: task 'ctr' cannot be its own parent"),
        ("tasks.ctr.parent=cvr", "tasks: the parents form a cycle: ctr -> cvr -> ctr"),
        ("tasks.cvr.parent=next_item",
         "tasks.cvr.parent: task 'cvr' is binary but its parent 'next_item' is retrieval"),
        ("tasks.next_item.parent=ctr", "tasks.next_item.parent: a retrieval task has no parent; only binary tasks do"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_gradient_surgery_needs_fixed_loss_weights():
    with pytest.raises(ConfigError, match="model.gradient_surgery=pcgrad .* set model.loss_weighting=fixed"):
        load_config(None, ["model.gradient_surgery=pcgrad", "model.loss_weighting=uncertainty"])
    assert load_config(None, ["model.gradient_surgery=pcgrad"]).model.gradient_surgery == "pcgrad"


def test_the_frequency_filter_keeps_fewer_bins_than_half_the_history():
    filtered = ["model.history_norm=post", "model.history_frequency_mix=0.7", "data.history_length=8"]
    assert load_config(None, filtered + ["model.history_frequency_bins=4"]).model.history_frequency_bins == 4
    with pytest.raises(ConfigError, match=r"bins \(5\) must be at most data.history_length // 2 \(4\)"):
        load_config(None, filtered + ["model.history_frequency_bins=5"])


def test_the_transformer_width_must_split_into_its_heads():
    with pytest.raises(ConfigError, match=r"model.history_units \(8\) must be a multiple of model.history_heads \(3\)"):
        load_config(None, ["model.history_encoder=transformer", "model.history_units=8", "model.history_heads=3"])
    assert load_config(None, ["model.history_units=8", "model.history_heads=3"]).model.history_encoder == "bilstm"


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_tasks_can_be_selected_and_parents_follow():
    from mtrec_tf.config import select_tasks

    config = select_tasks(Config(), ["cvr", "next_item"])
    assert [t.name for t in config.tasks] == ["cvr", "next_item"]
    assert config.task("cvr").parent is None
    with pytest.raises(ConfigError, match="'nope', which is not a task"):
        select_tasks(Config(), ["nope"])


def test_the_online_shopping_configuration_is_a_text_only_bag():
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "online_shopping.yaml", [])
    assert [task.name for task in config.tasks] == ["query_category"]
    assert config.model.text_encoder == "none" and config.model.ngram_buckets > 0
    assert config.task("query_category").loss == "hinge" and config.training.optimizer == "lazy_adam"


def test_values_take_their_field_types():
    config = load_config(None, ["training.learning_rate=1", "tuning.weight_range=[1, 5]", "model.tower_units=[8]"])
    assert isinstance(config.training.learning_rate, float) and config.training.learning_rate == 1.0
    assert config.tuning.weight_range == (1.0, 5.0) and all(isinstance(v, float) for v in config.tuning.weight_range)
    assert config.model.tower_units == (8,)


def test_a_yaml_file_is_type_checked_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  batch_size: '512'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"training.batch_size: expected a whole number, got '512'"):
        load_config(path)
