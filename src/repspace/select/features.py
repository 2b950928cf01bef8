"""DSIR's hashed n-gram features (Xie et al. 2023, "Data Selection for Language Models via
Importance Resampling", §4): lowercased text, word/punctuation tokens, unigrams and bigrams
hashed into ``num_buckets`` (10,000) buckets.

Matches the reference package ``data-selection`` (``HashedNgramDSIR``) exactly: its tokenizer is
NLTK's ``WordPunctTokenizer`` (the regular expression ``\\w+|[^\\w\\s]+`` on the lowercased
text, compiled by NLTK >= 3.9 with the ``regex`` engine, whose ``\\w`` also takes combining
marks; ASCII texts, where both engines agree, go through the faster ``re``), a unigram ``w`` and
a bigram ``"w1 w2"`` go to bucket ``sha256(utf-8) mod num_buckets``.
The hashes are memoised per n-gram (the reference hashes every occurrence), so a chunk costs one
regex pass per document plus dictionary look-ups, and all counting is one ``bincount``.

Every function here is pure over a chunk of texts, so the same chunk gives the same result in a
worker process, in a Ray task or inline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import islice

import numpy as np
import regex

#: DSIR's default number of hash buckets.
NUM_BUCKETS = 10_000
#: NLTK's WordPunctTokenizer pattern (the reference's default tokenizer).
TOKEN_RE = regex.compile(r"\w+|[^\w\s]+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
_ASCII_RE = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)
#: Memoised n-grams per process before the memo is dropped (bounds worker memory).
MEMO_LIMIT = 1 << 19


def tokenize(text: str) -> list[str]:
    """The reference tokenization: ``WordPunctTokenizer().tokenize(text.lower())``."""
    text = text.lower()
    return (_ASCII_RE if text.isascii() else TOKEN_RE).findall(text)


def bucket_of(ngram: str, num_buckets: int = NUM_BUCKETS) -> int:
    """The bucket of one n-gram (words joined by a space): sha256 of its UTF-8, mod buckets."""
    return int.from_bytes(hashlib.sha256(ngram.encode("utf-8")).digest(), "big") % num_buckets


class _Unigrams(dict):
    """token -> bucket, computing (and memoising) on a miss."""

    def __init__(self, num_buckets: int):
        super().__init__()
        self.num_buckets = num_buckets
        self.ints = list(range(num_buckets))  # shared int objects: a memo entry costs no int

    def __missing__(self, key: str) -> int:
        value = self.ints[bucket_of(key, self.num_buckets)]
        self[key] = value
        return value


class _Bigrams(_Unigrams):
    """(token, token) -> bucket of ``"token token"``."""

    def __missing__(self, key: tuple[str, str]) -> int:  # type: ignore[override]
        value = self.ints[bucket_of(f"{key[0]} {key[1]}", self.num_buckets)]
        self[key] = value
        return value


_MEMOS: dict[int, tuple[_Unigrams, _Bigrams]] = {}


def _memos(num_buckets: int) -> tuple[_Unigrams, _Bigrams]:
    memo = _MEMOS.get(num_buckets)
    if memo is None or len(memo[0]) + len(memo[1]) > MEMO_LIMIT:
        memo = _MEMOS[num_buckets] = (_Unigrams(num_buckets), _Bigrams(num_buckets))
    return memo


def ngram_buckets(
    texts: Sequence[str], num_buckets: int = NUM_BUCKETS
) -> tuple[np.ndarray, np.ndarray]:
    """The bucket of every unigram and bigram of every text, concatenated, and the number of
    n-grams per text (``2 * tokens - 1``, or 0 for a text without tokens)."""
    uni, bi = _memos(num_buckets)
    flat: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        words = tokenize(text)
        if not words:
            continue
        before = len(flat)
        flat.extend(map(uni.__getitem__, words))
        flat.extend(map(bi.__getitem__, zip(words, islice(words, 1, None), strict=False)))
        lengths[i] = len(flat) - before
    return np.array(flat, dtype=np.int64), lengths


def ngram_counts(texts: Sequence[str], num_buckets: int = NUM_BUCKETS) -> np.ndarray:
    """Summed bucket counts of ``texts`` (int64, ``num_buckets``): one bag of n-grams."""
    flat, _ = ngram_buckets(texts, num_buckets)
    return np.bincount(flat, minlength=num_buckets).astype(np.int64)


def doc_ngram_counts(texts: Sequence[str], num_buckets: int = NUM_BUCKETS) -> np.ndarray:
    """Per-document bucket counts (dense, ``len(texts) × num_buckets``): for small sets only."""
    flat, lengths = ngram_buckets(texts, num_buckets)
    rows = np.repeat(np.arange(len(texts)), lengths)
    out = np.zeros((len(texts), num_buckets), dtype=np.int64)
    np.add.at(out, (rows, flat), 1)
    return out


def token_counts(ngram_lengths: np.ndarray) -> np.ndarray:
    """Tokens per document from its n-gram count (the reference's length: (2t - 1 + 1) // 2)."""
    return (ngram_lengths + 1) // 2


__all__ = [
    "NUM_BUCKETS",
    "TOKEN_RE",
    "bucket_of",
    "doc_ngram_counts",
    "ngram_buckets",
    "ngram_counts",
    "token_counts",
    "tokenize",
]
