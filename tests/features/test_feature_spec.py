"""The `features:` section: defaults, and every refusal naming its key."""

from __future__ import annotations

import pytest

from mtrec_tf.config import ConfigError, dump_config, load_config
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig

TABLES = ["data.events=e.csv", "data.items=i.csv", "data.users=u.csv"]


def test_a_feature_takes_its_column_and_side_from_its_name_and_table() -> None:
    config = load_config(None, TABLES + ["features.age.table=users", "features.age.kind=numeric",
                                         "features.device.table=events", "features.device.kind=categorical"])
    *defaults, age, device = config.features
    assert tuple(defaults) == DEFAULT_FEATURES  # overrides add to the default set
    assert (age.column, age.side, device.column, device.side) == ("age", "user", "device", "context")
    assert load_config_text(dump_config(config)).features == config.features


def load_config_text(text: str):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
    return load_config(handle.name)


@pytest.mark.parametrize(("settings", "words"), [
    ({"table": "users", "kind": "audio"}, r"features\.f\.kind must be one of categorical"),
    ({"table": "users", "kind": "text"}, r"features\.f: text features read the items table"),
    ({"table": "items", "kind": "image", "column": "photo"}, r"reads the items table's image column, not 'photo'"),
    ({"table": "logs", "kind": "numeric"}, r"features\.f\.table must be one of events, items, users"),
    ({"table": "items", "kind": "numeric", "side": "user"}, r"items table feeds item, not 'user'"),
    ({"table": "users", "kind": "categorical", "transform": "log"}, r"transform applies to numeric"),
    ({"table": "users", "kind": "numeric", "buckets": 8}, r"buckets applies to categorical"),
    ({"table": "users", "kind": "categorical", "dim": -1}, r"dim must be 0 \(the model.s embedding_dim\) or more"),
    ({"table": "users", "kind": "categorical", "column": "user_id"}, r"user_id is the users table's key"),
])
def test_a_bad_feature_setting_names_its_key(settings, words) -> None:
    with pytest.raises(ConfigError, match=words):
        FeatureConfig(name="f", **settings)


@pytest.mark.parametrize("name", ["history", "user_id", "label_ctr", "candidates"])
def test_a_feature_may_not_take_a_name_of_the_models_own_inputs(name) -> None:
    with pytest.raises(ConfigError, match="taken by the model's own inputs"):
        FeatureConfig(name=name, table="events", kind="categorical")


def test_features_of_the_users_table_need_the_users_table() -> None:
    with pytest.raises(ConfigError, match=r"features\.age reads the users table: give it with --users"):
        load_config(None, ["features.age.table=users", "features.age.kind=numeric"])


def test_two_features_may_read_one_column_only_the_same_way() -> None:
    same = TABLES + ["features.a.table=users", "features.a.kind=numeric", "features.a.column=age",
                     "features.b.table=users", "features.b.kind=numeric", "features.b.column=age",
                     "features.b.transform=quantile"]
    assert len(load_config(None, same).features) == len(DEFAULT_FEATURES) + 2
    with pytest.raises(ConfigError, match=r"read column 'age' of the users table in different ways"):
        load_config(None, same + ["features.b.kind=categorical", "features.b.transform=zscore"])


def test_without_a_features_section_the_default_set_is_the_contracts_item_columns(tmp_path) -> None:
    assert [f.name for f in load_config(None).features] == ["title", "category", "brand", "price", "image"]
    assert [f.kind for f in DEFAULT_FEATURES] == ["text", "categorical", "categorical", "numeric", "image"]
    path = tmp_path / "config.yaml"
    path.write_text("features:\n  price: {table: items, kind: numeric}\n  image: {table: items, kind: image}\n",
                    encoding="utf-8")
    assert [f.name for f in load_config(path).features] == ["price", "image"]  # a section replaces the set
    path.write_text("features: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tasks\.image_category reads the item's image: the features need the "
                                          r"image feature"):
        load_config(path)
    path.write_text("features: {}\ntasks:\n  query_category: {type: multiclass, label: query_category, "
                    "inputs: [query]}\n", encoding="utf-8")
    assert load_config(path).features == ()


def test_null_leaves_a_feature_out_and_the_dump_writes_only_what_differs() -> None:
    config = load_config(None, ["features.brand=null", "features.title.dim=8"])
    assert [f.name for f in config.features] == ["title", "category", "price", "image"]
    text = dump_config(config)
    assert "  title:\n    table: items\n    kind: text\n    dim: 8\n" in text and "min_count" not in text
    assert load_config_text(text).features == config.features
    with pytest.raises(ConfigError, match=r"features\.brand must be a mapping of settings \(or null"):
        load_config(None, ["features.brand=categorical"])


def test_one_image_feature_at_most() -> None:
    with pytest.raises(ConfigError, match=r"'image' and 'photo' both read the image column"):
        load_config(None, ["features.photo.table=items", "features.photo.kind=image", "features.photo.column=image"])
