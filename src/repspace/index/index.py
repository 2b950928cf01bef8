"""Index: an approximate-nearest-neighbour index over a space, on disk, searchable by text.

Layout::

    INDEX/
      manifest.json            format, source space (path, fingerprint, content digest), encoder
                               (spec, options, fingerprint), dtype, HNSW parameters, n, files
                               and their sha256, generation
      ann-000001.usearch       the usearch HNSW graph + vectors (f32, f16 or i8), keys = row keys
      rows-000001.parquet      key, id (+ text and the space's metadata columns), key order
      lexical-000001/          BM25 over the rows' texts (lexical.py), when the space keeps texts
      projection.json          cached 2-D PCA map of a sample (derived; see projection.py)

Dense search is HNSW (Malkov & Yashunin, 2018) through usearch; ``exact`` searches by brute
force. Lexical search is BM25 (lexical.py); hybrid search fuses both (fusion.py), and is the
default when the index has a lexical part. Every change (add, delete) writes a new generation of
all files under new names, then swaps the manifest atomically, then removes the old generation:
a crash leaves the old index intact, and the dense and lexical parts always hold the same rows.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace._version import __version__
from repspace.errors import RepspaceError
from repspace.fsio import (
    atomic_path,
    building,
    check_output,
    first_mismatch,
    plain_name,
    read_format_json,
    sha256_file,
    utc_now,
    write_format_json,
    writer_lock,
    writes,
)
from repspace.index.filters import filter_mask
from repspace.index.fusion import Candidates, Fusion, check_mode, hybrid, lexical_candidates
from repspace.index.lexical import Analyzer, LexicalIndex, lexical_meta_problem
from repspace.kernels import cosine_search
from repspace.progress import progress_bar
from repspace.results import Result
from repspace.space.store import Space, open_space

FORMAT = "repspace.index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DTYPES = ("f32", "f16", "i8")
#: Largest k a search accepts (the server uses a smaller bound).
MAX_K = 10_000
#: Filters matching at most this share of rows are answered exactly on the matching rows.
SELECTIVE_SHARE = 0.02
_ENCODER_LOCK = threading.Lock()
_NO_TERMS = (
    "the query has no term the lexical index knows (only stop words, punctuation or unseen words)"
)
_GEN = re.compile(r"^(ann|rows|lexical)-(\d{6})(\.usearch|\.parquet)?$")


@dataclass
class Hit:
    """One search result: the row's id, its score (cosine similarity in dense mode, BM25 in
    lexical mode, the fused score in hybrid mode), text and metadata; ``scores`` explains the
    rank (``dense``, ``lexical``, ``fused``: each side's score where it was computed) and
    ``matched`` lists the words of the text that matched the query's terms."""

    id: str
    score: float
    text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float | None] | None = None
    matched: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "score": self.score, "text": self.text, "fields": self.fields}
        if self.scores is not None:
            out["scores"] = self.scores
        if self.matched is not None:
            out["matched"] = self.matched
        return out


class Hits(list[Hit]):
    """The hits of one search, best first, with how they were found: ``mode``, the query's
    ``terms`` that the lexical index knows, and a ``note`` when the search fell back (e.g. a
    query with no searchable term in hybrid mode returns the dense hits alone)."""

    def __init__(
        self, hits: Sequence[Hit] = (), *, mode: str = "dense", terms: Sequence[str] = (),
        note: str | None = None,
    ):  # fmt: skip
        super().__init__(hits)
        self.mode, self.terms, self.note = mode, list(dict.fromkeys(terms)), note

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "terms": self.terms,
            "note": self.note,
            "hits": [h.to_dict() for h in self],
        }


@dataclass(kw_only=True)
class IndexInfo(Result):
    """What an index holds (:meth:`Index.info`); ``to_dict()`` is what ``/spaces`` shows."""

    path: str
    #: Rows, dimension, storage dtype (``f32``, ``f16``, ``i8``); True for exact search.
    n: int
    dim: int
    dtype: str
    exact: bool
    #: The encoder's spec (None for imported vectors) and the fingerprint of the vectors.
    encoder: str | None
    fingerprint: str
    #: The space the index was built from, and its metadata columns.
    space: str
    columns: list[str]
    #: Whether the index has a BM25 part (lexical and hybrid search), and the default mode.
    lexical: bool
    mode: str


def _space_digest(space: Space) -> str:
    """A digest of the space's content: the sha256 of its shards, in order."""
    h = hashlib.sha256()
    for shard in space.manifest["shards"]:
        h.update(f"{shard['sha256']['vectors']}:{shard['sha256']['table']}\n".encode())
    return h.hexdigest()


def read_index_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not path.is_dir():
        raise RepspaceError(f"{path}: no such index directory; build one with `repspace index`")
    if not file.is_file():
        raise RepspaceError(f"{path}: not a repspace index (no {MANIFEST}); rebuild it")
    return read_format_json(
        file, FORMAT, FORMAT_VERSION, "index manifest", "; rebuild it", _FIELDS, _manifest_problem
    )


#: The JSON kind of every manifest field a reader uses (see :func:`read_format_json`).
_FIELDS = {
    "files": "object", "files.ann": "string", "files.rows": "string", "sha256": "object",
    "n": "integer", "dim": "integer", "dtype": "string", "exact": "boolean",
    "fingerprint": "string", "encoder": "object|null", "space": "object",
    "space.path": "string", "columns": "array", "lexical": "object|null|missing",
    "fusion": "object|null|missing", "generation": "integer", "next_key": "integer",
}  # fmt: skip


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is inconsistent in an index manifest whose fields have the right kinds, or None."""
    bad = next((n for n in m["files"].values() if not plain_name(n)), 0)
    if bad != 0:
        return f"file name {bad!r} is not a name of a file of the index directory"
    if m["n"] < 0 or m["dim"] < 1 or m["next_key"] < m["n"]:
        return f"n={m['n']}, dim={m['dim']}, next_key={m['next_key']}"
    return lexical_meta_problem(m["lexical"]) if m.get("lexical") else None


class Index:
    """A searchable index over a space. Build one with :meth:`build`, open one with :meth:`open`.

    >>> index = Index.build("spaces/docs", "indexes/docs")        # doctest: +SKIP
    >>> index.search("read a gzip file", k=5, filters={"kind": "function"})  # doctest: +SKIP
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        ann: Any,
        rows: pa.Table,
        lexical: LexicalIndex | None = None,
    ):
        self.path = path
        self.manifest = manifest
        self.ann = ann
        self.rows = rows
        self.lexical = lexical
        self._keys = rows.column("key").to_numpy()
        self._ids: dict[str, int] | None = None
        self._encoder: Any = None
        self._rerankers: dict[str | int, Any] = {}

    # -------------------------------------------------------------- building
    @classmethod
    @writes("out")
    def build(
        cls,
        space: str | Path | Space,
        out: str | Path,
        *,
        dtype: str = "f32",
        exact: bool = False,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
        lexical: bool | None = None,
        analyzer: Analyzer | None = None,
        wait: bool = False,
        overwrite: bool = False,
        progress: bool = True,
        verify: bool = True,
    ) -> Index:
        """Index every row of ``space`` in ``out`` (its shards' sha256 checked first unless
        ``verify`` is False): HNSW over cosine similarity with ``dtype``
        storage; ``exact`` makes brute force the default search mode. ``lexical`` also builds a
        BM25 index of the rows' texts, tokenised by ``analyzer`` (None: when the space keeps
        texts). The output policy of every command (:func:`~repspace.fsio.prepare_output`): a
        non-empty ``out`` is replaced only if it holds an index and ``overwrite``; the index is
        written in a work directory beside ``out`` and swapped into place, so a failed build
        leaves the old one intact. One writer at a time (``wait``: wait for another)."""
        from usearch.index import Index as Ann

        if min(connectivity, expansion_add, expansion_search) < 2:
            raise RepspaceError(
                "--connectivity, --expansion-add and --expansion-search must be >= 2, not "
                f"{connectivity}, {expansion_add}, {expansion_search}"
            )
        space = open_space(space, verify=verify)
        if dtype not in DTYPES:
            raise RepspaceError(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if space.n == 0:
            raise RepspaceError(f"{space.path}: the space is empty; nothing to index")
        out = Path(out)
        check_output(out, overwrite, holds=_is_index, what="index")
        has_text = "text" in space.columns
        if lexical and not has_text:
            raise RepspaceError(
                f"{space.path}: the space keeps no texts, so there is nothing for a lexical "
                "index; pass --no-lexical, or re-encode the corpus without --no-store-text"
            )
        lexical = has_text if lexical is None else lexical
        ann = Ann(
            ndim=space.dim,
            metric="cos",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        start = 0
        with progress_bar("indexing", space.n, "vectors", enabled=progress) as bar:
            for i in range(len(space.manifest["shards"])):
                vectors = np.asarray(space.shard_vectors(i), dtype=np.float32)
                keys = np.arange(start, start + len(vectors), dtype=np.uint64)
                for s in range(0, len(vectors), 10_000):
                    ann.add(keys[s : s + 10_000], vectors[s : s + 10_000])
                    bar.advance(len(keys[s : s + 10_000]))
                start += len(vectors)
        table = space.table()
        rows = table.add_column(0, "key", pa.array(np.arange(space.n, dtype=np.uint64)))
        bm25 = None
        if lexical:
            texts = rows.column("text").to_pylist()
            bm25 = LexicalIndex.build(texts, analyzer or Analyzer(), progress=progress)
        encoder = space.manifest.get("encoder")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "space": {
                "path": str(space.path.resolve()),
                "fingerprint": space.fingerprint,
                "digest": _space_digest(space),
                "n": space.n,
            },
            "encoder": encoder,
            "fingerprint": space.fingerprint,
            "dim": space.dim,
            "metric": "cos",
            "dtype": dtype,
            "exact": bool(exact),
            "hnsw": {
                "connectivity": connectivity,
                "expansion_add": expansion_add,
                "expansion_search": expansion_search,
            },
            "n": space.n,
            "next_key": space.n,
            "columns": rows.column_names,
            "generation": 0,
            "files": {},
            "sha256": {},
            # Where a fitted Map (alignment issue #6) that bridges other encoders will be recorded.
            "maps": [],
            "lexical": None,
            "fusion": {**Fusion().__dict__, "tuned": None},
            "created": utc_now(),
            "updated": utc_now(),
            "repspace_version": __version__,
        }
        with building(out, overwrite, holds=_is_index, what="index") as work:
            index = cls(work, manifest, ann, rows, bm25)
            index._commit()
        index.path = out
        return index

    # --------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, *, mmap: bool = True, verify: bool = True) -> Index:
        """Open the index at ``path``; ``mmap`` memory-maps the ANN file (read-only until the
        first change), ``verify`` checks every file against its sha256 in the manifest before
        reading it (once per process: :func:`~repspace.fsio.sha256_matches`). An index
        published anew while it is being opened (``index --overwrite`` elsewhere swaps the
        directory, :func:`~repspace.fsio.publish_dir`) is opened again: a reader gets the old
        index or the new one, never the manifest of one with the files of the other."""
        path = Path(path)
        for attempt in range(3):
            manifest = read_index_manifest(path)
            try:
                index = cls._load(path, manifest, mmap, verify)
            except RepspaceError:
                if attempt == 2 or _published_since(path, manifest) is False:
                    raise
                continue
            if not _published_since(path, manifest):
                return index
        raise RepspaceError(f"{path}: the index keeps being replaced while it opens; retry")

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any], mmap: bool, verify: bool) -> Index:
        from usearch.index import Index as Ann

        files = []
        for role in ("ann", "rows"):
            name = manifest["files"].get(role)
            file = path / str(name)
            if not name or not file.is_file():
                raise RepspaceError(f"{file}: index file missing; rebuild the index")
            files.append((file, str(manifest["sha256"].get(name))))
        if files[0][0] == files[1][0]:
            raise RepspaceError(f"{path / MANIFEST}: ann and rows name one file; rebuild the index")
        bad = first_mismatch(files) if verify else None
        if bad is not None:
            raise RepspaceError(
                f"{bad}: checksum mismatch, the file is corrupt or changed after it was "
                "written; rebuild the index (or pass --no-verify to read it anyway)"
            )
        ann_file = path / manifest["files"]["ann"]
        try:
            ann = Ann.restore(str(ann_file), view=mmap)
            rows = pq.read_table(path / manifest["files"]["rows"])
        except Exception as e:  # the library's own error for an unreadable file
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RepspaceError(f"{path}: cannot read the index files ({first}); rebuild it") from e
        if (
            ann is None
            or len(ann) != manifest["n"]
            or ann.ndim != manifest["dim"]
            or rows.num_rows != manifest["n"]
            or "key" not in rows.column_names
        ):
            raise RepspaceError(f"{path}: index files disagree with the manifest; rebuild it")
        index = cls(path, manifest, ann, rows, _open_lexical(path, manifest, verify))
        index._viewed = mmap
        return index

    _viewed: bool = False

    # --------------------------------------------------------------- facts
    @property
    def n(self) -> int:
        return int(self.manifest["n"])

    def __len__(self) -> int:
        return self.n

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the model whose vectors the index holds."""
        return str(self.manifest["fingerprint"])

    @property
    def encoder_spec(self) -> str | None:
        enc = self.manifest.get("encoder")
        return enc["spec"] if enc else None

    @property
    def default_mode(self) -> str:
        """``hybrid`` when the index has a lexical part, else ``dense``."""
        return "hybrid" if self.lexical is not None else "dense"

    @property
    def fusion(self) -> Fusion:
        """The fusion hybrid search uses unless told otherwise (tuned, or the defaults)."""
        f = self.manifest.get("fusion") or {}
        return Fusion(**{k: f[k] for k in ("fusion", "alpha", "norm", "candidates") if k in f})

    @property
    def space_path(self) -> Path:
        return Path(self.manifest["space"]["path"])

    @property
    def ids(self) -> dict[str, int]:
        """id -> row position."""
        if self._ids is None:
            self._ids = {v: i for i, v in enumerate(self.rows.column("id").to_pylist())}
        return self._ids

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, n={self.n}, dtype={self.manifest['dtype']!r})"

    # -------------------------------------------------------------- encoder
    @property
    def encoder(self) -> Any:
        """The encoder that made the indexed vectors; loaded once, fingerprint-checked."""
        with _ENCODER_LOCK:  # the server's threads share one encoder, loaded once
            if self._encoder is None:
                self._encoder = self._load_encoder()
        return self._encoder

    def _load_encoder(self) -> Any:
        from repspace.encoders import load_recorded_encoder

        return load_recorded_encoder(
            self.manifest, self.path, "search with a query vector instead of text"
        )

    def encode_query(self, query: str) -> np.ndarray:
        if not isinstance(query, str) or not query.strip():
            raise RepspaceError("the query is empty; give some text to search for")
        return self.encoder.encode([query])[0]

    def bridge(self, vector: np.ndarray, fingerprint: str) -> np.ndarray:
        """Bring a vector of another encoder into this index's space.

        This is the hook for the alignment issue (#6): when a fitted Map from ``fingerprint`` to
        the index's fingerprint is recorded in ``manifest["maps"]``, apply it here. No Map
        exists yet, so a foreign vector is refused."""
        raise RepspaceError(
            f"query vector comes from another encoder (fingerprint {fingerprint[:12]}) than "
            f"the index at {self.path} ({self.fingerprint[:12]}) and no fitted map bridges them; "
            "encode the query with the index's encoder"
        )

    # --------------------------------------------------------------- search
    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        filters: Mapping[str, str] | None = None,
        exact: bool | None = None,
        fingerprint: str | None = None,
        rerank: str | int | None = None,
        shortlist: int = 100,
        mode: str | None = None,
        alpha: float | None = None,
        fusion: str | None = None,
        norm: str | None = None,
        candidates: int | None = None,
    ) -> Hits:
        """The ``k`` best rows for ``query`` (text, or a vector from the encoder with
        ``fingerprint``), best first; ``filters`` keeps rows whose fields equal the given values
        (``k`` results whenever that many rows match, in dense mode).

        ``mode``: ``dense`` (cosine with the query encoded by the index's encoder), ``lexical``
        (BM25, no encoder needed), ``hybrid`` (both, fused; :mod:`repspace.index.fusion`); by
        default hybrid for text when the index has a lexical part, else dense. ``alpha``,
        ``fusion``, ``norm`` and ``candidates`` override the index's fusion settings
        (:attr:`fusion`). ``rerank`` (``"binary"`` or a prefix dimension) searches densely by
        shortlist-then-rerank instead of HNSW: ``shortlist`` candidates from the cheap codes,
        reranked by cosine (:class:`repspace.index.search.ShortlistSearch`, Kusupati et al.
        2022)."""
        k = self.check_k(k)  # before the encoder loads
        text = query if isinstance(query, str) else None
        if mode is None:
            mode = "dense" if text is None or rerank is not None else self.default_mode
        check_mode(mode)
        settings = self.fusion
        fuse = Fusion(
            fusion=settings.fusion if fusion is None else fusion,
            alpha=settings.alpha if alpha is None else alpha,
            norm=settings.norm if norm is None else norm,
            candidates=max(k, settings.candidates if candidates is None else candidates),
        )
        if mode != "dense":
            if self.lexical is None:
                raise RepspaceError(
                    f"{self.path}: the index has no lexical part, so --mode {mode} cannot run; "
                    "use --mode dense, or rebuild the index from a space that keeps texts"
                )
            if text is None:
                raise RepspaceError(f"--mode {mode} needs the query as text, not a vector")
            if rerank is not None:
                raise RepspaceError("rerank search is dense only; drop --rerank or use dense mode")
        if mode == "lexical":
            return self._lexical_search(text or "", k, filters)
        vector = self.query_vector(query, fingerprint)
        if mode == "hybrid":
            return self.hybrid_search(
                vector, text or "", k, filters=filters, exact=exact, fusion=fuse
            )
        if rerank is not None:
            if filters:
                raise RepspaceError("rerank search does not take filters; drop one of the two")
            keys, scores = self.rerank_search(vector[None, :], k, rerank, shortlist)
        else:
            keys, scores = self.search_vectors(vector[None, :], k, filters=filters, exact=exact)
        if text is None or self.lexical is None:
            return Hits(self.hits(keys[0], scores[0]), mode="dense")
        terms = self.lexical.query_terms(text)
        pos = self.position(keys[0])
        lexical = self.lexical.scores(terms)[pos]
        return self._explained("dense", pos, scores[0], terms, scores[0], lexical, None)

    def _lexical_search(self, text: str, k: int, filters: Mapping[str, str] | None) -> Hits:
        assert self.lexical is not None
        if not text.strip():
            raise RepspaceError("the query is empty; give some text to search for")
        terms = self.lexical.query_terms(text)
        mask = filter_mask(self.rows, filters) if filters else None
        scores = self.lexical.scores(terms, mask)
        pos = lexical_candidates(scores, k)
        return self._explained(
            "lexical", pos, scores[pos], terms, None, scores[pos], "nothing matches"
        )

    def hybrid_search(
        self,
        vector: np.ndarray,
        text: str,
        k: int = 10,
        *,
        filters: Mapping[str, str] | None = None,
        exact: bool | None = None,
        fusion: Fusion | None = None,
    ) -> Hits:
        """Hybrid search with a query already encoded (``vector``, of the index's encoder) and
        its ``text``: each side's candidates fused by ``fusion`` (the index's by default)."""
        k = self.check_k(k)
        fusion = fusion or self.fusion
        candidates, terms = self.candidates(vector, text, fusion.candidates, filters, exact)
        f = hybrid(candidates, k, fusion)
        return self._explained(
            "hybrid",
            f.positions,
            f.fused,
            terms,
            f.dense,
            f.lexical,
            "these are the dense hits alone",
        )

    def candidates(
        self,
        vector: np.ndarray,
        text: str,
        count: int,
        filters: Mapping[str, str] | None = None,
        exact: bool | None = None,
    ) -> tuple[Candidates, list[str]]:
        """Both sides of a hybrid search before fusion (:class:`~repspace.index.fusion.
        Candidates`: ``count`` dense candidates, BM25 of every row), and the query's terms."""
        if self.lexical is None:
            raise RepspaceError(f"{self.path}: the index has no lexical part")
        terms = self.lexical.query_terms(text)
        mask = filter_mask(self.rows, filters) if filters else None
        keys, scores = self.search_vectors(
            vector[None, :], min(count, self.n), filters=filters, exact=exact
        )
        q = np.asarray(vector, np.float32)
        q = q / (np.linalg.norm(q) or 1.0)

        def dense_of(pos: np.ndarray) -> np.ndarray:
            vectors = self.vectors_for(self._keys[pos])
            return vectors @ q / np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)

        lexical = self.lexical.scores(terms, mask)
        return Candidates(self.position(keys[0]), scores[0], lexical, dense_of), terms

    def _explained(
        self,
        mode: str,
        positions: np.ndarray,
        scores: np.ndarray,
        terms: list[str],
        dense: np.ndarray | None,
        lexical: np.ndarray,
        fallback: str | None,
    ) -> Hits:
        """The hits at row ``positions``, each with its ``scores`` (each side's where it was
        computed, and the one it is ranked by) and ``matched`` (the words of its text that match
        the query's terms); ``fallback`` says what a query without terms returns."""
        assert self.lexical is not None
        hits = self.hits(self._keys[positions], scores)
        for i, h in enumerate(hits):
            d = None if dense is None else round(float(dense[i]), 6)
            h.scores = {"dense": d, "lexical": round(float(lexical[i]), 6), "fused": h.score}
            h.matched = self.lexical.analyzer.matched(h.text or "", terms) if terms else []
        note = f"{_NO_TERMS}; {fallback}" if fallback and not terms else None
        return Hits(hits, mode=mode, terms=terms, note=note)

    def rerank_search(
        self, vectors: np.ndarray, k: int, cheap: str | int, shortlist: int = 100
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Shortlist-then-rerank over the index's vectors (the compression issue's search): the
        cheap codes are built once per ``cheap`` and kept until the index changes."""
        from repspace.index.search import ShortlistSearch

        k = self.check_k(k)
        if isinstance(cheap, str) and cheap.isdigit():
            cheap = int(cheap)
        if cheap != "binary" and not (isinstance(cheap, int) and 1 <= cheap <= self.dim):
            raise RepspaceError(
                f"rerank {cheap!r}: use 'binary' or a prefix dimension in 1..{self.dim}"
            )
        if not 1 <= shortlist <= MAX_K or shortlist < k:
            raise RepspaceError(f"shortlist {shortlist} must be in k..{MAX_K} (k = {k})")
        searcher = self._rerankers.get(cheap)
        if searcher is None:
            searcher = ShortlistSearch(self.vectors_for(self._keys), cheap=cheap, threads=1)
            self._rerankers[cheap] = searcher
        scores, idx = searcher.search(np.asarray(vectors, np.float32), k, shortlist=shortlist)
        return [self._keys[i] for i in idx], [s for s in scores]

    def query_vector(self, query: str | np.ndarray, fingerprint: str | None = None) -> np.ndarray:
        if isinstance(query, str):
            return self.encode_query(query)
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dim,):
            raise RepspaceError(
                f"query vector has {vector.size} values; the index holds {self.dim}"
            )
        if not np.isfinite(vector).all() or not np.any(vector):
            raise RepspaceError("query vector is zero or contains NaN/infinity")
        if fingerprint is None:
            raise RepspaceError(
                "a query vector needs the fingerprint of the encoder that made it "
                "(fingerprint=...), so vectors of different models are never mixed"
            )
        if fingerprint != self.fingerprint:
            return self.bridge(vector, fingerprint)
        return vector

    def check_k(self, k: int) -> int:
        if not isinstance(k, int | np.integer) or k < 1:
            raise RepspaceError(f"k must be a positive integer, got {k!r}")
        if k > MAX_K:
            raise RepspaceError(f"k = {k} is too large; at most {MAX_K} results per query")
        return int(min(k, self.n))

    def search_vectors(
        self,
        vectors: np.ndarray,
        k: int = 10,
        *,
        filters: Mapping[str, str] | None = None,
        exact: bool | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Batch search: per query, the row keys and cosine similarities of its hits."""
        k = self.check_k(k)
        exact = bool(self.manifest["exact"]) if exact is None else exact
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.n == 0:
            return [np.empty(0, np.uint64)] * len(vectors), [np.empty(0, np.float32)] * len(vectors)
        if filters:
            mask = filter_mask(self.rows, filters)
            return self._filtered(vectors, k, mask, exact)
        # One query: one thread (a server runs requests in parallel); batches use every core.
        threads = 1 if len(vectors) == 1 else 0
        m = self.ann.search(vectors, k, exact=exact, threads=threads)
        return self._unpack(m, len(vectors))

    def _unpack(self, m: Any, nq: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        keys = np.atleast_2d(m.keys)
        dist = np.atleast_2d(m.distances)
        counts = np.atleast_1d(m.counts if hasattr(m, "counts") else len(m.keys))
        return (
            [keys[i, : counts[i]].astype(np.uint64) for i in range(nq)],
            [(1.0 - dist[i, : counts[i]]).astype(np.float32) for i in range(nq)],
        )

    def _filtered(
        self, vectors: np.ndarray, k: int, mask: np.ndarray, exact: bool
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Filtered search. Selective filters (at most SELECTIVE_SHARE of rows) are answered
        exactly over the matching rows; otherwise HNSW oversamples ``k * n / matches * 2``
        candidates, keeps the matching ones, and doubles the shortlist until ``k`` survive,
        ending with an exact search over all rows: ``k`` results whenever ``k`` rows match."""
        matched = int(mask.sum())
        nq = len(vectors)
        if matched == 0:
            return [np.empty(0, np.uint64)] * nq, [np.empty(0, np.float32)] * nq
        k = min(k, matched)
        allowed = self._keys[mask]
        if exact or matched <= max(SELECTIVE_SHARE * self.n, 4 * k):
            scores, top = cosine_search(vectors, self.vectors_for(allowed), k)
            return [allowed[t] for t in top], list(scores)
        out_keys, out_scores = [], []
        allowed_set = np.zeros(int(self._keys.max()) + 1, dtype=bool)
        allowed_set[allowed.astype(np.int64)] = True
        for v in vectors:
            count = min(self.n, math.ceil(k * self.n / matched * 2) + k)
            while True:
                last = count >= self.n
                m = self.ann.search(v, count, exact=last, threads=1)
                keys, scores = m.keys.astype(np.uint64), 1.0 - m.distances
                keep = allowed_set[keys.astype(np.int64)]
                if keep.sum() >= k or last:
                    out_keys.append(keys[keep][:k])
                    out_scores.append(scores[keep][:k].astype(np.float32))
                    break
                count = min(self.n, count * 2)
        return out_keys, out_scores

    def vectors_for(self, keys: np.ndarray) -> np.ndarray:
        """The stored vectors of ``keys`` as float32 (dequantized for f16/i8 storage)."""
        if len(keys) == 0:
            return np.empty((0, self.dim), np.float32)
        got = self.ann.get(np.asarray(keys, dtype=np.uint64), dtype=np.float32)
        if isinstance(got, tuple):
            return np.stack(got).astype(np.float32)
        return np.asarray(got, dtype=np.float32).reshape(len(keys), self.dim)

    def position(self, keys: np.ndarray) -> np.ndarray:
        """Row positions of keys (rows are kept in key order)."""
        return np.searchsorted(self._keys, np.asarray(keys, dtype=np.uint64))

    def hits(self, keys: np.ndarray, scores: np.ndarray) -> list[Hit]:
        if len(keys) == 0:
            return []
        pos = self.position(keys)
        picked = self.rows.take(pa.array(pos)).to_pylist()
        return [
            Hit(
                id=row["id"],
                score=round(float(s), 6),
                text=row.get("text"),
                fields={c: v for c, v in row.items() if c not in ("key", "id", "text")},
            )
            for row, s in zip(picked, scores, strict=True)
        ]

    def row(self, id: str) -> dict[str, Any]:
        if id not in self.ids:
            raise RepspaceError(f"no id {id!r} in the index at {self.path}")
        return self.rows.slice(self.ids[id], 1).to_pylist()[0]

    def neighbors(self, id: str, k: int = 10, *, exact: bool | None = None) -> list[Hit]:
        """The ``k`` nearest other rows of the row ``id``."""
        k = self.check_k(k)
        row = self.row(id)
        vector = self.vectors_for(np.array([row["key"]], dtype=np.uint64))
        keys, scores = self.search_vectors(vector, min(k + 1, self.n), exact=exact)
        keep = keys[0] != row["key"]
        return self.hits(keys[0][keep][:k], scores[0][keep][:k])

    # --------------------------------------------------------------- changes
    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray | None = None,
        *,
        texts: Sequence[str] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
        fingerprint: str | None = None,
        wait: bool = False,
    ) -> None:
        """Add rows durably: ``texts`` are encoded with the index's encoder, or give ``vectors``
        with the ``fingerprint`` of the encoder that made them. Ids must be new. One writer at
        a time (``wait``: wait for another; see :meth:`_writing`)."""
        ids = [str(i) for i in ids]
        if not ids:
            return
        dup = [i for i in ids if i in self.ids]
        if dup or len(set(ids)) != len(ids):
            first = dup[0] if dup else next(i for i in ids if ids.count(i) > 1)
            raise RepspaceError(f"id {first!r} is already in the index; ids must be unique")
        if vectors is None:
            if texts is None or len(texts) != len(ids):
                raise RepspaceError("add needs one text (or one vector) per id")
            if any(not str(t).strip() for t in texts):
                raise RepspaceError("cannot index an empty text")
            vectors = self.encoder.encode(list(texts))
        else:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape != (len(ids), self.dim):
                raise RepspaceError(
                    f"vectors of shape {vectors.shape}; need ({len(ids)}, {self.dim})"
                )
            if fingerprint != self.fingerprint:
                raise RepspaceError(
                    "the vectors come from another encoder than the index's (fingerprint "
                    f"{str(fingerprint)[:12]} vs {self.fingerprint[:12]}); encode them with "
                    f"{self.encoder_spec or 'the same model'}"
                )
        if not np.isfinite(vectors).all():
            raise RepspaceError("vectors contain NaN or infinity")
        with self._writing(wait):
            self._writable()
            start = int(self.manifest["next_key"])
            keys = np.arange(start, start + len(ids), dtype=np.uint64)
            new: dict[str, Any] = {"key": pa.array(keys), "id": pa.array(ids, pa.string())}
            columns = dict(columns or {})
            for name in self.rows.column_names[2:]:
                if name == "text" and texts is not None:
                    new[name] = pa.array([str(t) for t in texts], self.rows.schema.field(name).type)
                else:
                    values = columns.pop(name, [None] * len(ids))
                    if len(values) != len(ids):
                        raise RepspaceError(
                            f"column {name!r} has {len(values)} values for {len(ids)}"
                        )
                    new[name] = pa.array(list(values), self.rows.schema.field(name).type)
            if columns:
                raise RepspaceError(f"the index has no column {next(iter(columns))!r}")
            self.ann.add(keys, vectors)
            if self.lexical is not None:
                self.lexical = self.lexical.added(new["text"].to_pylist())
            self.rows = pa.concat_tables([self.rows, pa.table(new, schema=self.rows.schema)])
            self.manifest["next_key"] = start + len(ids)
            self._changed()

    def delete(self, ids: Sequence[str], *, wait: bool = False) -> None:
        """Remove rows by id, durably; an unknown id is refused before anything changes."""
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in self.ids]
        if missing:
            raise RepspaceError(f"no id {missing[0]!r} in the index at {self.path}")
        if not ids:
            return
        with self._writing(wait):
            self._writable()
            pos = np.array(sorted({self.ids[i] for i in ids}))
            self.ann.remove(self._keys[pos])
            keep = np.ones(self.rows.num_rows, dtype=bool)
            keep[pos] = False
            self.rows = self.rows.filter(pa.array(keep))
            if self.lexical is not None:
                self.lexical = self.lexical.kept(keep)
            self._changed()

    @contextmanager
    def _writing(self, wait: bool) -> Iterator[None]:
        """Hold the index's writer lock; refuse when another process changed the index since
        this copy was opened (its change would be lost): open it again."""
        with writer_lock(self.path, wait=wait):
            on_disk = read_index_manifest(self.path)["generation"]
            if on_disk != self.manifest["generation"]:
                raise RepspaceError(
                    f"{self.path}: the index changed since it was opened (generation {on_disk}, "
                    f"this copy {self.manifest['generation']}); open it again, then retry"
                )
            yield

    def _writable(self) -> None:
        """A memory-mapped ANN file is read-only: load it into memory before the first change."""
        if self._viewed:
            from usearch.index import Index as Ann

            self.ann = Ann.restore(str(self.path / self.manifest["files"]["ann"]), view=False)
            self._viewed = False

    def _changed(self) -> None:
        self._keys = self.rows.column("key").to_numpy()
        self._ids = None
        self._rerankers = {}
        self.manifest["n"] = self.rows.num_rows
        self._commit()

    def _commit(self) -> None:
        """Write a new generation of the files, then swap the manifest, then drop the old ones."""
        gen = int(self.manifest["generation"]) + 1
        ann_name, rows_name = f"ann-{gen:06d}.usearch", f"rows-{gen:06d}.parquet"
        with atomic_path(self.path / ann_name) as tmp:
            self.ann.save(str(tmp))
        with atomic_path(self.path / rows_name) as tmp:
            pq.write_table(self.rows, tmp)
        if self.lexical is not None:
            if self.lexical.n != self.rows.num_rows:  # pragma: no cover - add/delete keep both
                raise AssertionError("the lexical index and the rows disagree")
            lexical_dir = f"lexical-{gen:06d}"
            self.manifest["lexical"] = {
                **self.lexical.save(self.path / lexical_dir),
                "dir": lexical_dir,
            }
        self.manifest["generation"] = gen
        self.manifest["files"] = {"ann": ann_name, "rows": rows_name}
        self.manifest["sha256"] = {
            ann_name: sha256_file(self.path / ann_name),
            rows_name: sha256_file(self.path / rows_name),
        }
        self.manifest["columns"] = self.rows.column_names
        self.manifest["updated"] = utc_now()
        write_format_json(self.path / MANIFEST, self.manifest)
        for f in self.path.iterdir():
            match = _GEN.match(f.name)
            if (match and int(match.group(2)) != gen) or f.name.endswith(".tmp"):
                if f.is_dir():
                    shutil.rmtree(f, ignore_errors=True)
                else:
                    f.unlink(missing_ok=True)

    def set_fusion(
        self, fusion: Fusion, tuned: dict[str, Any] | None = None, *, wait: bool = False
    ) -> None:
        """Record the fusion hybrid search uses by default (``tuned``: how it was chosen)."""
        with self._writing(wait):
            self.manifest["fusion"] = {**fusion.__dict__, "tuned": tuned}
            self.manifest["updated"] = utc_now()
            write_format_json(self.path / MANIFEST, self.manifest)

    def info(self) -> IndexInfo:
        """The facts `/spaces` shows."""
        m = self.manifest
        return IndexInfo(
            path=str(self.path),
            n=m["n"],
            dim=m["dim"],
            dtype=m["dtype"],
            exact=m["exact"],
            encoder=self.encoder_spec,
            fingerprint=m["fingerprint"],
            space=m["space"]["path"],
            columns=m["columns"],
            lexical=self.lexical is not None,
            mode=self.default_mode,
        )


def build_index(space: Space | str | Path, out: str | Path, **options: Any) -> Index:
    """Build an index over ``space`` in ``out``; see :meth:`Index.build`."""
    return Index.build(space, out, **options)


def _published_since(path: Path, manifest: dict[str, Any]) -> bool | None:
    """Whether the index at ``path`` is no longer the one ``manifest`` describes (None when
    its manifest cannot be read any more)."""
    try:
        now = read_index_manifest(path)
    except RepspaceError:
        return None
    keys = ("created", "generation", "sha256")  # identical files make a mix harmless
    return [now.get(k) for k in keys] != [manifest.get(k) for k in keys]


def _open_lexical(path: Path, manifest: dict[str, Any], verify: bool) -> LexicalIndex | None:
    meta = manifest.get("lexical")
    if not meta:
        return None
    lexical = LexicalIndex.open(path / str(meta.get("dir")), meta, verify=verify)
    if lexical.n != manifest["n"]:
        raise RepspaceError(f"{path}: the lexical index disagrees with the manifest; rebuild it")
    return lexical


def _is_index(path: Path) -> bool:
    """Whether the directory ``path`` holds an index (one-line error for another repspace
    manifest, e.g. a space's)."""
    if not (path / MANIFEST).is_file():
        return False
    read_index_manifest(path)
    return True
