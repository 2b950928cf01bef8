"""Shortlist-then-rerank search (exact search is :func:`repspace.evaluation.retrieval.search`,
re-exported here as ``exact_search``).

Shortlist-then-rerank is the adaptive retrieval of Kusupati et al. 2022 ("Matryoshka
Representation Learning", §4.3): find a shortlist with a cheap representation (a low-dimension
prefix, or binary codes compared by Hamming distance as in Shakir, Aarsen & Lee 2024, "Binary and
Scalar Embedding Quantization"), then rerank the shortlist by cosine with the full vectors.
Binary codes are searched with FAISS's ``IndexBinaryFlat`` (exact Hamming, popcount kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.evaluation.retrieval import search as exact_search
from repspace.maps.base import Map

__all__ = ["ShortlistSearch", "exact_search", "rerank_search", "top_k", "unit"]

#: Query rows per block (block × n similarities in memory at a time).
QUERY_BLOCK = 256


def unit(vectors: Any) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, sorted descending (ties: lower
    index first)."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(vals, order, axis=1)


def _check(q: np.ndarray, d: np.ndarray, k: int) -> None:
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise RepspaceError(
            f"queries {q.shape} and documents {d.shape} must be 2-D with the same dimension"
        )
    if k < 1 or len(d) == 0:
        raise RepspaceError(f"need k >= 1 and at least one document (k={k}, {len(d)} documents)")


class ShortlistSearch:
    """Search ``docs`` by shortlisting with a cheap representation, then reranking by cosine
    with the full vectors.

    ``cheap``: ``"binary"`` (sign bits, Hamming distance; or a fitted
    :class:`~repspace.maps.quantize.BinaryQuantizer` for calibrated thresholds), an ``int`` m
    (cosine over the first m dimensions), or any fitted float :class:`~repspace.maps.Map` (cosine
    over its output, e.g. a Matryoshka adaptor prefix). Building the cheap index happens here,
    once; :meth:`search` then answers any number of query batches. ``threads``: OpenMP threads
    of the FAISS Hamming scan (None: FAISS's default; on a busy machine one thread avoids
    spinning workers).
    """

    def __init__(self, docs: Any, *, cheap: str | int | Map = "binary", threads: int | None = None):
        from repspace.maps.quantize import BinaryQuantizer

        self.docs = unit(docs)
        self.cheap = cheap
        self.threads = threads
        d = self.docs.shape[1]
        self._binary: BinaryQuantizer | None = None
        if isinstance(cheap, BinaryQuantizer) or cheap == "binary":
            import faiss

            self._binary = (
                cheap
                if isinstance(cheap, BinaryQuantizer)
                else BinaryQuantizer("zero").fit(self.docs[:1])
            )
            codes = self._binary.transform(self.docs)
            self._index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
            self._index.add(codes)
        elif isinstance(cheap, int | np.integer) and not isinstance(cheap, bool):
            if not 1 <= cheap <= d:
                raise RepspaceError(f"shortlist dims {cheap} not between 1 and {d}")
            self._cheap_docs = unit(self.docs[:, :cheap])
        elif isinstance(cheap, Map):
            self._cheap_docs = unit(cheap.decode_transform(self.docs))
        else:
            raise RepspaceError(f"cheap representation {cheap!r}: use 'binary', an int, or a Map")

    def _cheap_queries(self, q: np.ndarray) -> np.ndarray:
        if isinstance(self.cheap, Map):
            return unit(self.cheap.decode_transform(q))
        return unit(q[:, : int(self.cheap)])

    def shortlist(self, queries: Any, size: int) -> np.ndarray:
        """Candidate indices ``(n_queries, size)`` from the cheap representation."""
        q = unit(queries)
        size = min(size, len(self.docs))
        if self._binary is not None:
            import faiss

            before = faiss.omp_get_max_threads()
            if self.threads:
                faiss.omp_set_num_threads(self.threads)
            try:
                _, idx = self._index.search(self._binary.transform(q), size)
            finally:
                faiss.omp_set_num_threads(before)
            return idx.astype(np.int64)
        return exact_search(self._cheap_queries(q), self._cheap_docs, size, normalized=True)[1]

    def search(
        self, queries: Any, k: int = 10, *, shortlist: int = 100
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(cosine scores, indices)`` of the ``k`` best documents among each query's
        ``shortlist`` candidates, reranked with the full vectors (FAISS's order of outputs)."""
        q = unit(queries)
        _check(q, self.docs, k)
        if shortlist < k:
            raise RepspaceError(f"shortlist {shortlist} is smaller than k={k}")
        cand = self.shortlist(q, shortlist)
        k = min(k, cand.shape[1])
        out_i = np.empty((len(q), k), dtype=np.int64)
        out_s = np.empty((len(q), k), dtype=np.float32)
        for s in range(0, len(q), QUERY_BLOCK):
            c = cand[s : s + QUERY_BLOCK]
            scores = np.einsum("qkd,qd->qk", self.docs[c], q[s : s + QUERY_BLOCK])
            pos, val = top_k(scores, k)
            out_i[s : s + len(c)] = np.take_along_axis(c, pos, axis=1)
            out_s[s : s + len(c)] = val
        return out_s, out_i


def rerank_search(
    queries: Any,
    docs: Any,
    k: int = 10,
    *,
    shortlist: int = 100,
    cheap: str | int | Map = "binary",
) -> tuple[np.ndarray, np.ndarray]:
    """One-shot :class:`ShortlistSearch`: shortlist ``shortlist`` candidates per query with the
    ``cheap`` representation, rerank them with the full vectors; ``(scores, indices)``."""
    return ShortlistSearch(docs, cheap=cheap).search(queries, k, shortlist=shortlist)
