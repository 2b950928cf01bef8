"""Uniformity and alignment of Wang & Isola, "Understanding contrastive representation learning
through alignment and uniformity on the hypersphere" (ICML 2020), on L2-normalized rows.

Uniformity: ``log E exp(-t ||u - v||^2)`` over pairs of distinct rows, t = 2 (their default);
from 0 (collapsed) down to about -4 (spread uniformly over a high-dimensional sphere).
Alignment: ``E ||u - v||^alpha`` over positive pairs, alpha = 2; 0 = pairs coincide.
"""

from __future__ import annotations

import math

import numpy as np

from repspace.kernels import cosine_knn, unit_rows

T = 2.0
ALPHA = 2.0


class UniformityAccumulator:
    """Accumulates uniformity from blocks of cosine similarities (a :func:`cosine_knn` visitor):
    for unit vectors ``||u - v||^2 = 2 - 2 cos``. Diagonal entries must be -inf."""

    def __init__(self, t: float = T):
        self.t = t
        self.total = 0.0
        self.pairs = 0

    def __call__(self, start: int, sims: np.ndarray) -> None:
        scaled = sims - np.float32(1.0)
        scaled *= np.float32(2 * self.t)
        np.exp(scaled, out=scaled)  # float32 exp (SIMD), summed in float64
        self.total += float(scaled.sum(dtype=np.float64))
        self.pairs += sims.size - sims.shape[0]

    def value(self) -> float:
        return math.log(self.total / self.pairs) if self.pairs else float("nan")


def uniformity(x: np.ndarray, t: float = T) -> float:
    """Uniformity over all pairs of distinct rows of ``x`` (normalized here; O(n^2))."""
    acc = UniformityAccumulator(t)
    cosine_knn(unit_rows(x, precise=True), 1, visit=acc)
    return acc.value()


def alignment(a: np.ndarray, b: np.ndarray, alpha: float = ALPHA) -> float:
    """Mean ``||u - v||^alpha`` over positive pairs (row i of ``a`` with row i of ``b``)."""
    diff = unit_rows(a, dtype=np.float64) - unit_rows(b, dtype=np.float64)
    return float(np.mean(np.linalg.norm(diff, axis=1) ** alpha))
