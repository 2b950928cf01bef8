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
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace._version import __version__
from repspace.errors import RepspaceError
from repspace.fsio import (
    atomic_path,
    atomic_save_npy,
    atomic_write_json,
    check_output,
    read_format_json,
    sha256_file,
    utc_now,
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
    if not file.is_file():
        return None
    return read_format_json(file, FORMAT, FORMAT_VERSION, "space manifest")


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

    @classmethod
    def open(cls, path: str | Path, *, verify: bool = False, allow_building: bool = False) -> Space:
        """Open the space at ``path``; ``verify`` re-checks every shard's sha256."""
        manifest = read_manifest(path)
        if manifest is None:
            raise RepspaceError(f"{path}: not a repspace space (no {MANIFEST})")
        space = cls(path, manifest)
        if manifest["status"] != "complete" and not allow_building:
            raise RepspaceError(
                f"{path}: space is still {manifest['status']} "
                f"({manifest['n']} rows so far); re-run the command that builds it to finish it"
            )
        for shard in manifest["shards"]:
            for key in ("vectors", "table"):
                if not (space.path / shard[key]).is_file():
                    raise RepspaceError(f"{space.path / shard[key]}: shard file missing")
        if verify:
            space.verify()
        return space

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
        """The vectors of shard ``i``, memory-mapped read-only."""
        return np.load(
            self.path / self.manifest["shards"][i]["vectors"], mmap_mode="r", allow_pickle=False
        )

    def iter_shards(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """(ids, vectors) per shard, in row order, without loading the whole space."""
        for i, shard in enumerate(self.manifest["shards"]):
            ids = pq.read_table(self.path / shard["table"], columns=["id"]).column("id").to_pylist()
            yield ids, self.shard_vectors(i)

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
        tables = [
            pq.read_table(self.path / s["table"], columns=list(columns) if columns else None)
            for s in self.manifest["shards"]
        ]
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
        """Re-hash every shard file and compare with the manifest."""
        for shard in self.manifest["shards"]:
            for key in ("vectors", "table"):
                file = self.path / shard[key]
                if sha256_file(file) != shard["sha256"][key]:
                    raise RepspaceError(
                        f"{file}: checksum mismatch, the file changed after it was written "
                        "(rebuild the space with --overwrite)"
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


def write_space(
    path: str | Path,
    dim: int,
    batches: Iterable[tuple[Sequence[str], np.ndarray, Mapping[str, Sequence[Any]]]],
    *,
    model: str | None,
    columns: Sequence[str],
    source: dict[str, Any],
    shard_size: int,
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

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = path
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
        a space and ``overwrite``). Unlike other outputs a space is built in place, not in a
        work directory published at the end: shard by shard, ``status: building`` in its
        manifest until :meth:`finish`, so an interrupted build can :meth:`resume` there."""
        path = Path(path)
        _clear_target(path, overwrite)
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
        writer = cls(path, manifest)
        writer._save()
        return writer

    @classmethod
    def resume(cls, path: str | Path) -> SpaceWriter:
        """Continue a space after its last recorded shard; files a crash left behind are dropped."""
        path = Path(path)
        manifest = read_manifest(path)
        if manifest is None:
            raise RepspaceError(f"{path}: no space to resume")
        recorded = {s[k] for s in manifest["shards"] for k in ("vectors", "table")}
        for leftover in [*path.glob(".*.tmp"), *(path / "shards").glob("*")]:
            if leftover.relative_to(path).as_posix() not in recorded:
                # a Ray worker of a killed driver may still be finishing (renaming) this file
                leftover.unlink(missing_ok=True)
        return cls(path, manifest)

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
        return Space(self.path, m)

    def _save(self) -> None:
        self.manifest["updated"] = utc_now()
        atomic_write_json(self.path / MANIFEST, self.manifest)


def _clear_target(path: Path, overwrite: bool) -> None:
    check_output(path, overwrite, holds=lambda p: read_manifest(p) is not None, what="space")
    if not (path.is_dir() and any(path.iterdir())):
        return
    # Drop the manifest first: an interrupted delete then leaves no space that looks valid.
    (path / MANIFEST).unlink()
    shutil.rmtree(path)
