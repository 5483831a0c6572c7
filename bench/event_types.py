"""The shop's behaviour in the history: past searches, and more event types.

    python bench/event_types.py --compare searches|extended [--seeds 42,1,2] [--scale 1]
        [--epochs N] [--set KEY=VALUE ...] [--json OUT]

The five-task model on the built-in sample shop, trained twice per seed on the same split
and budget and scored on the test part:

- `searches`: the history holds behaviour events only, or behaviour interleaved with the
  user's past searches (`data.history_includes_searches`);
- `extended`: the sample with `view` and `favorite` events (`--event-types extended`),
  declared without a role (in the log, not in histories) or as behaviour
  (`configs/sample_extended_events.yaml`).

Prints next_item Recall@10/50 and NDCG@10 and ctr AUC as mean ± std over seeds for both,
the paired difference (second minus first; higher is better for each) ± its
standard error with the verdict of `mtl_claim.verdict`, and the training cost: examples per
second of the fit and microseconds per training example (median over seeds, and the ratio).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from mtl_claim import verdict

import mtrec_tf  # noqa: F401
from mtrec_tf.config import Config, load_config
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.training.fit import train
from mtrec_tf.training.scoring import evaluate_model

REPO = Path(__file__).resolve().parents[1]
METRICS = (("next_item", "recall@10"), ("next_item", "recall@50"), ("next_item", "ndcg@10"), ("ctr", "auc"))
EXTENDED = REPO / "configs" / "sample_extended_events.yaml"
# The extended sample's view and favorite events, in the log but in no history.
WITHOUT_ROLES = ["data.event_types.view=[]", "data.event_types.favorite=[]"]
COMPARISONS: dict[str, tuple[tuple[str, Path | None, list[str]], tuple[str, Path | None, list[str]]]] = {
    "searches": (("behaviour only", None, ["data.history_includes_searches=false"]),
                 ("with searches", None, ["data.history_includes_searches=true"])),
    "extended": (("view, favorite without role", EXTENDED, WITHOUT_ROLES),
                 ("view, favorite as behaviour", EXTENDED, [])),
}


def variant_config(path: Path | None, overrides: list[str], seed: int, args: argparse.Namespace) -> Config:
    common = [f"seed={seed}", f"data.sample_seed={seed}", f"data.sample_scale={args.scale}", *args.set]
    common += [f"training.epochs={args.epochs}"] if args.epochs else []
    return load_config(path, common + overrides)


def run(config: Config) -> tuple[dict[str, dict[str, float]], float]:
    """Test metrics of `config` trained on its own prepared data, and the fit's examples/s."""
    prepared = prepare_configured(config)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, run_dir, prepared=prepared, catalogue=catalogue, verbose=0)
    metrics = evaluate_model(result.model, config, prepared.statistics, prepared.examples.parts["test"],
                             catalogue.category[1:], ks=(10, 50))
    return metrics, result.examples_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", choices=tuple(COMPARISONS), required=True)
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--scale", type=int, default=1, help="sample shop scale")
    parser.add_argument("--epochs", type=int, default=0, help="training epochs (default: the configuration's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more configuration")
    parser.add_argument("--json", type=Path, help="write every run's test metrics here")
    args = parser.parse_args()

    variants = COMPARISONS[args.compare]
    runs: list[dict] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, path, overrides in variants:
            metrics, rate = run(variant_config(path, overrides, seed, args))
            runs.append({"seed": seed, "variant": name, "metrics": metrics, "examples_per_second": rate})
            print(f"seed {seed} {name}: {rate:,.0f} examples/s; " + ", ".join(
                f"{task} {metric} {metrics[task][metric]:.4f}" for task, metric in METRICS), flush=True)

    first, second = (name for name, _, _ in variants)
    print(f"\n{'metric':24}{first:>30}{second:>30}{'difference ± SE':>22}  verdict")
    for task, metric in METRICS:
        values = {name: np.array([r["metrics"][task][metric] for r in runs if r["variant"] == name])
                  for name in (first, second)}
        mean, error, word = verdict(values[second] - values[first])  # every metric here: higher is better
        cells = "".join(f"{values[n].mean():>20.4f} ± {values[n].std(ddof=1) if len(values[n]) > 1 else 0:.4f}"
                        for n in (first, second))
        print(f"{task + ' ' + metric:24}{cells}{mean:>+12.4f} ± {error:.4f}  {word}")
    rates = {name: float(np.median([r["examples_per_second"] for r in runs if r["variant"] == name]))
             for name in (first, second)}
    print("training: " + ", ".join(f"{name} {rate:,.0f} examples/s ({1e6 / rate:.0f} µs an example)"
                                   for name, rate in rates.items())
          + f"; cost ratio {rates[first] / rates[second]:.3f}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
