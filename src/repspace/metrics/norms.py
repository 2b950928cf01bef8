"""Statistics of the vectors' L2 norms: unit-norm encoders give all 1; a wide spread means the
norm carries information (or outliers) that cosine similarity throws away."""

from __future__ import annotations

import numpy as np


def norm_stats(norms: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, coefficient of variation, min, 1st/50th/99th percentile, max."""
    p1, p50, p99 = np.percentile(norms, [1, 50, 99])
    mean = float(norms.mean())
    return {
        "mean": mean,
        "std": float(norms.std()),
        "cv": float(norms.std() / mean),
        "min": float(norms.min()),
        "p01": float(p1),
        "median": float(p50),
        "p99": float(p99),
        "max": float(norms.max()),
    }
