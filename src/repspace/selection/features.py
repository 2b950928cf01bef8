"""DSIR's hashed n-gram features (Xie et al. 2023, "Data Selection for Language Models via
Importance Resampling", §4): lowercased text, word/punctuation tokens, unigrams and bigrams
hashed into ``num_buckets`` (10,000) buckets.

Matches the reference package ``data-selection`` (``HashedNgramDSIR``) exactly: its tokenizer is
NLTK's ``WordPunctTokenizer`` (the regular expression ``\\w+|[^\\w\\s]+`` on the lowercased
text, compiled by NLTK >= 3.9 with the ``regex`` engine, whose ``\\w`` also takes combining
marks; ASCII texts, where both engines agree, go through the faster ``re``), a unigram ``w`` and
a bigram ``"w1 w2"`` go to bucket ``sha256(utf-8) mod num_buckets``.
The hashes are memoised per token and per bigram of token ids (the reference hashes every
occurrence), so a chunk costs one regex pass, one dictionary look-up per token and one per
distinct bigram, and all counting is one ``bincount``.

Every function here is pure over a chunk of texts, so the same chunk gives the same result in a
worker process, in a Ray task or inline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import regex

#: DSIR's default number of hash buckets.
NUM_BUCKETS = 10_000
#: NLTK's WordPunctTokenizer pattern (the reference's default tokenizer).
TOKEN_RE = regex.compile(r"\w+|[^\w\s]+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
_ASCII_RE = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)
#: Memo size per process (bigrams + 16 x tokens; ~10 bytes per bigram, ~150 per token) before
#: it is dropped and rebuilt: bounds a worker's memo to about 100-150 MB.
MEMO_LIMIT = 1 << 23


def tokenize(text: str) -> list[str]:
    """The reference tokenization: ``WordPunctTokenizer().tokenize(text.lower())``."""
    text = text.lower()
    return (_ASCII_RE if text.isascii() else TOKEN_RE).findall(text)


def bucket_of(ngram: str, num_buckets: int = NUM_BUCKETS) -> int:
    """The bucket of one n-gram (words joined by a space): sha256 of its UTF-8, mod buckets."""
    return int.from_bytes(hashlib.sha256(ngram.encode("utf-8")).digest(), "big") % num_buckets


def _bucket_and_hash(token: str, num_buckets: int) -> tuple[int, int]:
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % num_buckets, int.from_bytes(digest[:8], "little")


class _BigramMemo:
    """Bigram key (``id1 << 32 | id2``) -> bucket, as sorted numpy runs merged like a binary
    counter: about 10 bytes per bigram, vectorized look-ups; misses are hashed in Python."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self.runs)

    def lookup(self, keys: np.ndarray, make: Any) -> np.ndarray:
        """Buckets of the sorted, distinct ``keys``; ``make(missing_keys)`` computes new ones."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for run_keys, run_vals in self.runs:
            pos = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[pos] == keys
            out[hit] = run_vals[pos[hit]]
        missing = out < 0
        if missing.any():
            new_keys = keys[missing]
            new_vals = make(new_keys)
            out[missing] = new_vals
            self.runs.append((new_keys, new_vals.astype(np.uint16)))
            while len(self.runs) > 1 and len(self.runs[-1][0]) >= len(self.runs[-2][0]) // 2:
                (k2, v2), (k1, v1) = self.runs.pop(), self.runs.pop()
                k, v = np.concatenate([k1, k2]), np.concatenate([v1, v2])
                order = np.argsort(k, kind="stable")
                self.runs.append((k[order], v[order]))
        return out


class _Vocabulary:
    """Token -> id, the bucket of every token id, and the bigram memo. Dropped and rebuilt
    when it outgrows :data:`MEMO_LIMIT` (between chunks, so results never change)."""

    def __init__(self, num_buckets: int):
        self.num_buckets = num_buckets
        self.tokens: list[str] = []
        self.buckets: list[int] = []
        self.hashes: list[int] = []  # a 64-bit hash per token (MinHash shingles)
        vocab = self

        class Ids(dict):
            def __missing__(self, token: str) -> int:
                self[token] = i = len(vocab.tokens)
                vocab.tokens.append(token)
                bucket, h = _bucket_and_hash(token, num_buckets)
                vocab.buckets.append(bucket)
                vocab.hashes.append(h)
                return i

        self.ids: dict[str, int] = Ids()
        self.bigrams = _BigramMemo()

    def size(self) -> int:
        return 16 * len(self.tokens) + len(self.bigrams)

    def token_ids(self, tokens: list[str]) -> np.ndarray:
        return np.fromiter(map(self.ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))

    def _hash_bigrams(self, keys: np.ndarray) -> np.ndarray:
        tokens, nb = self.tokens, self.num_buckets
        return np.fromiter(
            (bucket_of(f"{tokens[k >> 32]} {tokens[k & 0xFFFFFFFF]}", nb) for k in keys.tolist()),
            dtype=np.int64,
            count=len(keys),
        )

    def bigram_buckets(self, keys: np.ndarray) -> np.ndarray:
        return self.bigrams.lookup(keys, self._hash_bigrams)


_SEP = "\x00"
_JOIN = "\n\x00\n"
_VOCABS: dict[int, _Vocabulary] = {}


def _vocabulary(num_buckets: int) -> _Vocabulary:
    vocab = _VOCABS.get(num_buckets)
    if vocab is None or vocab.size() > MEMO_LIMIT:
        vocab = _VOCABS[num_buckets] = _Vocabulary(num_buckets)
    return vocab


def _group_tokens(texts: list[str], ascii_only: bool) -> list[list[str]] | list[str]:
    """All tokens of the texts in one regex pass, documents separated by the token ``\\x00``;
    per document when a text holds that token itself."""
    pattern = _ASCII_RE if ascii_only else TOKEN_RE
    tokens = pattern.findall(_JOIN.join(texts).lower())
    if tokens.count(_SEP) != len(texts) - 1:
        return [pattern.findall(t.lower()) for t in texts]
    return tokens


def token_stream(
    texts: Sequence[str], num_buckets: int = NUM_BUCKETS
) -> tuple[np.ndarray, np.ndarray, _Vocabulary]:
    """Every token of the texts as an id of this process's vocabulary, with the text it belongs
    to: each text's tokens contiguous and in order (ASCII texts first, then the others). One
    regex pass per group (``re`` for ASCII texts, ``regex`` for the rest), one dictionary
    look-up per token."""
    vocab = _vocabulary(num_buckets)
    ids_parts: list[np.ndarray] = []
    doc_parts: list[np.ndarray] = []
    is_ascii = np.fromiter((t.isascii() for t in texts), dtype=bool, count=len(texts))
    for ascii_only in (True, False):
        docs = np.flatnonzero(is_ascii == ascii_only)
        if not len(docs):
            continue
        tokens = _group_tokens([texts[i] for i in docs], ascii_only)
        if tokens and isinstance(tokens[0], list):  # a text held the separator token
            ids_parts += [vocab.token_ids(t) for t in tokens if t]
            doc_parts.append(np.repeat(docs, [len(t) for t in tokens]))
        else:
            all_ids = vocab.token_ids(tokens)  # type: ignore[arg-type]
            sep = all_ids == vocab.ids.get(_SEP, -1)
            ids_parts.append(all_ids[~sep])
            doc_parts.append(docs[np.cumsum(sep)][~sep])
    if not ids_parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), vocab
    return np.concatenate(ids_parts), np.concatenate(doc_parts), vocab


def ngram_buckets(
    texts: Sequence[str], num_buckets: int = NUM_BUCKETS
) -> tuple[np.ndarray, np.ndarray]:
    """The bucket of every unigram and bigram of the texts and the text each belongs to (both
    int64, in no particular order). Vectorized over the chunk (:func:`token_stream`), one
    look-up per distinct bigram of the chunk."""
    ids, doc, vocab = token_stream(texts, num_buckets)
    if not len(ids):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    uni = np.asarray(vocab.buckets, dtype=np.int64)[ids]
    pair = doc[1:] == doc[:-1]  # token i and i + 1 are in the same text
    keys = (ids[:-1][pair] << 32) | ids[1:][pair]
    if len(keys):
        uniq, inverse = np.unique(keys, return_inverse=True)
        bi = vocab.bigram_buckets(uniq)[inverse]
    else:
        bi = np.empty(0, np.int64)
    return np.concatenate([uni, bi]), np.concatenate([doc, doc[:-1][pair]])


def ngram_lengths(rows: np.ndarray, n_texts: int) -> np.ndarray:
    """N-grams per text from the row of every n-gram."""
    return np.bincount(rows, minlength=n_texts).astype(np.int64)


def ngram_counts(texts: Sequence[str], num_buckets: int = NUM_BUCKETS) -> np.ndarray:
    """Summed bucket counts of ``texts`` (int64, ``num_buckets``): one bag of n-grams."""
    flat, _ = ngram_buckets(texts, num_buckets)
    return np.bincount(flat, minlength=num_buckets).astype(np.int64)


def doc_ngram_counts(texts: Sequence[str], num_buckets: int = NUM_BUCKETS) -> np.ndarray:
    """Per-document bucket counts (dense, ``len(texts) × num_buckets``): for small sets only."""
    flat, rows = ngram_buckets(texts, num_buckets)
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
    "ngram_lengths",
    "token_counts",
    "token_stream",
    "tokenize",
]
