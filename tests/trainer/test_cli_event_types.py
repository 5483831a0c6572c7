"""A shop with event types of its own, from `mtrec data inspect` to a served answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtrec_tf.config import load_config
from mtrec_tf.data.sample import write_sample
from mtrec_tf.data.sample_events import EXTENDED_EVENT_TYPES
from trainer.cli import main

EXTENDED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sample_extended_events.yaml"
FAVORITE_TASK = ('tasks.favorite={"type": "binary", "label": "favorite", "inputs": ["user", "item"], '
                 '"event_type": "favorite"}')


def test_declared_event_types_go_from_inspect_to_serving(tmp_path, capsys):
    from serving.client import RestClient
    from serving.dev_server import DevServer

    data = write_sample(tmp_path / "data", scale=1, seed=5, event_types="extended")
    # Inspect reads types it was not told of and says so; the suggestion declares their roles.
    suggested = tmp_path / "suggested.yaml"
    assert main(["data", "inspect", str(data), "--suggest-features", str(suggested)]) == 0
    out = capsys.readouterr().out
    assert "not declared" in out and "declare favorite, view in data.event_types" in out
    assert "    view: [behaviour]\n" in suggested.read_text(encoding="utf-8")
    assert load_config(suggested).data.event_types.to_mapping() == EXTENDED_EVENT_TYPES.to_mapping()
    assert main(["data", "inspect", str(data), "--config", str(suggested)]) == 0
    assert "not declared" not in capsys.readouterr().out

    # A run without the declaration refuses the first undeclared event by name.
    run = tmp_path / "run"
    tables = ["--events", str(data / "events.parquet"), "--items", str(data / "items.parquet")]
    assert main(["train", "--preset", "tiny", *tables, "--output-dir", str(tmp_path / "refused")]) != 0
    assert "event_type 'view'" in capsys.readouterr().err

    assert main(["train", "--preset", "tiny", "--config", str(EXTENDED_CONFIG), *tables, "--set",
                 "training.steps_per_epoch=3", "--set", FAVORITE_TASK, "--tasks", "ctr,next_item,favorite",
                 "--output-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["favorite"]["auc"] <= 1.0
    contract = json.loads(next((run / "export" / "mtrec").glob("*/assets.extra/contract.json")).read_text(
        encoding="utf-8"))
    declared = EXTENDED_EVENT_TYPES
    assert contract["event_roles"] == declared.to_mapping()
    assert contract["enumerations"]["history_event_type"] == list(declared.names)

    items = [f"i{n:06d}" for n in range(3)]
    with DevServer(run / "export" / "mtrec", rest_port=0, grpc_port=None, poll_seconds=60) as server, \
            RestClient(server.rest_url) as client:
        history = [(items[0], "view", 600.0), (items[1], "favorite", 60.0)]
        assert len(client.recommend("u1", history, k=5)) == 5
        with pytest.raises(ValueError, match=r"'wishlist', which this model does not know; its event types are: "
                                             + ", ".join(declared.names)):
            client.recommend("u1", [(items[0], "wishlist", 60.0)], k=5)
