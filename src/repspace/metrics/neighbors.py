"""Exact cosine nearest neighbours in blocks: the kNN graph behind hubness, mutual-kNN, TwoNN,
uniformity and near-duplicates.

Brute force with BLAS matrix products, ``block`` query rows at a time, so memory stays at
``block × m`` similarities; exact (no approximate index), which the metrics need to be
reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from repspace.metrics.data import BLOCK

#: Called with (first row of the block, similarities of the block's rows to all rows, with each
#: row's similarity to itself set to -inf) during :func:`cosine_knn`.
Visitor = Callable[[int, np.ndarray], None]


def cosine_knn(
    unit: np.ndarray, k: int, *, block: int = 1024, visit: Visitor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows of every row of ``unit`` (L2-normalized rows) by cosine.

    Returns ``(indices, similarities)``, both ``(m, k)`` and sorted by decreasing similarity; a
    row is never its own neighbour (duplicates of it may be). ``k`` is capped at m - 1.
    """
    m = len(unit)
    k = min(k, m - 1)
    indices = np.empty((m, k), dtype=np.int64)
    sims = np.empty((m, k), dtype=np.float32)
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    for s in range(0, m, block):
        e = min(s + block, m)
        sim = unit[s:e] @ unit.T
        sim[np.arange(e - s), np.arange(s, e)] = -np.inf
        if visit is not None:
            visit(s, sim)
        top = np.argpartition(sim, m - k, axis=1)[:, m - k :]
        top_sim = np.take_along_axis(sim, top, axis=1)
        order = np.argsort(-top_sim, axis=1, kind="stable")
        indices[s:e] = np.take_along_axis(top, order, axis=1)
        sims[s:e] = np.take_along_axis(top_sim, order, axis=1)
    return indices, sims


def nearest_other_similarity(
    vectors: np.ndarray, norms: np.ndarray, queries: np.ndarray, *, block: int = BLOCK
) -> np.ndarray:
    """For each row index in ``queries``, the highest cosine between that row and any *other*
    row of ``vectors`` (all of them, streamed in blocks)."""
    q = (np.asarray(vectors[queries], dtype=np.float64) / norms[queries, None]).astype(np.float32)
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    n = len(vectors)
    for s in range(0, n, block):
        e = min(s + block, n)
        b = (np.asarray(vectors[s:e], dtype=np.float64) / norms[s:e, None]).astype(np.float32)
        sim = q @ b.T
        own = (queries >= s) & (queries < e)
        sim[np.flatnonzero(own), queries[own] - s] = -np.inf
        np.maximum(best, sim.max(axis=1), out=best)
    return best


def k_occurrence(indices: np.ndarray, m: int | None = None) -> np.ndarray:
    """N_k(x): how many rows have x among their k nearest neighbours (Radovanović et al. 2010)."""
    return np.bincount(indices.ravel(), minlength=m if m is not None else len(indices))
