"""Tokenizer: Chinese to characters, other scripts to words, normalised width and case."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.text.tokenizer import ngram_ids, normalize, subword_ids, tokenize, tokenize_to_lists


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("华为Mate60 Pro手机！", ["华", "为", "mate60", "pro", "手", "机"]),
        ("ＡＢＣ　Nike跑鞋,air-max", ["abc", "nike", "跑", "鞋", "air", "max"]),
        ("  iPhone 15  ", ["iphone", "15"]),
        ("", []),
        ("!!!", []),
        ("Café ÜBER", ["café", "über"]),
        ("ソニー 헤드폰", ["ソ", "ニ", "ー", "헤", "드", "폰"]),
    ],
)
def test_tokens(text, tokens):
    assert tokenize_to_lists([text]) == [tokens]


def test_normalize_maps_full_width_to_half_width_and_lowers_case():
    assert normalize(tf.constant(["ＡＢＣ１２３＠　Ｘ"])).numpy()[0].decode() == "abc123@ x"


def test_tokenize_is_a_ragged_batch_and_survives_invalid_utf8():
    tokens = tokenize(tf.constant([b"ok \xff bad", b""]))
    assert isinstance(tokens, tf.RaggedTensor)
    assert tokens.shape[0] == 2
    assert tokens[0].numpy()[0] == b"ok" and tokens[1].shape[0] == 0


def test_tokenizer_uses_core_string_ops_only():
    graph = tf.function(tokenize).get_concrete_function(tf.TensorSpec([None], tf.string)).graph
    op_types = {op.type for op in graph.get_operations()}
    assert {"StaticRegexReplace", "StringSplitV2", "StringLower"} <= op_types
    assert not op_types & {"NormalizeUTF8", "CaseFoldUTF8", "UnicodeScriptTokenizeWithOffsets"}
    assert "tensorflow_text" not in sys.modules


def test_subwords_are_the_hashed_trigrams_of_the_wrapped_token():
    ids = subword_ids(tf.constant(["uniqlo", "uniql", "手", ""]), buckets=1000, max_subwords=6).numpy()
    trigrams = ["<un", "uni", "niq", "iql", "qlo", "lo>"]
    expected = tf.strings.to_hash_bucket_fast(trigrams, 1000).numpy() + 1
    np.testing.assert_array_equal(ids[0], expected)
    # A misspelling keeps the trigrams it shares with the word.
    np.testing.assert_array_equal(ids[1][:4], expected[:4])
    assert ids[1][4] != expected[4] and ids[1][5] == 0
    assert ids[2][0] == tf.strings.to_hash_bucket_fast(["<手>"], 1000).numpy()[0] + 1 and not ids[2][1:].any()
    assert not ids[3].any()  # an empty token has no trigram


def test_subwords_are_cut_to_max_subwords():
    ids = subword_ids(tf.constant(["internationalization"]), buckets=50, max_subwords=4).numpy()
    assert ids.shape == (1, 4) and (ids > 0).all() and (ids <= 50).all()


def test_ngram_ids_are_the_hashed_token_ngrams_up_to_the_order():
    tokens = tokenize(tf.constant(["华为 mate60 pro", "手机", ""]))
    ids = ngram_ids(tokens, buckets=1000, order=2).numpy()
    grams = ["华", "为", "mate60", "pro", "华 为", "为 mate60", "mate60 pro"]
    expected = tf.strings.to_hash_bucket_fast(grams, 1000).numpy() + 1
    assert ids.shape == (3, 7)
    np.testing.assert_array_equal(ids[0], expected)
    second = tf.strings.to_hash_bucket_fast(["手", "机", "手 机"], 1000).numpy() + 1
    np.testing.assert_array_equal(ids[1], np.pad(second, (0, 4)))
    assert not ids[2].any()  # an empty text has no n-gram
    assert ngram_ids(tokens, buckets=1000, order=3).shape == (3, 4 + 3 + 2)


def test_ngram_ids_of_empty_texts_keep_one_padding_column():
    ids = ngram_ids(tokenize(tf.constant(["", "！"])), buckets=10, order=2)
    assert ids.shape == (2, 1) and not ids.numpy().any()
