"""The contract's item columns as ordinary entries of the default feature set: each one can be
removed like any other feature, and a catalogue without titles trains without the title encoder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtrec_tf.config import select_tasks
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.features.spec import DEFAULT_FEATURES
from mtrec_tf.training.fit import build_model


@pytest.fixture(scope="module")
def batch(tiny_config, tiny_prepared):
    dataset = make_dataset(tiny_prepared.examples.parts["train"], batch_size=64,
                           history_length=tiny_config.data.history_length, shuffle_buffer=1_000, seed=1)
    return next(iter(dataset))


def _trained_item_tower(config, prepared, batch, items=None):
    """The model of `config` (ctr and next_item: both read the item tower) after one step, and its loss."""
    config = select_tasks(config, ["ctr", "next_item"])
    catalogue = build_catalogue(prepared.data.items if items is None else items, prepared.statistics,
                                config.model.max_title_tokens, features=config.features)
    model = build_model(config, prepared.statistics, catalogue)
    model.build_from_batch(batch)
    logs = model.train_on_batch(batch[0], batch[1], sample_weight=batch[2], return_dict=True)
    return model, [logs["loss"]]


@pytest.mark.parametrize("removed", ["brand", "title", "price", "image"])
def test_removing_a_default_feature_trains_without_it(removed, tiny_config, tiny_prepared, batch) -> None:
    config = dataclasses.replace(select_tasks(tiny_config, ["ctr", "next_item"]),
                                 features=tuple(f for f in DEFAULT_FEATURES if f.name != removed))
    model, losses = _trained_item_tower(config, tiny_prepared, batch)
    assert all(np.isfinite(losses))
    assert model.item_features() == ("id",) + tuple(f.name for f in config.features)
    inputs = model.item_encoder.feature_inputs
    assert removed not in inputs.embeddings and removed not in inputs.defaults
    assert {f.name for f in inputs.features} == {f.name for f in config.features if not f.encoded}
    if removed == "title":
        assert not model.item_encoder.uses_titles and not model.catalogue.texts
    if removed == "image":
        assert not model.uses_images and model.catalogue.image is None


def test_the_default_set_reads_every_contract_column(tiny_config, tiny_prepared, batch) -> None:
    model, _ = _trained_item_tower(tiny_config, tiny_prepared, batch)
    assert model.item_features() == ("id", "title", "category", "brand", "price", "image")
    inputs = model.item_encoder.feature_inputs
    assert set(inputs.embeddings) == {"category", "brand"} and set(inputs.defaults) == {"price"}
    assert model.item_encoder.text_features == ("title",) and model.uses_images


def test_a_catalogue_without_titles_trains_without_the_title_encoder(tiny_config, tiny_prepared, batch) -> None:
    untitled = tiny_prepared.data.items.assign(title="")
    model, losses = _trained_item_tower(tiny_config, tiny_prepared, batch, untitled)
    assert all(np.isfinite(losses)) and not model.catalogue.texts
    assert model.item_features() == ("id", "category", "brand", "price", "image")
