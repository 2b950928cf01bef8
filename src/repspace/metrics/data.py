"""What the metrics measure: validated matrices from spaces or arrays, samples, joins on ids.

Every check here turns bad input into a one-line :class:`~repspace.errors.RepspaceError`
(NaN/inf, zero vectors, too few rows, no shared ids, unknown ids in a pairs file) rather than
a silently wrong number.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import read_jsonl
from repspace.space import Space, open_space

#: Rows per block when streaming over a matrix (float64 block: BLOCK * dim * 8 bytes).
BLOCK = 8192
MIN_ROWS = 3


@dataclass
class Rows:
    """A matrix to measure, with its ids (None for a bare array) and where it came from."""

    vectors: np.ndarray
    ids: list[str] | None
    name: str
    space: Space | None = None

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"name": self.name, "n": self.n, "dim": self.dim}
        if self.space is not None:
            info.update(
                path=str(self.space.path),
                encoder=self.space.encoder_spec,
                fingerprint=self.space.fingerprint,
                normalized=self.space.normalized,
            )
        return info


def load(
    data: Space | np.ndarray | str | Path, name: str | None = None, *, verify: bool = True
) -> Rows:
    """A space (object or directory) or a 2-D array as :class:`Rows`; the shape is checked here,
    the values by :func:`check_values`; a space's shards are checksum-verified first unless
    ``verify`` is False (:func:`~repspace.space.open_space`)."""
    if isinstance(data, str | Path | Space):
        data = open_space(data, verify=verify)
    if isinstance(data, Space):
        vectors = data.vectors
        rows = Rows(vectors, data.ids, name or str(data.path), data)
    else:
        vectors = np.asarray(data)
        if vectors.ndim != 2:
            raise RepspaceError(
                f"{name or 'array'}: expected a 2-D array, got shape {vectors.shape}"
            )
        if not np.issubdtype(vectors.dtype, np.floating):
            vectors = vectors.astype(np.float64)
        rows = Rows(vectors, None, name or "array")
    if rows.n < MIN_ROWS:
        raise RepspaceError(
            f"{rows.name}: {rows.n} rows; the metrics need at least {MIN_ROWS} vectors"
        )
    if rows.dim < 1:
        raise RepspaceError(f"{rows.name}: vectors have no dimensions")
    return rows


def row_norms(
    vectors: np.ndarray, name: str = "array", ids: Sequence[str] | None = None
) -> np.ndarray:
    """L2 norm of every row (float64, in blocks); refuses NaN/inf values and zero vectors."""
    norms = np.empty(len(vectors), dtype=np.float64)
    for s in range(0, len(vectors), BLOCK):
        block = np.asarray(vectors[s : s + BLOCK], dtype=np.float64)
        norms[s : s + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
    bad = ~np.isfinite(norms)
    if bad.any():
        where = _where(np.flatnonzero(bad), ids)
        raise RepspaceError(
            f"{name}: {int(bad.sum()):,} vectors contain NaN or infinity (first: {where}); "
            "re-encode or drop them"
        )
    zero = norms == 0
    if zero.any():
        where = _where(np.flatnonzero(zero), ids)
        raise RepspaceError(
            f"{name}: {int(zero.sum()):,} zero vectors (first: {where}); cosine geometry is "
            "undefined for them, drop them before measuring"
        )
    return norms


def _where(rows: np.ndarray, ids: Sequence[str] | None) -> str:
    first = int(rows[0])
    return f"id {ids[first]!r}" if ids is not None else f"row {first}"


def check_values(rows: Rows) -> np.ndarray:
    """Validate values (see :func:`row_norms`) and return the row norms."""
    return row_norms(rows.vectors, rows.name, rows.ids)


def sample_indices(n: int, size: int | None, seed: int = 0) -> np.ndarray:
    """``size`` distinct row indices drawn uniformly (sorted), or all rows when ``size`` is None
    or at least ``n``."""
    if size is None or size >= n:
        return np.arange(n)
    if size < MIN_ROWS:
        raise RepspaceError(f"sample size {size} is too small; use at least {MIN_ROWS}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def join(rows: Sequence[Rows]) -> tuple[list[str] | None, list[np.ndarray]]:
    """The ids every input holds (in the first input's order) and, per input, the row index of
    each. Bare arrays are joined by position and must have the same number of rows."""
    if all(r.ids is None for r in rows):
        counts = {r.n for r in rows}
        if len(counts) > 1:
            raise RepspaceError(
                "arrays without ids are compared row by row and need the same number of rows "
                f"(got {', '.join(str(r.n) for r in rows)})"
            )
        return None, [np.arange(rows[0].n) for _ in rows]
    if any(r.ids is None for r in rows):
        raise RepspaceError("cannot join an array without ids to a space; give both as spaces")
    positions = [{id_: i for i, id_ in enumerate(r.ids or [])} for r in rows]
    shared = [id_ for id_ in rows[0].ids or [] if all(id_ in p for p in positions[1:])]
    if not shared:
        raise RepspaceError(
            f"{rows[0].name} and {', '.join(r.name for r in rows[1:])} share no ids; "
            "compare spaces encoded from the same records"
        )
    if len(shared) < MIN_ROWS:
        raise RepspaceError(
            f"only {len(shared)} ids are shared by all inputs; the metrics need at least {MIN_ROWS}"
        )
    return shared, [np.fromiter((p[i] for i in shared), np.int64, len(shared)) for p in positions]


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Positive pairs from a file: two ids per line, tab-separated (``.tsv``/``.txt``), comma-
    separated (``.csv``), or JSONL objects with ``a`` and ``b``. ``#`` lines are comments."""
    path = Path(path)
    if not path.is_file():
        raise RepspaceError(f"{path}: no such pairs file")
    pairs: list[tuple[str, str]] = []
    if path.suffix == ".jsonl":
        for line_no, obj in read_jsonl(path, comments=True):
            if "a" not in obj or "b" not in obj:
                raise RepspaceError(
                    f'{path}:{line_no}: expected a JSON object with "a" and "b" ids'
                )
            pairs.append((str(obj["a"]), str(obj["b"])))
    else:
        delimiter = "," if path.suffix == ".csv" else "\t"
        try:  # utf-8-sig: a byte-order mark is not part of the first id
            with open(path, encoding="utf-8-sig", newline="") as f:
                for line_no, row in enumerate(csv.reader(f, delimiter=delimiter), 1):
                    if not row or not "".join(row).strip() or row[0].startswith("#"):
                        continue
                    if len(row) != 2:
                        sep = "comma" if delimiter == "," else "tab"
                        raise RepspaceError(
                            f"{path}:{line_no}: expected two {sep}-separated ids, got "
                            f"{len(row)} fields"
                        )
                    pairs.append((row[0].strip(), row[1].strip()))
        except (UnicodeDecodeError, csv.Error) as e:  # not UTF-8, a field over csv's limit
            raise RepspaceError(f"{path}: unreadable pairs file ({e}); save it as UTF-8") from None
    if not pairs:
        raise RepspaceError(f"{path}: no pairs in the file")
    return pairs


def pair_indices(
    pairs: Sequence[tuple[str, str]] | Sequence[tuple[int, int]],
    ids: Sequence[str] | None,
    n: int,
    source: str = "pairs",
) -> np.ndarray:
    """Pairs of ids (or of row numbers, for arrays without ids) as an ``(m, 2)`` index array."""
    if ids is None:
        out = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(out) and (out.min() < 0 or out.max() >= n):
            raise RepspaceError(f"{source}: row numbers must be in [0, {n})")
        return out
    position = {id_: i for i, id_ in enumerate(ids)}
    out = np.empty((len(pairs), 2), dtype=np.int64)
    for k, (a, b) in enumerate(pairs):
        for j, id_ in enumerate((a, b)):
            if str(id_) not in position:
                raise RepspaceError(
                    f"{source}: pair {k + 1} names id {str(id_)!r}, which is not in the space"
                )
            out[k, j] = position[str(id_)]
    return out
