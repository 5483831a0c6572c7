"""Do pre-trained word and item vectors recover the sample shop's planted categories?

    python bench/pretrain_quality.py [--epochs N --window N --dim 32 --cbow ...]

Trains item vectors (item2vec over training-part behaviour sessions) and word vectors
(skip-gram over titles and training-part queries) on the built-in sample (scale 1) and
prints, with the training throughput in pairs per second:

- items: the share of each item's 10 nearest neighbours (cosine, among items seen in
  training) that are in its leaf category, the planted truth of the catalogue; averaged
  over items with at least `--min-count` occurrences, and over all items seen.
- words: "category words" are the title tokens that appear mostly in one leaf's titles:
  at least `--min-count` title occurrences, at least 80 % of them in one leaf (that leaf is
  the word's category). Leaf names themselves never appear in titles, and Chinese words
  become single characters shared across leaves, so purity over the titles is the
  planted-truth label that the tokenizer's output actually carries. Neighbours are searched
  among the category words, and the score is the share of a word's 10 nearest that have its
  category, averaged over category words of leaves with more than 10 such words (a leaf
  with fewer could not reach 1.0), and over all category words.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.embeddings.corpus import build_corpus
from mtrec_tf.embeddings.neighbours import cosine_neighbours
from mtrec_tf.embeddings.skipgram import default_config, pretrain
from mtrec_tf.text.tokenizer import tokenize_to_lists


def neighbour_share(vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray, candidates: np.ndarray,
                    k: int = 10) -> np.ndarray:
    """Per query row: share of its k nearest candidates with the same label."""
    top, _ = cosine_neighbours(vectors, rows, k, candidates)
    return (labels[top] == labels[rows][:, None]).mean(axis=1)


def word_categories(titles: list[str], categories: list[str], min_count: int,
                    purity: float = 0.8) -> dict[str, str]:
    """Title tokens seen at least `min_count` times, `purity` of them in one category."""
    per_token: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for tokens, category in zip(tokenize_to_lists(titles), categories):
        for token in tokens:
            per_token[token][category] += 1
    labels = {}
    for token, counter in per_token.items():
        total = sum(counter.values())
        category, top = counter.most_common(1)[0]
        if total >= min_count and top >= purity * total:
            labels[token] = category
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--window", type=int, help="default: per kind (skipgram.KIND_DEFAULTS)")
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--epochs", type=int, help="default: per kind")
    parser.add_argument("--subsample", type=float, help="default: per kind")
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--kinds", default="items,words")
    args = parser.parse_args()

    config = load_config()
    prepared = prepare_configured(config)
    items = prepared.data.items
    category_of = dict(zip(items["item_id"], items["category"]))

    for kind in args.kinds.split(","):
        corpus = build_corpus(kind, prepared)
        settings = default_config(kind, dim=args.dim, window=args.window, negatives=args.negatives,
                                  epochs=args.epochs, subsample=args.subsample, cbow=args.cbow)
        result = pretrain(corpus, settings, verbose=0)
        labels = np.array(["", ""][: corpus.offset] + (
            [category_of[i] for i in corpus.vocabulary] if kind == "items" else [""] * len(corpus.vocabulary)),
            dtype=object)
        if kind == "items":
            seen = result.counts > 0
            frequent = np.flatnonzero(result.counts >= args.min_count)
            share_frequent = neighbour_share(result.vectors, labels, frequent, seen).mean()
            share_all = neighbour_share(result.vectors, labels, np.flatnonzero(seen), seen).mean()
            print(f"items: {len(frequent)} items with >= {args.min_count} occurrences: "
                  f"top-10 same-category share {share_frequent:.3f}; all {int(seen.sum())} seen items: "
                  f"{share_all:.3f}")
        else:
            words = word_categories(list(items["title"]), list(items["category"]), args.min_count)
            for j, token in enumerate(corpus.vocabulary):
                labels[corpus.offset + j] = words.get(token, "")
            candidates = labels != ""
            rows = np.flatnonzero(candidates)
            sizes = collections.Counter(labels[rows])
            big = np.array([sizes[labels[r]] > 10 for r in rows])
            shares = neighbour_share(result.vectors, labels, rows, candidates)
            print(f"words: {len(rows)} category words in {len(sizes)} leaves; top-10 same-category share "
                  f"{shares[big].mean():.3f} over the {int(big.sum())} in leaves with more than 10, "
                  f"{shares.mean():.3f} over all")
        print(f"{kind}: {corpus.num_tokens:,} ids in {len(corpus.sequences):,} sentences, {result.pairs:,} pairs "
              f"in {result.seconds:.1f} s: {result.pairs_per_second:,.0f} pairs/s; losses {result.losses}")


if __name__ == "__main__":
    main()
