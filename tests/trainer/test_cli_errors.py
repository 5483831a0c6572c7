"""Bad input on the command line: each is answered with exit code 2 and one message naming
what is wrong (table, row, column, item, key), never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.cli import main

ITEMS = "item_id,title,category,price,image\ni1,Cup,Home > Cups,3,\ni2,Mug,Home > Cups,4,\n"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def shop(folder: Path, events: str, items: str = ITEMS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.csv").write_text(events, encoding="utf-8")
    (folder / "items.csv").write_text(items, encoding="utf-8")
    return folder


def clicks_only(rows: int = 40) -> str:
    lines = [f"u{i % 5},{1_700_000_000 + 60 * i},click,i{1 + i % 2}," for i in range(rows)]
    return "user_id,timestamp,event_type,item_id,query\n" + "\n".join(lines) + "\n"


def test_an_image_that_is_not_one_names_the_items_table_row_item_and_file(tmp_path, capsys):
    folder = shop(tmp_path, clicks_only(), ITEMS.replace("3,\n", "3,images/i1.png\n"))
    (folder / "images").mkdir()
    (folder / "images" / "i1.png").write_text("a text file", encoding="utf-8")
    code, _, err = run(["data", "inspect", str(folder)], capsys)
    assert code == 2
    assert "items.csv row 1 (line 2), column 'image': item_id 'i1': cannot decode image" in err
    assert "images/i1.png" in err


@pytest.mark.parametrize("table", ["events", "items"])
def test_a_header_only_table_is_named(tmp_path, capsys, table):
    events, items = clicks_only(), ITEMS
    if table == "events":
        events = events.splitlines()[0] + "\n"
    else:
        items = items.splitlines()[0] + "\n"
    code, _, err = run(["data", "inspect", str(shop(tmp_path, events, items))], capsys)
    assert code == 2 and f"{table}.csv: the {table} table has no data rows" in err


def test_a_negative_price_is_named_and_skip_counts_its_repair(tmp_path, capsys):
    folder = shop(tmp_path, clicks_only(), ITEMS.replace("i2,Mug,Home > Cups,4", "i2,Mug,Home > Cups,-4"))
    code, _, err = run(["data", "inspect", str(folder)], capsys)
    assert code == 2 and "items.csv row 2 (line 3), column 'price': expected a price of 0 or more, got '-4'" in err
    code, out, _ = run(["data", "inspect", str(folder), "--bad-rows", "skip"], capsys)
    assert code == 0 and re.search(r"repaired\s+1\s+negative price", out)


def test_every_task_without_labels_is_listed_with_the_tasks_that_would_train(tmp_path, capsys):
    folder = shop(tmp_path, clicks_only())
    code, _, err = run(["train", "--events", str(folder / "events.csv"), "--items", str(folder / "items.csv"),
                        "--preset", "tiny", "--output-dir", str(tmp_path / "run")], capsys)
    assert code == 2
    # Clicks alone, and no images: only next_item can learn.
    assert "4 of 5 tasks cannot learn from these data" in err
    for task in ("query_category", "ctr", "cvr", "image_category"):
        assert f"'{task}': no training example has a '{task}' label" in err
    assert "train the others with --tasks next_item" in err


@pytest.mark.parametrize(("override", "message"), [
    ("training.epochs=2.5", "training.epochs: expected a whole number, got 2.5"),
    ("training.epochs=two", "training.epochs: expected a whole number, got 'two'"),
])
def test_a_value_of_the_wrong_type_stops_before_any_work(tmp_path, override, message):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "train", "--set", override, "--output-dir", str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not run_dir.exists()


@pytest.fixture(scope="module")
def skip_run(tmp_path_factory, sample_world):
    """A run trained briefly with --bad-rows skip on the sample with one bad event row."""
    folder = tmp_path_factory.mktemp("shop")
    events = sample_world.events.copy()
    events.loc[len(events)] = {**events.iloc[0].to_dict(), "timestamp": "yesterday"}
    events.to_csv(folder / "events.csv", index=False)
    sample_world.items.drop(columns=["image"]).to_csv(folder / "items.csv", index=False)
    run_dir = tmp_path_factory.mktemp("run")
    argv = ["train", "--events", str(folder / "events.csv"), "--items", str(folder / "items.csv"),
            "--preset", "tiny", "--tasks", "ctr", "--set", "training.steps_per_epoch=2", "--no-export",
            "--no-evaluate",
            "--bad-rows", "skip", "--output-dir", str(run_dir)]
    return argv, run_dir


def test_train_takes_bad_rows_and_writes_the_data_report(skip_run, capsys):
    argv, run_dir = skip_run
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert re.search(r"dropped\s+1\s+bad timestamp", out)
    report = json.loads((run_dir / "data_report.json").read_text(encoding="utf-8"))
    events = report["data_quality"][0]
    assert events["dropped"] == {"bad timestamp": 1} and events["rows_read"] == events["rows_kept"] + 1
    assert report["examples"]["counts"]["train"]
    # Once finished, the run is not trained over.
    code, _, err = run(argv, capsys)
    assert code == 2 and f"{run_dir} holds a finished run" in err and "--overwrite" in err

