"""The run's PNG plots: one panel per task, written whole."""

from __future__ import annotations

import pytest
from PIL import Image

from mtrec_tf.evaluation.plots import plot_comparison, plot_training_curves


def _size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.mark.filterwarnings("error")  # a panel without curves has no legend to warn about
def test_training_curves_have_a_panel_per_task_in_rows_of_three(tmp_path):
    history = {"ctr_loss": [0.7, 0.6], "val_ctr_loss": [0.72, 0.65], "cvr_loss": [0.3, 0.2]}
    one, four = tmp_path / "one.png", tmp_path / "four.png"
    plot_training_curves(history, ["ctr"], one)
    plot_training_curves(history, ["ctr", "cvr", "next_item", "query_category"], four)  # keys may be missing
    (width_one, height_one), (width_four, height_four) = _size(one), _size(four)
    assert width_four > 2 * width_one and height_four > 1.5 * height_one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["four.png", "one.png"]  # no temporary file left


def test_the_comparison_plots_whichever_models_the_report_holds(tmp_path):
    report = {"ctr": {"auc": 0.7}, "next_item": {"recall@50": 0.3}, "baselines": {"ctr": {"auc": 0.6}},
              "single_task": {"next_item": {"recall@50": 0.28}}}
    path = tmp_path / "multi_vs_single.png"
    plot_comparison(report, {"ctr": "binary", "next_item": "retrieval", "cvr": "binary"}, path)
    width, height = _size(path)
    narrower = tmp_path / "one.png"
    plot_comparison(report, {"ctr": "binary"}, narrower)
    assert width > _size(narrower)[0] and height > 100  # cvr, absent from the report, has no panel
