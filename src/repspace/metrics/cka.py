"""Centered kernel alignment of Kornblith, Norouzi, Lee & Hinton, "Similarity of neural network
representations revisited" (ICML 2019), with their reference code's conventions
(google-research/representation_similarity): linear CKA in feature space (O(n·d^2), exact on all
rows), RBF CKA on Gram matrices with bandwidth ``threshold × median distance``, and the debiased
estimator (unbiased HSIC of Song et al. 2012) for both.

CKA is invariant to orthogonal transforms and isotropic scaling of either side, and compares
spaces of different dimensions; 1 = same geometry up to those, 0 = unrelated.
"""

from __future__ import annotations

import numpy as np

from repspace.metrics.moments import Centered, centered, cross_gram

#: RBF bandwidth as a fraction of the median distance (the reference code's default).
RBF_THRESHOLD = 1.0


def _debiased_dot(
    xty: float, rows_x: np.ndarray, rows_y: np.ndarray, sq_x: float, sq_y: float, n: int
) -> float:
    """Unbiased HSIC numerator from feature-space sums (Kornblith et al.'s helper)."""
    return float(xty - n / (n - 2.0) * rows_x.dot(rows_y) + sq_x * sq_y / ((n - 1) * (n - 2)))


def linear_cka_from_stats(
    a: Centered, b: Centered, cross: np.ndarray, *, debiased: bool = False
) -> float:
    """Linear CKA from each side's :class:`Centered` statistics and their cross Gram
    ``Xc^T Yc``; ``debiased`` needs n >= 4 (NaN otherwise)."""
    xty = float(np.sum(cross**2))
    xx = float(np.sum(a.gram**2))
    yy = float(np.sum(b.gram**2))
    if not debiased:
        return xty / np.sqrt(xx * yy)
    n = a.n
    if n < 4:
        return float("nan")
    sx, sy = float(a.row_squares.sum()), float(b.row_squares.sum())
    num = _debiased_dot(xty, a.row_squares, b.row_squares, sx, sy, n)
    nx = _debiased_dot(xx, a.row_squares, a.row_squares, sx, sx, n)
    ny = _debiased_dot(yy, b.row_squares, b.row_squares, sy, sy, n)
    return num / np.sqrt(nx * ny) if nx > 0 and ny > 0 else float("nan")


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA between row-aligned ``x`` (n × d1) and ``y`` (n × d2)."""
    a, b = centered(x), centered(y)
    return linear_cka_from_stats(a, b, cross_gram(x, y, a.mean, b.mean), debiased=debiased)


def rbf_gram(x: np.ndarray, threshold: float = RBF_THRESHOLD) -> np.ndarray:
    """``exp(-||xi - xj||^2 / (2 threshold^2 median^2))``, the median taken over all squared
    distances including the zero diagonal, as in the reference code."""
    x = np.asarray(x, dtype=np.float64)
    dot = x @ x.T
    sq = np.diag(dot).copy()
    dist = dot
    dist *= -2.0
    dist += sq[:, None]
    dist += sq[None, :]
    np.maximum(dist, 0.0, out=dist)
    median = float(np.median(dist))
    if median <= 0:
        median = 1.0
    dist *= -1.0 / (2.0 * threshold**2 * median)
    return np.exp(dist, out=dist)


def center_gram(gram: np.ndarray, *, unbiased: bool = False) -> np.ndarray:
    """Double-centre a Gram matrix in place (``unbiased``: the U-statistic centering of the
    reference code, diagonal zeroed)."""
    n = gram.shape[0]
    if unbiased:
        np.fill_diagonal(gram, 0.0)
        means = gram.sum(axis=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0.0)
    else:
        means = gram.mean(axis=0)
        means -= means.mean() / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def cka_from_grams(gx: np.ndarray, gy: np.ndarray, *, debiased: bool = False) -> float:
    """CKA of two n × n Gram matrices (both are centred in place)."""
    if debiased and gx.shape[0] < 4:
        return float("nan")
    gx = center_gram(gx, unbiased=debiased)
    gy = center_gram(gy, unbiased=debiased)
    num = float(np.vdot(gx, gy))
    return num / float(np.linalg.norm(gx) * np.linalg.norm(gy))


def rbf_cka(
    x: np.ndarray, y: np.ndarray, *, threshold: float = RBF_THRESHOLD, debiased: bool = False
) -> float:
    """RBF-kernel CKA between row-aligned ``x`` and ``y``; O(n^2) memory, so pass a sample."""
    return cka_from_grams(rbf_gram(x, threshold), rbf_gram(y, threshold), debiased=debiased)
