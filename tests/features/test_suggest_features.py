"""`mtrec data inspect --suggest-features`: a configuration inferred from the tables that
trains as it is, on the sample shop and on MovieLens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.data.public import default_data_dir as shared_data_dir
from mtrec_tf.features.suggest import suggest_features
from mtrec_tf.training.fit import train
from trainer.cli import main

REPO = Path(__file__).resolve().parents[2]


def _suggested(tmp_path: Path, *paths: Path) -> dict:
    out = tmp_path / "features.yaml"
    assert main(["data", "inspect", *map(str, paths), "--suggest-features", str(out)]) == 0
    return yaml.safe_load(out.read_text(encoding="utf-8"))


def _trains(tmp_path: Path, config_path: Path | None, suggested: dict, tables: dict[str, Path]) -> None:
    # The configuration with its features: section replaced by the suggested one.
    written = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path else {}
    config_file = tmp_path / "suggested.yaml"
    config_file.write_text(yaml.safe_dump({**written, **suggested}), encoding="utf-8")
    config = load_config(config_file, [f"data.{kind}={path}" for kind, path in tables.items()]
                         + ["training.epochs=1", "training.steps_per_epoch=3"], preset="tiny")
    prepared = prepare_configured(config)
    result = train(config, tmp_path / "run", prepared=prepared, verbose=0)
    assert all(np.isfinite(v) for v in result.history["loss"])
    assert set(prepared.statistics.features) == {f.name for f in config.features}


def test_the_sample_gets_the_request_time_features_and_trains_with_them(tmp_path: Path) -> None:
    assert main(["data", "sample", "--out", str(tmp_path / "shop")]) == 0
    suggested = _suggested(tmp_path, tmp_path / "shop")
    # The contract's item columns as the default set has them, then the request's time.
    assert suggested["features"] == {"title": {"table": "items", "kind": "text"},
                                     "category": {"table": "items", "kind": "categorical", "dim": 0},
                                     "brand": {"table": "items", "kind": "categorical", "dim": 0},
                                     "price": {"table": "items", "kind": "numeric", "transform": "log"},
                                     "image": {"table": "items", "kind": "image"},
                                     "hour_of_day": {"table": "events", "kind": "categorical"},
                                     "day_of_week": {"table": "events", "kind": "categorical"}}
    assert "  title: {table: items, kind: text}  # " in (tmp_path / "features.yaml").read_text(encoding="utf-8")
    tables = {kind: next((tmp_path / "shop").glob(f"{kind}.*")) for kind in ("events", "items")}
    _trains(tmp_path, None, suggested, tables)


@pytest.mark.skipif(not (shared_data_dir() / "ml-100k" / "ml-100k.user").is_file(),
                    reason=f"MovieLens 100K not found under {shared_data_dir() / 'ml-100k'} "
                           "(set MTREC_DATA_DIR to the folder holding ml-100k/)")
def test_movielens_gets_its_profile_and_movie_attributes_and_trains_with_them(tmp_path: Path,
                                                                              monkeypatch) -> None:
    monkeypatch.setenv("MTREC_DATA_DIR", str(shared_data_dir()))
    assert main(["data", "movielens", "--out", str(tmp_path / "ml")]) == 0
    tables = {kind: tmp_path / "ml" / f"{kind}.parquet" for kind in ("events", "items", "users")}
    suggested = _suggested(tmp_path, *tables.values())["features"]
    assert suggested["age"] == {"table": "users", "kind": "numeric", "transform": "zscore"}
    assert suggested["gender"] == suggested["occupation"] == {"table": "users", "kind": "categorical"}
    assert suggested["zip_prefix"]["kind"] == "categorical"  # codes with leading zeros, not numbers
    assert suggested["genres"] == {"table": "items", "kind": "multi_categorical", "separator": "|"}
    assert suggested["release_year"]["kind"] == "numeric"
    assert suggested["title"] == {"table": "items", "kind": "text"} and "image" not in suggested  # no posters
    _trains(tmp_path, REPO / "configs" / "movielens.yaml", {"features": suggested}, tables)


def test_id_like_text_is_hashed_and_lists_are_multi_categorical() -> None:
    n = 3_000
    events = pd.DataFrame({"user_id": ["u"] * n, "timestamp": ["1"] * n, "event_type": ["click"] * n,
                           "item_id": ["i"] * n, "request_id": [f"r{i}" for i in range(n)],
                           "tags": [["a", "b"]] * n, "level": ["1", "2", "3"] * (n // 3), "empty": [""] * n})
    by_name = {s.name: s for s in suggest_features({"events": events})}
    assert by_name["request_id"].settings == {"table": "events", "kind": "categorical", "buckets": 4096}
    assert by_name["tags"].settings["kind"] == "multi_categorical"
    assert by_name["level"].settings["kind"] == "categorical"
    assert "empty" not in by_name
