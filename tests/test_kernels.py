"""The numeric kernels: unit rows, top-k (ties: lower index first, at the k-th place too), exact
blocked cosine search, self-excluding kNN, nearest other row, bin edges, one-thread
decompositions; each against a brute-force or reference computation."""

from __future__ import annotations

import numpy as np
import pytest

from repspace import RepspaceError, kernels
from repspace.kernels import (
    bin_edges,
    cosine_knn,
    cosine_search,
    nearest_other_similarity,
    top_k,
    unit_rows,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def stable_top(scores: np.ndarray, k: int) -> np.ndarray:
    """The reference order: descending score, lower index first among equal scores."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


# --------------------------------------------------------------------------- unit rows
def test_unit_rows_dtypes_zero_rows_and_checks() -> None:
    x = rng().standard_normal((50, 7)).astype(np.float32)
    x[3] = 0.0
    u = unit_rows(x)
    assert u.dtype == np.float32
    assert np.all(u[3] == 0.0)  # zero rows stay zero
    np.testing.assert_allclose(np.linalg.norm(np.delete(u, 3, axis=0), axis=1), 1.0, atol=1e-6)
    n32 = np.linalg.norm(x, axis=1)
    np.testing.assert_array_equal(u, x / np.where(n32 > 0, n32, 1)[:, None])  # float32 throughout
    # precise: norms and division in float64, rounded once
    x64 = x.astype(np.float64)
    n64 = np.linalg.norm(x64, axis=1)
    expected = (x64 / np.where(n64 > 0, n64, 1.0)[:, None]).astype(np.float32)
    np.testing.assert_array_equal(unit_rows(x, precise=True), expected)
    np.testing.assert_array_equal(unit_rows(x, norms=n64, precise=True), expected)
    assert unit_rows(x, dtype=np.float64).dtype == np.float64
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(RepspaceError, match="queries: a vector holds NaN or infinity"):
        unit_rows(bad, what="queries")
    unit_rows(bad)  # unchecked unless asked


# --------------------------------------------------------------------------- top-k
def test_top_k_ties_go_to_the_lower_index_also_at_the_kth_place() -> None:
    scores = rng(1).integers(0, 4, (300, 500)).astype(np.float32)  # many ties everywhere
    for k in (1, 7, 64, 499, 500):
        idx, vals = top_k(scores, k)
        np.testing.assert_array_equal(idx, stable_top(scores, k))
        np.testing.assert_array_equal(vals, np.take_along_axis(scores, idx, axis=1))
        assert idx.dtype == np.int64 and vals.dtype == np.float32


def test_top_k_caps_k_and_ranks_nan_last() -> None:
    scores = np.array([[0.5, np.nan, 0.9, 0.5], [np.nan, np.nan, 0.1, -1.0]])
    idx, vals = top_k(scores, 10)  # k > n: every column, sorted
    assert idx.shape == (2, 4)
    np.testing.assert_array_equal(idx[:, :2], [[2, 0], [2, 3]])
    idx, _ = top_k(scores, 2)
    np.testing.assert_array_equal(idx, [[2, 0], [2, 3]])
    idx, vals = top_k(scores, 0)
    assert idx.shape == vals.shape == (2, 0)


# --------------------------------------------------------------------------- cosine search
@pytest.mark.parametrize("block_cells", [1 << 24, 64, 1000])
def test_cosine_search_blocked_equals_unblocked_with_ties(
    monkeypatch: pytest.MonkeyPatch, block_cells: int
) -> None:
    # Small integers: every dot product is exact in float32 whatever BLAS's summation order, so
    # ties are exact and only the tie rule decides the order (as prenormalized rows).
    r = rng(2)
    docs = r.integers(-2, 3, (400, 6)).astype(np.float32)
    queries = r.integers(-2, 3, (37, 6)).astype(np.float32)
    monkeypatch.setattr(kernels, "BLOCK_CELLS", block_cells)
    scores, idx = cosine_search(queries, docs, 90, normalized=True)
    exact = queries.astype(np.float64) @ docs.T.astype(np.float64)
    np.testing.assert_array_equal(idx, stable_top(exact, 90))
    np.testing.assert_array_equal(scores, np.take_along_axis(exact, idx, axis=1))
    assert scores.dtype == np.float32 and idx.dtype == np.int64
    assert cosine_search(queries, docs, 1000, normalized=True)[1].shape == (37, 400)


def test_cosine_search_duplicates_and_zero_rows() -> None:
    r = rng(3)
    docs = r.standard_normal((300, 16)).astype(np.float32)
    docs[200:260] = docs[10]  # duplicates: exactly tied, lower index first
    docs[50] = 0.0  # a zero document scores 0 against everything
    queries = np.concatenate([docs[[10]], r.standard_normal((20, 16)).astype(np.float32)])
    scores, idx = cosine_search(queries, docs, 300)
    np.testing.assert_array_equal(idx[0, :61], [10, *range(200, 260)])
    assert np.all(scores[idx == 50] == 0.0)
    np.testing.assert_array_equal(idx, stable_top(unit_rows(queries) @ unit_rows(docs).T, 300))


def test_cosine_search_normalized_and_errors() -> None:
    r = rng(3)
    q = unit_rows(r.standard_normal((5, 8)))
    d = unit_rows(r.standard_normal((40, 8)))
    a = cosine_search(q, d, 5, normalized=True)
    b = cosine_search(q * 3, d * 2, 5)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(RepspaceError, match="encode both with the same encoder"):
        cosine_search(q, d[:, :4], 3)
    with pytest.raises(RepspaceError, match="docs: a vector holds NaN"):
        cosine_search(q, np.full((2, 8), np.inf), 1)
    with pytest.raises(RepspaceError, match="k must be at least 1"):
        cosine_search(q, d, 0)


# --------------------------------------------------------------------------- kNN
def test_cosine_knn_matches_scikit_learn() -> None:
    from sklearn.neighbors import NearestNeighbors

    x = rng().standard_normal((700, 16)).astype(np.float32)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    idx, sims = cosine_knn(u, 5, block=128)
    dist, ref = NearestNeighbors(n_neighbors=6, metric="cosine").fit(x).kneighbors(x)
    assert np.array_equal(idx, ref[:, 1:])
    assert np.allclose(sims, 1 - dist[:, 1:], atol=1e-5)
    assert cosine_knn(u[:4], 10)[0].shape == (4, 3)  # k capped at m - 1


def test_cosine_knn_excludes_self_keeps_duplicates_and_ignores_blocking() -> None:
    x = rng(4).standard_normal((300, 6)).astype(np.float32)
    x[[40, 41, 42]] = x[7]
    u = unit_rows(x)
    seen: list[int] = []

    def visit(start: int, sims: np.ndarray) -> None:
        rows = np.arange(len(sims))
        assert np.all(np.isneginf(sims[rows, start + rows]))
        seen.append(start)

    idx, sims = cosine_knn(u, 12, block=64, visit=visit)
    assert seen == list(range(0, 300, 64))
    assert not np.any(idx == np.arange(300)[:, None])
    np.testing.assert_array_equal(idx[7, :3], [40, 41, 42])  # tied duplicates, lower index first
    np.testing.assert_array_equal(idx[41, :3], [7, 40, 42])
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    np.testing.assert_array_equal(idx, stable_top(sim, 12))
    other = cosine_knn(u, 12, block=1000)
    np.testing.assert_array_equal(idx, other[0])
    np.testing.assert_array_equal(sims, other[1])


def test_nearest_other_similarity_matches_brute_force() -> None:
    x = rng().standard_normal((300, 8))
    x[7] = x[200] * 2.0  # same direction, other norm
    norms = np.linalg.norm(x, axis=1)
    u = x / norms[:, None]
    cos = u @ u.T
    np.fill_diagonal(cos, -np.inf)
    queries = np.array([0, 7, 150, 299])
    got = nearest_other_similarity(x, norms, queries, block=64)
    assert np.allclose(got, cos[queries].max(axis=1), atol=1e-6)
    assert got[1] == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- the rest
def test_bin_edges() -> None:
    edges = bin_edges(np.full(10, 1.0 + 1e-9))
    assert edges[0] < 1.0 < edges[-1] and edges[-1] - edges[0] > 0.05
    assert len(edges) % 2 == 0  # an odd number of bins, the middle one on the value
    np.testing.assert_array_equal(bin_edges([0.0, np.nan, 2.0, np.inf], 4), [0, 0.5, 1, 1.5, 2])
    np.testing.assert_array_equal(bin_edges([np.nan], 2), [0.0, 0.5, 1.0])


def test_one_thread_decompositions_equal_numpy() -> None:
    a = rng(5).standard_normal((30, 30))
    sym = a @ a.T
    w, v = kernels.eigh(sym)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, sym, atol=1e-9)
    np.testing.assert_allclose(kernels.eigvalsh(sym), np.linalg.eigvalsh(sym))
    np.testing.assert_allclose(kernels.svdvals(a), np.linalg.svd(a, compute_uv=False))
