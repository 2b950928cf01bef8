"""Exact and near-duplicate rows: copies inflate neighbour lists and evaluation scores."""

from __future__ import annotations

import hashlib

import numpy as np

from repspace.metrics.data import BLOCK

#: Cosine at or above which two rows count as near-duplicates.
NEAR_DUPLICATE_COSINE = 0.98


def exact_duplicate_count(x: np.ndarray) -> int:
    """Rows that are bit-for-bit copies of an earlier row (-0.0 counts as 0.0), via a 128-bit
    BLAKE2b digest of each row."""
    digests = bytearray()
    for s in range(0, len(x), BLOCK):
        block = np.ascontiguousarray(x[s : s + BLOCK]) + 0.0  # -0.0 -> 0.0
        for row in block:
            digests += hashlib.blake2b(row.tobytes(), digest_size=16).digest()
    unique = np.unique(np.frombuffer(bytes(digests), dtype="S16"))
    return int(len(x) - len(unique))


def exact_duplicate_share(x: np.ndarray) -> float:
    """:func:`exact_duplicate_count` / n."""
    return exact_duplicate_count(x) / len(x)


def near_duplicate_share(
    nearest_cosine: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE
) -> float:
    """Share of rows whose most similar other row has cosine >= ``threshold`` (exact duplicates
    included), from each row's highest cosine to another row."""
    return float(np.mean(nearest_cosine >= threshold))
