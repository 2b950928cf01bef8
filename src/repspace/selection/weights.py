"""DSIR's importance weights and KL reduction (Xie et al. 2023, §4 and §6).

Target and pool are each modelled as a bag of hashed n-grams: a categorical distribution over
the buckets, the normalized bucket counts. A document with bucket counts ``c`` then has the log
importance weight ``sum_b c_b * (log p_target(b) - log p_pool(b))``. Smoothing as in the
reference package: ``1e-8`` added to every probability before the log.

KL reduction (§6) measures how much closer, in the same feature space, a selection brings the
data to the target than a random selection of the same size:
``KL(p_target || q_random) - KL(p_target || q_selected)`` (the paper averages it over several
targets; here there is one). The distributions are smoothed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from repspace.selection.features import NUM_BUCKETS, ngram_buckets, ngram_lengths

#: Additive smoothing of the bucket probabilities (the reference's constant).
SMOOTHING = 1e-8


def distribution(counts: np.ndarray) -> np.ndarray:
    """Normalized bucket counts (all zeros stay zeros)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


@dataclass(frozen=True)
class ImportanceModel:
    """The two bags of n-grams and the per-bucket log ratio a document's counts are dotted with."""

    target_counts: np.ndarray
    pool_counts: np.ndarray

    @property
    def num_buckets(self) -> int:
        return len(self.target_counts)

    @property
    def log_diff(self) -> np.ndarray:
        p = distribution(self.target_counts)
        q = distribution(self.pool_counts)
        return np.log(p + SMOOTHING) - np.log(q + SMOOTHING)


def log_weights(texts: Sequence[str], log_diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log importance weight (float64) and n-gram count (int64) of every text of a chunk."""
    flat, rows = ngram_buckets(texts, len(log_diff))
    weights = np.bincount(rows, weights=log_diff[flat], minlength=len(texts))
    return weights.astype(np.float64), ngram_lengths(rows, len(texts))


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """KL(p || q) in nats between two bags of n-grams, smoothed like the importance weights."""
    p = distribution(p_counts)
    q = distribution(q_counts)
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask] + SMOOTHING) - np.log(q[mask] + SMOOTHING))))


def kl_reduction(
    target_counts: np.ndarray, selected_counts: np.ndarray, random_counts: np.ndarray
) -> dict[str, float]:
    """The paper's KL reduction with its two terms (nats)."""
    to_random = kl_divergence(target_counts, random_counts)
    to_selected = kl_divergence(target_counts, selected_counts)
    return {
        "kl_target_random": to_random,
        "kl_target_selected": to_selected,
        "kl_reduction": to_random - to_selected,
    }


__all__ = [
    "NUM_BUCKETS",
    "SMOOTHING",
    "ImportanceModel",
    "distribution",
    "kl_divergence",
    "kl_reduction",
    "log_weights",
]
