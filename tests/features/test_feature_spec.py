"""The `features:` section: defaults, and every refusal naming its key."""

from __future__ import annotations

import pytest

from mtrec_tf.config import ConfigError, dump_config, load_config
from mtrec_tf.features.spec import FeatureConfig

TABLES = ["data.events=e.csv", "data.items=i.csv", "data.users=u.csv"]


def test_a_feature_takes_its_column_and_side_from_its_name_and_table() -> None:
    config = load_config(None, TABLES + ["features.age.table=users", "features.age.kind=numeric",
                                         "features.device.table=events", "features.device.kind=categorical"])
    age, device = config.features
    assert (age.column, age.side, device.column, device.side) == ("age", "user", "device", "context")
    assert load_config_text(dump_config(config)).features == config.features


def load_config_text(text: str):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
    return load_config(handle.name)


@pytest.mark.parametrize(("settings", "words"), [
    ({"table": "users", "kind": "text"}, r"features\.f\.kind must be one of categorical"),
    ({"table": "logs", "kind": "numeric"}, r"features\.f\.table must be one of events, items, users"),
    ({"table": "items", "kind": "numeric", "side": "user"}, r"items table feeds item, not 'user'"),
    ({"table": "users", "kind": "categorical", "transform": "log"}, r"transform applies to numeric"),
    ({"table": "users", "kind": "numeric", "buckets": 8}, r"buckets applies to categorical"),
    ({"table": "users", "kind": "categorical", "dim": 0}, r"dim must be at least 1"),
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
    assert len(load_config(None, same).features) == 2
    with pytest.raises(ConfigError, match=r"read column 'age' of the users table in different ways"):
        load_config(None, same + ["features.b.kind=categorical", "features.b.transform=zscore"])
