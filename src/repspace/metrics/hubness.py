"""Hubness: a few points are the nearest neighbour of very many others, many of none.

Radovanović, Nanopoulos & Ivanović, "Hubs in space: popular nearest neighbors in
high-dimensional data" (JMLR 2010): the k-occurrence N_k(x) counts the rows having x among
their k nearest neighbours; its skewness measures hubness. Nielsen & Hansen, "Hubness Reduction
Improves Sentence-BERT Semantic Spaces" (2024) use k = 10 and cosine distance on sentence
embeddings, as here. Hubs are rows with N_k > 2k and anti-hubs rows with N_k = 0 (the
conventions of scikit-hubness).
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import cosine_knn, unit_rows
from repspace.metrics.neighbors import k_occurrence

HUB_FACTOR = 2


def hubness_stats(indices: np.ndarray) -> dict[str, float]:
    """Skewness of N_k, share of anti-hubs (N_k = 0), share of hubs (N_k > 2k), and the largest
    N_k, from a kNN index array (m, k)."""
    m, k = indices.shape
    nk = k_occurrence(indices, m)
    return {
        "skewness": skewness(nk),
        "antihub_share": float(np.mean(nk == 0)),
        "hub_share": float(np.mean(nk > HUB_FACTOR * k)),
        "max_k_occurrence": int(nk.max()),
        "k": int(k),
    }


def skewness(values: np.ndarray) -> float:
    """Sample skewness ``m3 / m2^1.5`` with population moments, as ``scipy.stats.skew`` (whose
    import would double the start-up time of ``repspace inspect``); 0 for constant values."""
    v = np.asarray(values, dtype=np.float64)
    d = v - v.mean()
    m2 = float(np.mean(d**2))
    return float(np.mean(d**3) / m2**1.5) if m2 > 0 else 0.0


def hubness(x: np.ndarray, k: int = 10) -> dict[str, float]:
    """:func:`hubness_stats` of the exact cosine kNN graph over all rows of ``x`` (O(n^2))."""
    indices, _ = cosine_knn(unit_rows(x, precise=True), k)
    return hubness_stats(indices)


def top_hubs(indices: np.ndarray, count: int = 10) -> list[tuple[int, int]]:
    """The ``count`` rows with the largest N_k, as (row, N_k), largest first."""
    nk = k_occurrence(indices)
    order = np.argsort(-nk, kind="stable")[:count]
    return [(int(i), int(nk[i])) for i in order]
