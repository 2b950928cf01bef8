"""``repspace import``: bring your own vectors (.npy, or Parquet with a list column)."""

from __future__ import annotations

import csv
import tokenize
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace.corpus import PARQUET_ERRORS, parquet_file
from repspace.errors import RepspaceError, one_line
from repspace.fsio import read_jsonl, writes
from repspace.space.store import DEFAULT_SHARD_SIZE, Space, write_space

VECTOR_COLUMNS = ("vector", "embedding", "embeddings", "vectors")


@writes("out")
def import_vectors(
    vectors: str | Path,
    out: str | Path,
    *,
    ids: str | Path | None = None,
    id_field: str = "id",
    vector_field: str | None = None,
    model: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    wait: bool = False,
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
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError) as e:  # empty, bad header
        raise RepspaceError(f"{path}: not a plain numeric .npy array ({one_line(e)})") from None
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
            if id_field not in parquet_file(path).schema_arrow.names:
                raise RepspaceError(f"{path}: no {id_field!r} column; pass --id-field")
            values = pq.read_table(path, columns=[id_field]).column(id_field).to_pylist()
        elif suffix in (".jsonl", ".ndjson"):
            values = [obj.get(id_field) for _, obj in read_jsonl(path)]
        else:  # utf-8-sig: a byte-order mark is not part of the first id (or column name)
            with open(path, encoding="utf-8-sig", newline="") as f:
                if suffix in (".csv", ".tsv"):
                    rows = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                    values = [row.get(id_field) for row in rows]
                else:
                    values = [line.rstrip("\r\n") for line in f if line.strip()]
    except (csv.Error, *PARQUET_ERRORS) as e:  # not UTF-8, a field over csv's limit, damaged
        raise RepspaceError(f"{path}: unreadable id file ({one_line(e)})") from None
    return _checked_ids(path, values)


def _checked_ids(path: Path, values: Sequence[Any], start: int = 0) -> list[str]:
    """``values`` as ids: each a non-empty string or an integer (``start``: rows before)."""
    for n, value in enumerate(values, start + 1):
        if value is None or value == "":
            raise RepspaceError(f"{path}: id number {n} is missing or empty")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RepspaceError(f"{path}: id number {n} is {value!r}, not a string or integer")
    return [str(v) for v in values]


def _check_count(where: Path, n_vectors: int, n_ids: int) -> None:
    if n_vectors != n_ids:
        raise RepspaceError(f"{where}: {n_vectors} vectors but {n_ids} ids; give one id per row")


def _parquet_batches(
    path: Path, ids: str | Path | None, id_field: str, vector_field: str | None, shard_size: int
) -> tuple[int, Iterator[tuple[Sequence[str], np.ndarray, dict[str, Any]]]]:
    pf = parquet_file(path)
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
    if not (pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)):
        raise RepspaceError(f"{path}: column {vector_field!r} is {kind}, not a list of numbers")
    try:
        first = pf.read_row_group(0, [vector_field]).column(0) if pf.num_row_groups else None
    except PARQUET_ERRORS as e:
        raise RepspaceError(f"{path}: unreadable Parquet data ({one_line(e)})") from None
    if first is None or len(first) == 0:
        raise RepspaceError(f"{path}: no rows")
    dim = len(first[0].as_py() or [])
    if dim == 0:
        raise RepspaceError(f"{path}: the first vector is empty or null")
    external_ids = read_ids(ids, id_field) if ids else None
    if external_ids is None and id_field not in schema.names:
        raise RepspaceError(f"{path}: no {id_field!r} column; pass --ids FILE or --id-field")
    if external_ids is not None:
        _check_count(path, pf.metadata.num_rows, len(external_ids))

    def batches() -> Iterator[tuple[Sequence[str], np.ndarray, dict[str, Any]]]:
        columns = [vector_field] if external_ids is not None else [vector_field, id_field]
        start = 0
        stream = pf.iter_batches(batch_size=shard_size, columns=columns)
        while True:
            try:
                batch = next(stream, None)
                own_ids = batch is not None and external_ids is None
                ids_ = batch.column(id_field).to_pylist() if own_ids else []
            except PARQUET_ERRORS as e:
                raise RepspaceError(
                    f"{path}: unreadable Parquet data after row {start} ({one_line(e)})"
                ) from None
            if batch is None:
                return
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
                row_ids = _checked_ids(path, ids_, start)
            start += len(batch)
            yield row_ids, matrix, {}

    return dim, batches()
