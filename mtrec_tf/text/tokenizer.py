"""Tokenizer for mixed Chinese and English e-commerce text, in core TensorFlow string ops.

Text is normalised (full-width ASCII to half-width, ideographic space to space, lower
case), Chinese, Japanese kana and Hangul characters become one token each, and other
scripts split into words at white space, punctuation and symbols:

    "华为Mate60 Pro手机！" -> ["华", "为", "mate60", "pro", "手", "机"]

Only `tf.strings` ops are used, so a graph holding the tokenizer loads in any TensorFlow
runtime (TF Serving, Vertex AI prebuilt containers) with no tf.text ops registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mtrec_tf.backend import tf

# Scripts written without spaces between words: one character, one token.
_CHARACTER_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_FULLWIDTH_FIRST, _FULLWIDTH_LAST, _FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_IDEOGRAPHIC_SPACE = 0x3000


def normalize(texts: tf.Tensor) -> tf.Tensor:
    """Half-width, lower-case form of UTF-8 strings of any shape (invalid bytes become U+FFFD)."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    codepoints = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
    codepoints = tf.ragged.map_flat_values(
        lambda cp: tf.where(
            (cp >= _FULLWIDTH_FIRST) & (cp <= _FULLWIDTH_LAST),
            cp - _FULLWIDTH_OFFSET,
            tf.where(cp == _IDEOGRAPHIC_SPACE, tf.constant(0x20, cp.dtype), cp),
        ),
        codepoints,
    )
    texts = tf.strings.unicode_encode(codepoints, "UTF-8")
    return tf.strings.lower(texts, encoding="utf-8")


def tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    """Tokens of a batch of strings.

    Args:
        texts: string tensor of shape `(batch,)`.

    Returns:
        A string RaggedTensor of shape `(batch, None)`; an empty text gives no tokens.
    """
    texts = normalize(texts)
    texts = tf.strings.regex_replace(texts, f"([{_CHARACTER_SCRIPTS}])", r" \1 ")
    texts = tf.strings.regex_replace(texts, r"[\p{P}\p{S}\p{Z}\s]+", " ")
    return tf.strings.split(tf.strings.strip(texts))


def tokenize_to_lists(texts: Sequence[str], batch_size: int = 65536) -> list[list[str]]:
    """Tokens of Python strings, in batches, as lists of Python strings."""
    tokens: list[list[str]] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenize(tf.constant(list(texts[start : start + batch_size]), dtype=tf.string))
        tokens.extend([t.decode("utf-8") for t in row] for row in batch.to_list())
    return tokens


def iter_tokens(texts: Sequence[str]) -> Iterable[str]:
    """Every token of every text, in order."""
    for row in tokenize_to_lists(texts):
        yield from row


def wrapped_char_ngrams(tokens: tf.Tensor, width: int) -> tf.RaggedTensor:
    """The `width`-character n-grams of each token wrapped in "<" and ">" (fastText's
    subwords): string RaggedTensor `(n, None)` for tokens of shape `(n,)`."""
    characters = tf.strings.unicode_split(tf.strings.join(["<", tokens, ">"]), "UTF-8")
    return tf.strings.ngrams(characters, width, separator="")


def _hash_ids(grams: tf.RaggedTensor, buckets: int) -> tf.RaggedTensor:
    """Bucket + 1 of each string, so that 0 stays free for padding."""
    return tf.ragged.map_flat_values(lambda g: tf.strings.to_hash_bucket_fast(g, buckets) + 1, grams)


def subword_ids(tokens: tf.Tensor, buckets: int, max_subwords: int, width: int = 3) -> tf.Tensor:
    """Hashed character n-grams of each token, as fastText forms them (Bojanowski et al. 2017).

    The token is wrapped in "<" and ">" and cut into its `width`-character n-grams, so a
    misspelt or unseen word still shares most of its n-grams with the word it resembles.

    Args:
        tokens: string tensor of shape `(n,)`.
        buckets: hash buckets of the n-grams.
        max_subwords: n-grams kept per token (the first ones).
        width: characters per n-gram.

    Returns:
        int64 tensor of shape `(n, max_subwords)`: bucket + 1 of each n-gram, 0 padding.
    """
    ngrams = wrapped_char_ngrams(tf.convert_to_tensor(tokens, dtype=tf.string), width)
    return _hash_ids(ngrams, buckets).to_tensor(default_value=0, shape=[None, max_subwords])


def ngram_ids(tokens: tf.RaggedTensor, buckets: int, order: int, char_width: int = 0) -> tf.Tensor:
    """Hashed token n-grams of orders 1 to `order`, as fastText's bag of n-grams forms them
    (Joulin et al. 2017), and optionally the character n-grams of every token longer than
    one character. Chinese is tokenized to characters, so its token n-grams are character
    n-grams; the character n-grams of words make a misspelt word share most of its bag.

    Args:
        tokens: string RaggedTensor `(n, None)`, as `tokenize` gives.
        buckets: hash buckets of the n-grams.
        order: the longest token n-gram.
        char_width: characters per n-gram of a word wrapped in "<" and ">" (0: none).

    Returns:
        int64 tensor `(n, width)`: bucket + 1 of each n-gram, 0 padding; width is 1 for a
        batch of empty texts.
    """
    grams = [tokens] + [tf.strings.ngrams(tokens, n, separator=" ") for n in range(2, order + 1)]
    if char_width:
        words = tf.ragged.boolean_mask(
            tokens, tf.ragged.map_flat_values(tf.strings.length, tokens, unit="UTF8_CHAR") > 1)
        pieces = wrapped_char_ngrams(words.flat_values, char_width)  # (words, pieces)
        grams.append(tf.RaggedTensor.from_row_splits(pieces.values, tf.gather(pieces.row_splits, words.row_splits)))
    dense = _hash_ids(tf.concat(grams, axis=1), buckets).to_tensor(default_value=0)
    return tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])
