"""Training sequences for pre-training, as the multi-task model's integer ids.

Words: the token ids of every catalogue title and of every search query of the training
part (and of the explicitly labelled queries, which the model also trains on), tokenized
by the model's tokenizer and looked up in the model's token vocabulary, so id i here is
row i of the model's `token_embedding` (0 padding, 1 unknown, 2 + j `statistics.tokens[j]`).

Items: the item ids of the training part's behaviour events (click, add to cart,
purchase), one sequence per user and session in time order, in the layout of the model's
`item_embedding` (0 unknown, 1 + j `statistics.items[j]`).

Only training-part events are read, so nothing from validation or test leaks in; ids
outside the vocabulary are dropped from the sequences.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.errors import check_choice
from mtrec_tf.text.tokenizer import tokenize_to_lists

if TYPE_CHECKING:
    from mtrec_tf.data.prepare import PreparedData

KINDS = ("words", "items")
# Rows of the model's tables that come before the vocabulary.
OFFSETS = {"words": 2, "items": 1}
RESERVED = {"words": ("[PAD]", "[UNK]"), "items": ("[UNK]",)}


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Id sequences and the vocabulary their ids index.

    Attributes:
        kind: "words" or "items".
        sequences: int64 arrays of model ids, one per sentence (title, query, session).
        vocabulary: the model's vocabulary; id `offset + j` is `vocabulary[j]`.
    """

    kind: str
    sequences: list[np.ndarray]
    vocabulary: tuple[str, ...]

    @property
    def offset(self) -> int:
        return OFFSETS[self.kind]

    @property
    def vocab_size(self) -> int:
        """Rows of the model's table: reserved rows, then the vocabulary."""
        return self.offset + len(self.vocabulary)

    @property
    def num_tokens(self) -> int:
        return int(sum(len(s) for s in self.sequences))


def word_corpus(texts: list[str], statistics: DataStatistics) -> Corpus:
    """Token-id sentences of `texts`, tokenized and looked up exactly as the model does."""
    index = {token: OFFSETS["words"] + j for j, token in enumerate(statistics.tokens)}
    sequences = []
    for tokens in tokenize_to_lists(texts):
        ids = np.array([index[t] for t in tokens if t in index], dtype=np.int64)
        if len(ids):
            sequences.append(ids)
    return Corpus("words", sequences, tuple(statistics.tokens))


def training_texts(items: pd.DataFrame, train_events: pd.DataFrame, queries: pd.DataFrame | None,
                   search: str = "search") -> list[str]:
    """Catalogue titles, training-part queries of events of type `search`, and labelled queries."""
    searches = train_events.loc[train_events["event_type"] == search, "query"]
    texts = list(items["title"]) + [q for q in searches if q]
    if queries is not None:
        texts += list(queries["query"])
    return texts


def item_corpus(train_events: pd.DataFrame, statistics: DataStatistics, by_session: bool = True) -> Corpus:
    """Item-id sentences: behaviour events per user (and session), in time order."""
    behaviour = train_events[train_events["event_type"].isin(statistics.event_roles.behaviour)]
    keys = ["user_id"]
    if by_session and "session_id" in behaviour.columns:
        keys.append("session_id")
    behaviour = behaviour.sort_values(keys + ["timestamp"], kind="stable")
    index = pd.Index(statistics.items)
    ids = index.get_indexer(behaviour["item_id"]) + OFFSETS["items"]
    known = ids >= OFFSETS["items"]
    groups = behaviour.groupby(keys, sort=False).ngroup().to_numpy()
    groups, ids = groups[known], ids[known].astype(np.int64)
    if not len(ids):
        return Corpus("items", [], tuple(statistics.items))
    # Rows are sorted by group, so a change of group starts a new sentence.
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sequences = [s for s in np.split(ids, starts[1:]) if len(s)]
    return Corpus("items", sequences, tuple(statistics.items))


def build_corpus(kind: str, prepared: PreparedData, by_session: bool = True) -> Corpus:
    """The corpus of `kind` from a `PreparedData`, training part only."""
    check_choice("kind", kind, KINDS)
    data = prepared.data
    train_events = data.events[prepared.split.mask("train")]
    if kind == "words":
        texts = training_texts(data.items, train_events, data.queries, prepared.statistics.event_roles.search)
        return word_corpus(texts, prepared.statistics)
    return item_corpus(train_events, prepared.statistics, by_session=by_session)
