"""Training from an examples folder's shards (`data.examples`) as from the same examples in memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.config import ConfigError, load_config
from mtrec_tf.data.catalogue_images import IMAGES_FILE, is_image_file
from mtrec_tf.data.examples_dir import ExamplesDir, use_examples
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.training.fit import train
from mtrec_tf.training.run_dir import load_run_inputs


@pytest.fixture(scope="module")
def built(sample_world, tmp_path_factory):
    """The sample's tables, and their examples written in memory-path order as Parquet shards."""
    folder = tmp_path_factory.mktemp("shards")
    sample_world.events.to_parquet(folder / "events.parquet")
    sample_world.items.to_parquet(folder / "items.parquet")
    sample_world.queries.to_parquet(folder / "queries.parquet")
    config = load_config(None, [f"data.events={folder / 'events.parquet'}", f"data.items={folder / 'items.parquet'}",
                                f"data.queries={folder / 'queries.parquet'}", "training.shuffle_buffer=0",
                                "training.steps_per_epoch=6", "training.epochs=2"], preset="tiny")
    prepared = prepare_configured(config)
    from mtrec_tf.config import dump_config
    from mtrec_tf.io_utils import write_text_atomic

    write_prepared(prepared, folder / "examples", examples_per_shard=20_000)
    write_text_atomic(folder / "examples" / "config.yaml", dump_config(config))
    return config, prepared, folder / "examples"


def test_a_run_from_shards_equals_one_from_the_same_examples_in_memory(built, tmp_path):
    config, prepared, examples = built
    from_memory = train(config, tmp_path / "memory", prepared=prepared, verbose=0)
    from_shards = train(use_examples(config, examples), tmp_path / "shards", verbose=0)
    assert from_shards.prepared is None
    assert from_shards.history.keys() == from_memory.history.keys()
    for name, values in from_memory.history.items():
        assert from_shards.history[name] == pytest.approx(values, rel=1e-5, abs=1e-6), name
    for mine, theirs in zip(from_shards.model.get_weights(), from_memory.model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    # From shards, the item tower reads the catalogue's images from a file, row by row.
    assert is_image_file(from_shards.catalogue.image) and not is_image_file(from_memory.catalogue.image)
    np.testing.assert_array_equal(from_shards.catalogue.image, from_memory.catalogue.image)
    assert load_run_inputs(tmp_path / "shards")[2].image.filename == str(tmp_path / "shards" / "vocab" / IMAGES_FILE)


@pytest.mark.parametrize("option", ["length_sorted_batches", "example_type_batches"])
def test_sorted_batches_are_refused_from_shards(built, option):
    config, _, examples = built
    sorting = dataclasses.replace(config, training=dataclasses.replace(config.training, **{option: 8}))
    with pytest.raises(ConfigError, match=f"training.{option} sorts the training examples in memory, "
                                          "and data.examples reads them from shard files"):
        use_examples(sorting, examples)


def test_the_folder_sets_the_data_settings_and_refuses_other_features(built):
    config, _, examples = built
    other = load_config(None, ["data.history_length=3"], preset="tiny")
    assert use_examples(other, examples).data == dataclasses.replace(config.data, examples=str(examples))
    with pytest.raises(ConfigError, match="other features"):
        use_examples(dataclasses.replace(other, features=tuple(f for f in other.features if f.name != "brand")),
                     examples)


def test_a_part_reads_back_as_written_and_a_broken_shard_is_named(built, tmp_path):
    _, prepared, examples = built
    found = ExamplesDir.open(examples)
    assert found.table("test").equals(prepared.examples.parts["test"])
    assert found.table("train", limit=1234).num_rows == 1234
    assert found.count("train") == prepared.examples.parts["train"].num_rows
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(examples, broken)
    (broken / "test" / found.summary["shards"]["test"][0]).write_bytes(b"not parquet")
    from mtrec_tf.errors import DataValidationError

    with pytest.raises(DataValidationError, match=r"test/part-00000-of-00001\.parquet: cannot read"):
        ExamplesDir.open(broken).table("test")
