"""The notebooks run end to end on a tiny configuration, and are stored thin and without outputs.

Each notebook is executed with nbclient in a fresh kernel of this interpreter, in a temporary
working directory, with a cell injected after its `parameters` cell (as papermill does) that
selects the tiny preset, a few training steps and a temporary run directory.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pandas as pd
import pytest

from mtrec_tf.data.public import default_data_dir as shared_data_dir

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
QUICKSTART = "quickstart.ipynb"
BRING_YOUR_OWN_DATA = "bring_your_own_data.ipynb"
ALL_NOTEBOOKS = (QUICKSTART, BRING_YOUR_OWN_DATA)
CELL_TIMEOUT_S = 600
K = 5
MOVIELENS_USERS = 60
CHECK_MARKER = "NOTEBOOK-CHECK "
# No validation part, image examples included: a validation pass costs a third of the quickstart's
# training time.
NO_VALIDATION = ["data.split.validation_fraction=0.0", "data.image_validation_fraction=0.0"]


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _parameters_index(notebook: nbformat.NotebookNode) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `python3` kernelspec that runs this interpreter, found before any user-level one."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (test)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MTREC_DATA_DIR", str(shared_data_dir()))
    # The repository first on the kernel's path, as for the tests: `import mtrec_tf, serving`.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def _execute(name: str, parameters: dict[str, str], check: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[nbformat.NotebookNode, dict]:
    """Runs a notebook with `parameters` (name -> Python source) injected; returns it and the
    JSON that the appended `check` expression printed."""
    _kernel_env(tmp_path, monkeypatch)
    notebook = _read(name)
    injected = nbformat.v4.new_code_cell("\n".join(f"{key} = {value}" for key, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(_parameters_index(notebook) + 1, injected)
    notebook.cells.append(nbformat.v4.new_code_cell(f"print({CHECK_MARKER!r} + json.dumps({check}))"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()
    text = _printed(notebook)
    found = [line[len(CHECK_MARKER):] for line in text.splitlines() if line.startswith(CHECK_MARKER)]
    assert len(found) == 1, "the check cell printed nothing"
    return notebook, json.loads(found[0])


def _printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the code cells wrote to stdout and as plain text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"cell failed: {output.get('ename')}: {output.get('evalue')}"
            if output.output_type == "stream":
                parts.append(output.text)
            elif "text/plain" in output.get("data", {}):
                parts.append(output.data["text/plain"])
    return "\n".join(parts)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_quickstart_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    notebook, check = _execute(
        QUICKSTART,
        {"PRESET": '"tiny"', "STEPS_PER_EPOCH": "3", "K": str(K), "RUN_DIR": f"Path({str(run_dir)!r})",
         "SETTINGS": repr(NO_VALIDATION)},
        '{"recommended": [item for item, _ in recommendations], "items": items["item_id"].tolist(), '
        '"scored": scores}',
        tmp_path, monkeypatch,
    )
    model_dir = run_dir / "model"
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    for task, headline in [("query_category", "accuracy"), ("ctr", "auc"), ("cvr", "auc"),
                           ("next_item", "recall@50"), ("image_category", "accuracy")]:
        assert _finite(metrics[task][headline]), (task, metrics[task])
    assert (model_dir / "training_curves.png").stat().st_size > 0
    assert (model_dir / "multi_vs_single.png").stat().st_size > 0
    assert (model_dir / "export" / "mtrec" / "1" / "saved_model.pb").is_file()
    assert (model_dir / "serving" / "models.config").is_file()

    # The server answered with K catalogue items, and the notebook printed them.
    recommended = check["recommended"]
    assert len(recommended) == K and set(recommended) <= set(check["items"])
    text = _printed(notebook)
    assert f"top {K} recommendations" in text
    assert all(item in text for item in recommended)
    assert [row["item_id"] for row in check["scored"]] == recommended
    assert all(0.0 <= row["ctr"] <= 1.0 and 0.0 <= row["ctcvr"] <= row["ctr"] + 1e-6 for row in check["scored"])
    assert "'running shoes':" in text  # the categories of a query
    assert "ctr (binary; headline auc)" in text  # the metrics table
    images = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert len(images) >= 3  # an item's picture and the two plots


def _movielens_available() -> bool:
    folder = shared_data_dir() / "ml-100k"
    return (folder / "ml-100k.inter").is_file() and (folder / "ml-100k.item").is_file()


@pytest.mark.skipif(not _movielens_available(),
                    reason=f"MovieLens 100K not found under {shared_data_dir() / 'ml-100k'} "
                           "(set MTREC_DATA_DIR to the folder holding ml-100k/)")
def test_bring_your_own_data_builds_the_contract_tables_and_trains(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from mtrec_tf.data.public import load_movielens_100k

    run_dir = tmp_path / "run"
    notebook, check = _execute(
        BRING_YOUR_OWN_DATA,
        {"PRESET": '"tiny"', "EPOCHS": "1", "STEPS_PER_EPOCH": "3", "MAX_USERS": str(MOVIELENS_USERS),
         "RUN_DIR": f"Path({str(run_dir)!r})"},
        '{"tasks": [task.name for task in config.tasks]}',
        tmp_path, monkeypatch,
    )
    assert check["tasks"] == ["next_item", "rating"]
    metrics = json.loads((run_dir / "model" / "metrics.json").read_text(encoding="utf-8"))
    assert _finite(metrics["rating"]["rmse"]) and _finite(metrics["next_item"]["recall@50"])
    text = _printed(notebook)
    assert "rmse" in text and "recall@50" in text

    # The tables the notebook built with pandas are the library loader's, for the users kept.
    events = pd.read_parquet(run_dir / "data" / "events.parquet")
    items = pd.read_parquet(run_dir / "data" / "items.parquet")
    expected_events, expected_items = load_movielens_100k(shared_data_dir())
    assert events["user_id"].nunique() == MOVIELENS_USERS
    expected_events = expected_events[expected_events["user_id"].isin(events["user_id"].unique())]
    columns = ["user_id", "timestamp", "event_type", "item_id", "query", "rating"]
    order = ["user_id", "timestamp", "item_id", "event_type"]
    pd.testing.assert_frame_equal(
        events[columns].sort_values(order).reset_index(drop=True),
        expected_events[columns].sort_values(order).reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(items[["item_id", "title", "category"]].reset_index(drop=True),
                                  expected_items[["item_id", "title", "category"]].reset_index(drop=True))


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_notebook_is_stored_thin_and_without_outputs(name: str) -> None:
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    _parameters_index(notebook)
    imported: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is None and cell.outputs == [], f"cell {index} of {name} has outputs"
        tree = ast.parse(cell.source)  # plain Python: no magics or shell escapes
        defined = [type(node).__name__ for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"cell {index} of {name} defines {defined}: library code belongs in mtrec_tf"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    assert "mtrec_tf" in imported, f"{name} does not use the library"
    assert not re.search(r"/work/|/home/|/Users/", json.dumps(notebook)), "absolute machine path in a notebook"
