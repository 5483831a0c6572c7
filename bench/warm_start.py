"""Warm-started against random-initialised multi-task model, at the same number of epochs.

    python bench/warm_start.py [--data sample|movielens] [--epochs N] [--out runs/bench-warm-start]

Pre-trains word and item vectors on the training part (`mtrec pretrain`), then trains the
same configuration twice, from random tables and from the pre-trained ones (trainable),
and prints `query_category` accuracy (sample only) and `next_item` Recall@50, overall and
for the examples whose target is among the 20 % least popular items (`tail_recall@50`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import load_configured_data, prepare_data
from mtrec_tf.data.public import load_movielens_100k
from mtrec_tf.data.readers import load_data
from mtrec_tf.embeddings.corpus import build_corpus
from mtrec_tf.embeddings.skipgram import default_config, pretrain
from mtrec_tf.embeddings.store import save_vectors
from mtrec_tf.evaluation.report import evaluate_run
from mtrec_tf.training.fit import train

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("sample", "movielens"), default="sample")
    parser.add_argument("--epochs", type=int, default=None, help="default: the configuration's")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-warm-start")
    args = parser.parse_args()

    overrides = [f"training.epochs={args.epochs}"] if args.epochs else []
    if args.data == "movielens":
        config = load_config(REPO / "configs" / "movielens.yaml", overrides)
        events, items = load_movielens_100k()
        data = load_data(events, items.drop(columns=["genres"], errors="ignore"))
    else:
        config = load_config(None, overrides)
        data = load_configured_data(config.data)
    prepared = prepare_data(data, config.data, seed=config.seed)
    out = args.out / args.data

    kinds = ["items"] + (["words"] if any(t.name == "query_category" for t in config.tasks) else [])
    folders = []
    for kind in kinds:
        corpus = build_corpus(kind, prepared)
        result = pretrain(corpus, default_config(kind, dim=config.model.embedding_dim, seed=config.seed), verbose=0)
        folders.append(save_vectors(out / f"vectors-{kind}", kind, result.vectors, result.counts, corpus.vocabulary,
                                    {"pairs": result.pairs, "seconds": result.seconds}))
        print(f"pre-trained {kind}: {result.pairs:,} pairs in {result.seconds:.0f} s")

    warm = dataclasses.replace(config, model=dataclasses.replace(
        config.model, init_embeddings=",".join(str(f) for f in folders)))
    reports = {}
    for name, run_config in (("random", config), ("warm start", warm)):
        run_dir = out / name.replace(" ", "-")
        train(run_config, run_dir, prepared=prepared, verbose=0)
        reports[name] = evaluate_run(run_dir, prepared=prepared)

    print(f"\n{args.data}, {config.training.epochs} epochs{'':8}{'random':>12}{'warm start':>12}")
    rows = [("next_item", "recall@50"), ("next_item", "tail_recall@50"), ("next_item", "tail_examples")]
    if "query_category" in reports["random"]:
        rows.insert(0, ("query_category", "accuracy"))
    for task, metric in rows:
        cells = "".join(f"{reports[name][task][metric]:12.4f}" for name in reports)
        print(f"{task + ' ' + metric:34}{cells}")


if __name__ == "__main__":
    main()
