"""Spectral metrics: RankMe, IsoScore, PCA variance shares, von Neumann entropy.

All come from eigendecompositions of ``dim × dim`` matrices built in one pass
(:mod:`repspace.metrics.moments`): exact, no sampling, for dim up to :data:`MAX_GRAM_DIM`.
Wider spaces are measured on a row sample of :data:`MAX_GRAM_DIM` rows (then ``rows_used``
says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from repspace.kernels import eigh, eigvalsh
from repspace.metrics.data import row_norms, sample_indices
from repspace.metrics.moments import Moments, moments

#: Up to this many dimensions the spectrum is exact over all rows (a dim × dim float64 Gram).
MAX_GRAM_DIM = 4096
#: The ε RankMe adds to each normalized singular value (Garrido et al. 2023, Eq. 1).
RANKME_EPS = 1e-7


@dataclass
class Spectrum:
    """The spectra every metric here needs, all in descending order."""

    singular_values: np.ndarray  #: of the raw (uncentered) matrix, min(n, dim) values
    pca_variances: np.ndarray  #: eigenvalues of the covariance (denominator n - 1)
    pca_components: np.ndarray  #: (dim, k) leading principal axes, as columns
    mean: np.ndarray  #: (dim,) the mean row
    density_eigenvalues: np.ndarray  #: of rho = U^T U / n over the L2-normalized rows (trace 1)
    n: int
    dim: int
    rows_used: int  #: n, or the size of the row sample for very wide spaces


def spectrum(
    data: np.ndarray | Moments, *, components: int = 2, density: bool = True, seed: int = 0
) -> Spectrum:
    """Compute the :class:`Spectrum` of a matrix (or of its precomputed :class:`Moments`);
    ``density=False`` skips the normalized rows' spectrum (von Neumann entropy) for speed."""
    if isinstance(data, Moments):
        return _from_moments(data, components)
    x = data
    n, d = x.shape
    if d <= MAX_GRAM_DIM:
        return _from_moments(moments(x, unit_gram=density), components)
    rows = sample_indices(n, MAX_GRAM_DIM, seed)
    xs = np.asarray(x[rows], dtype=np.float64)
    norms = row_norms(xs)
    sv = np.linalg.svd(xs, compute_uv=False)
    mean = xs.mean(axis=0)
    _, sc, vt = np.linalg.svd(xs - mean, full_matrices=False)
    su = np.linalg.svd(xs / norms[:, None], compute_uv=False)
    variances = np.zeros(d)  # fewer rows than dims: the remaining variances are 0
    variances[: len(sc)] = sc**2 / (len(xs) - 1)
    return Spectrum(
        singular_values=sv,
        pca_variances=variances,
        pca_components=vt[:components].T,
        mean=mean,
        density_eigenvalues=su**2 / len(xs),
        n=n,
        dim=d,
        rows_used=len(xs),
    )


def _descending_eigvals(matrix: np.ndarray) -> np.ndarray:
    return np.clip(eigvalsh(matrix)[::-1], 0.0, None)


def _from_moments(m: Moments, components: int) -> Spectrum:
    raw = _descending_eigvals(m.gram)[: min(m.n, m.dim)]
    w, v = eigh(m.covariance)
    order = np.argsort(w)[::-1]
    return Spectrum(
        singular_values=np.sqrt(raw),
        pca_variances=np.clip(w[order], 0.0, None),
        pca_components=v[:, order[:components]],
        mean=m.mean,
        density_eigenvalues=(
            _descending_eigvals(m.unit_gram / m.n) if m.unit_gram.size else np.zeros(0)
        ),
        n=m.n,
        dim=m.dim,
        rows_used=m.n,
    )


def _spectrum(x: np.ndarray | Spectrum, density: bool = False) -> Spectrum:
    return x if isinstance(x, Spectrum) else spectrum(x, density=density)


def rankme(x: np.ndarray | Spectrum, eps: float = RANKME_EPS) -> float:
    """RankMe, the effective rank of Garrido et al., "RankMe: Assessing the downstream
    performance of pretrained self-supervised representations by their rank" (ICML 2023):
    ``exp(-sum p_k log p_k)`` with ``p_k = sigma_k / ||sigma||_1 + eps`` over the singular values
    of the (uncentered) embedding matrix, as in the paper. Between 1 and min(n, dim)."""
    sv = _spectrum(x).singular_values
    p = sv / sv.sum() + eps
    return float(math.exp(-np.sum(p * np.log(p))))


def isoscore(x: np.ndarray | Spectrum) -> float:
    """IsoScore of Rudman et al., "IsoScore: Measuring the uniformity of embedding space
    utilization" (Findings of ACL 2022), Algorithm 1: the variances along the principal axes,
    scaled to norm sqrt(dim), their distance to the all-ones vector (the isotropy defect), rescaled
    to [0, 1]. 1 = isotropic; 0 = all variance along one axis. NaN for one dimension."""
    var = _spectrum(x).pca_variances
    d = len(var)
    if d < 2 or not var.any():
        return float("nan")
    normed = var * math.sqrt(d) / np.linalg.norm(var)
    defect = np.linalg.norm(normed - 1.0) / math.sqrt(2 * (d - math.sqrt(d)))
    return float(((d - defect**2 * (d - math.sqrt(d))) ** 2 - d) / (d * (d - 1)))


def pca_variance_share(x: np.ndarray | Spectrum, k: int = 1) -> float:
    """Share of the total variance along the ``k`` leading principal components."""
    var = _spectrum(x).pca_variances
    total = var.sum()
    return float(var[:k].sum() / total) if total > 0 else float("nan")


def von_neumann_entropy(x: np.ndarray | Spectrum, *, normalized: bool = False) -> float:
    """Von Neumann entropy ``-tr(rho log rho)`` of the density matrix ``rho = (1/n) sum u u^T``
    of the L2-normalized rows (the "matrix entropy" of Zhang et al., "Large language model
    evaluation via matrix entropy", 2023, and of Skean et al., "Layer by layer", 2025).
    In nats; ``normalized`` divides by log(dim), giving [0, 1]."""
    s = _spectrum(x, density=True)
    lam = s.density_eigenvalues[s.density_eigenvalues > 0]
    entropy = float(-np.sum(lam * np.log(lam)))
    if normalized:
        return entropy / math.log(s.dim) if s.dim > 1 else float("nan")
    return entropy
