"""Offline metrics against plain-Python references and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
from sklearn import metrics as skm

from mtrec_tf import metrics
from mtrec_tf.metrics import (
    accuracy,
    auc,
    coverage,
    diversity,
    gauc,
    least_popular_items,
    logloss,
    macro_f1,
    novelty,
    ranking_metrics,
    retrieval_report,
    rmse,
    top_k_accuracy,
    top_k_items,
    top_k_items_chunked,
)

# Empty inputs must give nan quietly: any warning fails a test.
pytestmark = pytest.mark.filterwarnings("error")

NAN = float("nan")


# --------------------------------------------------------------------------- references


def ref_top_k_accuracy(labels, scores, k):
    hits = 0
    for y, row in zip(labels, scores):
        rivals = sum(1 for c, s in enumerate(row) if c != y and s >= row[y])
        hits += rivals < k
    return hits / len(labels)


def ref_macro_f1(labels, preds):
    f1s = []
    for c in sorted(set(labels) | set(preds)):
        tp = sum(1 for y, p in zip(labels, preds) if y == c and p == c)
        fp = sum(1 for y, p in zip(labels, preds) if y != c and p == c)
        fn = sum(1 for y, p in zip(labels, preds) if y == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s)


def ref_auc(labels, scores):
    pos = [s for y, s in zip(labels, scores) if y == 1]
    neg = [s for y, s in zip(labels, scores) if y == 0]
    if not pos or not neg:
        return NAN
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def ref_gauc(labels, scores, groups):
    by_group = {}
    for y, s, g in zip(labels, scores, groups):
        by_group.setdefault(g, ([], []))
        by_group[g][0].append(y)
        by_group[g][1].append(s)
    total = weight = 0.0
    for ys, ss in by_group.values():
        value = ref_auc(ys, ss)
        if not math.isnan(value):
            total += len(ys) * value
            weight += len(ys)
    return total / weight if weight else NAN


def ref_logloss(labels, probs, eps=1e-7):
    total = 0.0
    for y, p in zip(labels, probs):
        p = min(max(p, eps), 1 - eps)
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(labels)


def ref_top_k_items(scores, k, exclude=None):
    out = []
    n = len(scores[0])
    for u, row in enumerate(scores):
        banned = set(exclude[u]) if exclude is not None else set()
        ranked = sorted((i for i in range(n) if i not in banned), key=lambda i: (-row[i], i))
        chosen = ranked[:k]
        out.append(chosen + [-1] * (min(k, n) - len(chosen)))
    return np.array(out, dtype=np.int64).reshape(len(scores), min(k, n))


def ref_ranking(top_k, relevant, ks):
    rows = [(list(recs), set(rel)) for recs, rel in zip(top_k, relevant) if len(set(rel))]
    result = {}
    for k in ks:
        sums = dict.fromkeys(("recall", "precision", "hit_rate", "ndcg"), 0.0)
        for recs, rel in rows:
            hits = [1 if item in rel else 0 for item in recs[:k]]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
            sums["recall"] += sum(hits) / len(rel)
            sums["precision"] += sum(hits) / k
            sums["hit_rate"] += 1.0 if sum(hits) else 0.0
            sums["ndcg"] += dcg / idcg
        for name, total in sums.items():
            result[f"{name}@{k}"] = total / len(rows) if rows else NAN
    reciprocal = 0.0
    for recs, rel in rows:
        for rank, item in enumerate(recs[: max(ks)], start=1):
            if item in rel:
                reciprocal += 1 / rank
                break
    result["mrr"] = reciprocal / len(rows) if rows else NAN
    return result


def ref_coverage(top_k, num_items, k):
    return len({i for row in top_k for i in row[:k] if i >= 0}) / num_items


def ref_novelty(top_k, popularity, k):
    total, n = sum(popularity), len(popularity)
    means = []
    for row in top_k:
        items = [i for i in row[:k] if i >= 0]
        if items:
            means.append(
                sum(-math.log2((popularity[i] + 1) / (total + n)) for i in items) / len(items)
            )
    return sum(means) / len(means) if means else NAN


def ref_diversity(top_k, categories, k):
    values = []
    for row in top_k:
        items = [i for i in row[:k] if i >= 0]
        if len(items) < 2:
            continue
        pairs = [(a, b) for x, a in enumerate(items) for b in items[x + 1 :]]
        values.append(sum(categories[a] != categories[b] for a, b in pairs) / len(pairs))
    return sum(values) / len(values) if values else NAN


def assert_close_dict(actual, expected):
    assert list(actual) == list(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)


# --------------------------------------------------------------------------- classification


def test_accuracy_hand_case_and_argmax_ties():
    assert accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == 0.75
    # Row 2 ties classes 0 and 1: argmax takes the lower index.
    scores = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.4, 0.4, 0.2]]
    assert accuracy([0, 1, 1], scores) == pytest.approx(2 / 3)
    assert accuracy([0, 1], np.array([0.0, 1.0])) == 1.0  # integer-valued floats are classes


def test_accuracy_matches_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    scores = rng.random((300, 5))
    expected = skm.accuracy_score(labels, scores.argmax(axis=1))
    assert accuracy(labels, scores) == pytest.approx(expected)


def test_top_k_accuracy_ties_count_against_the_label():
    constant = np.ones((4, 3))
    assert top_k_accuracy([0, 1, 2, 0], constant, k=1) == 0.0
    assert top_k_accuracy([0, 1, 2, 0], constant, k=2) == 0.0
    assert top_k_accuracy([0, 1, 2, 0], constant, k=3) == 1.0
    scores = [[0.5, 0.5, 0.1], [0.5, 0.3, 0.3], [0.1, 0.3, 0.3]]
    labels = [0, 1, 2]
    for k in (1, 2, 3):
        assert top_k_accuracy(labels, scores, k=k) == pytest.approx(
            ref_top_k_accuracy(labels, scores, k)
        )
    assert top_k_accuracy(labels, scores, k=2) == pytest.approx(2 / 3)


def test_top_k_accuracy_k_beyond_classes_is_clipped():
    assert top_k_accuracy([0, 2], [[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]], k=10) == 1.0


def test_top_k_accuracy_matches_reference_with_ties():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, 200)
    scores = rng.integers(0, 4, (200, 6)).astype(float)  # many ties
    for k in (1, 2, 3, 5, 6):
        assert top_k_accuracy(labels, scores, k=k) == pytest.approx(
            ref_top_k_accuracy(labels.tolist(), scores.tolist(), k)
        )


def test_top_k_accuracy_matches_sklearn():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, 500)
    scores = rng.random((500, 7))
    for k in (1, 2, 3, 5):
        expected = skm.top_k_accuracy_score(labels, scores, k=k, labels=np.arange(7))
        assert top_k_accuracy(labels, scores, k=k) == pytest.approx(expected)


def test_macro_f1_hand_case_skips_absent_classes():
    # Classes {0, 1, 2}: F1 = 2/3, 2/3, 1; class 3 and 4 never occur and are excluded.
    assert macro_f1([0, 0, 1, 2], [0, 1, 1, 2], num_classes=5) == pytest.approx(
        (2 / 3 + 2 / 3 + 1) / 3
    )
    # Class 1 is only predicted: F1 = 0 is averaged in.
    assert macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)
    labels, preds = [0, 1, 1, 3, 3, 3], [0, 3, 1, 3, 0, 1]
    assert macro_f1(labels, preds) == pytest.approx(ref_macro_f1(labels, preds))


def test_macro_f1_matches_sklearn():
    rng = np.random.default_rng(3)
    for n, classes in ((50, 3), (400, 8), (30, 12)):  # the last leaves classes absent
        labels = rng.integers(0, classes, n)
        scores = rng.random((n, classes))
        preds = scores.argmax(axis=1)
        expected = skm.f1_score(labels, preds, average="macro")
        assert macro_f1(labels, preds) == pytest.approx(expected)
        assert macro_f1(labels, scores) == pytest.approx(expected)
        assert macro_f1(labels, preds) == pytest.approx(
            ref_macro_f1(labels.tolist(), preds.tolist())
        )


# --------------------------------------------------------------------------- binary and regression


def test_auc_hand_case_with_ties():
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # A tied positive-negative pair counts one half.
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    labels, scores = [1, 0, 1, 0, 0, 1], [0.3, 0.3, 0.9, 0.1, 0.9, 0.3]
    assert auc(labels, scores) == pytest.approx(ref_auc(labels, scores))
    assert auc([0, 1, 0], [-np.inf, np.inf, 0.0]) == 1.0


def test_auc_single_class_and_empty_are_nan():
    assert math.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auc([0, 0], [0.1, 0.2]))
    assert math.isnan(auc([], []))


def test_auc_matches_reference_and_sklearn():
    rng = np.random.default_rng(4)
    for n in (2, 17, 300):
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]
        tied = rng.integers(0, 5, n).astype(float)
        continuous = rng.random(n)
        for scores in (tied, continuous):
            expected = skm.roc_auc_score(labels, scores)
            assert auc(labels, scores) == pytest.approx(expected, abs=1e-12)
            assert auc(labels, scores) == pytest.approx(ref_auc(labels.tolist(), scores.tolist()))


def test_gauc_hand_case():
    labels = [1, 0, 1, 0, 0, 1, 1, 0, 0]
    scores = [0.9, 0.2, 0.1, 0.3, 0.5, 0.5, 0.5, 0.7, 0.8]
    groups = ["a", "a", "b", "b", "b", "c", "d", "d", "d"]
    # a: 1 (2 examples), b: 0 (3 examples), c single-class (skipped), d: 0 (3 examples).
    assert gauc(labels, scores, groups) == pytest.approx(2 / 8)
    assert gauc(labels, scores, groups) == pytest.approx(ref_gauc(labels, scores, groups))


def test_gauc_without_two_class_groups_is_nan():
    assert math.isnan(gauc([1, 0], [0.3, 0.2], [1, 2]))
    assert math.isnan(gauc([], [], []))


def test_gauc_matches_reference_and_single_group_auc():
    rng = np.random.default_rng(5)
    n = 400
    labels = rng.integers(0, 2, n)
    scores = rng.integers(0, 6, n) / 5.0  # ties within users
    groups = rng.integers(0, 40, n)
    assert gauc(labels, scores, groups) == pytest.approx(
        ref_gauc(labels.tolist(), scores.tolist(), groups.tolist())
    )
    assert gauc(labels, scores, np.zeros(n)) == pytest.approx(auc(labels, scores))


def test_logloss_hand_case_and_clipping():
    assert logloss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert logloss([1], [0.0], eps=1e-7) == pytest.approx(-math.log(1e-7))
    assert logloss([0], [1.0], eps=1e-3) == pytest.approx(-math.log(1e-3))
    assert logloss([0.5], [0.5]) == pytest.approx(math.log(2))  # soft label
    assert logloss([2, 0], [[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]) == pytest.approx(
        -(math.log(0.5) + math.log(0.6)) / 2
    )


def test_logloss_matches_reference_and_sklearn():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 250)
    probs = rng.uniform(0.01, 0.99, 250)
    assert logloss(labels, probs) == pytest.approx(skm.log_loss(labels, probs))
    assert logloss(labels, probs) == pytest.approx(ref_logloss(labels.tolist(), probs.tolist()))
    classes = rng.integers(0, 4, 250)
    matrix = rng.random((250, 4)) + 0.05
    matrix /= matrix.sum(axis=1, keepdims=True)
    expected = skm.log_loss(classes, matrix, labels=np.arange(4))
    assert logloss(classes, matrix) == pytest.approx(expected)


def test_rmse_hand_case():
    assert rmse([1.0, 2.0], [1.0, 4.0]) == pytest.approx(math.sqrt(2))
    assert rmse([3], [3]) == 0.0
    assert rmse([1.0, 2.0, 3.0], [2.0, 2.0, 5.0]) == pytest.approx(math.sqrt(5 / 3))


@pytest.mark.parametrize(
    "fn, args",
    [
        (accuracy, ([], [])),
        (accuracy, ([], np.zeros((0, 3)))),
        (top_k_accuracy, ([], np.zeros((0, 3)))),
        (macro_f1, ([], [])),
        (auc, ([], [])),
        (gauc, ([], [], [])),
        (logloss, ([], [])),
        (logloss, ([], np.zeros((0, 3)))),
        (rmse, ([], [])),
    ],
)
def test_empty_inputs_give_nan(fn, args):
    assert math.isnan(fn(*args))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: accuracy([0, 1], [0]), "labels and probs_or_pred must have the same length"),
        (lambda: accuracy([0, 3], [[0.1, 0.9], [0.5, 0.5]]), "labels holds class 3"),
        (lambda: accuracy([0, 1], [0.2, 0.7]), "probs_or_pred is 1-D but not integer"),
        (lambda: accuracy([-1, 0], [0, 0]), "labels must be class indices >= 0"),
        (lambda: accuracy([0.5, 1], [0, 1]), "labels must hold integers"),
        (lambda: top_k_accuracy([0], [[0.1, 0.9]], k=0), "k must be >= 1"),
        (lambda: top_k_accuracy([0, 1], [[0.1, 0.9]]), "scores must have 2 rows"),
        (lambda: top_k_accuracy([0], [0.1, 0.9]), "scores must be a 2-D array"),
        (lambda: macro_f1([0, 4], [0, 1], num_classes=3), "labels holds class 4"),
        (lambda: auc([0, 2], [0.1, 0.2]), r"labels must lie in \[0, 1\]"),
        (lambda: auc([0, 0.5], [0.1, 0.2]), "labels must be 0 or 1"),
        (lambda: auc([0, 1], [0.1]), "labels and scores must have the same length"),
        (lambda: auc([0, 1], [0.1, np.nan]), "scores contains NaN"),
        (lambda: gauc([0, 1], [0.1, 0.2], [1]), "labels and groups must have the same length"),
        (lambda: logloss([0, 1], [0.1, 1.2]), r"probs must be probabilities in \[0, 1\]"),
        (lambda: logloss([-1, 1], [0.1, 0.2]), r"labels must lie in \[0, 1\]"),
        (lambda: logloss([0, 1], [0.1, 0.2], eps=0.5), "eps must lie in"),
        (lambda: rmse([1.0, 2.0], [1.0]), "labels and predictions must have the same length"),
        (lambda: rmse([[1.0]], [[1.0]]), "labels must be a 1-D array"),
    ],
)
def test_classification_and_binary_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- top-k items


def test_top_k_items_ties_go_to_the_lower_index():
    scores = [[0.5, 0.9, 0.5, 0.9, 0.1], [1.0, 1.0, 1.0, 1.0, 1.0]]
    np.testing.assert_array_equal(top_k_items(scores, 3), [[1, 3, 0], [0, 1, 2]])
    np.testing.assert_array_equal(top_k_items(scores, 3), ref_top_k_items(scores, 3))


def test_top_k_items_excludes_items_and_clips_k():
    scores = [[0.1, 0.9, 0.5, 0.9], [0.4, 0.3, 0.2, 0.1]]
    got = top_k_items(scores, k=10, exclude=[[1], np.array([0, 3])])
    np.testing.assert_array_equal(got, [[3, 2, 0, -1], [1, 2, -1, -1]])
    np.testing.assert_array_equal(got, ref_top_k_items(scores, 10, [[1], [0, 3]]))
    assert top_k_items(scores, k=1, exclude=[{1, 3}, set()]).tolist() == [[2], [0]]
    # A 2-D integer array is one row of excluded indices per user, not a mask.
    assert top_k_items(scores, k=1, exclude=np.array([[1, 3], [0, 1]])).tolist() == [[2], [2]]


def test_top_k_items_every_item_excluded_gives_empty_slots():
    got = top_k_items([[1.0, 2.0]], k=2, exclude=[[0, 1]])
    np.testing.assert_array_equal(got, [[-1, -1]])


def test_top_k_items_keeps_genuine_minus_inf_scores_but_not_excluded_ones():
    scores = [[-np.inf, 0.0, -np.inf, -np.inf, 5.0]]
    got = top_k_items(scores, k=4, exclude=[[0]])
    np.testing.assert_array_equal(got, [[4, 1, 2, 3]])
    np.testing.assert_array_equal(top_k_items(scores, k=5), [[4, 1, 0, 2, 3]])


@pytest.mark.parametrize("block_cells", [7, 1 << 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_top_k_items_matches_reference_with_ties_and_exclusions(monkeypatch, block_cells, dtype):
    monkeypatch.setattr(metrics, "_BLOCK_CELLS", block_cells)  # many blocks share one buffer
    rng = np.random.default_rng(7)
    num_users, num_items = 23, 15
    scores = rng.integers(0, 4, (num_users, num_items)).astype(dtype)  # heavy ties
    exclude = [rng.choice(num_items, rng.integers(0, 14), replace=False) for _ in range(num_users)]
    exclude[3] = np.arange(num_items)  # nothing left
    mask = np.zeros((num_users, num_items), dtype=bool)
    for u, items in enumerate(exclude):
        mask[u, items] = True
    for k in (1, 4, 15, 40):
        expected = ref_top_k_items(scores.tolist(), k, [list(e) for e in exclude])
        np.testing.assert_array_equal(top_k_items(scores, k, exclude), expected)
        np.testing.assert_array_equal(top_k_items(scores, k, mask), expected)
        np.testing.assert_array_equal(
            top_k_items(scores, k, scipy.sparse.csr_matrix(mask)), expected
        )
        np.testing.assert_array_equal(top_k_items(scores, k), ref_top_k_items(scores.tolist(), k))


def test_top_k_items_matches_full_sort_on_continuous_scores():
    rng = np.random.default_rng(8)
    scores = rng.standard_normal((50, 300))
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(top_k_items(scores, 20), expected)


def test_top_k_items_chunked_equals_full_matrix():
    rng = np.random.default_rng(9)
    users, items = rng.standard_normal((37, 4)), rng.standard_normal((60, 4))
    users[5] = users[6]
    items[10] = items[11]  # exact ties
    scores = users @ items.T
    exclude = [rng.choice(60, 5, replace=False) for _ in range(37)]
    expected = top_k_items(scores, 12, exclude)
    for chunk_size in (1, 8, 100):
        got = top_k_items_chunked(
            lambda u: users[u] @ items.T, 37, 12, exclude, chunk_size=chunk_size
        )
        np.testing.assert_array_equal(got, expected)
    assert top_k_items_chunked(lambda u: users[u] @ items.T, 0, 5).shape == (0, 5)


def test_top_k_items_empty_inputs():
    assert top_k_items(np.zeros((0, 5)), 3).shape == (0, 3)
    assert top_k_items(np.zeros((2, 0)), 3).shape == (2, 0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: top_k_items([[0.1, 0.2]], 0), "k must be >= 1"),
        (lambda: top_k_items([0.1, 0.2], 1), "scores must be a 2-D array"),
        (lambda: top_k_items([[0.1, np.nan]], 1), r"scores contains NaN \(row 0\)"),
        (
            lambda: top_k_items([[0.1, 0.2]], 1, exclude=[[0], [1]]),
            "exclude must have one entry per row",
        ),
        (lambda: top_k_items([[0.1, 0.2]], 1, exclude=[[2]]), "exclude holds item 2"),
        (
            lambda: top_k_items([[0.1, 0.2]], 1, exclude=[[-1]]),
            r"exclude\[0\] must hold item indices >= 0",
        ),
        (
            lambda: top_k_items([[0.1, 0.2]], 1, exclude=np.zeros((1, 3), bool)),
            "exclude mask must have shape",
        ),
        (lambda: top_k_items_chunked(lambda u: np.zeros(3), 2, 1), "score_fn must return scores"),
    ],
)
def test_top_k_items_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- ranking metrics


def test_ndcg_hand_check():
    got = ranking_metrics([[2, 1, 0]], [{0, 2}], ks=(3,))
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert got["ndcg@3"] == pytest.approx(dcg / idcg)
    assert got["recall@3"] == 1.0 and got["precision@3"] == pytest.approx(2 / 3)
    assert got["hit_rate@3"] == 1.0 and got["mrr"] == 1.0


def test_ranking_metrics_keys_and_skipped_users():
    top_k = [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    relevant = [{0, 2}, set(), np.array([0])]  # the second user has nothing to find
    got = ranking_metrics(top_k, relevant, ks=(1, 3))
    assert list(got) == [
        "recall@1", "precision@1", "hit_rate@1", "ndcg@1",
        "recall@3", "precision@3", "hit_rate@3", "ndcg@3", "mrr",
    ]  # fmt: skip
    assert got["hit_rate@1"] == 0.5 and got["recall@3"] == 0.5
    assert got["mrr"] == pytest.approx((1 + 0) / 2)  # item 0 sits at rank 4 > max(ks)
    assert_close_dict(got, ref_ranking(top_k, relevant, (1, 3)))


def test_ranking_metrics_without_relevant_items_is_nan():
    got = ranking_metrics([[0, 1]], [[]], ks=(1, 2))
    assert all(math.isnan(v) for v in got.values()) and len(got) == 9
    got = ranking_metrics(np.zeros((0, 5), np.int64), [], ks=(10,))
    assert all(math.isnan(v) for v in got.values())


def test_ranking_metrics_short_lists_and_empty_slots_count_as_misses():
    got = ranking_metrics([[4, -1]], [[4, 7]], ks=(1, 5))
    assert got["precision@5"] == pytest.approx(1 / 5)
    assert got["recall@5"] == 0.5
    idcg = 1 + 1 / math.log2(3)
    assert got["ndcg@5"] == pytest.approx(1 / idcg)
    assert_close_dict(got, ref_ranking([[4, -1]], [[4, 7]], (1, 5)))


def test_ranking_metrics_matches_reference():
    rng = np.random.default_rng(10)
    num_users, num_items = 60, 40
    top_k = np.stack([rng.permutation(num_items)[:20] for _ in range(num_users)])
    relevant = [rng.choice(num_items, rng.integers(0, 8), replace=False) for _ in range(num_users)]
    expected = ref_ranking(top_k.tolist(), [r.tolist() for r in relevant], (5, 10, 20))
    assert_close_dict(ranking_metrics(top_k, relevant, ks=(5, 10, 20)), expected)
    assert_close_dict(
        ranking_metrics(top_k, [set(r.tolist()) for r in relevant], ks=(5, 10, 20)), expected
    )
    dense = np.zeros((num_users, num_items))
    for u, items in enumerate(relevant):
        dense[u, items] = 1
    assert_close_dict(
        ranking_metrics(top_k, scipy.sparse.csr_matrix(dense), ks=(5, 10, 20)), expected
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: ranking_metrics([[0, 1]], [[0], [1]]),
            r"relevant must have one entry per row \(1\)",
        ),
        (lambda: ranking_metrics([0, 1], [[0]]), "top_k must be a 2-D array"),
        (lambda: ranking_metrics([[0, 0]], [[0]]), "top_k row 0 recommends the same item twice"),
        (lambda: ranking_metrics([[0, -2]], [[0]]), "top_k must hold item indices >= 0 or -1"),
        (lambda: ranking_metrics([[0, 1]], [[0]], ks=(0,)), "ks must be >= 1"),
        (lambda: ranking_metrics([[0, 1]], [[0]], ks=()), "ks must name at least one cutoff"),
        (lambda: ranking_metrics([[0, 1]], [[0.5]]), r"relevant\[0\] must hold integers"),
    ],
)
def test_ranking_metrics_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- beyond accuracy


def test_coverage_novelty_diversity_hand_cases():
    top_k = [[0, 1, 2], [1, 2, -1]]
    assert coverage(top_k, num_items=10, k=2) == pytest.approx(3 / 10)
    assert coverage(top_k, num_items=10, k=3) == pytest.approx(3 / 10)
    popularity = [3, 1, 0, 0]  # p = (4, 2, 1, 1) / 8: self-information 1, 2, 3, 3 bits
    assert novelty(top_k, popularity, k=3) == pytest.approx(((1 + 2 + 3) / 3 + (2 + 3) / 2) / 2)
    assert novelty(top_k, popularity, k=3) == pytest.approx(ref_novelty(top_k, popularity, 3))
    categories = [5, 5, 7, 7]
    assert diversity(top_k, categories, k=3) == pytest.approx((2 / 3 + 1) / 2)
    assert math.isnan(diversity(top_k, categories, k=1))  # only lists of one item


def test_beyond_accuracy_empty_cases_are_nan():
    empty = np.zeros((0, 3), np.int64)
    assert math.isnan(coverage(empty, 5, 3))
    assert math.isnan(novelty(empty, [1, 2, 3], 3))
    assert math.isnan(novelty([[-1, -1]], [1, 2, 3], 2))
    assert math.isnan(diversity([[0, -1], [2, -1]], [0, 1, 1], 2))


def test_beyond_accuracy_matches_reference():
    rng = np.random.default_rng(11)
    num_users, num_items = 40, 30
    top_k = np.stack([rng.permutation(num_items)[:10] for _ in range(num_users)])
    top_k[3, 4:] = -1
    top_k[7, 1:] = -1
    popularity = rng.integers(0, 50, num_items)
    categories = rng.integers(0, 4, num_items)
    for k in (1, 2, 5, 10, 20):
        assert coverage(top_k, num_items, k) == pytest.approx(
            ref_coverage(top_k.tolist(), num_items, k)
        )
        assert novelty(top_k, popularity, k) == pytest.approx(
            ref_novelty(top_k.tolist(), popularity.tolist(), k)
        )
        expected = ref_diversity(top_k.tolist(), categories.tolist(), k)
        got = diversity(top_k, categories, k)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: coverage([[0, 5]], 5, 2), "top_k holds item 5, outside a catalogue of 5 items"),
        (lambda: coverage([[0, 1]], 0, 2), "num_items must be >= 1"),
        (
            lambda: novelty([[0, 1]], [1, -1], 2),
            "item_popularity must hold interaction counts >= 0",
        ),
        (
            lambda: novelty([[0, 1]], [], 2),
            "item_popularity must have one count per catalogue item",
        ),
        (lambda: diversity([[0, 1]], [0.5, 1], 2), "item_categories must hold integers"),
        (lambda: diversity([[0, 1]], [0, 1], 0), "k must be >= 1"),
    ],
)
def test_beyond_accuracy_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- report


def test_retrieval_report_keys_and_values():
    rng = np.random.default_rng(12)
    num_users, num_items = 25, 80
    scores = rng.standard_normal((num_users, num_items))
    train = [rng.choice(num_items, 5, replace=False) for _ in range(num_users)]
    relevant = [rng.choice(num_items, 3, replace=False) for _ in range(num_users)]
    top_k = top_k_items(scores, 50, exclude=train)
    popularity = rng.integers(0, 9, num_items)
    categories = rng.integers(0, 6, num_items)
    report = retrieval_report(top_k, relevant, popularity, categories, num_items)
    assert set(report) == {
        f"{m}@{k}"
        for k in (10, 50)
        for m in ("recall", "precision", "hit_rate", "ndcg", "coverage", "novelty", "diversity")
    } | {"mrr"}
    ranking = ranking_metrics(top_k, relevant, (10, 50))
    for key, value in ranking.items():
        assert report[key] == value
    assert report["coverage@10"] == coverage(top_k, num_items, 10)
    assert report["novelty@50"] == novelty(top_k, popularity, 50)
    assert report["diversity@10"] == diversity(top_k, categories, 10)
    assert all(isinstance(v, float) for v in report.values())


def test_retrieval_report_small_catalogue_and_custom_ks():
    top_k = top_k_items([[0.3, 0.2, 0.1], [0.1, 0.2, 0.3]], 50)  # clipped to 3 columns
    report = retrieval_report(top_k, [[2], [2]], [1, 1, 1], [0, 1, 0], num_items=3, ks=(2, 50))
    assert report["recall@2"] == 0.5 and report["recall@50"] == 1.0
    assert report["mrr"] == pytest.approx((1 / 3 + 1) / 2)
    assert report["coverage@2"] == 1.0


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: retrieval_report([[0, 1]], [[0]], [1, 1, 1], [0, 0, 0], num_items=3, ks=(10,)),
            "top_k has 2 columns but ks=",
        ),
        (
            lambda: retrieval_report([[0, 1]], [[0]], [1, 1], [0, 0, 0], num_items=3, ks=(2,)),
            "item_popularity must have num_items=3 entries",
        ),
    ],
)
def test_retrieval_report_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_least_popular_items_takes_the_rarest_share_with_ties_by_index():
    assert least_popular_items([5, 0, 3, 0, 9], fraction=0.4).tolist() == [1, 3]
    assert least_popular_items([2, 2, 2], fraction=0.2).tolist() == [0]  # ceil(0.6) = 1
    assert least_popular_items([1, 2], fraction=1.0).tolist() == [0, 1]
    with pytest.raises(ValueError, match="fraction"):
        least_popular_items([1, 2], fraction=0.0)
