"""SVCCA of Raghu, Gilmer, Yosinski & Sohl-Dickstein, "SVCCA: Singular vector canonical
correlation analysis for deep learning dynamics and interpretability" (NeurIPS 2017): reduce each
centred side to the top singular directions that explain 99% of its variance, then the canonical
correlations between the reduced sides; the similarity is their mean.

Deviation: each side keeps at most n/10 directions, so that CCA sees at least 10 rows per
dimension (with fewer, canonical correlations drift to 1 whatever the data); the output says
how many directions were kept.
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import eigh, svdvals
from repspace.metrics.moments import Centered, centered, cross_gram

VARIANCE = 0.99
ROWS_PER_DIM = 10


def _directions(stats: Centered, variance: float) -> tuple[np.ndarray, np.ndarray]:
    w, v = eigh(stats.gram)
    w, v = w[::-1], v[:, ::-1]
    w = np.clip(w, 0.0, None)
    keep = int(np.searchsorted(np.cumsum(w) / w.sum(), variance) + 1)
    keep = max(1, min(keep, stats.n // ROWS_PER_DIM, int((w > w[0] * 1e-12).sum())))
    return w[:keep], v[:, :keep]


def svcca_from_stats(
    a: Centered, b: Centered, cross: np.ndarray, *, variance: float = VARIANCE
) -> dict[str, object]:
    """SVCCA from :class:`Centered` statistics and the cross Gram ``Xc^T Yc``: the reduced sides'
    canonical correlations are the singular values of ``Qa^T Qb`` where ``Qa = Xc Va Sa^-1`` is
    an orthonormal basis of the reduced side (all in d × d, no n × d copies)."""
    wa, va = _directions(a, variance)
    wb, vb = _directions(b, variance)
    m = (va / np.sqrt(wa)).T @ cross @ (vb / np.sqrt(wb))
    rho = np.clip(svdvals(m), 0.0, 1.0)
    return {"mean": float(rho.mean()), "correlations": rho, "directions": (len(wa), len(wb))}


def svcca(x: np.ndarray, y: np.ndarray, *, variance: float = VARIANCE) -> float:
    """Mean SVCCA correlation between row-aligned ``x`` and ``y``."""
    a, b = centered(x), centered(y)
    return float(
        svcca_from_stats(a, b, cross_gram(x, y, a.mean, b.mean), variance=variance)["mean"]
    )
