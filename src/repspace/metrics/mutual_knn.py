"""Mutual nearest-neighbour alignment of Huh, Cheung, Wang & Isola, "The Platonic Representation
Hypothesis" (ICML 2024): for each row, the share of its k nearest neighbours (cosine, self
excluded) in one space that are also among its k nearest in the other, averaged over rows.
1 = identical neighbourhoods. As in their code, computed over a set of rows (a sample here), so
the value depends on how many rows are used; compare values computed on the same count.
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import cosine_knn, unit_rows

K = 10


def knn_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, |N_a(i) ∩ N_b(i)| / k for two (m, k) neighbour index arrays."""
    k = a.shape[1]
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1) / k


def mutual_knn(x: np.ndarray, y: np.ndarray, k: int = K) -> float:
    """Mutual-kNN alignment of row-aligned ``x`` and ``y`` over all their rows (O(n^2))."""
    ia, _ = cosine_knn(unit_rows(x, precise=True), k)
    ib, _ = cosine_knn(unit_rows(y, precise=True), k)
    return float(knn_overlap(ia, ib).mean())
