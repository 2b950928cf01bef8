"""STS scoring: Spearman and Pearson correlation between cosine similarity and human scores
(Reimers & Gurevych, "Sentence-BERT", 2019; Cer et al., "SemEval-2017 Task 1", 2017), computed
as sentence-transformers' ``EmbeddingSimilarityEvaluator`` does (``1 - paired cosine
distance``, ``scipy.stats.pearsonr``/``spearmanr``); equal to it to 1e-4 (tested)."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from repspace.errors import RepspaceError


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b`` (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    if not (np.isfinite(na).all() and np.isfinite(nb).all()):
        raise RepspaceError("STS: a sentence vector holds NaN or infinity")
    return np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-300)


def sts_scores(a: np.ndarray, b: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """``{"spearman", "pearson"}`` of the pairs' cosine similarities against ``gold``."""
    if len(a) != len(b) or len(a) != len(gold):
        raise RepspaceError(f"STS: {len(a)} and {len(b)} vectors for {len(gold)} pairs")
    cos = paired_cosine(a, b)
    if np.ptp(cos) == 0:
        return {"spearman": float("nan"), "pearson": float("nan")}
    return {
        "spearman": float(spearmanr(gold, cos).statistic),
        "pearson": float(pearsonr(gold, cos).statistic),
    }


__all__ = ["paired_cosine", "sts_scores"]
