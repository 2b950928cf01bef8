"""Shortlist-then-rerank search (exact search is :func:`repspace.kernels.cosine_search`).

Shortlist-then-rerank is the adaptive retrieval of Kusupati et al. 2022 ("Matryoshka
Representation Learning", §4.3): find a shortlist with a cheap representation (a low-dimension
prefix, or binary codes compared by Hamming distance as in Shakir, Aarsen & Lee 2024, "Binary and
Scalar Embedding Quantization"), then rerank the shortlist by cosine with the full vectors.
Binary codes are scanned exactly (every Hamming distance, as FAISS's ``IndexBinaryFlat`` does)
with the SIMD popcount kernels of numkong, the kernel library usearch is built on and installs:
usearch's own exact search over ``b1`` vectors measured 17-26x slower than ``IndexBinaryFlat``
on 200k x 384 bits (one thread), numkong's blocked kernel 2.5x (see docs/architecture.md). Among
codes at equal distance the lower document index comes first.

This module sits below :mod:`repspace.maps` and takes a map by duck typing (see
:class:`CheapMap`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import cosine_search, top_k, unit_rows

__all__ = ["CheapMap", "ShortlistSearch", "hamming_search", "pack_codes", "rerank_search"]

#: Query rows per block (block × n similarities in memory at a time).
QUERY_BLOCK = 256
#: Hamming distances held at once per worker of :func:`hamming_search` (uint32).
HAMMING_CELLS = 1 << 23


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
    :meth:`search` then answers any number of query batches. ``threads``: threads of the
    Hamming scan (None: one per core; on a busy machine one thread avoids oversubscription).
    """

    def __init__(
        self, docs: Any, *, cheap: str | int | CheapMap = "binary", threads: int | None = None
    ):
        self.docs = unit_rows(docs, what="documents")
        self.cheap = cheap
        self.threads = threads
        d = self.docs.shape[1]
        self._codes: Any = None  # the documents' packed codes (pack_codes) when binary
        if isinstance(cheap, str):
            if cheap != "binary":
                raise RepspaceError(
                    f"cheap representation {cheap!r}: use 'binary', an int, or a Map"
                )
            self._codes = pack_codes(self._binary_codes(self.docs))
        elif isinstance(cheap, int | np.integer) and not isinstance(cheap, bool):
            if not 1 <= cheap <= d:
                raise RepspaceError(f"shortlist dims {cheap} not between 1 and {d}")
            self._cheap_docs = unit_rows(self.docs[:, :cheap])
        elif hasattr(cheap, "transform") and _packed(cheap.transform(self.docs[:1])):
            self._codes = pack_codes(self._binary_codes(self.docs))
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
    docs: Any, queries: np.ndarray, k: int, *, threads: int | None = None
) -> np.ndarray:
    """Indices ``(len(queries), k)`` of the ``k`` packed-bit ``docs`` rows (``uint8`` codes, or
    :func:`pack_codes` of them) nearest each ``queries`` row by Hamming distance, exact: every
    distance computed (numkong's SIMD popcount kernels, the ones usearch is built on), nearest
    first, lower index first among equal distances. ``threads``: query blocks scanned in
    parallel (None: one per core)."""
    import numkong

    packed = docs if isinstance(docs, numkong.PackedMatrix) else pack_codes(docs)
    n = int(packed.width)
    if k < 1 or n == 0:
        raise RepspaceError(f"need k >= 1 and at least one document (k={k}, {n} documents)")
    k = min(k, n)
    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    block = max(1, HAMMING_CELLS // n)

    # One sortable key per (query, document): distance in the high bits, document index in the
    # low ones, so a partition of the keys orders by distance, then index (SIMD-fast in numpy).
    shift = max(1, (n - 1).bit_length())
    key = np.uint32 if shift + (8 * queries.shape[1]).bit_length() <= 32 else np.uint64
    rows = np.arange(n, dtype=key)

    def scan(start: int) -> np.ndarray:
        distances = np.asarray(numkong.hammings_packed(queries[start : start + block], packed))
        keys = (distances.astype(key, copy=False) << key(shift)) | rows
        top = np.partition(keys, k - 1, axis=1)[:, :k] if k < n else keys
        top.sort(axis=1)
        return (top & key((1 << shift) - 1)).astype(np.int64)

    starts = range(0, len(queries), block)
    workers = threads or os.cpu_count() or 1
    if workers == 1 or len(starts) == 1:
        parts = [scan(s) for s in starts]
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:  # numkong releases the GIL
            parts = list(pool.map(scan, starts))
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)


def pack_codes(codes: np.ndarray) -> Any:
    """Packed-bit codes (``uint8``, ``(n, bits / 8)``) laid out once for :func:`hamming_search`."""
    import numkong

    return numkong.hammings_pack(np.ascontiguousarray(codes, dtype=np.uint8))


def _packed(codes: Any) -> bool:
    """Whether a map's output is packed bits (``uint8``), i.e. the map is a binary quantizer."""
    return np.asarray(codes).dtype == np.uint8
