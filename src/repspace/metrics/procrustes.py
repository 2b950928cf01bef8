"""Orthogonal Procrustes residual: how far one space is from a rotation of the other.

Both sides are centred and scaled to unit Frobenius norm; then
``min_R ||X R - Y||_F^2 = 2 - 2 ||X^T Y||_*`` over orthogonal R (Schönemann 1966), the
"orthogonal Procrustes distance" of Ding, Denain & Steinhardt, "Grounding representation
similarity through statistical testing" (NeurIPS 2021). Spaces of different dimensions: R is
semi-orthogonal, which equals zero-padding the narrower side. 0 = identical up to rotation,
translation and scale; 2 = as far as possible.
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import svdvals
from repspace.metrics.moments import Centered, centered, cross_gram


def procrustes_from_stats(a: Centered, b: Centered, cross: np.ndarray) -> float:
    """The residual from :class:`Centered` statistics and the cross Gram ``Xc^T Yc``."""
    nuclear = float(svdvals(cross).sum())
    value = 2.0 - 2.0 * nuclear / np.sqrt(a.frobenius_sq * b.frobenius_sq)
    return float(min(max(value, 0.0), 2.0))


def procrustes_residual(x: np.ndarray, y: np.ndarray) -> float:
    """Orthogonal Procrustes residual between row-aligned ``x`` and ``y``."""
    a, b = centered(x), centered(y)
    return procrustes_from_stats(a, b, cross_gram(x, y, a.mean, b.mean))
