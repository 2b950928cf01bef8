"""First and second moments of the rows, in one blocked float64 pass over the matrix.

Everything spectral (RankMe, IsoScore, PCA shares, von Neumann entropy) and the exact mean
pairwise cosine derive from these ``dim × dim`` statistics, so a 100k × 768 space is read once
and never copied whole into float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repspace.metrics.data import BLOCK, row_norms

#: Rows whose norms are all within this of 1 are treated as unit vectors (no second Gram).
UNIT_TOL = 1e-5


@dataclass
class Moments:
    """Sums over the rows of a matrix X (n × d), in float64.

    ``shift`` is a provisional mean subtracted before the second moment is accumulated, so the
    covariance has no cancellation error even when the mean is large (the raw Gram is then
    rebuilt exactly from the shifted one).
    """

    n: int
    dim: int
    norms: np.ndarray  #: (n,) L2 norm of each row
    total: np.ndarray  #: (d,) sum of the rows
    shift: np.ndarray  #: (d,) the provisional mean
    shifted_gram: np.ndarray  #: (d, d) sum of (x - shift)(x - shift)^T
    unit_total: np.ndarray  #: (d,) sum of the L2-normalized rows
    unit_squares: np.ndarray  #: (d,) sum of the squared coordinates of the normalized rows
    unit_gram: np.ndarray  #: (d, d) sum of u u^T over the normalized rows

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.n

    @property
    def gram(self) -> np.ndarray:
        """X^T X."""
        s, t = self.shift, self.total
        return self.shifted_gram + np.outer(s, t) + np.outer(t, s) - self.n * np.outer(s, s)

    @property
    def covariance(self) -> np.ndarray:
        """The sample covariance (denominator n - 1), as ``numpy.cov(X.T)``."""
        d = self.mean - self.shift
        return (self.shifted_gram - self.n * np.outer(d, d)) / (self.n - 1)


def moments(
    x: np.ndarray,
    norms: np.ndarray | None = None,
    *,
    gram: bool = True,
    unit_gram: bool = True,
) -> Moments:
    """Accumulate :class:`Moments` of ``x`` block by block (``norms`` if already computed).

    The Gram of the normalized rows costs a second product only when the rows are not already
    unit vectors. ``gram=False`` / ``unit_gram=False`` skip the dim × dim matrices (left empty),
    for very wide spaces or when only first moments are needed.
    """
    n, d = x.shape
    if norms is None:
        norms = row_norms(x)
    unit = bool(np.all(np.abs(norms - 1.0) < UNIT_TOL))
    shift = np.asarray(x[: min(n, BLOCK)], dtype=np.float64).mean(axis=0)
    total = np.zeros(d)
    shifted_gram = np.zeros((d, d) if gram else (0, 0))
    unit_total = np.zeros(d)
    unit_squares = np.zeros(d)
    ugram = np.zeros((d, d)) if unit_gram and not unit else np.zeros((0, 0))
    for s in range(0, n, BLOCK):
        block = np.asarray(x[s : s + BLOCK], dtype=np.float64)
        total += block.sum(axis=0)
        u = block / norms[s : s + len(block), None]
        unit_total += u.sum(axis=0)
        unit_squares += np.einsum("ij,ij->j", u, u)
        if ugram.size:
            ugram += u.T @ u
        if gram:
            block = block - shift  # not in place: for float64 input, block is the caller's data
            shifted_gram += block.T @ block
    m = Moments(n, d, norms, total, shift, shifted_gram, unit_total, unit_squares, ugram)
    if unit_gram and unit and gram:
        m.unit_gram = m.gram  # unit rows: U^T U = X^T X (to UNIT_TOL)
    return m


@dataclass
class Centered:
    """Second moments of the column-centered rows: what linear CKA, SVCCA and Procrustes need
    from one side of a comparison."""

    n: int
    mean: np.ndarray  #: (d,)
    gram: np.ndarray  #: (d, d) Xc^T Xc, float64
    row_squares: np.ndarray  #: (n,) ||xc_i||^2

    @property
    def frobenius_sq(self) -> float:
        """||Xc||_F^2 = tr(Xc^T Xc)."""
        return float(np.trace(self.gram))


def centered(x: np.ndarray) -> Centered:
    """:class:`Centered` statistics of ``x``, two blocked float64 passes (mean, then Gram)."""
    n, d = x.shape
    total = np.zeros(d)
    for s in range(0, n, BLOCK):
        total += np.asarray(x[s : s + BLOCK], dtype=np.float64).sum(axis=0)
    mean = total / n
    gram = np.zeros((d, d))
    row_squares = np.empty(n)
    for s in range(0, n, BLOCK):
        block = np.asarray(x[s : s + BLOCK], dtype=np.float64) - mean
        gram += block.T @ block
        row_squares[s : s + len(block)] = np.einsum("ij,ij->i", block, block)
    return Centered(n, mean, gram, row_squares)


def cross_gram(x: np.ndarray, y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray) -> np.ndarray:
    """Xc^T Yc (d_x × d_y, float64) for row-aligned ``x`` and ``y``, in blocks."""
    out = np.zeros((x.shape[1], y.shape[1]))
    for s in range(0, len(x), BLOCK):
        a = np.asarray(x[s : s + BLOCK], dtype=np.float64) - mean_x
        b = np.asarray(y[s : s + BLOCK], dtype=np.float64) - mean_y
        out += a.T @ b
    return out
