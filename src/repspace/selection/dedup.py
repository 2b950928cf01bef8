"""Deduplication before selection: exact (normalized text), near-duplicate text (MinHash LSH,
Broder 1997; banding as in Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3)
and near-duplicate vectors (cosine threshold). The first occurrence (in pool order) is kept.

* Exact: a 64-bit blake2b digest of the text lowercased with whitespace runs collapsed.
* Near (text): word 3-gram shingles (the DSIR tokenizer's tokens), ``num_perm`` = 128 MinHash
  values per document from a vectorized numpy hash family (``a_i * h + b_i mod 2^64`` over the
  splitmix64-mixed shingle hash ``h``, ``a_i`` odd: one multiply-add per value), cut into
  ``bands`` bands of ``rows`` rows chosen for the Jaccard ``threshold`` (0.8) like datasketch's
  ``MinHashLSH`` (minimizing the false positive and false negative areas). A document is a
  near-duplicate when one of its band hashes equals that of an earlier document. Candidates
  are not re-verified pairwise (only the band hashes are kept: 8 bytes per band per document),
  so the S-curve of the banding is the decision rule.
* Near (vectors): cosine >= ``threshold`` to an earlier document, exact and blocked (quadratic
  in the pool size: meant for pools of up to a few hundred thousand documents).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from repspace.selection.features import token_stream
from repspace.selection.resample import splitmix64

NUM_PERM = 128
JACCARD_THRESHOLD = 0.8
COSINE_THRESHOLD = 0.95
SHINGLE = 3
_BATCH = 1 << 15  # shingles per MinHash block (x 128 permutations x 8 bytes = 32 MB)


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def normalize(text: str) -> str:
    """Lowercase and collapse whitespace: the key of exact deduplication."""
    return " ".join(text.lower().split())


def exact_digests(texts: Sequence[str]) -> np.ndarray:
    """64-bit digests of the normalized texts."""
    return np.fromiter(
        (_digest(normalize(t).encode("utf-8")) for t in texts), dtype=np.uint64, count=len(texts)
    )


@lru_cache(maxsize=8)
def lsh_params(threshold: float = JACCARD_THRESHOLD, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) minimizing the false positive plus false negative areas of the S-curve
    ``1 - (1 - s^r)^b`` around ``threshold`` (datasketch's criterion, equal weights)."""
    best, best_err = (1, num_perm), np.inf
    s_lo = np.linspace(0.0, threshold, 201)
    s_hi = np.linspace(threshold, 1.0, 201)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo**r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi**r) ** b, s_hi)
            if fp + fn < best_err:
                best, best_err = (b, r), fp + fn
    return best


@lru_cache(maxsize=4)
def _perm_params(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Odd multipliers and offsets of the ``num_perm`` multiply-add hash functions."""
    seq = np.arange(1, 2 * num_perm + 1, dtype=np.uint64) * np.uint64(0x632BE59BD9B4E019)
    params = splitmix64(seq)
    return params[:num_perm] | np.uint64(1), params[num_perm:]


def _shingle_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each text's word 3-grams (one shingle of all tokens for shorter texts), texts
    in order, and the number of shingles per text."""
    ids, doc, vocab = token_stream(texts)
    order = np.argsort(doc, kind="stable")
    doc = doc[order]
    h = np.asarray(vocab.hashes, dtype=np.uint64)[ids[order]]
    lengths = np.bincount(doc, minlength=len(texts))
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(len(h)) - starts[doc]
    is_start = (pos + SHINGLE <= lengths[doc]) | ((pos == 0) & (lengths[doc] < SHINGLE))
    idx = np.flatnonzero(is_start)
    out = splitmix64(h[idx])
    for j in range(1, SHINGLE):
        nxt = np.where(pos[idx] + j < lengths[doc[idx]], h[np.minimum(idx + j, len(h) - 1)], 0)
        out = splitmix64(out ^ nxt.astype(np.uint64))
    return out, np.bincount(doc[idx], minlength=len(texts))


def minhash_signatures(texts: Sequence[str], num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash signatures (``len(texts) × num_perm`` uint64) of the texts' shingle sets."""
    shingles, counts = _shingle_hashes(texts)
    mul, add = _perm_params(num_perm)
    sig = np.full((len(texts), num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    if not len(shingles):
        return sig
    offsets = np.concatenate([[0], np.cumsum(counts)])
    d0 = 0
    while d0 < len(texts):  # whole documents per block, about _BATCH shingles each
        d1 = int(np.searchsorted(offsets, offsets[d0] + _BATCH, side="right")) - 1
        d1 = min(max(d1, d0 + 1), len(texts))
        block = shingles[offsets[d0] : offsets[d1]]
        with np.errstate(over="ignore"):
            values = block[:, None] * mul[None, :] + add[None, :]
        nz = np.flatnonzero(counts[d0:d1] > 0)  # texts without tokens keep the all-max row
        if len(nz):
            starts = (offsets[d0:d1] - offsets[d0])[nz]
            sig[d0 + nz] = np.minimum.reduceat(values, starts, axis=0)
        d0 = d1
    return sig


def band_hashes(
    texts: Sequence[str], threshold: float = JACCARD_THRESHOLD, num_perm: int = NUM_PERM
) -> np.ndarray:
    """One 64-bit hash per LSH band per text (``len(texts) × bands``)."""
    bands, rows = lsh_params(threshold, num_perm)
    sig = minhash_signatures(texts, num_perm)
    out = np.zeros((len(texts), bands), dtype=np.uint64)
    for b in range(bands):
        h = np.full(len(texts), b, dtype=np.uint64)
        for r in range(rows):
            h = splitmix64(h ^ sig[:, b * rows + r])
        out[:, b] = h
    return out


def later_duplicates(bands: np.ndarray) -> np.ndarray:
    """True for every row sharing a band hash with an earlier row (rows in pool order)."""
    dup = np.zeros(len(bands), dtype=bool)
    for b in range(bands.shape[1]):
        order = np.argsort(bands[:, b], kind="stable")
        col = bands[order, b]
        same = np.concatenate([[False], col[1:] == col[:-1]])
        dup[order[same]] = True
    return dup


def vector_duplicates(
    unit: np.ndarray, threshold: float = COSINE_THRESHOLD, block: int = 2048
) -> np.ndarray:
    """True for every row with cosine >= ``threshold`` to an earlier row (``unit``: L2-normalized
    rows, may be a memory map)."""
    n = len(unit)
    dup = np.zeros(n, dtype=bool)
    for s in range(0, n, block):
        e = min(s + block, n)
        q = np.asarray(unit[s:e], dtype=np.float32)
        for t in range(0, e, block):
            u = min(t + block, e)
            sim = q @ np.asarray(unit[t:u], dtype=np.float32).T
            rows, cols = np.nonzero(sim >= threshold)
            earlier = cols + t < rows + s
            dup[rows[earlier] + s] = True
    return dup


__all__ = [
    "COSINE_THRESHOLD",
    "JACCARD_THRESHOLD",
    "NUM_PERM",
    "band_hashes",
    "exact_digests",
    "later_duplicates",
    "lsh_params",
    "minhash_signatures",
    "normalize",
    "vector_duplicates",
]
