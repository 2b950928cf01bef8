"""Representational similarity analysis of Kriegeskorte, Mur & Bandettini, "Representational
similarity analysis - connecting the branches of systems neuroscience" (Front. Syst. Neurosci.
2008): the Spearman correlation between the two spaces' dissimilarity matrices (upper triangles).

Deviation: dissimilarity is cosine distance (1 - cos), the geometry embedding spaces are used
with, rather than the paper's correlation distance. O(m^2): pass a sample of rows.
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import unit_rows


def cosine_rdm(x: np.ndarray) -> np.ndarray:
    """The upper triangle (k = 1) of the cosine-distance matrix, as a flat float64 array."""
    u = unit_rows(x, dtype=np.float64)
    iu = np.triu_indices(len(u), k=1)
    return 1.0 - (u @ u.T)[iu]


def rsa(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation of the cosine-distance matrices of row-aligned ``x`` and ``y``."""
    from scipy.stats import spearmanr

    return float(spearmanr(cosine_rdm(x), cosine_rdm(y)).statistic)
