"""Semantic textual similarity (STS) tasks: JSONL pairs ``{"s1", "s2", "score"}`` scored by
the Spearman and Pearson correlation between the cosine of the two sentences' vectors and the
human score, as in Reimers & Gurevych, "Sentence-BERT" (2019), and sentence-transformers'
``EmbeddingSimilarityEvaluator`` (whose numbers these equal; tested).

Scoring: Spearman and Pearson correlation between cosine similarity and human scores
(Reimers & Gurevych, "Sentence-BERT", 2019; Cer et al., "SemEval-2017 Task 1", 2017), computed
as sentence-transformers' ``EmbeddingSimilarityEvaluator`` does (``1 - paired cosine
distance``, ``scipy.stats.pearsonr``/``spearmanr``); equal to it to 1e-4 (tested).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from repspace.errors import RepspaceError
from repspace.fsio import read_jsonl


@dataclass
class StsTask:
    """Sentence pairs with a graded similarity score each."""

    name: str
    s1: list[str]
    s2: list[str]
    scores: np.ndarray
    path: Path | None = None

    kind = "sts"

    def sentences(self) -> list[str]:
        """The distinct sentences, in first-seen order (each is encoded once)."""
        return list(dict.fromkeys([*self.s1, *self.s2]))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "pairs": len(self.s1),
            "sentences": len(self.sentences()),
        }


def load_sts_task(path: str | Path) -> StsTask:
    """Read an STS JSONL file; every line needs non-empty ``s1``, ``s2`` and a finite ``score``."""
    path = Path(path)
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    for lineno, obj in read_jsonl(path):
        for key in ("s1", "s2"):
            v = obj.get(key)
            if not isinstance(v, str) or not v.strip():
                raise RepspaceError(f"{path}:{lineno}: field {key!r} must be a non-empty string")
        score = obj.get("score")
        number = isinstance(score, int | float) and not isinstance(score, bool)
        if not number or not abs(score) <= sys.float_info.max:  # NaN, inf, an int beyond float
            raise RepspaceError(f"{path}:{lineno}: field 'score' must be a finite number")
        s1.append(obj["s1"])
        s2.append(obj["s2"])
        scores.append(float(score))
    if len(scores) < 3:
        raise RepspaceError(f"{path}: {len(scores)} pairs; an STS task needs at least 3")
    if len(set(scores)) < 2:
        raise RepspaceError(f"{path}: every pair has the same score; correlations are undefined")
    return StsTask(path.stem, s1, s2, np.asarray(scores), path)


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


__all__ = [
    "StsTask",
    "load_sts_task",
    "paired_cosine",
    "sts_scores",
]
