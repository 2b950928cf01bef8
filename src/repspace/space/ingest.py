"""``repspace import``: bring your own vectors (.npy, or Parquet with a list column)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace.errors import RepspaceError
from repspace.fsio import read_jsonl
from repspace.space.store import DEFAULT_SHARD_SIZE, Space, write_space

VECTOR_COLUMNS = ("vector", "embedding", "embeddings", "vectors")


def import_vectors(
    vectors: str | Path,
    out: str | Path,
    *,
    ids: str | Path | None = None,
    id_field: str = "id",
    vector_field: str | None = None,
    model: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    overwrite: bool = False,
) -> Space:
    """Write a space from a ``.npy`` matrix or a Parquet file with a fixed-length list column.

    Ids come from ``ids`` (a ``.txt`` file with one id per line, or a JSONL/CSV/TSV/Parquet file
    with an ``id_field`` column), or from the Parquet file's own ``id_field`` column. ``model``
    names the model that made the vectors (see :func:`repspace.space.write_space`).
    """
    vectors = Path(vectors)
    if not vectors.is_file():
        raise RepspaceError(f"{vectors}: no such file")
    source = {"kind": "import", "vectors": str(vectors), "ids": str(ids) if ids else None}
    common: dict[str, Any] = dict(model=model, columns=[], source=source, shard_size=shard_size)
    if vectors.suffix == ".npy":
        if ids is None:
            raise RepspaceError(f"{vectors}: a .npy file has no ids; pass --ids FILE")
        matrix = _load_npy(vectors)
        id_list = read_ids(ids, id_field)
        _check_count(vectors, len(matrix), len(id_list))
        batches = (
            (id_list[s : s + shard_size], matrix[s : s + shard_size], {})
            for s in range(0, len(id_list), shard_size)
        )
        return write_space(out, matrix.shape[1], batches, overwrite=overwrite, **common)
    if vectors.suffix == ".parquet":
        dim, batches = _parquet_batches(vectors, ids, id_field, vector_field, shard_size)
        return write_space(out, dim, batches, overwrite=overwrite, **common)
    raise RepspaceError(f"{vectors}: vectors must be a .npy or .parquet file")


def _load_npy(path: Path) -> np.ndarray:
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise RepspaceError(f"{path}: not a plain numeric .npy array ({e})") from None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise RepspaceError(f"{path}: expected a non-empty 2-D array, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(
        matrix.dtype, np.complexfloating
    ):
        raise RepspaceError(f"{path}: expected real numbers, got dtype {matrix.dtype}")
    return matrix


def read_ids(path: str | Path, id_field: str = "id") -> list[str]:
    """Ids from a text file (one per line), or the ``id_field`` column of a JSONL, CSV, TSV or
    Parquet file."""
    path = Path(path)
    if not path.is_file():
        raise RepspaceError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            if id_field not in pq.ParquetFile(path).schema_arrow.names:
                raise RepspaceError(f"{path}: no {id_field!r} column; pass --id-field")
            values = pq.read_table(path, columns=[id_field]).column(id_field).to_pylist()
        elif suffix in (".jsonl", ".ndjson"):
            values = [obj.get(id_field) for _, obj in read_jsonl(path)]
        else:
            with open(path, encoding="utf-8", newline="") as f:
                if suffix in (".csv", ".tsv"):
                    rows = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                    values = [row.get(id_field) for row in rows]
                else:
                    values = [line.rstrip("\r\n") for line in f if line.strip()]
    except UnicodeDecodeError as e:
        raise RepspaceError(f"{path}: unreadable id file ({e})") from None
    for n, value in enumerate(values, 1):
        if value is None or value == "":
            raise RepspaceError(f"{path}: id number {n} is missing or empty")
    return [str(v) for v in values]


def _check_count(where: Path, n_vectors: int, n_ids: int) -> None:
    if n_vectors != n_ids:
        raise RepspaceError(f"{where}: {n_vectors} vectors but {n_ids} ids; give one id per row")


def _parquet_batches(
    path: Path, ids: str | Path | None, id_field: str, vector_field: str | None, shard_size: int
) -> tuple[int, Iterator[tuple[Sequence[str], np.ndarray, dict[str, Any]]]]:
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    if vector_field is None:
        vector_field = next((c for c in VECTOR_COLUMNS if c in schema.names), None)
    if vector_field is None or vector_field not in schema.names:
        raise RepspaceError(
            f"{path}: no vector column (tried {vector_field or ', '.join(VECTOR_COLUMNS)}); "
            "pass --vector-field"
        )
    kind = schema.field(vector_field).type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise RepspaceError(f"{path}: column {vector_field!r} is {kind}, not a list of numbers")
    first = pf.read_row_group(0, columns=[vector_field]).column(0) if pf.num_row_groups else None
    if first is None or len(first) == 0:
        raise RepspaceError(f"{path}: no rows")
    dim = len(first[0].as_py() or [])
    external_ids = read_ids(ids, id_field) if ids else None
    if external_ids is None and id_field not in schema.names:
        raise RepspaceError(f"{path}: no {id_field!r} column; pass --ids FILE or --id-field")
    if external_ids is not None:
        _check_count(path, pf.metadata.num_rows, len(external_ids))

    def batches() -> Iterator[tuple[Sequence[str], np.ndarray, dict[str, Any]]]:
        columns = [vector_field] if external_ids is not None else [vector_field, id_field]
        start = 0
        for batch in pf.iter_batches(batch_size=shard_size, columns=columns):
            col = batch.column(vector_field)
            lengths = col.value_lengths() if hasattr(col, "value_lengths") else None
            if col.null_count or (lengths is not None and (lengths.to_numpy() != dim).any()):
                raise RepspaceError(
                    f"{path}: rows {start + 1}..{start + len(batch)} hold a null vector or one "
                    f"whose length is not {dim}"
                )
            matrix = col.flatten().to_numpy(zero_copy_only=False).reshape(len(batch), dim)
            if external_ids is not None:
                row_ids = external_ids[start : start + len(batch)]
            else:
                row_ids = [str(i) for i in batch.column(id_field).to_pylist()]
            start += len(batch)
            yield row_ids, matrix, {}

    return dim, batches()
