"""Shortlist-then-rerank search (binary Hamming or low-dim prefix shortlists) vs exact search."""

from __future__ import annotations

import numpy as np
import pytest

from repspace import RepspaceError
from repspace.index.search import ShortlistSearch, exact_search, rerank_search
from repspace.maps import make_map


def clustered(n: int = 2000, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    docs = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim))
    queries = docs[:50] + 0.3 * rng.standard_normal((50, dim))
    return queries.astype(np.float32), docs.astype(np.float32)


@pytest.mark.parametrize("cheap", ["binary", 16])
def test_rerank_recovers_exact_neighbours(cheap: str | int) -> None:
    q, d = clustered()
    exact_scores, exact = exact_search(q, d, 10)
    scores, idx = rerank_search(q, d, 10, shortlist=200, cheap=cheap)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact, strict=True)])
    assert recall >= 0.95
    # Reranked scores are the full-vector cosines, sorted.
    assert np.all(np.diff(scores, axis=1) <= 1e-7)
    hit = idx[:, 0] == exact[:, 0]
    np.testing.assert_allclose(scores[hit, 0], exact_scores[hit, 0], atol=1e-6)
    # With every document shortlisted, reranking is exact search.
    _, full = rerank_search(q, d, 10, shortlist=len(d), cheap=cheap)
    np.testing.assert_array_equal(full, exact)


def test_shortlist_with_maps() -> None:
    q, d = clustered()
    pca = make_map("pca", dim=16).fit(d)
    searcher = ShortlistSearch(d, cheap=pca)
    assert searcher.shortlist(q, 30).shape == (50, 30)
    calibrated = ShortlistSearch(d, cheap=make_map("binary", threshold="mean").fit(d))
    _, idx = calibrated.search(q, 10, shortlist=300)
    _, exact = exact_search(q, d, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact, strict=True)]) >= 0.95


def test_bad_search_input() -> None:
    q, d = clustered()
    with pytest.raises(RepspaceError, match="dimensions"):
        exact_search(q[:, :8], d, 3)
    with pytest.raises(RepspaceError, match="smaller than k"):
        rerank_search(q, d, 10, shortlist=5)
    with pytest.raises(RepspaceError, match="between 1 and 64"):
        ShortlistSearch(d, cheap=100)
