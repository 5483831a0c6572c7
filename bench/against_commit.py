"""This tree's five-task model on the built-in sample against a commit's: headline test
metrics over seeds, and training examples/s in alternating processes.

    python bench/against_commit.py BASELINE [--seeds 42,1] [--throughput-runs 3] [--skip-metrics]

BASELINE (a commit, a tag or a branch) is checked out into a temporary git worktree. Each
seed trains `mtrec train` on the sample (default configuration) from both trees, one after
the other, and the test metrics of `metrics.json` are compared: the mean over seeds of each
tree, and the paired difference with its standard error. Throughput runs
`bench/train_throughput.py` from each tree in turn (baseline, this tree, baseline, ...) and
compares the median examples/s of the five-task model. Nothing is chosen on the test part:
both trees train with their defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The headline metric of each task of the default configuration, as `metrics.json` names them.
HEADLINES = (("query_category", "accuracy"), ("ctr", "auc"), ("cvr", "auc"), ("next_item", "recall@50"),
             ("next_item", "ndcg@10"), ("image_category", "accuracy"))
_RATE = re.compile(r"^five tasks\s+([\d,]+) examples/s", re.M)


def run_in(tree: Path, arguments: list[str], log: Path) -> str:
    """Runs `python ARGUMENTS` with `tree` first on the import path; returns its output."""
    environment = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, *arguments], cwd=tree, env=environment, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode:
        raise SystemExit(f"{' '.join(arguments)} in {tree} failed ({done.returncode}); see {log}")
    return done.stdout


def test_metrics(tree: Path, seed: int, out: Path) -> dict[str, float]:
    run = out / f"run-{tree.name}-{seed}"
    run_in(tree, ["-m", "trainer.cli", "train", "--output-dir", str(run), "--set", f"seed={seed}"],
           out / f"train-{tree.name}-{seed}.log")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    found = {}
    for task, metric in HEADLINES:
        value = metrics.get("tasks", metrics).get(task, {}).get(metric)
        if value is not None:
            found[f"{task} {metric}"] = float(value)
    return found


def five_task_rate(tree: Path, out: Path, index: int) -> float:
    text = run_in(tree, ["bench/train_throughput.py", "--rounds", "1"], out / f"throughput-{tree.name}-{index}.log")
    match = _RATE.search(text)
    if match is None:
        raise SystemExit(f"no five-task rate in the output of {tree}/bench/train_throughput.py")
    return float(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline")
    parser.add_argument("--seeds", default="42,1")
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument("--skip-metrics", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="against-commit-") as scratch:
        out = Path(scratch)
        baseline = out / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(baseline), args.baseline],
                       cwd=REPO, check=True)
        trees = {"baseline": baseline, "this tree": REPO}
        try:
            if not args.skip_metrics:
                compare_metrics(trees, [int(s) for s in args.seeds.split(",")], out)
            rates: dict[str, list[float]] = {name: [] for name in trees}
            for index in range(args.throughput_runs):
                for name, tree in trees.items():
                    rates[name].append(five_task_rate(tree, out, index))
                    print(f"throughput run {index + 1} {name}: {rates[name][-1]:,.0f} examples/s", flush=True)
            medians = {name: statistics.median(values) for name, values in rates.items()}
            print(f"\nfive-task training examples/s, median of {args.throughput_runs} alternating runs: "
                  + ", ".join(f"{name} {value:,.0f}" for name, value in medians.items())
                  + f"; this tree / baseline {medians['this tree'] / medians['baseline']:.3f}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=REPO, check=False)


def compare_metrics(trees: dict[str, Path], seeds: list[int], out: Path) -> None:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for seed in seeds:
        for name, tree in trees.items():
            runs[name].append(test_metrics(tree, seed, out))
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in runs[name][-1].items()), flush=True)
    print(f"\ntest metrics, {len(seeds)} seeds ({', '.join(map(str, seeds))}): baseline, this tree, "
          "paired difference (this tree - baseline) and its standard error")
    for key in runs["baseline"][0]:
        base = [run[key] for run in runs["baseline"]]
        mine = [run[key] for run in runs["this tree"]]
        differences = [m - b for m, b in zip(mine, base)]
        error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
        print(f"  {key:28} {statistics.mean(base):.4f}  {statistics.mean(mine):.4f}  "
              f"{statistics.mean(differences):+.4f} ± {error:.4f}")


if __name__ == "__main__":
    main()
