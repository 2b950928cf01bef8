"""Eigen- and singular-value decompositions of the small (dim × dim) matrices the metrics
reduce to, run on one BLAS thread.

These LAPACK routines issue many small, synchronizing BLAS calls; on a shared machine with more
busy threads than cores, OpenBLAS's spinning worker threads made a 768 × 768 ``eigh`` up to ~50×
slower in our benchmark runs. One thread costs little here (the big matrix products elsewhere
keep all threads).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits


def eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.eigh(matrix)


def eigvalsh(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a symmetric matrix."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.eigvalsh(matrix)


def svdvals(matrix: np.ndarray) -> np.ndarray:
    """Singular values (descending)."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.svd(matrix, compute_uv=False)
