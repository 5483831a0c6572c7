"""A shop with features of every kind: the sample world with a users table, request context
and item attributes of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feature_shop import feature_overrides


@pytest.fixture(scope="session")
def feature_shop(tmp_path_factory, sample_world) -> dict[str, Path]:
    """Tables on disk: events (Parquet, with `device`), items (Parquet, with `tags`, `sales`
    and `description`), users (CSV: `age` with gaps, `city`)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("feature_shop")
    events, items = sample_world.events.copy(), sample_world.items.copy()
    events["device"] = rng.choice(["ios", "android", "web"], len(events))
    items["tags"] = ["|".join(rng.choice(["new", "sale", "gift", "eco"], rng.integers(0, 3), replace=False))
                     for _ in range(len(items))]
    items["sales"] = rng.exponential(100.0, len(items))
    words = np.array(["soft", "cotton", "steel", "waterproof", "handmade", "组合", "套装"])
    items["description"] = [" ".join(rng.choice(words, rng.integers(0, 4))) for _ in range(len(items))]
    users = pd.DataFrame({"user_id": pd.unique(events["user_id"])})
    users["age"] = rng.integers(16, 70, len(users)).astype(float)
    users.loc[::7, "age"] = np.nan
    users["city"] = rng.choice(["bj", "sh", "gz", "", "rare"], len(users), p=[0.3, 0.3, 0.3, 0.099, 0.001])
    paths = {"events": folder / "events.parquet", "items": folder / "items.parquet", "users": folder / "users.csv"}
    events.to_parquet(paths["events"])
    items.to_parquet(paths["items"])
    users.to_csv(paths["users"], index=False)
    return paths


@pytest.fixture(scope="session")
def feature_config(feature_shop):
    from mtrec_tf.config import load_config

    tables = [f"data.{kind}={path}" for kind, path in feature_shop.items()]
    return load_config(None, tables + feature_overrides(), preset="tiny")


@pytest.fixture(scope="session")
def feature_prepared(feature_config):
    from mtrec_tf.data.prepare import prepare_configured

    return prepare_configured(feature_config)
