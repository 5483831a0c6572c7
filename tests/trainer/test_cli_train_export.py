"""`mtrec train` evaluates and exports at its end; `mtrec export` adds versions and never overwrites one."""

from __future__ import annotations

import json

from trainer.cli import main


def test_train_evaluates_exports_and_export_adds_versions(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=3", "--set", "data.sample_seed=3",
                 "--tasks", "query_category,next_item", "--output-dir", str(run)]) == 0
    out = capsys.readouterr().out
    base = run / "export" / "mtrec"
    assert (base / "1" / "saved_model.pb").is_file()
    assert "retrieve" in out  # the signatures the tasks support are listed
    assert (run / "serving" / "models.config").is_file()
    # The evaluation ran on the data the training prepared, and reads as `mtrec evaluate`'s.
    assert "recall@50" in out and f"wrote {run / 'metrics.json'}" in out and "next: mtrec evaluate" not in out
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= {"query_category", "next_item", "baselines"}
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["next_item"] == metrics["next_item"]

    assert main(["export", str(run), "--target", "core", "--model-name", "mtrec"]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]

    assert main(["export", str(run), "--version", "2"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_train_without_evaluation_says_what_to_run_next(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=2", "--set", "data.sample_seed=3",
                 "--tasks", "ctr", "--no-evaluate", "--no-export", "--output-dir", str(run)]) == 0
    assert f"next: mtrec evaluate {run}" in capsys.readouterr().out
    assert not (run / "metrics.json").exists() and not (run / "export").exists()


def test_tables_without_queries_titles_or_images_go_from_inspect_to_serving(tmp_path, capsys, sample_world):
    """Sequential data: clicks without queries, items without titles or images, through every command."""
    from serving.client import RestClient
    from serving.dev_server import DevServer

    data = tmp_path / "data"
    data.mkdir()
    events = sample_world.events
    events = events[events["event_type"].isin(["click", "add_to_cart", "purchase"])].drop(columns=["query"])
    events.to_parquet(data / "events.parquet")
    sample_world.items[["item_id", "category", "brand", "price"]].to_parquet(data / "items.parquet")

    report = tmp_path / "report.json"
    assert main(["data", "inspect", str(data), "--json", str(report)]) == 0
    items = json.loads(report.read_text(encoding="utf-8"))["items"]
    assert items["with_title"] == 0 and items["with_image"] == 0
    assert "items with a title             0" in capsys.readouterr().out
    assert main(["data", "examples", str(data), "--out", str(tmp_path / "examples"), "--split", "leave_last_out",
                 "--format", "parquet"]) == 0
    summary = json.loads((tmp_path / "examples" / "examples.json").read_text(encoding="utf-8"))
    assert summary["examples"]["train"]["next_item"] > 0

    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--set", "training.steps_per_epoch=3", "--tasks", "next_item",
                 "--events", str(data / "events.parquet"), "--items", str(data / "items.parquet"),
                 "--split", "leave_last_out", "--output-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "recall@50" in out
    assert "item tower reads: id, category, brand, price (of 1,200 items, 0 an image)" in out
    # Every feature says how many of its rows missed the value: here every title.
    assert "\n  title: items -> item, text; fitted on 1,200 rows, 1,200 missing (100.0%)\n" in out
    assert main(["evaluate", str(run)]) == 0
    assert main(["export", str(run), "--target", "core"]) == 0
    base = run / "export" / "mtrec"
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]

    item_ids = list(sample_world.items["item_id"])
    with DevServer(base, rest_port=0, grpc_port=None, poll_seconds=60) as server, \
            RestClient(server.rest_url) as client:
        recommended = client.recommend("u1", item_ids[:3], k=5)
    assert len(recommended) == 5 and all(item in item_ids for item, _ in recommended)
