"""Offline evaluation metrics in NumPy, written by `mtrec evaluate` into `metrics.json`.

One function per metric, in three families:

* classification: `accuracy`, `top_k_accuracy`, `macro_f1`;
* binary and regression heads: `auc`, `logloss`, `gauc`, `rmse`;
* retrieval against the full catalogue: `top_k_items` (and `top_k_items_chunked` for score
  matrices too large to hold), `ranking_metrics`, `coverage`, `novelty`, `diversity` and
  `retrieval_report`, which gathers them all.

Accuracy, macro-F1, AUC, log loss and RMSE are scikit-learn's; the ranking metrics (top-K with
exclusions, GAUC, coverage, novelty, diversity) are computed here, as no library computes them
the way evaluation needs. Every function checks its inputs and raises a `ValueError` that names the argument and says
what was expected. Empty inputs give `nan` without warnings. Scalars are returned as Python
`float`s, ready for JSON.

Recommendation lists are integer arrays `(num_users, K)`; a slot holding `-1` is empty (a user
with fewer than `K` items left once exclusions are applied) and counts as a miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata
from sklearn import metrics as sk_metrics

__all__ = [
    "accuracy",
    "auc",
    "coverage",
    "diversity",
    "gauc",
    "logloss",
    "macro_f1",
    "novelty",
    "ranking_metrics",
    "retrieval_report",
    "least_popular_items",
    "rmse",
    "top_k_accuracy",
    "top_k_items",
    "top_k_items_chunked",
]

# A list (one entry per user) of item indices: arrays, lists or sets; or, for `exclude`, a
# boolean (num_users, num_items) mask, dense or scipy.sparse (nonzero = excluded).
ItemLists = Sequence[Iterable[int]] | Any

# Score cells handled per block by `top_k_items` (8 MB of float64, cache friendly).
_BLOCK_CELLS = 1 << 20


# --------------------------------------------------------------------------- validation


def _as_1d(values: ArrayLike, name: str) -> NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}.")
    return array


def _as_float(array: NDArray[Any], name: str, allow_inf: bool = False) -> NDArray[np.floating]:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}.")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if bad.any():
        what = "NaN" if allow_inf else "NaN or infinite values"
        raise ValueError(
            f"{name} contains {what} (first at flat index {int(np.argmax(bad.ravel()))})."
        )
    return array


def _as_int(array: NDArray[Any], name: str) -> NDArray[np.int64]:
    """Integer view of `array`; integer-valued floats and booleans are accepted."""
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind in "biu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    raise ValueError(f"{name} must hold integers, got dtype {array.dtype}.")


def _class_labels(labels: ArrayLike, name: str = "labels") -> NDArray[np.int64]:
    array = _as_int(_as_1d(labels, name), name)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {int(array.min())}.")
    return array


def _binary_labels(
    labels: ArrayLike, name: str = "labels", soft: bool = False
) -> NDArray[np.float64]:
    array = _as_float(_as_1d(labels, name), name).astype(np.float64, copy=False)
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1], got values from {array.min():g} to {array.max():g}."
        )
    if not soft and array.size and not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must be 0 or 1 (binary), got non-integer values.")
    return array


def _same_length(a: NDArray[Any], a_name: str, b: NDArray[Any], b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{a_name} and {b_name} must have the same length, got {len(a)} and {len(b)}."
        )


def _check_k(k: int, name: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}.")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}.")
    return int(k)


def _scores_2d(scores: ArrayLike, name: str, rows: int | None = None) -> NDArray[np.floating]:
    array = np.asarray(scores)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, num_classes), got shape {array.shape}.")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows (one per label), got {array.shape[0]}.")
    return _as_float(array, name, allow_inf=True)


def _index_array(values: Any, name: str) -> NDArray[np.int64]:
    if isinstance(values, (set, frozenset)):
        array = np.fromiter(values, dtype=np.int64, count=len(values))
    else:
        array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D collection of item indices, got shape {array.shape}."
        )
    array = _as_int(array, name)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must hold item indices >= 0, got {int(array.min())}.")
    return array


def _flatten_item_lists(
    lists: Any, num_rows: int, name: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(row, item) pairs, sorted by row, from a list of index collections or a sparse matrix."""
    if hasattr(lists, "tocsr"):  # scipy.sparse, duck-typed: nonzero entries are members
        matrix = lists.tocsr()
        if matrix.shape[0] != num_rows:
            raise ValueError(f"{name} must have {num_rows} rows, got shape {matrix.shape}.")
        keep = np.asarray(matrix.data) != 0
        rows: NDArray[np.int64] = np.repeat(
            np.arange(num_rows, dtype=np.int64), np.diff(matrix.indptr)
        )
        return rows[keep], np.asarray(matrix.indices, dtype=np.int64)[keep]
    if isinstance(lists, (str, bytes)) or not isinstance(lists, (Sequence, np.ndarray)):
        raise ValueError(
            f"{name} must be a list with one collection of item indices per row, got "
            f"{type(lists).__name__}."
        )
    if len(lists) != num_rows:
        raise ValueError(f"{name} must have one entry per row ({num_rows}), got {len(lists)}.")
    arrays = [_index_array(entry, f"{name}[{i}]") for i, entry in enumerate(lists)]
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=num_rows)
    rows = np.repeat(np.arange(num_rows, dtype=np.int64), lengths)
    items = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    return rows, items.astype(np.int64, copy=False)


def _recommendations(top_k: ArrayLike, name: str = "top_k") -> NDArray[np.int64]:
    array = np.asarray(top_k)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_users, K), got shape {array.shape}.")
    array = _as_int(array, name)
    if array.size and array.min() < -1:
        raise ValueError(f"{name} must hold item indices >= 0 or -1 for an empty slot.")
    return array


def _check_catalogue(top_k: NDArray[np.int64], num_items: int, name: str = "top_k") -> None:
    if top_k.size and top_k.max() >= num_items:
        raise ValueError(
            f"{name} holds item {int(top_k.max())}, outside a catalogue of {num_items} items."
        )


# --------------------------------------------------------------------------- classification


def _predicted_classes(
    predictions: ArrayLike, n: int, name: str
) -> tuple[NDArray[np.int64], int | None]:
    """Class indices from 1-D predictions or from the argmax of 2-D scores."""
    array = np.asarray(predictions)
    if array.ndim == 2:
        scores = _scores_2d(array, name, rows=n)
        if scores.shape[1] == 0:
            raise ValueError(
                f"{name} must have at least one class column, got shape {scores.shape}."
            )
        return np.argmax(scores, axis=1).astype(np.int64), scores.shape[1]
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be class indices (n,) or scores (n, num_classes), "
            f"got shape {array.shape}."
        )
    if array.dtype.kind == "f" and array.size and not np.all(array == np.round(array)):
        raise ValueError(
            f"{name} is 1-D but not integer: pass class indices (n,) or scores (n, num_classes); "
            "threshold binary probabilities first."
        )
    classes = _class_labels(array, name)
    if len(classes) != n:
        raise ValueError(
            f"labels and {name} must have the same length, got {n} and {len(classes)}."
        )
    return classes, None


def _check_label_range(labels: NDArray[np.int64], num_classes: int | None, name: str) -> None:
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"labels holds class {int(labels.max())} but {name} has {num_classes} columns."
        )


def accuracy(labels: ArrayLike, probs_or_pred: ArrayLike) -> float:
    """Fraction of examples whose predicted class equals the label.

    `accuracy = (1 / n) * sum_i [pred_i == y_i]`, with `pred_i = argmax_c p_ic` when scores are
    given (ties go to the lowest class index).

    Args:
        labels: int array `(n,)` of class indices.
        probs_or_pred: class indices `(n,)` or scores/probabilities `(n, num_classes)`.

    Returns:
        The accuracy, or `nan` when `n == 0`.

    Example:

    >>> accuracy([0, 1, 2], [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
    0.6666666666666666
    """
    y = _class_labels(labels)
    pred, num_classes = _predicted_classes(probs_or_pred, len(y), "probs_or_pred")
    _check_label_range(y, num_classes, "probs_or_pred")
    if y.size == 0:
        return float("nan")
    return float(sk_metrics.accuracy_score(y, pred))


def top_k_accuracy(labels: ArrayLike, scores: ArrayLike, k: int = 3) -> float:
    """Fraction of examples whose label is among the `k` highest-scored classes.

    Ties are counted against the label (a strict rule, independent of class order): example
    `i` is a hit when fewer than `k` other classes score at least as high as the label,

    `hit_i = [ #{c != y_i : s_ic >= s_{i, y_i}} < k ]`.

    A constant scorer therefore gets no credit unless `k >= num_classes`. With distinct scores
    this equals the usual definition (scikit-learn's `top_k_accuracy_score`). `k` larger than
    the number of classes is clipped (every example is a hit).

    Args:
        labels: int array `(n,)` of class indices.
        scores: float array `(n, num_classes)`.
        k: number of top classes that count as a hit.

    Returns:
        The top-k accuracy, or `nan` when `n == 0`.

    Example:

    >>> top_k_accuracy([2, 0], [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], k=2)
    0.0
    """
    k = _check_k(k)
    y = _class_labels(labels)
    s = _scores_2d(scores, "scores", rows=len(y))
    _check_label_range(y, s.shape[1], "scores")
    if y.size == 0:
        return float("nan")
    label_scores = s[np.arange(len(y)), y][:, None]  # (n, 1)
    rivals = (s >= label_scores).sum(axis=1) - 1  # other classes at least as high
    return float(np.mean(rivals < k))


def macro_f1(labels: ArrayLike, predictions: ArrayLike, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class F1 scores.

    `F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)`, averaged over the classes that occur in `labels`
    or in the predictions; a class with neither support nor predictions is left out (as in
    scikit-learn's `f1_score(average="macro")`). A zero denominator gives `F1_c = 0`.

    Args:
        labels: int array `(n,)` of class indices.
        predictions: class indices `(n,)` or scores `(n, num_classes)` (argmax is taken).
        num_classes: when given, labels and predictions must lie in `[0, num_classes)`; it does
            not add absent classes to the average.

    Returns:
        The macro F1, or `nan` when `n == 0`.

    Example:

    >>> macro_f1([0, 0, 1, 2], [0, 1, 1, 2])
    0.7777777777777777
    """
    y = _class_labels(labels)
    pred, columns = _predicted_classes(predictions, len(y), "predictions")
    _check_label_range(y, columns, "predictions")
    if num_classes is not None:
        num_classes = _check_k(num_classes, "num_classes")
        for array, name in ((y, "labels"), (pred, "predictions")):
            if array.size and array.max() >= num_classes:
                raise ValueError(
                    f"{name} holds class {int(array.max())}, "
                    f"outside [0, num_classes={num_classes})."
                )
    if y.size == 0:
        return float("nan")
    return float(sk_metrics.f1_score(y, pred, average="macro", zero_division=0.0))


# --------------------------------------------------------------------------- binary and regression


def _grouped_auc(
    y: NDArray[np.float64], s: NDArray[np.floating], codes: NDArray[np.int64], num_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Per-group ROC AUC from average ranks: (auc, group size, group has both classes)."""
    n = len(y)
    order = np.lexsort((s, codes))  # by group, then by score
    g, s, y = codes[order], s[order], y[order]
    # A tie run is a stretch of equal scores inside one group; it shares the average rank.
    new_run: NDArray[np.bool_] = np.ones(n, dtype=bool)
    new_run[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    run_start = np.flatnonzero(new_run)
    run_len: NDArray[np.int64] = np.diff(np.append(run_start, n))
    size = np.bincount(g, minlength=num_groups).astype(np.float64)
    group_start = np.cumsum(size) - size  # first sorted position of each group
    run_rank = run_start - group_start[g[run_start]] + (run_len + 1) / 2.0  # 1-based, in group
    ranks: NDArray[np.float64] = np.repeat(run_rank, run_len)  # (n,)
    pos = np.bincount(g, weights=y, minlength=num_groups)
    neg = size - pos
    pos_rank_sum = np.bincount(g, weights=ranks * y, minlength=num_groups)
    valid = (pos > 0) & (neg > 0)
    auc_values = np.full(num_groups, np.nan)
    auc_values[valid] = (pos_rank_sum[valid] - pos[valid] * (pos[valid] + 1) / 2.0) / (
        pos[valid] * neg[valid]
    )
    return auc_values, size, valid


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve, from average ranks (Mann-Whitney U).

    `AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos * n_neg)`, where `R_pos` is the sum of the
    positives' ranks among all scores (1-based, tied scores share their average rank, so a tied
    positive-negative pair counts one half).

    Args:
        labels: array `(n,)` of 0/1 labels.
        scores: float array `(n,)`; higher means more likely positive. `+-inf` is allowed.

    Returns:
        The AUC, or `nan` when `n == 0` or only one class is present.

    Example:

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75

    References:
        Hanley & McNeil, "The meaning and use of the area under a ROC curve", Radiology 1982.
    """
    y = _binary_labels(labels)
    s = _as_float(_as_1d(scores, "scores"), "scores", allow_inf=True)
    _same_length(y, "labels", s, "scores")
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    # AUC depends on the scores' order only: ranks carry it, and keep infinite scores finite.
    return float(sk_metrics.roc_auc_score(y, rankdata(s)))


def gauc(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike) -> float:
    """Group AUC: the per-user AUC averaged with weights equal to each user's impressions.

    `GAUC = sum_u n_u AUC_u / sum_u n_u`, over the groups `u` that hold both a positive and a
    negative; `n_u` is the number of examples of group `u`.

    Args:
        labels: array `(n,)` of 0/1 labels.
        scores: float array `(n,)`.
        groups: array `(n,)` of group ids (user ids; any sortable dtype).

    Returns:
        The GAUC, or `nan` when no group has both classes.

    Example:

    >>> gauc([1, 0, 1, 0, 1], [0.9, 0.2, 0.1, 0.3, 0.5], ["a", "a", "b", "b", "c"])
    0.5

    References:
        Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018.
    """
    y = _binary_labels(labels)
    s = _as_float(_as_1d(scores, "scores"), "scores", allow_inf=True)
    g = _as_1d(groups, "groups")
    _same_length(y, "labels", s, "scores")
    _same_length(y, "labels", g, "groups")
    if y.size == 0:
        return float("nan")
    uniques, codes = np.unique(g, return_inverse=True)
    values, size, valid = _grouped_auc(y, s, codes.reshape(-1).astype(np.int64), len(uniques))
    if not valid.any():
        return float("nan")
    return float(np.sum(values[valid] * size[valid]) / np.sum(size[valid]))


def logloss(labels: ArrayLike, probs: ArrayLike, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood (cross-entropy), binary probabilities clipped to `[eps, 1 - eps]`.

    Binary: `-(1 / n) * sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]` (labels in `[0, 1]`; soft
    labels are allowed). Multiclass, when `probs` is `(n, num_classes)` and `labels` are class
    indices: `-(1 / n) * sum_i log p_{i, y_i}`, with scikit-learn's clipping at the float64
    machine epsilon (rows that do not sum to one get its warning).

    Args:
        labels: array `(n,)`: 0/1 (or soft) labels, or class indices for 2-D `probs`.
        probs: probabilities `(n,)` of the positive class, or `(n, num_classes)`.
        eps: clipping bound of binary probabilities, in `[0, 0.5)`.

    Returns:
        The log loss, or `nan` when `n == 0`.

    Example:

    >>> round(logloss([1, 0], [0.8, 0.4]), 4)
    0.367
    """
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"eps must lie in [0, 0.5), got {eps}.")
    p = np.asarray(probs)
    if p.ndim == 2:
        classes = _class_labels(labels)
        p = _scores_2d(p, "probs", rows=len(classes))
        _check_label_range(classes, p.shape[1], "probs")
        _check_probabilities(p)
        if len(p) == 0:
            return float("nan")
        return float(sk_metrics.log_loss(classes, p.astype(np.float64), labels=np.arange(p.shape[1])))
    y = _binary_labels(labels, soft=True)
    p = _as_float(_as_1d(p, "probs"), "probs")
    _same_length(y, "labels", p, "probs")
    _check_probabilities(p)
    if len(p) == 0:
        return float("nan")
    p = np.clip(p.astype(np.float64), eps, 1.0 - eps)
    # A soft label y is a positive of weight y and a negative of weight 1 - y.
    outcomes = np.concatenate([np.ones(len(p)), np.zeros(len(p))])
    return float(sk_metrics.log_loss(outcomes, np.concatenate([p, p]), labels=[0, 1],
                                     sample_weight=np.concatenate([y, 1.0 - y])))


def _check_probabilities(p: NDArray[np.floating]) -> None:
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError("probs must be probabilities in [0, 1].")


def rmse(labels: ArrayLike, predictions: ArrayLike) -> float:
    """Root mean squared error: `sqrt((1 / n) * sum_i (y_i - yhat_i)^2)`.

    Args:
        labels: float array `(n,)`.
        predictions: float array `(n,)`.

    Returns:
        The RMSE, or `nan` when `n == 0`.

    Example:

    >>> rmse([1.0, 2.0], [1.0, 4.0])
    1.4142135623730951
    """
    y = _as_float(_as_1d(labels, "labels"), "labels").astype(np.float64)
    p = _as_float(_as_1d(predictions, "predictions"), "predictions").astype(np.float64)
    _same_length(y, "labels", p, "predictions")
    if y.size == 0:
        return float("nan")
    return float(np.sqrt(sk_metrics.mean_squared_error(y, p)))


# --------------------------------------------------------------------------- top-k retrieval


class _Exclusions:
    """Excluded (row, item) pairs, block by block, from index lists, a dense or a sparse mask."""

    def __init__(self, exclude: ItemLists | None, num_users: int, num_items: int | None) -> None:
        self.dense: NDArray[Any] | None = None
        self.sparse: Any = None
        self.rows: NDArray[np.int64] | None = None
        self.items: NDArray[np.int64] | None = None
        self.num_items = num_items
        if exclude is None:
            return
        if isinstance(exclude, np.ndarray) and exclude.ndim == 2 and exclude.dtype == bool:
            self.dense = exclude  # an integer 2-D array is read as index lists, one row per user
        elif hasattr(exclude, "tocsr"):  # scipy.sparse, duck-typed
            self.sparse = exclude.tocsr()
        else:
            self.rows, self.items = _flatten_item_lists(exclude, num_users, "exclude")
            if num_items is not None:
                _check_items_in_catalogue(self.items, num_items, "exclude")
            return
        shape = (self.dense if self.dense is not None else self.sparse).shape
        if shape[0] != num_users or (num_items is not None and shape[1] != num_items):
            raise ValueError(
                f"exclude mask must have shape ({num_users}, {num_items or 'num_items'}), "
                f"got {shape}."
            )

    def block(
        self, start: int, stop: int, num_items: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
        """Excluded pairs of rows `start:stop`, as (row - start, item) index arrays."""
        if self.dense is not None or self.sparse is not None:
            mask = self.dense if self.dense is not None else self.sparse
            if mask.shape[1] != num_items:
                raise ValueError(
                    f"exclude mask has {mask.shape[1]} columns, scores have {num_items}."
                )
            if self.dense is not None:
                rows, items = np.nonzero(self.dense[start:stop])
            else:
                sub = self.sparse[start:stop]
                rows = np.repeat(np.arange(stop - start), np.diff(sub.indptr))
                keep = np.asarray(sub.data) != 0
                rows, items = rows[keep], np.asarray(sub.indices)[keep]
            return rows.astype(np.int64), items.astype(np.int64)
        if self.rows is None or self.items is None:
            return None
        bounds: NDArray[np.intp] = np.searchsorted(self.rows, [start, stop])
        lo, hi = int(bounds[0]), int(bounds[1])
        if self.num_items is None:  # chunked scoring: the catalogue size is known only now
            _check_items_in_catalogue(self.items[lo:hi], num_items, "exclude")
        return self.rows[lo:hi] - start, self.items[lo:hi]


def _check_items_in_catalogue(items: NDArray[np.int64], num_items: int, name: str) -> None:
    if items.size and items.max() >= num_items:
        raise ValueError(
            f"{name} holds item {int(items.max())}, outside a catalogue of {num_items} items."
        )


def _top_k_block(
    scores: NDArray[np.floating],
    excluded: tuple[NDArray[np.int64], NDArray[np.int64]] | None,
    k: int,
    buffer: NDArray[np.floating] | None = None,
    first_row: int = 0,
) -> NDArray[np.int64]:
    """Exact top-k of one block of rows, `k <= num_items`; empty slots are -1.

    `buffer`, at least as large as `scores`, receives the scores with exclusions applied;
    `first_row` is the block's first row, for error messages.
    """
    rows, n = scores.shape
    if excluded is not None and excluded[0].size:
        work = buffer[:rows] if buffer is not None else np.empty_like(scores)
        np.copyto(work, scores)
        work[excluded] = -np.inf
        scores = work
    # One partition keeps the k + 1 best (NaN sorts last, so it lands there if present); the
    # (k + 1)-th tells whether items outside the k tie with the k-th.
    width = min(k + 1, n)
    top = (
        np.argpartition(scores, n - width, axis=1)[:, n - width :]
        if width < n
        else (np.broadcast_to(np.arange(n), (rows, n)))
    )
    values = np.take_along_axis(scores, top, axis=1)  # (rows, width)
    nan_rows = np.flatnonzero(np.isnan(values).any(axis=1))
    if nan_rows.size:
        raise ValueError(f"scores contains NaN (row {first_row + int(nan_rows[0])}).")
    order = np.lexsort((top, -values), axis=1)  # score descending, then item index ascending
    top = np.take_along_axis(top, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1)
    kth = values[:, k - 1]
    # Redo exactly: rows where the k-th score is tied with an item left out (argpartition
    # chose among ties arbitrarily), and rows reaching -inf (maybe an excluded item).
    redo = kth == -np.inf
    if width > k:
        redo |= values[:, k] == kth
    top = top[:, :k]
    redo = np.flatnonzero(redo)
    if redo.size:
        top[redo] = _top_k_exact(scores[redo], kth[redo], excluded, redo, k)
    return top


def _top_k_exact(
    scores: NDArray[np.floating],
    kth: NDArray[np.floating],
    excluded: tuple[NDArray[np.int64], NDArray[np.int64]] | None,
    block_rows: NDArray[np.int64],
    k: int,
) -> NDArray[np.int64]:
    """Top-k of a few rows by full comparison with their k-th score `kth`; ties to lower index."""
    eligible = np.ones(scores.shape, dtype=bool)
    if excluded is not None and excluded[0].size:
        position = np.full(int(max(block_rows.max(), excluded[0].max())) + 1, -1)
        position[block_rows] = np.arange(len(block_rows))
        mine = position[excluded[0]] >= 0
        eligible[position[excluded[0][mine]], excluded[1][mine]] = False
    threshold = kth[:, None]
    above = scores > threshold  # never excluded: those score -inf
    tied = (scores == threshold) & eligible
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    counts = chosen.sum(axis=1)  # min(k, eligible items)
    row_of, item = np.nonzero(chosen)  # row-major: items ascending within a row
    slot = np.arange(len(item)) - np.repeat(np.cumsum(counts) - counts, counts)
    top: NDArray[np.int64] = np.full((len(scores), k), -1, dtype=np.int64)
    top[row_of, slot] = item
    # Order: score descending, then item index ascending; empty slots last.
    empty = top < 0
    values = np.take_along_axis(scores, np.where(empty, 0, top), axis=1)
    order = np.lexsort((top, -values, empty), axis=1)
    return np.take_along_axis(top, order, axis=1)


def top_k_items(scores: ArrayLike, k: int, exclude: ItemLists | None = None) -> NDArray[np.int64]:
    """Indices of the `k` highest-scoring items of every row, best first.

    Ranks items by score descending, ties broken by lower item index, so the result is
    deterministic. Excluded items (typically each user's training items) are never returned;
    when a row has fewer than `k` eligible items its remaining slots hold `-1`. `k` larger than
    the catalogue is clipped to `num_items`. Runs in `O(num_items)` per row: `np.argpartition`
    finds the top `k`, which are then sorted, block by block of rows.

    Args:
        scores: float array `(num_users, num_items)`; `+-inf` is allowed, NaN is not.
        k: number of items per row, `>= 1`.
        exclude: items never to return: a list with one collection of item indices per user
            (an integer 2-D array counts as such a list), a boolean mask
            `(num_users, num_items)`, or a scipy.sparse matrix (nonzero = excluded).

    Returns:
        int64 array `(num_users, min(k, num_items))` of item indices.

    Example:

    >>> top_k_items([[0.1, 0.9, 0.5, 0.9]], k=3, exclude=[[1]])
    array([[3, 2, 0]])
    """
    k = _check_k(k)
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be a 2-D array (num_users, num_items), got shape {s.shape}.")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numeric, got dtype {s.dtype}.")
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    exclusions = _Exclusions(exclude, s.shape[0], s.shape[1])
    return _top_k_matrix(s, k, exclusions, offset=0)


def _top_k_matrix(
    s: NDArray[np.floating], k: int, exclusions: _Exclusions, offset: int
) -> NDArray[np.int64]:
    """Top-k of `s`, block by block; row `r` of `s` is user `offset + r` of `exclusions`."""
    num_users, num_items = s.shape
    k = min(k, num_items)
    out = np.full((num_users, k), -1, dtype=np.int64)
    if k == 0 or num_users == 0:
        return out
    step = max(1, _BLOCK_CELLS // num_items)
    buffer = np.empty((min(step, num_users), num_items), dtype=s.dtype)  # reused by every block
    for start in range(0, num_users, step):
        stop = min(start + step, num_users)
        excluded = exclusions.block(offset + start, offset + stop, num_items)
        out[start:stop] = _top_k_block(s[start:stop], excluded, k, buffer, offset + start)
    return out


def top_k_items_chunked(
    score_fn: Callable[[NDArray[np.int64]], ArrayLike],
    num_users: int,
    k: int,
    exclude: ItemLists | None = None,
    chunk_size: int = 1024,
) -> NDArray[np.int64]:
    """`top_k_items` over users scored a chunk at a time, never holding the full score matrix.

    Args:
        score_fn: maps user indices `(chunk,)` to scores `(chunk, num_items)`, e.g.
            `lambda users: user_embeddings[users] @ item_embeddings.T`.
        num_users: number of users; users `0 .. num_users - 1` are scored.
        k: number of items per user, `>= 1` (clipped to the catalogue).
        exclude: as in `top_k_items`, indexed by user.
        chunk_size: users scored per call.

    Returns:
        int64 array `(num_users, min(k, num_items))`, identical to
        `top_k_items(score_fn(np.arange(num_users)), k, exclude)`.

    Example:

    >>> items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> top_k_items_chunked(lambda u: np.eye(2)[u] @ items.T, num_users=2, k=1, chunk_size=1)
    array([[0],
           [1]])
    """
    k = _check_k(k)
    chunk_size = _check_k(chunk_size, "chunk_size")
    if isinstance(num_users, bool) or not isinstance(num_users, (int, np.integer)) or num_users < 0:
        raise ValueError(f"num_users must be an integer >= 0, got {num_users!r}.")
    exclusions = _Exclusions(exclude, int(num_users), None)
    blocks: list[NDArray[np.int64]] = []
    num_items: int | None = None
    for start in range(0, num_users, chunk_size):
        stop = min(start + chunk_size, num_users)
        users: NDArray[np.int64] = np.arange(start, stop, dtype=np.int64)
        chunk = np.asarray(score_fn(users))
        if chunk.ndim != 2 or chunk.shape[0] != len(users):
            raise ValueError(
                f"score_fn must return scores ({len(users)}, num_items) for {len(users)} users, "
                f"got shape {chunk.shape}."
            )
        if num_items is not None and chunk.shape[1] != num_items:
            raise ValueError(f"score_fn returned {chunk.shape[1]} items after {num_items} before.")
        num_items = chunk.shape[1]
        if chunk.dtype.kind not in "biuf":
            raise ValueError(f"score_fn must return numeric scores, got dtype {chunk.dtype}.")
        if chunk.dtype.kind != "f":
            chunk = chunk.astype(np.float64)
        blocks.append(_top_k_matrix(chunk, k, exclusions, offset=start))
    if not blocks:
        return np.zeros((0, k), dtype=np.int64)
    return np.concatenate(blocks, axis=0)


# --------------------------------------------------------------------------- ranking metrics


def _check_ks(ks: Iterable[int]) -> list[int]:
    values = [_check_k(k, "ks") for k in ks]
    if not values:
        raise ValueError("ks must name at least one cutoff.")
    return list(dict.fromkeys(values))


def _hit_matrix(
    top_k: NDArray[np.int64], relevant: ItemLists
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """hits `(n, K)`: slot holds a relevant item; and the number of relevant items per row."""
    n = top_k.shape[0]
    rows, items = _flatten_item_lists(relevant, n, "relevant")
    sorted_rows = np.sort(top_k, axis=1)
    duplicate = (sorted_rows[:, 1:] == sorted_rows[:, :-1]) & (sorted_rows[:, 1:] >= 0)
    if duplicate.any():
        row = int(np.flatnonzero(duplicate.any(axis=1))[0])
        raise ValueError(f"top_k row {row} recommends the same item twice.")
    # One int64 key per (row, item) pair, so membership is a single vectorised np.isin.
    base = int(max(top_k.max(initial=0), items.max(initial=0))) + 1
    if n * base >= 2**62:
        raise ValueError("top_k and relevant are too large to encode as (row, item) pairs.")
    relevant_keys = np.unique(rows * base + items)
    num_relevant = np.bincount(relevant_keys // base, minlength=n).astype(np.int64)
    keys = np.arange(n, dtype=np.int64)[:, None] * base + top_k  # (n, K)
    hits = np.isin(keys, relevant_keys) & (top_k >= 0)
    return hits, num_relevant


def ranking_metrics(
    top_k: ArrayLike, relevant: ItemLists, ks: Sequence[int] = (10, 50)
) -> dict[str, float]:
    """Recall, precision, hit rate and NDCG at each cutoff, and MRR, with binary relevance.

    For a user with relevant set `R` and hits `h_r` (1 when the item at rank `r` is in `R`):

    * `recall@K = sum_{r<=K} h_r / |R|`, `precision@K = sum_{r<=K} h_r / K`,
    * `hit_rate@K = [sum_{r<=K} h_r > 0]`,
    * `ndcg@K = DCG@K / IDCG@K`, `DCG@K = sum_{r<=K} h_r / log2(r + 1)`,
      `IDCG@K = sum_{r<=min(|R|, K)} 1 / log2(r + 1)`,
    * `mrr = 1 / (rank of the first hit)` within the largest cutoff, 0 without a hit.

    Each is averaged over users with at least one relevant item; the others are skipped. A list
    shorter than `K` (fewer columns, or `-1` slots) counts its missing slots as misses.

    Args:
        top_k: int array `(n, K)` of recommended items, best first (`top_k_items`).
        relevant: one collection of relevant item indices per row (arrays, lists or sets), or a
            sparse `(n, num_items)` matrix.
        ks: cutoffs, each `>= 1`.

    Returns:
        Dict with keys `recall@K`, `precision@K`, `hit_rate@K`, `ndcg@K` for each `K` in `ks`,
        then `mrr`; all `nan` when no row has a relevant item.

    Example:

    >>> metrics = ranking_metrics([[2, 1, 0]], [{0, 2}], ks=(3,))
    >>> round(metrics["ndcg@3"], 4)
    0.9197

    References:
        Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR techniques", TOIS 2002.
    """
    ks = _check_ks(ks)
    recs = _recommendations(top_k)
    hits, num_relevant = _hit_matrix(recs, relevant)
    users = num_relevant > 0
    names = [f"{m}@{k}" for k in ks for m in ("recall", "precision", "hit_rate", "ndcg")] + ["mrr"]
    if not users.any():
        return {name: float("nan") for name in names}
    hits, num_relevant = hits[users], num_relevant[users]  # (m, K), (m,)
    width = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, max(max(ks), width) + 2))  # 1 / log2(r + 1), r = 1..
    result: dict[str, float] = {}
    for k in ks:
        cut = hits[:, : min(k, width)]
        found = cut.sum(axis=1)
        dcg = cut @ discount[: cut.shape[1]]
        ideal = np.cumsum(discount[:k])[np.minimum(num_relevant, k) - 1]
        result[f"recall@{k}"] = float(np.mean(found / num_relevant))
        result[f"precision@{k}"] = float(np.mean(found / k))
        result[f"hit_rate@{k}"] = float(np.mean(found > 0))
        result[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
    cut = hits[:, : min(max(ks), width)]
    first = np.argmax(cut, axis=1) if cut.shape[1] else np.zeros(len(cut), np.int64)  # rank - 1
    result["mrr"] = float(np.mean(np.where(cut.any(axis=1), 1.0 / (first + 1), 0.0)))
    return result


# --------------------------------------------------------------------------- beyond accuracy


def _cut(top_k: ArrayLike, k: int, num_items: int) -> NDArray[np.int64]:
    k = _check_k(k)
    recs = _recommendations(top_k)
    _check_catalogue(recs, num_items)
    return recs[:, :k]


def coverage(top_k: ArrayLike, num_items: int, k: int) -> float:
    """Catalogue coverage: `|union_u top-k(u)| / num_items`.

    Args:
        top_k: int array `(n, K)` of recommended items (`-1` = empty slot).
        num_items: catalogue size, `>= 1`.
        k: cutoff, `>= 1`.

    Returns:
        The fraction of the catalogue recommended to at least one user, or `nan` when `n == 0`.

    Example:

    >>> coverage([[0, 1], [1, 2]], num_items=10, k=2)
    0.3
    """
    num_items = _check_k(num_items, "num_items")
    recs = _cut(top_k, k, num_items)
    if recs.shape[0] == 0:
        return float("nan")
    return float(np.unique(recs[recs >= 0]).size / num_items)


def novelty(top_k: ArrayLike, item_popularity: ArrayLike, k: int) -> float:
    """Mean self-information of recommended items: `mean_u mean_{i in L_u} -log2 p(i)`.

    `p(i) = (count_i + 1) / (sum_j count_j + num_items)`, the add-one smoothed share of training
    interactions; rarely seen items are more novel. Users with an empty list are skipped.

    Args:
        top_k: int array `(n, K)` of recommended items (`-1` = empty slot).
        item_popularity: training interaction counts `(num_items,)`, `>= 0`.
        k: cutoff, `>= 1`.

    Returns:
        The novelty in bits, or `nan` when no user has a recommendation.

    Example:

    >>> round(novelty([[0, 1]], item_popularity=[2, 0], k=2), 4)
    1.2075

    References:
        Zhou et al., "Solving the apparent diversity-accuracy dilemma of recommender systems",
        PNAS 2010.
    """
    counts = _as_float(_as_1d(item_popularity, "item_popularity"), "item_popularity").astype(
        np.float64
    )
    if counts.size == 0:
        raise ValueError("item_popularity must have one count per catalogue item, got none.")
    if counts.min() < 0:
        raise ValueError("item_popularity must hold interaction counts >= 0.")
    recs = _cut(top_k, k, counts.size)
    information = -np.log2((counts + 1.0) / (counts.sum() + counts.size))  # (num_items,)
    filled = recs >= 0
    per_slot = np.where(filled, information[np.where(filled, recs, 0)], 0.0)
    length = filled.sum(axis=1)
    if not (length > 0).any():
        return float("nan")
    return float(np.mean(per_slot.sum(axis=1)[length > 0] / length[length > 0]))


def diversity(top_k: ArrayLike, item_categories: ArrayLike, k: int) -> float:
    """Intra-list diversity: the fraction of item pairs in a list from different categories.

    `ILD(L) = #{(i, j), i < j : c_i != c_j} / (|L| (|L| - 1) / 2)`, averaged over users whose
    list holds at least two items.

    Args:
        top_k: int array `(n, K)` of recommended items (`-1` = empty slot).
        item_categories: int array `(num_items,)`, the category of each item.
        k: cutoff, `>= 1`.

    Returns:
        The mean intra-list diversity, or `nan` when no list has two items.

    Example:

    >>> round(diversity([[0, 1, 2]], item_categories=[5, 5, 7], k=3), 4)
    0.6667

    References:
        Ziegler et al., "Improving recommendation lists through topic diversification", WWW 2005.
    """
    categories = _as_int(_as_1d(item_categories, "item_categories"), "item_categories")
    if categories.size == 0:
        raise ValueError("item_categories must have one category per catalogue item, got none.")
    recs = _cut(top_k, k, categories.size)
    filled = recs >= 0
    length = filled.sum(axis=1)
    keep = length >= 2
    if not keep.any():
        return float("nan")
    recs, filled, length = recs[keep], filled[keep], length[keep]
    # Empty slots get distinct sentinel categories so they pair with nothing.
    sentinel: NDArray[np.int64] = int(categories.max()) + 1 + np.arange(recs.shape[1])
    cats = np.sort(np.where(filled, categories[np.where(filled, recs, 0)], sentinel), axis=1)
    # Same-category pairs: each item pairs with the equal items sorted before it in its run.
    slot = np.arange(cats.shape[1])
    boundary = np.ones(cats.shape, dtype=bool)
    boundary[:, 1:] = cats[:, 1:] != cats[:, :-1]
    run_start = np.maximum.accumulate(np.where(boundary, slot, 0), axis=1)
    same = (slot - run_start).sum(axis=1)
    pairs = length * (length - 1) / 2.0
    return float(np.mean(1.0 - same / pairs))


def least_popular_items(item_popularity: ArrayLike, fraction: float = 0.2) -> NDArray[np.int64]:
    """Indices of the `fraction` of the catalogue with the fewest training interactions
    (`ceil(fraction * num_items)` items; ties go to the lower index), for tail metrics.

    >>> least_popular_items([5, 0, 3, 0, 9], fraction=0.4).tolist()
    [1, 3]
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    popularity = _as_1d(item_popularity, "item_popularity")
    count = int(np.ceil(len(popularity) * fraction))
    return np.argsort(popularity, kind="stable")[:count].astype(np.int64)


def retrieval_report(
    top_k: ArrayLike,
    relevant: ItemLists,
    item_popularity: ArrayLike,
    item_categories: ArrayLike,
    num_items: int,
    ks: Sequence[int] = (10, 50),
) -> dict[str, float]:
    """All retrieval metrics in one dict: accuracy (`ranking_metrics`) and beyond accuracy.

    Args:
        top_k: int array `(n, K)` of recommended items, best first; `K` must reach
            `min(max(ks), num_items)`.
        relevant: one collection of relevant (held-out) item indices per row.
        item_popularity: training interaction counts `(num_items,)`.
        item_categories: category of each item `(num_items,)`.
        num_items: catalogue size.
        ks: cutoffs.

    Returns:
        Dict with `recall@K`, `precision@K`, `hit_rate@K`, `ndcg@K` for each `K`, `mrr`, then
        `coverage@K`, `novelty@K`, `diversity@K` for each `K`.

    Example:

    >>> report = retrieval_report([[0, 1]], [[1]], [3, 1], [0, 1], num_items=2, ks=(2,))
    >>> report["recall@2"], report["mrr"], report["coverage@2"]
    (1.0, 0.5, 1.0)
    """
    ks = _check_ks(ks)
    num_items = _check_k(num_items, "num_items")
    recs = _recommendations(top_k)
    _check_catalogue(recs, num_items)
    popularity = _as_1d(item_popularity, "item_popularity")
    categories = _as_1d(item_categories, "item_categories")
    for array, name in ((popularity, "item_popularity"), (categories, "item_categories")):
        if len(array) != num_items:
            raise ValueError(f"{name} must have num_items={num_items} entries, got {len(array)}.")
    needed = min(max(ks), num_items)
    if recs.shape[1] < needed:
        raise ValueError(
            f"top_k has {recs.shape[1]} columns but ks={tuple(ks)} over {num_items} items "
            f"needs {needed}."
        )
    report = ranking_metrics(recs, relevant, ks)
    for k in ks:
        report[f"coverage@{k}"] = coverage(recs, num_items, k)
        report[f"novelty@{k}"] = novelty(recs, popularity, k)
        report[f"diversity@{k}"] = diversity(recs, categories, k)
    return report
