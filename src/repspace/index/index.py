"""Index: an approximate-nearest-neighbour index over a space, on disk, searchable by text.

Layout::

    INDEX/
      manifest.json            format, source space (path, fingerprint, content digest), encoder
                               (spec, options, fingerprint), dtype, HNSW parameters, n, files
                               and their sha256, generation
      ann-000001.usearch       the usearch HNSW graph + vectors (f32, f16 or i8), keys = row keys
      rows-000001.parquet      key, id (+ text and the space's metadata columns), key order
      projection.json          cached 2-D PCA map of a sample (derived; see projection.py)

Search is HNSW (Malkov & Yashunin, 2018) through usearch; ``exact`` searches by brute force.
Every change (add, delete) writes a new generation of both files under new names, then swaps
the manifest atomically, then removes the old generation: a crash leaves the old index intact.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Mapping, Sequence
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
    atomic_write_json,
    building,
    check_output,
    read_format_json,
    sha256_file,
    utc_now,
)
from repspace.index.filters import filter_mask
from repspace.kernels import cosine_search
from repspace.progress import progress_bar
from repspace.results import Result
from repspace.space.store import Space

FORMAT = "repspace.index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DTYPES = ("f32", "f16", "i8")
#: Largest k a search accepts (the server uses a smaller bound).
MAX_K = 10_000
#: Filters matching at most this share of rows are answered exactly on the matching rows.
SELECTIVE_SHARE = 0.02
_ENCODER_LOCK = threading.Lock()
_GEN = re.compile(r"^(ann|rows)-(\d{6})\.(usearch|parquet)$")


@dataclass
class Hit:
    """One search result: the row's id, cosine similarity, text and metadata."""

    id: str
    score: float
    text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text, "fields": self.fields}


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
    return read_format_json(file, FORMAT, FORMAT_VERSION, "index manifest", "; rebuild it")


class Index:
    """A searchable index over a space. Build one with :meth:`build`, open one with :meth:`open`.

    >>> index = Index.build("spaces/docs", "indexes/docs")        # doctest: +SKIP
    >>> index.search("read a gzip file", k=5, filters={"kind": "function"})  # doctest: +SKIP
    """

    def __init__(self, path: Path, manifest: dict[str, Any], ann: Any, rows: pa.Table):
        self.path = path
        self.manifest = manifest
        self.ann = ann
        self.rows = rows
        self._keys = rows.column("key").to_numpy()
        self._ids: dict[str, int] | None = None
        self._encoder: Any = None
        self._rerankers: dict[str | int, Any] = {}

    # -------------------------------------------------------------- building
    @classmethod
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
        overwrite: bool = False,
        progress: bool = True,
    ) -> Index:
        """Index every row of ``space`` in ``out``: HNSW over cosine similarity with ``dtype``
        storage; ``exact`` makes brute force the default search mode. The output policy of
        every command (:func:`~repspace.fsio.prepare_output`): a non-empty ``out`` is replaced
        only if it holds an index and ``overwrite``; the index is written in a work directory
        beside ``out`` and swapped into place, so a failed build leaves the old one intact."""
        from usearch.index import Index as Ann

        if min(connectivity, expansion_add, expansion_search) < 2:
            raise RepspaceError(
                "--connectivity, --expansion-add and --expansion-search must be >= 2, not "
                f"{connectivity}, {expansion_add}, {expansion_search}"
            )
        space = space if isinstance(space, Space) else Space.open(space)
        if dtype not in DTYPES:
            raise RepspaceError(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if space.n == 0:
            raise RepspaceError(f"{space.path}: the space is empty; nothing to index")
        out = Path(out)
        check_output(out, overwrite, holds=_is_index, what="index")
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
            "created": utc_now(),
            "updated": utc_now(),
            "repspace_version": __version__,
        }
        with building(out, overwrite, holds=_is_index, what="index") as work:
            index = cls(work, manifest, ann, rows)
            index._commit()
        index.path = out
        return index

    # --------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, *, mmap: bool = True, verify: bool = True) -> Index:
        """Open the index at ``path``; ``mmap`` memory-maps the ANN file (read-only until the
        first change), ``verify`` checks every file against its sha256 in the manifest."""
        from usearch.index import Index as Ann

        path = Path(path)
        manifest = read_index_manifest(path)
        for role in ("ann", "rows"):
            name = manifest["files"].get(role)
            file = path / str(name)
            if not name or not file.is_file():
                raise RepspaceError(f"{file}: index file missing; rebuild the index")
            if verify and sha256_file(file) != manifest["sha256"].get(name):
                raise RepspaceError(
                    f"{file}: checksum mismatch, the file is corrupt or changed after it was "
                    "written; rebuild the index"
                )
        ann_file = path / manifest["files"]["ann"]
        try:
            ann = Ann.restore(str(ann_file), view=mmap)
            rows = pq.read_table(path / manifest["files"]["rows"])
        except Exception as e:  # the library's own error for an unreadable file
            raise RepspaceError(f"{path}: cannot read the index files ({e}); rebuild it") from None
        if ann is None or len(ann) != manifest["n"] or rows.num_rows != manifest["n"]:
            raise RepspaceError(f"{path}: index files disagree with the manifest; rebuild it")
        index = cls(path, manifest, ann, rows)
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
    ) -> list[Hit]:
        """The ``k`` rows nearest to ``query`` (text, encoded with the index's encoder, or a
        vector from the encoder with ``fingerprint``), best first; ``filters`` keeps rows whose
        fields equal the given values (``k`` results whenever that many rows match).
        ``rerank`` (``"binary"`` or a prefix dimension) searches by shortlist-then-rerank
        instead of HNSW: ``shortlist`` candidates from the cheap codes, reranked by cosine
        (:class:`repspace.index.search.ShortlistSearch`, Kusupati et al. 2022)."""
        self.check_k(k)  # before the encoder loads
        vector = self.query_vector(query, fingerprint)
        if rerank is not None:
            if filters:
                raise RepspaceError("rerank search does not take filters; drop one of the two")
            keys, scores = self.rerank_search(vector[None, :], k, rerank, shortlist)
        else:
            keys, scores = self.search_vectors(vector[None, :], k, filters=filters, exact=exact)
        return self.hits(keys[0], scores[0])

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
    ) -> None:
        """Add rows durably: ``texts`` are encoded with the index's encoder, or give ``vectors``
        with the ``fingerprint`` of the encoder that made them. Ids must be new."""
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
                    raise RepspaceError(f"column {name!r} has {len(values)} values for {len(ids)}")
                new[name] = pa.array(list(values), self.rows.schema.field(name).type)
        if columns:
            raise RepspaceError(f"the index has no column {next(iter(columns))!r}")
        self.ann.add(keys, vectors)
        self.rows = pa.concat_tables([self.rows, pa.table(new, schema=self.rows.schema)])
        self.manifest["next_key"] = start + len(ids)
        self._changed()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id, durably; an unknown id is refused before anything changes."""
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in self.ids]
        if missing:
            raise RepspaceError(f"no id {missing[0]!r} in the index at {self.path}")
        if not ids:
            return
        self._writable()
        pos = np.array(sorted({self.ids[i] for i in ids}))
        self.ann.remove(self._keys[pos])
        keep = np.ones(self.rows.num_rows, dtype=bool)
        keep[pos] = False
        self.rows = self.rows.filter(pa.array(keep))
        self._changed()

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
        self.manifest["generation"] = gen
        self.manifest["files"] = {"ann": ann_name, "rows": rows_name}
        self.manifest["sha256"] = {
            ann_name: sha256_file(self.path / ann_name),
            rows_name: sha256_file(self.path / rows_name),
        }
        self.manifest["columns"] = self.rows.column_names
        self.manifest["updated"] = utc_now()
        atomic_write_json(self.path / MANIFEST, self.manifest)
        for f in self.path.iterdir():
            match = _GEN.match(f.name)
            if (match and int(match.group(2)) != gen) or f.name.endswith(".tmp"):
                f.unlink(missing_ok=True)

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
        )


def build_index(space: Space | str | Path, out: str | Path, **options: Any) -> Index:
    """Build an index over ``space`` in ``out``; see :meth:`Index.build`."""
    return Index.build(space, out, **options)


def _is_index(path: Path) -> bool:
    """Whether the directory ``path`` holds an index (one-line error for another repspace
    manifest, e.g. a space's)."""
    if not (path / MANIFEST).is_file():
        return False
    read_index_manifest(path)
    return True
