"""Pre-training ids are the model's ids: the same token or item gets the same row."""

from __future__ import annotations

import numpy as np

from mtrec_tf.backend import tf
from mtrec_tf.embeddings.corpus import build_corpus, item_corpus, word_corpus
from mtrec_tf.models import ModelData, MultiTaskModel
from mtrec_tf.text.tokenizer import tokenize_to_lists


def _model(tiny_config, tiny_prepared):
    from mtrec_tf.data.catalogue import build_catalogue

    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics,
                                tiny_config.model.max_title_tokens)
    return MultiTaskModel(tiny_config.tasks, tiny_config.model, ModelData(tiny_prepared.statistics, catalogue))


def test_word_and_item_ids_match_the_models_lookups(tiny_config, tiny_prepared):
    model = _model(tiny_config, tiny_prepared)
    texts = ["华为Mate60 Pro手机！", "Stainless 不锈钢 knife"] + list(tiny_prepared.data.items["title"][:20])
    corpus = word_corpus(texts, tiny_prepared.statistics)
    for text, ids in zip(texts, corpus.sequences):
        tokens = [t for t in tokenize_to_lists([text])[0] if t in set(tiny_prepared.statistics.tokens)]
        model_ids = model.text_encoder.token_lookup(tf.constant(tokens)).numpy()
        assert ids.tolist() == model_ids.tolist()
        assert [tiny_prepared.statistics.tokens[i - 2] for i in ids] == tokens

    items = list(tiny_prepared.statistics.items[:50])
    events = tiny_prepared.data.events.iloc[:0].copy()
    events = events.reindex(range(len(items)))
    events["user_id"], events["session_id"], events["event_type"] = "u", "s", "click"
    events["item_id"], events["timestamp"] = items, np.arange(len(items))
    sequence = item_corpus(events, tiny_prepared.statistics).sequences[0]
    assert sequence.tolist() == model.item_lookup(tf.constant(items)).numpy().tolist()


def test_item_corpus_reads_only_training_behaviour_in_time_order(tiny_prepared):
    corpus = build_corpus("items", tiny_prepared)
    events = tiny_prepared.data.events
    train = events[tiny_prepared.split.mask("train")]
    behaviour = train[train["event_type"].isin(("click", "add_to_cart", "purchase"))]
    assert corpus.num_tokens == behaviour["item_id"].isin(set(tiny_prepared.statistics.items)).sum()
    later = events[~tiny_prepared.split.mask("train") & (events["event_type"] == "click")]
    assert len(later) > 0  # there is something that must not leak in
    first = behaviour.sort_values(["user_id", "session_id", "timestamp"], kind="stable")
    first = first[(first["user_id"] == first["user_id"].iloc[0]) & (first["session_id"] == first["session_id"].iloc[0])]
    expected = [tiny_prepared.statistics.items.index(i) + 1 for i in first["item_id"]]
    assert corpus.sequences[0].tolist() == expected
