"""Representational similarity analysis of Kriegeskorte, Mur & Bandettini, "Representational
similarity analysis - connecting the branches of systems neuroscience" (Front. Syst. Neurosci.
2008): the Spearman correlation between the two spaces' dissimilarity matrices (upper triangles).

Deviation: dissimilarity is cosine distance (1 - cos), the geometry embedding spaces are used
with, rather than the paper's correlation distance. O(m^2): pass a sample of rows.
"""

from __future__ import annotations

import numpy as np


def cosine_rdm(x: np.ndarray) -> np.ndarray:
    """The upper triangle (k = 1) of the cosine-distance matrix, as a flat float64 array."""
    u = np.asarray(x, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    iu = np.triu_indices(len(u), k=1)
    return 1.0 - (u @ u.T)[iu]


def rsa(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation of the cosine-distance matrices of row-aligned ``x`` and ``y``."""
    from scipy.stats import spearmanr

    return float(spearmanr(cosine_rdm(x), cosine_rdm(y)).statistic)
