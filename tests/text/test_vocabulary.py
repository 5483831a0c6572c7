"""Vocabularies: deterministic order, minimum counts, files that round-trip."""

from __future__ import annotations

import pytest

from mtrec_tf.text.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary


def test_most_frequent_first_ties_in_code_point_order():
    assert build_vocabulary(["b", "a", "c", "a", "b", "手", ""]) == ("a", "b", "c", "手")


def test_min_count_and_max_size():
    tokens = ["x"] * 3 + ["y"] * 2 + ["z"]
    assert build_vocabulary(tokens, min_count=2) == ("x", "y")
    assert build_vocabulary(tokens, max_size=1) == ("x",)


def test_round_trip(tmp_path):
    vocab = ("手机", "phone", "5g", " spaced ")
    save_vocabulary(vocab, tmp_path / "v.txt")
    assert load_vocabulary(tmp_path / "v.txt") == vocab
    save_vocabulary((), tmp_path / "empty.txt")
    assert load_vocabulary(tmp_path / "empty.txt") == ()


def test_line_breaks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="line break"):
        save_vocabulary(["a\nb"], tmp_path / "v.txt")
