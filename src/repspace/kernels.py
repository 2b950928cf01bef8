"""The numeric kernels every layer shares: unit rows, top-k of a score matrix, exact blocked
cosine search, self-excluding cosine kNN, the nearest other row, histogram bin edges, and the
eigen- and singular-value decompositions of small matrices on one BLAS thread.

One rule orders every top-k here: larger score first, ties by lower index (also at the k-th
place), so a top-k merged over blocks equals one top-k over all the scores. Search is brute
force with BLAS matrix products in blocks, so memory stays bounded and scores are reproducible
(BLAS may round a dot product differently for blocks of another shape, by about 1e-7).

The decompositions (``eigh``, ``eigvalsh``, ``svdvals``) run on one BLAS thread: these LAPACK
routines issue many small, synchronizing BLAS calls; on a shared machine with more busy threads
than cores, OpenBLAS's spinning worker threads made a 768 × 768 ``eigh`` up to ~50× slower in
our benchmark runs. One thread costs little here (the big matrix products keep all threads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from repspace.errors import RepspaceError

#: Similarities :func:`cosine_search` holds at once: query block × document block, float32.
BLOCK_CELLS = 1 << 24

#: Called with (first row of the block, similarities of the block's rows to all rows, with each
#: row's similarity to itself set to -inf) during :func:`cosine_knn`.
Visitor = Callable[[int, np.ndarray], None]


def unit_rows(
    vectors: Any,
    *,
    norms: np.ndarray | None = None,
    dtype: Any = np.float32,
    precise: bool = False,
    what: str | None = None,
) -> np.ndarray:
    """Rows scaled to unit L2 norm, as ``dtype``; zero rows stay zero.

    ``precise``: compute the norms and divide in float64, then round to ``dtype`` once (the
    metrics' precision); otherwise everything runs in ``dtype``. ``norms``: the rows' L2 norms
    when already known. ``what``: check the values, a NaN or infinity raising a one-line error
    that names ``what``.
    """
    x = np.asarray(vectors, dtype=np.float64 if precise else dtype)
    n = np.linalg.norm(x, axis=1) if norms is None else np.asarray(norms).reshape(len(x))
    if what is not None and not np.isfinite(n).all():
        raise RepspaceError(f"{what}: a vector holds NaN or infinity")
    return (x / np.where(n > 0, n, 1.0)[:, None]).astype(dtype, copy=False)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (int64) and values of the ``k`` largest scores of every row, sorted descending;
    ties go to the lower index, at the k-th place too; NaN ranks last. ``k`` is capped at the
    row length."""
    m, n = scores.shape
    k = max(0, min(int(k), n))
    if k == 0:
        return np.empty((m, 0), dtype=np.int64), np.empty((m, 0), dtype=scores.dtype)
    if k < n:
        ranked = scores  # NaN ranked as -inf here; the values returned stay NaN
        if scores.dtype.kind == "f" and np.isnan(scores).any():
            ranked = np.where(np.isnan(scores), -np.inf, scores)
        part = np.argpartition(ranked, n - k, axis=1)[:, n - k :]
        kth = np.take_along_axis(ranked, part, axis=1).min(axis=1)[:, None]
        above = np.count_nonzero(ranked > kth, axis=1)
        # Rows where the k-th score ties with an entry left out: keep every higher score and,
        # of the tied ones, the lowest indices (integer scores, e.g. Hamming distances, tie a lot).
        redo = above + np.count_nonzero(ranked == kth, axis=1) > k
        if redo.any():
            sub, t = ranked[redo], kth[redo]
            tied = sub == t
            keep = (sub > t) | (tied & (np.cumsum(tied, axis=1) <= k - above[redo, None]))
            part[redo] = np.nonzero(keep)[1].reshape(-1, k)
    else:
        part = np.broadcast_to(np.arange(n), (m, n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def cosine_search(
    queries: np.ndarray, docs: np.ndarray, k: int, *, normalized: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-``k`` of every query row among the ``docs`` rows.

    Returns ``(scores, indices)``, float32 and int64, both ``(len(queries), min(k, len(docs)))``,
    in :func:`top_k`'s order. Rows are L2-normalized here (a zero vector scores 0 against
    everything; NaN or infinity is an error) unless ``normalized`` says they already are.
    ``docs`` may be memory-mapped: it is read in blocks (at most :data:`BLOCK_CELLS`
    similarities at a time).
    """
    if queries.ndim != 2 or docs.ndim != 2:
        raise RepspaceError("search: queries and documents must be 2-D arrays")
    if queries.shape[1] != docs.shape[1]:
        raise RepspaceError(
            f"search: query vectors have {queries.shape[1]} dimensions, document vectors "
            f"{docs.shape[1]}; encode both with the same encoder"
        )
    m, n = len(queries), len(docs)
    k = min(int(k), n)
    if k < 1:
        raise RepspaceError("search: k must be at least 1 and the corpus non-empty")
    q = np.asarray(queries, dtype=np.float32) if normalized else unit_rows(queries, what="queries")
    doc_block = max(k, min(n, BLOCK_CELLS // max(min(m, 1024), 1)))
    q_block = max(1, min(m, BLOCK_CELLS // doc_block))
    scores = np.empty((m, k), dtype=np.float32)
    indices = np.empty((m, k), dtype=np.int64)
    for qs in range(0, m, q_block):
        qe = min(qs + q_block, m)
        best_s = np.full((qe - qs, 0), -np.inf, dtype=np.float32)
        best_i = np.empty((qe - qs, 0), dtype=np.int64)
        for ds in range(0, n, doc_block):
            de = min(ds + doc_block, n)
            raw = docs[ds:de]
            block = np.asarray(raw, dtype=np.float32) if normalized else unit_rows(raw, what="docs")
            sim = q[qs:qe] @ block.T
            # The best so far (sorted, lower indices first among ties) come before this block's
            # higher indices, so top_k's tie rule by position is the rule by document index.
            cand_i = np.concatenate([best_i, np.broadcast_to(np.arange(ds, de), sim.shape)], axis=1)
            pos, best_s = top_k(np.concatenate([best_s, sim], axis=1), k)
            best_i = np.take_along_axis(cand_i, pos, axis=1)
        scores[qs:qe] = best_s
        indices[qs:qe] = best_i
    return scores, indices


def cosine_knn(
    unit: np.ndarray, k: int, *, block: int = 1024, visit: Visitor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows of every row of ``unit`` (L2-normalized rows) by cosine.

    Returns ``(indices, similarities)``, int64 and float32, both ``(m, k)``, in :func:`top_k`'s
    order; a row is never its own neighbour (duplicates of it may be). ``k`` is capped at
    m - 1. Brute force, ``block`` rows at a time (``block × m`` similarities in memory), each
    block shown to ``visit`` first.
    """
    m = len(unit)
    k = max(0, min(k, m - 1))
    indices = np.empty((m, k), dtype=np.int64)
    sims = np.empty((m, k), dtype=np.float32)
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    for s in range(0, m, block):
        e = min(s + block, m)
        sim = unit[s:e] @ unit.T
        sim[np.arange(e - s), np.arange(s, e)] = -np.inf
        if visit is not None:
            visit(s, sim)
        indices[s:e], sims[s:e] = top_k(sim, k)
    return indices, sims


def nearest_other_similarity(
    vectors: np.ndarray, norms: np.ndarray, queries: np.ndarray, *, block: int = 8192
) -> np.ndarray:
    """For each row index in ``queries``, the highest cosine between that row and any *other*
    row of ``vectors`` (``norms``: their L2 norms; ``vectors`` streamed ``block`` rows at a
    time, so it may be memory-mapped)."""
    q = unit_rows(vectors[queries], norms=norms[queries], precise=True)
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    n = len(vectors)
    for s in range(0, n, block):
        e = min(s + block, n)
        sim = q @ unit_rows(vectors[s:e], norms=norms[s:e], precise=True).T
        own = (queries >= s) & (queries < e)
        sim[np.flatnonzero(own), queries[own] - s] = -np.inf
        np.maximum(best, sim.max(axis=1), out=best)
    return best


def bin_edges(values: Sequence[float] | np.ndarray, bins: int = 40) -> np.ndarray:
    """Histogram bin edges over the finite ``values``; when they (almost) all equal, a range of
    ±5% around them, so a unit-norm space shows one bar at 1 rather than noise."""
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if not len(data):
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(data.min()), float(data.max())
    scale = max(abs(lo), abs(hi), 1e-12)
    if hi - lo < 1e-6 * scale:  # an odd number of bins, the middle one centred on the values
        centre, half = (lo + hi) / 2, 0.05 * scale
        return np.linspace(centre - half, centre + half, bins + 2 - bins % 2)
    return np.linspace(lo, hi, bins + 1)


def eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.eigh(matrix)


def eigvalsh(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a symmetric matrix."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.eigvalsh(matrix)


def svdvals(matrix: np.ndarray) -> np.ndarray:
    """Singular values (descending)."""
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.svd(matrix, compute_uv=False)
