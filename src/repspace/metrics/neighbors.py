"""The kNN graph's statistics. The graph itself (exact cosine kNN, self excluded, behind hubness,
mutual-kNN, TwoNN, uniformity and near-duplicates) is :func:`repspace.kernels.cosine_knn`.
"""

from __future__ import annotations

import numpy as np


def k_occurrence(indices: np.ndarray, m: int | None = None) -> np.ndarray:
    """N_k(x): how many rows have x among their k nearest neighbours (Radovanović et al. 2010)."""
    return np.bincount(indices.ravel(), minlength=m if m is not None else len(indices))
