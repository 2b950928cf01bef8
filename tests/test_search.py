"""Shortlist-then-rerank search (binary Hamming or low-dim prefix shortlists) vs exact search."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from repspace import RepspaceError
from repspace.index.search import ShortlistSearch, hamming_search, rerank_search
from repspace.kernels import cosine_search as exact_search
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


def brute_hamming(docs: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Hamming distances by unpacking the bits; nearest first, lower index first among ties."""
    dist = np.unpackbits(queries[:, None, :] ^ docs[None, :, :], axis=2).sum(axis=2)
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("bits", [8, 24, 384])
def test_hamming_search_is_exact_with_lower_index_ties(bits: int) -> None:
    rng = np.random.default_rng(bits)
    docs = np.packbits(rng.standard_normal((1500, bits)) > 0, axis=1)
    queries = np.packbits(rng.standard_normal((40, bits)) > 0, axis=1)
    for k in (1, 10, 100, 1500, 2000):
        got = hamming_search(docs, queries, k, threads=1)
        np.testing.assert_array_equal(got, brute_hamming(docs, queries, min(k, 1500)))
    assert hamming_search(docs, queries[:1], 5).shape == (1, 5)


class SignBits:
    """A binary quantizer by duck typing only: ``transform`` gives packed uint8 codes."""

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(x) > 0, axis=1)

    def decode_transform(self, x: np.ndarray) -> np.ndarray:
        raise AssertionError("a binary quantizer is searched by Hamming distance")


class Prefix:
    """A float map by duck typing only."""

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)[:, :16]

    decode_transform = transform


def test_cheap_maps_are_duck_typed() -> None:
    q, d = clustered()
    binary = ShortlistSearch(d, cheap="binary")
    ducked = ShortlistSearch(d, cheap=SignBits())
    np.testing.assert_array_equal(ducked.shortlist(q, 50), binary.shortlist(q, 50))
    np.testing.assert_array_equal(
        ShortlistSearch(d, cheap=Prefix()).shortlist(q, 50),
        ShortlistSearch(d, cheap=16).shortlist(q, 50),
    )
    with pytest.raises(RepspaceError, match="use 'binary', an int, or a Map"):
        ShortlistSearch(d, cheap=object())
    with pytest.raises(RepspaceError, match="NaN"):
        ShortlistSearch(np.full((3, 4), np.nan))


def test_search_module_imports_neither_maps_nor_faiss() -> None:
    code = (
        "import sys, repspace.index.search; "
        "print(sorted(m for m in sys.modules if m.startswith('repspace.maps') or m == 'faiss'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
