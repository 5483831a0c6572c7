"""Equal task weights, learned uncertainty weighting and tuned weights, at the same training budget.

    python bench/tuning.py [--preset default|tiny] [--epochs 2] [--steps-per-epoch 40]
                           [--trials 3] [--tuner random] [--out runs/bench-tuning]

On the built-in sample, prepares the data once, then trains the five-task model three ways
with the same budget (epochs x steps per epoch x batch size examples per model, same seed):

- equal: every task's loss weight 1;
- uncertainty: `model.loss_weighting=uncertainty` (Kendall et al. 2018), weights learned;
- tuned: the best trial of `mtrec tune` (`tuning.objective`, scored on the validation part),
  whose trials each train with the same budget; its best trial's run is the tuned model.

and prints each task's test metrics side by side, with the objective on the test part. The
search costs `--trials` times the budget on top; the table says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from mtrec_tf.config import load_config
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.training.fit import load_trained_model, train
from mtrec_tf.training.scoring import evaluate_model
from mtrec_tf.tuning.objective import headline
from mtrec_tf.tuning.tuner import objective_of, run_search

REPO = Path(__file__).resolve().parents[1]
OBJECTIVE = "0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("default", "tiny"), default="default")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=40)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random")
    parser.add_argument("--objective", default=OBJECTIVE)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-tuning")
    args = parser.parse_args()

    if args.out.exists():
        raise SystemExit(f"{args.out} exists: remove it, or pass another --out")
    start = time.perf_counter()
    config = load_config(None, [
        f"training.epochs={args.epochs}", f"training.steps_per_epoch={args.steps_per_epoch}",
        # The README's table was measured with these four.
        "training.learning_rate_schedule=constant", "model.encoder_training=all",
        "model.ranking_item_gradient=encoders", "model.ranking_user_gradient=true",
        f"tuning.objective={args.objective}", f"tuning.max_trials={args.trials}", f"tuning.tuner={args.tuner}",
    ], preset=args.preset)
    equal = dataclasses.replace(config, tasks=tuple(dataclasses.replace(t, weight=1.0) for t in config.tasks))
    uncertainty = dataclasses.replace(equal, model=dataclasses.replace(equal.model, loss_weighting="uncertainty"))
    prepared = prepare_configured(config)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    budget = args.epochs * args.steps_per_epoch * config.training.batch_size
    test = prepared.examples.parts["test"]
    test_arrays = table_to_arrays(test, config.data.history_length)

    def test_metrics(model, run_config):
        return evaluate_model(model, run_config, prepared.statistics, test, catalogue.category[1:], arrays=test_arrays)

    reports, weights, seconds = {}, {}, {}
    for name, run_config in (("equal", equal), ("uncertainty", uncertainty)):
        begin = time.perf_counter()
        model = train(run_config, args.out / name, prepared=prepared, catalogue=catalogue, verbose=0).model
        reports[name] = test_metrics(model, run_config)
        seconds[name] = time.perf_counter() - begin
        weights[name] = (model.loss_weighting.weights_by_task() if model.loss_weighting is not None
                         else {t.name: t.weight for t in run_config.tasks})
        print(f"{name}: {seconds[name]:.0f} s", flush=True)

    begin = time.perf_counter()
    search = run_search(equal, args.out / "search", prepared=prepared, catalogue=catalogue, verbose=1)
    # The best trial trained the best configuration with the same budget: its run is the tuned model.
    reports["tuned"] = test_metrics(load_trained_model(search.paths.trial_run(search.best_trial)).model,
                                    search.best_config)
    seconds["tuned"] = time.perf_counter() - begin
    weights["tuned"] = {t.name: t.weight for t in search.best_config.tasks}

    objective = objective_of(equal)
    names = list(reports)
    print(f"\nsample (scale {config.data.sample_scale}), preset {args.preset}; budget per model: "
          f"{args.epochs} epochs x {args.steps_per_epoch} steps x {config.training.batch_size} = {budget:,} examples, "
          f"seed {config.seed}")
    print(f"tuned: best of {len(search.rows)} {args.tuner} trials (each the same budget) on validation "
          f"objective {objective.text}\n")
    print(f"{'test split':34}" + "".join(f"{n:>13}" for n in names) + f"{'tuned-equal':>13}")
    rows = [(t.name, headline(t.type)) for t in config.tasks]
    rows += [(t.name, "logloss") for t in config.tasks if t.type == "binary"]
    rows += [(t.name, "recall@10") for t in config.tasks if t.type == "retrieval"]
    for task, metric in rows:
        values = [reports[n][task][metric] for n in names]
        print(f"{task + ' ' + metric:34}" + "".join(f"{v:13.4f}" for v in values) + f"{values[-1] - values[0]:+13.4f}")
    scores = [objective.value(reports[n]) for n in names]
    print(f"{'objective (test)':34}" + "".join(f"{v:13.4f}" for v in scores) + f"{scores[-1] - scores[0]:+13.4f}")
    print(f"{'seconds (train + evaluate)':34}" + "".join(f"{seconds[n]:13.0f}" for n in names)
          + "   (tuned: the whole search)")
    print("\nloss weights (uncertainty: learned exp(-s) at the end)")
    for task in config.tasks:
        print(f"  {task.name:32}" + "".join(f"{weights[n][task.name]:13.3g}" for n in names))
    print(f"\nwall time {time.perf_counter() - start:.0f} s; runs in {args.out}")


if __name__ == "__main__":
    main()
