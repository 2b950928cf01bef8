"""Space: ids + vectors + manifest in a directory; the unit every repspace command reads or writes.

Layout::

    SPACE/
      manifest.json          format, n, dim, dtype, encoder + fingerprint, corpus, shards, status
      shards/00000.npy       float32 (rows, dim), memory-mappable, saved with allow_pickle=False
      shards/00000.parquet   the same rows' ids (+ text and metadata columns)

Shards are written atomically and recorded in the manifest (with their sha256) only once they
are durable, so a crash can lose at most the shard in progress and never records a partial one.
"""

from __future__ import annotations

import hashlib
import shutil
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace._version import __version__
from repspace.errors import RepspaceError, one_line
from repspace.fsio import (
    atomic_path,
    atomic_save_npy,
    check_output,
    first_mismatch,
    publish_dir,
    read_format_json,
    sha256_file,
    utc_now,
    write_format_json,
    writes,
)
from repspace.results import OPTIONAL, Result

FORMAT = "repspace.space"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_SHARD_SIZE = 10_000
_NORM_TOL = 1e-3


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest of the space at ``path``, or None when there is none."""
    file = Path(path) / MANIFEST
    try:
        if not file.is_file():
            return None
    except OSError as e:  # a path too long (ENAMETOOLONG), e.g. one a damaged file recorded
        raise RepspaceError(f"{str(path)[:200]}: not a usable space path ({e.strerror})") from None
    hint = "; the space cannot be used: delete it and write it again"
    return read_format_json(
        file, FORMAT, FORMAT_VERSION, "space manifest", hint, _FIELDS, _manifest_problem
    )


#: The JSON kind of every manifest field a reader uses (see :func:`read_format_json`).
_FIELDS = {
    "status": "string", "n": "integer", "dim": "integer", "dtype": "string",
    "normalized": "boolean", "encoder": "object|null", "fingerprint": "string",
    "corpus": "object|null|missing", "source": "object|null|missing", "columns": "array",
    "shards": "array", "skipped": "object", "skipped.total": "integer", "transforms": "array",
    "created": "string", "updated": "string",
}  # fmt: skip


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is inconsistent in a manifest whose fields have the right kinds, or None."""
    if m["status"] not in ("building", "complete"):
        return f"status {m['status']!r} is neither 'building' nor 'complete'"
    if m["n"] < 0 or m["dim"] < 1 or m["dtype"] != "float32":
        return f"n={m['n']}, dim={m['dim']}, dtype={m['dtype']!r} (float32 vectors expected)"
    if m["encoder"] is not None and not isinstance(m["encoder"].get("spec"), str):
        return "the encoder has no spec"
    if not all(isinstance(c, str) for c in m["columns"]) or "id" not in m["columns"]:
        return "columns must be names, 'id' among them"
    for i, s in enumerate(m["shards"]):
        ok = isinstance(s, dict) and isinstance(s.get("sha256"), dict)
        ok = ok and s.get("vectors") == f"shards/{i:05d}.npy"
        ok = ok and s.get("table") == f"shards/{i:05d}.parquet"
        ok = ok and isinstance(s.get("unit_norm"), bool)
        ok = ok and all(isinstance(s["sha256"].get(k), str) for k in ("vectors", "table"))
        if not ok or not isinstance(s.get("rows"), int) or isinstance(s["rows"], bool):
            return f"shard {i} is not recorded as the writer records shards"
        if s["rows"] < 0:
            return f"shard {i} has {s['rows']} rows"
    rows = sum(s["rows"] for s in m["shards"])
    if rows != m["n"]:
        return f"n is {m['n']} but the shards hold {rows} rows"
    return None


@dataclass(kw_only=True)
class SpaceInfo(Result):
    """What a space holds and where it came from (:meth:`Space.summary`); ``to_dict()`` is
    ``repspace info --json``."""

    path: str
    #: ``building`` or ``complete``.
    status: str
    #: Rows, dimension, dtype of the vectors; whether the rows are unit-length.
    n: int
    dim: int
    dtype: str
    normalized: bool
    #: The encoder's spec (None for imported vectors) and the space's fingerprint.
    encoder: str | None
    fingerprint: str
    #: The corpus (paths, fields, content hash) or the source of imported vectors.
    source: dict[str, Any] | None
    columns: list[str]
    shards: int
    #: Records skipped while encoding.
    skipped: int
    #: The maps applied to make this space (empty for an encoded one).
    transforms: list[dict[str, Any]]
    bytes_on_disk: int
    created: str
    updated: str
    #: True once every shard's sha256 was re-checked (``repspace info --verify``).
    verified: bool | None = field(default=None, metadata=OPTIONAL)


class Space:
    """An embedding space on disk. Open one with :meth:`open`; vectors are memory-mapped."""

    def __init__(self, path: str | Path, manifest: dict[str, Any]):
        self.path = Path(path)
        self.manifest = manifest
        self._dir = _dir_id(self.path)  # the directory this manifest was read from

    @classmethod
    def open(cls, path: str | Path, *, verify: bool = False, allow_building: bool = False) -> Space:
        """Open the space at ``path``. The manifest is always checked against itself and the
        shards' headers (:meth:`check_layout`: cheap); ``verify`` also re-checks every shard's
        sha256 (:meth:`verify`, once per process). Commands that derive something from a space
        open it with :func:`open_space`, which verifies by default.

        A space replaced while it is opened (``encode --overwrite`` elsewhere swaps the
        directory, :func:`~repspace.fsio.publish_dir`) is opened again, so a reader gets the old
        space or the new one, never the manifest of one with the shards of the other; a shard
        read after the space was replaced is a one-line error (:meth:`shard_vectors`)."""
        for attempt in range(3):
            before = _dir_id(Path(path))  # taken first: a swap after it shows as replaced
            manifest = read_manifest(path)
            if manifest is None:
                raise RepspaceError(f"{path}: not a repspace space (no {MANIFEST})")
            space = cls(path, manifest)
            space._dir = before
            if manifest["status"] != "complete" and not allow_building:
                raise RepspaceError(
                    f"{path}: space is still {manifest['status']} "
                    f"({manifest['n']} rows so far); re-run the command that builds it to finish it"
                )
            try:
                space.check_layout()
                if verify:
                    space.verify()
            except RepspaceError:
                if attempt == 2 or not space.replaced:
                    raise
                continue
            if not space.replaced:
                return space
        raise RepspaceError(f"{path}: the space keeps being replaced while it opens; retry")

    @property
    def replaced(self) -> bool:
        """Whether another directory is at :attr:`path` now than when the manifest was read."""
        return _dir_id(self.path) != self._dir

    @contextmanager
    def _reading(self, file: Path) -> Iterator[None]:
        """Around a read of ``file``: data (or an error) that may come from a replacement of
        the space is refused in one line."""
        try:
            yield
        except Exception:
            if not self.replaced:
                raise
        if self.replaced:
            raise RepspaceError(
                f"{file}: the space was replaced (encode --overwrite) while in use; open it again"
            )

    @classmethod
    def from_arrays(
        cls,
        path: str | Path,
        ids: Sequence[str],
        vectors: np.ndarray,
        *,
        columns: Mapping[str, Sequence[Any]] | None = None,
        model: str | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE,
        overwrite: bool = False,
    ) -> Space:
        """Write a space from vectors you already have (any modality); see :func:`write_space`."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise RepspaceError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        if len(ids) != len(vectors):
            raise RepspaceError(f"{len(ids)} ids for {len(vectors)} vectors; give one id per row")
        columns = dict(columns or {})
        for name, values in columns.items():
            if len(values) != len(ids):
                raise RepspaceError(f"column {name!r} has {len(values)} values for {len(ids)} ids")
        batches = (
            (
                [str(i) for i in ids[s : s + shard_size]],
                vectors[s : s + shard_size],
                {k: list(v[s : s + shard_size]) for k, v in columns.items()},
            )
            for s in range(0, len(ids), shard_size)
        )
        return write_space(
            path,
            vectors.shape[1],
            batches,
            model=model,
            columns=list(columns),
            overwrite=overwrite,
            source={"kind": "arrays"},
            shard_size=shard_size,
        )

    # ------------------------------------------------------------- metadata
    @property
    def n(self) -> int:
        return int(self.manifest["n"])

    def __len__(self) -> int:
        return self.n

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["dtype"])

    @property
    def normalized(self) -> bool:
        return bool(self.manifest["normalized"])

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the model whose vectors these are."""
        return str(self.manifest["fingerprint"])

    @property
    def encoder_spec(self) -> str | None:
        encoder = self.manifest.get("encoder")
        return encoder["spec"] if encoder else None

    @property
    def columns(self) -> list[str]:
        return list(self.manifest["columns"])

    @property
    def complete(self) -> bool:
        return self.manifest["status"] == "complete"

    def __repr__(self) -> str:
        return (
            f"Space({str(self.path)!r}, n={self.n}, dim={self.dim}, encoder={self.encoder_spec!r})"
        )

    # --------------------------------------------------------------- data
    def shard_vectors(self, i: int) -> np.ndarray:
        """The vectors of shard ``i``, memory-mapped read-only; a file that is not the
        ``(rows, dim)`` float32 array the manifest records is a one-line error."""
        shard = self.manifest["shards"][i]
        file = self.path / shard["vectors"]
        try:
            with self._reading(file):
                vectors = np.load(file, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, SyntaxError, tokenize.TokenError) as e:  # not .npy
            raise RepspaceError(
                f"{file}: unreadable shard ({one_line(e)}); rebuild the space"
            ) from None
        if vectors.shape != (shard["rows"], self.dim) or vectors.dtype != np.float32:
            raise RepspaceError(
                f"{file}: holds {vectors.dtype} {vectors.shape} where the manifest says float32 "
                f"({shard['rows']}, {self.dim}); rebuild the space"
            )
        return vectors

    def shard_table(self, i: int, columns: Sequence[str] | None = None) -> pa.Table:
        """The id/text/metadata columns of shard ``i``."""
        file = self.path / self.manifest["shards"][i]["table"]
        with self._reading(file):
            table = pq.read_table(file, columns=list(columns) if columns else None)
        return table

    def iter_shards(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """(ids, vectors) per shard, in row order, without loading the whole space."""
        for i in range(len(self.manifest["shards"])):
            yield self.shard_table(i, ["id"]).column("id").to_pylist(), self.shard_vectors(i)

    @cached_property
    def vectors(self) -> np.ndarray:
        """All vectors as one ``(n, dim)`` array: memory-mapped for a one-shard space, else read."""
        shards = self.manifest["shards"]
        if len(shards) == 1:
            return self.shard_vectors(0)
        if not shards:
            return np.empty((0, self.dim), dtype=self.dtype)
        return np.concatenate([self.shard_vectors(i) for i in range(len(shards))])

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The id/text/metadata columns of every row, in row order."""
        if columns is not None:
            missing = [c for c in columns if c not in self.columns]
            if missing:
                raise RepspaceError(
                    f"{self.path}: no column {missing[0]!r} (columns: {', '.join(self.columns)})"
                )
        tables = [self.shard_table(i, columns) for i in range(len(self.manifest["shards"]))]
        if not tables:
            return pa.table({c: pa.array([], pa.string()) for c in columns or self.columns})
        return pa.concat_tables(tables)

    @cached_property
    def ids(self) -> list[str]:
        return self.table(["id"]).column("id").to_pylist()

    @property
    def texts(self) -> list[str] | None:
        """The documents' texts when the space stores them, else None."""
        return self.table(["text"]).column("text").to_pylist() if "text" in self.columns else None

    def verify(self) -> None:
        """Check every shard file against the sha256 the manifest records; each file is hashed
        once per process (:func:`~repspace.fsio.sha256_matches`), several at once."""
        files = [
            (self.path / shard[key], str(shard["sha256"][key]))
            for shard in self.manifest["shards"]
            for key in ("vectors", "table")
        ]
        bad = first_mismatch(files)
        if bad is not None:
            raise RepspaceError(
                f"{bad}: checksum mismatch, the file changed after it was written "
                "(rebuild the space with --overwrite, or pass --no-verify to read it anyway)"
            )

    def check_layout(self) -> None:
        """Check the manifest against the shards' headers, reading no data (the manifest itself,
        shard names and row counts adding up to ``n``, is checked by :func:`read_manifest`):
        every shard file is there, its vectors are ``(rows, dim)`` of ``dtype``, its table has
        ``rows`` rows, and the fingerprint is the one the space's provenance implies
        (:func:`implied_fingerprint`). One-line errors naming the file."""
        m, where = self.manifest, self.path / MANIFEST
        fix = "the manifest or a shard changed after it was written; rebuild the space"
        for shard in m["shards"]:
            rows = shard["rows"]
            vectors, table = self.path / shard["vectors"], self.path / shard["table"]
            for file in (vectors, table):
                if not file.is_file():
                    raise RepspaceError(f"{file}: shard file missing ({fix})")
            shape, dtype = _npy_header(vectors)
            if shape != (rows, self.dim) or dtype != self.dtype:
                raise RepspaceError(
                    f"{vectors}: holds {dtype} vectors of shape {shape}, the manifest says "
                    f"{self.dtype} ({rows}, {self.dim}) ({fix})"
                )
            try:
                table_rows = pq.read_metadata(table).num_rows
            except (OSError, ValueError, pa.ArrowException) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise RepspaceError(
                    f"{table}: not a readable Parquet file ({first}); {fix}"
                ) from None
            if table_rows != rows:
                raise RepspaceError(f"{table}: {table_rows} rows, the manifest says {rows} ({fix})")
        implied = implied_fingerprint(m)
        if implied is not None and m["fingerprint"] != implied:
            raise RepspaceError(
                f"{where}: fingerprint {str(m['fingerprint'])[:12]} is not the one the space's "
                f"encoder, source and maps imply ({implied[:12]}) ({fix})"
            )

    def check_compatible(self, other: Space) -> None:
        """Refuse to mix vectors of two different models."""
        if self.fingerprint != other.fingerprint:
            raise RepspaceError(
                f"{other.path} holds vectors of another model than {self.path} "
                f"(fingerprint {other.fingerprint[:12]} vs {self.fingerprint[:12]}); "
                "encode both with the same encoder, or align them first"
            )

    def summary(self) -> SpaceInfo:
        """The facts ``repspace info`` shows."""
        m = self.manifest
        disk = sum(
            (self.path / s[k]).stat().st_size for s in m["shards"] for k in ("vectors", "table")
        )
        return SpaceInfo(
            path=str(self.path),
            status=m["status"],
            n=m["n"],
            dim=m["dim"],
            dtype=m["dtype"],
            normalized=m["normalized"],
            encoder=m["encoder"]["spec"] if m.get("encoder") else None,
            fingerprint=m["fingerprint"],
            source=m.get("corpus") or m.get("source"),
            columns=m["columns"],
            shards=len(m["shards"]),
            skipped=m["skipped"]["total"],
            transforms=m["transforms"],
            bytes_on_disk=disk,
            created=m["created"],
            updated=m["updated"],
        )


def open_space(
    space: Space | str | Path, *, verify: bool = True, allow_building: bool = False
) -> Space:
    """``space`` (a Space or its directory) for a command that derives something from it: by
    default every shard's sha256 is checked before the data is used (once per process, so
    opening it again is free); ``verify=False`` (``--no-verify``) skips the hashing."""
    if not isinstance(space, Space):
        return Space.open(space, verify=verify, allow_building=allow_building)
    if verify:
        space.verify()
    return space


def implied_fingerprint(manifest: Mapping[str, Any]) -> str | None:
    """The fingerprint a space's provenance implies, as its writers set it: the encoder's; for
    a mapped space ``sha256(source fingerprint|map:map fingerprint)`` of its last transform
    (:func:`~repspace.maps.base.apply_map`); for imported vectors that of the model name or of
    the vectors themselves (:func:`write_space`). None while unnamed vectors are being written
    (or when a damaged transform or encoder record does not say)."""
    transforms = manifest.get("transforms") or []
    if transforms:
        last = transforms[-1] if isinstance(transforms[-1], dict) else {}
        if last.get("applied_to") is None or last.get("fingerprint") is None:
            return None
        chained = f"{last['applied_to']}|map:{last['fingerprint']}"
        return hashlib.sha256(chained.encode()).hexdigest()
    if manifest.get("encoder"):
        recorded = manifest["encoder"].get("fingerprint")
        return None if recorded is None else str(recorded)
    model = (manifest.get("source") or {}).get("model")
    if model:
        return hashlib.sha256(f"external-model:{model}".encode()).hexdigest()
    if manifest["status"] != "complete":
        return None
    digest = hashlib.sha256(b"external-vectors:")
    for shard in manifest["shards"]:
        digest.update(shard["sha256"]["vectors"].encode())
    return digest.hexdigest()


def _npy_header(file: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from a ``.npy`` header (NEP 1), without reading the array."""
    try:
        with open(file, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(f)
    except (OSError, ValueError) as e:
        raise RepspaceError(
            f"{file}: not a readable .npy file ({e}); the shard changed after it was written, "
            "rebuild the space"
        ) from None
    return tuple(shape), dtype


@writes("path")
def write_space(
    path: str | Path,
    dim: int,
    batches: Iterable[tuple[Sequence[str], np.ndarray, Mapping[str, Sequence[Any]]]],
    *,
    model: str | None,
    columns: Sequence[str],
    source: dict[str, Any],
    shard_size: int,
    wait: bool = False,
    overwrite: bool = False,
) -> Space:
    """Write externally produced vectors, one shard per batch of (ids, vectors, columns).

    ``model`` names what produced the vectors: spaces written with the same name share a
    fingerprint and may be mixed. Without a name the fingerprint is derived from the vectors
    themselves, so such a space mixes with nothing but copies of itself.
    """
    from repspace.corpus import SeenIds

    named = hashlib.sha256(f"external-model:{model}".encode()).hexdigest() if model else None
    writer = SpaceWriter.create(
        path,
        dim=dim,
        fingerprint=named or "",
        encoder=None,
        source={**source, "model": model},
        columns=["id", *columns],
        params={"shard_size": shard_size},
        overwrite=overwrite,
    )
    with writer:
        seen = SeenIds()
        for ids, vectors, cols in batches:
            hashes = SeenIds.hashes(ids)
            dup = seen.contains(hashes)
            if dup.any() or len(set(ids)) != len(ids):
                first = (
                    ids[int(np.argmax(dup))]
                    if dup.any()
                    else next(i for i, c in Counter(ids).items() if c > 1)
                )
                raise RepspaceError(f"duplicate id {first!r}: ids must be unique")
            seen.add(hashes)
            writer.add_shard(ids, vectors, cols)
        if named is None:
            digest = hashlib.sha256(b"external-vectors:")
            for shard in writer.manifest["shards"]:
                digest.update(shard["sha256"]["vectors"].encode())
            writer.manifest["fingerprint"] = digest.hexdigest()
        return writer.finish()


def write_shard(
    path: str | Path,
    index: int,
    dim: int,
    ids: Sequence[str],
    vectors: np.ndarray,
    columns: Mapping[str, Sequence[Any]],
) -> dict[str, Any]:
    """Write shard ``index`` of the space at ``path`` (``.npy`` and ``.parquet``, each atomically)
    and return its manifest entry; :meth:`SpaceWriter.record_shard` records it. Pure given its
    arguments, so any process that sees ``path`` (a worker of a cluster) can write a shard and
    the bytes are those of :meth:`SpaceWriter.add_shard`."""
    path = Path(path)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (len(ids), dim):
        raise ValueError(f"shard shape {vectors.shape} != ({len(ids)}, {dim})")
    if not np.isfinite(vectors).all():
        bad = ids[int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])]
        raise RepspaceError(f"vector for id {bad!r} contains NaN or infinity")
    vec_rel, table_rel = f"shards/{index:05d}.npy", f"shards/{index:05d}.parquet"
    atomic_save_npy(path / vec_rel, vectors)
    table = pa.table(
        {"id": pa.array(list(ids), pa.string()), **{k: list(v) for k, v in columns.items()}}
    )
    with atomic_path(path / table_rel) as tmp:
        pq.write_table(table, tmp)
    norms = np.linalg.norm(vectors, axis=1)
    return {
        "rows": len(ids),
        "vectors": vec_rel,
        "table": table_rel,
        "unit_norm": bool(np.all(np.abs(norms - 1) < _NORM_TOL)),
        "sha256": {
            "vectors": sha256_file(path / vec_rel),
            "table": sha256_file(path / table_rel),
        },
    }


class SpaceWriter:
    """Builds a space shard by shard; see :meth:`create` and :meth:`resume`."""

    def __init__(self, path: Path, manifest: dict[str, Any], target: Path | None = None):
        self.path = path  # where the shards are written
        self.target = target or path  # where the finished space is published
        self.manifest = manifest

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        dim: int,
        fingerprint: str,
        encoder: dict[str, Any] | None,
        columns: Sequence[str],
        params: dict[str, Any],
        corpus: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> SpaceWriter:
        """Start a new space at ``path``, with the output policy of every command
        (:func:`~repspace.fsio.check_output`: a non-empty directory is refused unless it holds
        a space and ``overwrite``). Unlike other outputs a new space is built in place, not in
        a work directory published at the end: shard by shard, ``status: building`` in its
        manifest until :meth:`finish`, so an interrupted build can :meth:`resume` there. A
        space that replaces another (``overwrite``) is built beside it and swapped in by
        :meth:`finish` (:func:`~repspace.fsio.publish_dir`), so readers see the old space until
        then and an interrupted overwrite leaves it intact (running it again starts over)."""
        target = Path(path)
        path = _build_dir(target, overwrite)
        (path / "shards").mkdir(parents=True, exist_ok=True)
        stamp = utc_now()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": "building",
            "n": 0,
            "dim": int(dim),
            "dtype": "float32",
            "normalized": True,
            "encoder": encoder,
            "fingerprint": fingerprint,
            "corpus": corpus,
            "source": source,
            "columns": list(columns),
            "shards": [],
            "skipped": {"total": 0, "by_reason": {}},
            "transforms": [],
            "params": params,
            "created": stamp,
            "updated": stamp,
            "repspace_version": __version__,
        }
        writer = cls(path, manifest, target)
        writer._save()
        return writer

    @classmethod
    def resume(cls, path: str | Path) -> SpaceWriter:
        """Continue a space after its last recorded shard; files a crash left behind are dropped."""
        path = Path(path)
        manifest = read_manifest(path)
        if manifest is None:
            raise RepspaceError(f"{path}: no space to resume")
        writer = cls(path, manifest)
        writer._drop_unrecorded()
        return writer

    def _drop_unrecorded(self) -> None:
        """Remove the files no recorded shard names: what a killed writer left (and the run
        directories of its Ray actors, :mod:`~repspace.space.ray_encoding`)."""
        recorded = {s[k] for s in self.manifest["shards"] for k in ("vectors", "table")}
        for leftover in [*self.path.glob(".*.tmp"), *(self.path / "shards").glob("*")]:
            if leftover.relative_to(self.path).as_posix() not in recorded:
                leftover.unlink(missing_ok=True)
        for run in self.path.glob(".ray-*"):
            shutil.rmtree(run, ignore_errors=True)

    def __enter__(self) -> SpaceWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """A failed replacement built beside its target is removed (the old space stays); a
        space built in place is kept, to resume."""
        if kind is not None and self.path != self.target:
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def rows_done(self) -> int:
        return int(self.manifest["n"])

    @property
    def shards_done(self) -> int:
        return len(self.manifest["shards"])

    def add_shard(
        self, ids: Sequence[str], vectors: np.ndarray, columns: Mapping[str, Sequence[Any]]
    ) -> None:
        """Write one shard durably, then record it in the manifest."""
        entry = write_shard(
            self.path, self.shards_done, self.manifest["dim"], ids, vectors, columns
        )
        self.record_shard(entry)

    def record_shard(self, entry: dict[str, Any]) -> None:
        """Record a shard that :func:`write_shard` made durable (shards are recorded in order)."""
        expected = f"shards/{self.shards_done:05d}.npy"
        if entry["vectors"] != expected:
            raise ValueError(f"shard {entry['vectors']} recorded out of order (next: {expected})")
        self.manifest["shards"].append(entry)
        self.manifest["n"] += int(entry["rows"])
        self._save()

    def finish(self, skipped: Mapping[str, int] | None = None) -> Space:
        m = self.manifest
        if m["n"] == 0:
            raise RepspaceError(f"{self.path}: no rows to write (the input is empty)")
        m["normalized"] = all(s["unit_norm"] for s in m["shards"])
        if skipped is not None:
            m["skipped"] = {"total": int(sum(skipped.values())), "by_reason": dict(skipped)}
        m["status"] = "complete"
        self._save()
        self._drop_unrecorded()  # late files of a killed run's Ray actors
        if self.path != self.target:
            publish_dir(self.path, self.target)
        return Space(self.target, m)

    def _save(self) -> None:
        self.manifest["updated"] = utc_now()
        write_format_json(self.path / MANIFEST, self.manifest)


def _drop_unstarted(path: Path) -> None:
    """Remove what a writer killed before its first manifest left (an empty ``shards/``, the
    manifest's temp file), so the same command runs again; the caller holds the writer lock."""
    if not path.is_dir() or (path / MANIFEST).exists():
        return
    entries = list(path.iterdir())
    if entries and all(
        (e.name == "shards" and e.is_dir() and not any(e.iterdir()))
        or (e.name.startswith(f".{MANIFEST}.") and e.name.endswith(".tmp"))
        for e in entries
    ):
        for e in entries:
            e.rmdir() if e.is_dir() else e.unlink()


def _dir_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _build_dir(target: Path, overwrite: bool) -> Path:
    """Where a new space for ``target`` is built: ``target`` itself when it is empty, else (an
    existing space and ``overwrite``) a fresh ``.NAME.overwrite.building`` beside it, the name
    :func:`~repspace.fsio.prepare_output` clears when a killed writer left one."""
    _drop_unstarted(target)
    check_output(target, overwrite, holds=lambda p: read_manifest(p) is not None, what="space")
    stage = target.parent / f".{target.name}.overwrite.building"
    shutil.rmtree(stage, ignore_errors=True)  # the caller holds the writer lock of ``target``
    if not (target.is_dir() and any(target.iterdir())):
        return target
    if read_manifest(target)["status"] != "complete":  # nobody can read it: no need to keep it
        (target / MANIFEST).unlink()  # first: an interrupted delete leaves nothing that looks valid
        shutil.rmtree(target)
        return target
    return stage
