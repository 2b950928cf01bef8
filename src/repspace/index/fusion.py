"""Hybrid retrieval: fuse a dense and a lexical ranking into one.

Each side retrieves its ``candidates`` best documents (the lexical side only documents with a
positive BM25 score); both scores of every document in the union are then known exactly (the
dense score of a document the dense side did not retrieve is the cosine with its stored vector,
the lexical one the BM25 score the lexical index gives every document), and the union is ranked
by

- ``convex`` (Bruch, Gai & Ingber 2023, "An Analysis of Fusion Functions for Hybrid Retrieval",
  §4): ``alpha * phi(dense) + (1 - alpha) * phi(lexical)``, with ``phi`` the min-max scaling
  over the union (``minmax``, the default), or the theoretical min-max scaling (``tmm``: the
  lower bound of the score, -1 for cosine and 0 for BM25, in place of the observed minimum).
  Deviations: the paper scales each side over its own retrieved set and gives a document that
  one side did not retrieve that side's minimum; here every score of the union is computed, so
  no document gets a made-up score. The paper finds ``tmm`` the more robust scaling; on our
  development tasks min-max with the default alpha did as well or better (both are offered).
- ``rrf`` (Cormack, Clarke & Buettcher 2009, "Reciprocal Rank Fusion outperforms Condorcet and
  individual Rank Learning Methods"): ``sum over sides of 1 / (60 + rank)``, rank counted from 1
  within each side's candidates; a side that did not retrieve the document adds nothing.

Ties go to the lower row position. :data:`DEFAULT_ALPHA` and :data:`DEFAULT_NORM`, the
label-free defaults, are the grid point (alpha in 0, 0.05, ..., 1; either scaling) with the best
mean nDCG@10 on the development tasks, papers title -> abstract and stdlib name -> docstring
with all-MiniLM-L6-v2 (``bench/hybrid.py`` recomputes the choice; SciFact is held out);
``repspace index --tune TASK`` fits alpha to a task and records it in the index manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import top_k

MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("convex", "rrf")
NORMS = ("minmax", "tmm")
#: Weight of the dense side in the convex combination, without labels.
DEFAULT_ALPHA = 0.55
DEFAULT_NORM = "minmax"
RRF_K = 60
#: Candidates each side retrieves before fusion.
CANDIDATES = 100
#: The lowest value each side's score can take (``tmm``).
FLOOR = {"dense": -1.0, "lexical": 0.0}


@dataclass(frozen=True)
class Fusion:
    """How hybrid search combines the two sides (see the module docstring)."""

    fusion: str = "convex"
    alpha: float = DEFAULT_ALPHA
    norm: str = DEFAULT_NORM
    candidates: int = CANDIDATES

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise RepspaceError(f"--fusion {self.fusion!r}: use one of {', '.join(FUSIONS)}")
        if self.norm not in NORMS:
            raise RepspaceError(f"--norm {self.norm!r}: use one of {', '.join(NORMS)}")
        alpha = self.alpha
        if not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
            raise RepspaceError(f"--alpha {alpha!r} must be a number in [0, 1]")
        if not isinstance(self.candidates, int) or self.candidates < 1:
            raise RepspaceError(f"--candidates {self.candidates!r} must be a positive integer")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise RepspaceError(f"--mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def scale(scores: np.ndarray, norm: str, floor: float) -> np.ndarray:
    """``scores`` scaled to [0, 1]: ``(s - low) / (max - low)`` with ``low`` the minimum
    (``minmax``) or ``floor`` (``tmm``); all zeros when every score equals ``low``."""
    s = np.asarray(scores, np.float64)
    if s.size == 0:
        return s
    low = float(s.min()) if norm == "minmax" else floor
    span = float(s.max()) - low
    return (s - low) / span if span > 0 else np.zeros_like(s)


def convex(dense: np.ndarray, lexical: np.ndarray, alpha: float, norm: str) -> np.ndarray:
    """Bruch et al.'s convex combination of the two sides' scores over the same documents."""
    return alpha * scale(dense, norm, FLOOR["dense"]) + (1 - alpha) * scale(
        lexical, norm, FLOOR["lexical"]
    )


def rrf(*ranks: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """Reciprocal rank fusion of per-side ranks (from 1; ``inf`` where a side did not retrieve
    the document)."""
    return np.sum([np.where(np.isfinite(r), 1.0 / (k + r), 0.0) for r in ranks], axis=0)


def lexical_candidates(scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` best positive scores, best first (ties: lower position)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > count:
        values = scores[positive]
        kth = np.partition(values, len(values) - count)[len(values) - count]
        positive = positive[values >= kth]  # every tie at the boundary, cut after the sort
    order = np.lexsort((positive, -scores[positive]))
    return positive[order[:count]]


@dataclass
class Candidates:
    """One query's two sides before fusion: ``dense`` are the dense side's candidate row
    positions, best first, and ``dense_scores`` their scores; ``lexical`` the BM25 score of
    every row (0 where a filter excludes it); ``dense_of(positions)`` gives the dense scores of
    any other rows."""

    dense: np.ndarray
    dense_scores: np.ndarray
    lexical: np.ndarray
    dense_of: Callable[[np.ndarray], np.ndarray]


@dataclass
class Fused:
    """The fused top ``k``: row positions and, per row, the fused, dense and lexical scores."""

    positions: np.ndarray
    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


def hybrid(candidates: Candidates, k: int, fusion: Fusion) -> Fused:
    """Fuse one query's two sides into its top ``k`` (see the module docstring)."""
    lexical_ranked = lexical_candidates(candidates.lexical, fusion.candidates)
    dense_ranked = np.asarray(candidates.dense[: fusion.candidates], np.int64)
    union = np.union1d(dense_ranked, lexical_ranked)
    dense = np.empty(len(union))
    known = np.searchsorted(union, dense_ranked)
    dense[known] = candidates.dense_scores[: len(dense_ranked)]
    missing = np.ones(len(union), bool)
    missing[known] = False
    if missing.any():
        dense[missing] = candidates.dense_of(union[missing])
    lexical = np.asarray(candidates.lexical[union], np.float64)
    if fusion.fusion == "rrf":
        ranks = []
        for ranked in (dense_ranked, lexical_ranked):
            r = np.full(len(union), np.inf)
            r[np.searchsorted(union, ranked)] = np.arange(1, len(ranked) + 1)
            ranks.append(r)
        fused = rrf(*ranks)
    else:
        fused = convex(dense, lexical, fusion.alpha, fusion.norm)
    order, _ = top_k(fused[None, :], k)
    top = order[0]
    return Fused(union[top], fused[top], dense[top], lexical[top])
