"""Shortlist-then-rerank search (exact search is :func:`repspace.kernels.cosine_search`).

Shortlist-then-rerank is the adaptive retrieval of Kusupati et al. 2022 ("Matryoshka
Representation Learning", §4.3): find a shortlist with a cheap representation (a low-dimension
prefix, or binary codes compared by Hamming distance as in Shakir, Aarsen & Lee 2024, "Binary and
Scalar Embedding Quantization"), then rerank the shortlist by cosine with the full vectors.
Binary codes are searched with usearch's exact (brute-force) Hamming search over 1-bit (``b1``)
vectors; among codes at equal distance the lower document index comes first, as in FAISS's
``IndexBinaryFlat``.

This module sits below :mod:`repspace.maps` and takes a map by duck typing (see
:class:`CheapMap`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import cosine_search, top_k, unit_rows

__all__ = ["CheapMap", "ShortlistSearch", "hamming_search", "rerank_search"]

#: Query rows per block (block × n similarities in memory at a time).
QUERY_BLOCK = 256


class CheapMap(Protocol):
    """A fitted map as the shortlist uses it (a :class:`repspace.maps.Map` is one): a binary
    quantizer when ``transform`` returns packed ``uint8`` codes, else a float map whose
    ``decode_transform`` output is compared by cosine."""

    def transform(self, X: Any) -> np.ndarray: ...

    def decode_transform(self, X: Any) -> np.ndarray: ...


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

    ``cheap``: ``"binary"`` (sign bits, Hamming distance), an ``int`` m (cosine over the first
    m dimensions), or a fitted map (:class:`CheapMap`, duck-typed): one whose ``transform``
    returns packed ``uint8`` codes is a binary quantizer (e.g. a
    :class:`~repspace.maps.quantize.BinaryQuantizer` with calibrated thresholds; Hamming
    distance), any other is compared by cosine over its ``decode_transform`` output (e.g. a
    Matryoshka adaptor prefix). Building the cheap representation happens here, once;
    :meth:`search` then answers any number of query batches. ``threads``: threads of usearch's
    Hamming scan (None: all cores; on a busy machine one thread avoids oversubscription).
    """

    def __init__(
        self, docs: Any, *, cheap: str | int | CheapMap = "binary", threads: int | None = None
    ):
        self.docs = unit_rows(docs, what="documents")
        self.cheap = cheap
        self.threads = threads
        d = self.docs.shape[1]
        self._codes: np.ndarray | None = None
        if isinstance(cheap, str):
            if cheap != "binary":
                raise RepspaceError(
                    f"cheap representation {cheap!r}: use 'binary', an int, or a Map"
                )
            self._codes = self._binary_codes(self.docs)
        elif isinstance(cheap, int | np.integer) and not isinstance(cheap, bool):
            if not 1 <= cheap <= d:
                raise RepspaceError(f"shortlist dims {cheap} not between 1 and {d}")
            self._cheap_docs = unit_rows(self.docs[:, :cheap])
        elif hasattr(cheap, "transform") and _packed(cheap.transform(self.docs[:1])):
            self._codes = self._binary_codes(self.docs)
        elif hasattr(cheap, "decode_transform"):
            self._cheap_docs = unit_rows(cheap.decode_transform(self.docs))
        else:
            raise RepspaceError(f"cheap representation {cheap!r}: use 'binary', an int, or a Map")

    def _binary_codes(self, x: np.ndarray) -> np.ndarray:
        """Packed bits: the signs for ``"binary"``, else the quantizer's codes."""
        if isinstance(self.cheap, str):
            return np.packbits(x > 0, axis=1)
        return np.asarray(self.cheap.transform(x))

    def _cheap_queries(self, q: np.ndarray) -> np.ndarray:
        if isinstance(self.cheap, int | np.integer):
            return unit_rows(q[:, : int(self.cheap)])
        return unit_rows(self.cheap.decode_transform(q))

    def shortlist(self, queries: Any, size: int) -> np.ndarray:
        """Candidate indices ``(n_queries, size)`` from the cheap representation."""
        q = unit_rows(queries, what="queries")
        _check(q, self.docs, size)
        size = min(size, len(self.docs))
        if self._codes is not None:
            return hamming_search(self._codes, self._binary_codes(q), size, threads=self.threads)
        return cosine_search(self._cheap_queries(q), self._cheap_docs, size, normalized=True)[1]

    def search(
        self, queries: Any, k: int = 10, *, shortlist: int = 100
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(cosine scores, indices)`` of the ``k`` best documents among each query's
        ``shortlist`` candidates, reranked with the full vectors (FAISS's order of outputs)."""
        q = unit_rows(queries, what="queries")
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
    cheap: str | int | CheapMap = "binary",
) -> tuple[np.ndarray, np.ndarray]:
    """One-shot :class:`ShortlistSearch`: shortlist ``shortlist`` candidates per query with the
    ``cheap`` representation, rerank them with the full vectors; ``(scores, indices)``."""
    return ShortlistSearch(docs, cheap=cheap).search(queries, k, shortlist=shortlist)


def hamming_search(
    docs: np.ndarray, queries: np.ndarray, k: int, *, threads: int | None = None
) -> np.ndarray:
    """Indices ``(len(queries), k)`` of the ``k`` packed-bit ``docs`` rows nearest each
    ``queries`` row by Hamming distance, exact (usearch's brute force over ``b1`` vectors), nearest
    first and lower index first among equal distances. ``threads``: None uses all cores."""
    from usearch.index import MetricKind, ScalarKind
    from usearch.index import search as usearch_search

    n = len(docs)
    if k < 1 or n == 0:
        raise RepspaceError(f"need k >= 1 and at least one document (k={k}, {n} documents)")
    k = min(k, n)
    out = np.empty((len(queries), k), dtype=np.int64)
    rows = np.arange(len(queries))
    fetch = min(n, 2 * k)
    while len(rows):
        found = usearch_search(
            docs,
            queries[rows],
            fetch,
            MetricKind.Hamming,
            exact=True,
            threads=threads or 0,
            dtype=ScalarKind.B1,
        )
        keys = np.atleast_2d(found.keys).astype(np.int64)
        dist = np.atleast_2d(found.distances)
        order = np.lexsort((keys, dist), axis=1)
        keys = np.take_along_axis(keys, order, axis=1)
        dist = np.take_along_axis(dist, order, axis=1)
        # usearch orders equal distances arbitrarily: the lowest indices among the codes tied
        # with the k-th are known once a farther code was fetched too.
        done = (dist[:, -1] > dist[:, k - 1]) | (fetch == n)
        out[rows[done]] = keys[done, :k]
        rows = rows[~done]
        fetch = min(n, 2 * fetch)
    return out


def _packed(codes: Any) -> bool:
    """Whether a map's output is packed bits (``uint8``), i.e. the map is a binary quantizer."""
    return np.asarray(codes).dtype == np.uint8
