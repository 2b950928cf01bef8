"""Corpus: streaming records (id, text, extra fields) from JSONL, CSV/TSV, Parquet and text files.

Rules, shared by every command that reads documents:

* A corpus is one or more files or directories. Directories are walked recursively in sorted
  order; files with a supported suffix are read (``.jsonl``/``.ndjson``, ``.csv``, ``.tsv``,
  ``.parquet``, ``.txt``), hidden files are ignored.
* ``text_field`` (default ``text``) must be a non-empty string in every record. Plain-text files
  hold one document per line; blank lines there are not documents.
* ``id_field`` (default ``id``). If a file's first record (JSONL), header (CSV/TSV) or schema
  (Parquet) has no such field, or the file is plain text, ids are generated for that file as
  ``<path>:<n>``: ``<path>`` is the file's path relative to the corpus argument it came from
  (the file name when the argument is the file itself) and ``<n>`` is the 1-based line number of
  the record (JSONL, text, CSV/TSV) or its 1-based row number (Parquet). In a file that has ids,
  a record without one is an error. Integer ids are turned into strings.
* Ids are unique across the whole corpus.
* Problems with a record (malformed row, missing field, empty text, invalid UTF-8, duplicate id)
  raise :class:`RepspaceError` naming file and line, unless ``on_error="skip"``: then the record
  is skipped and counted in :attr:`Corpus.skipped`.

Memory does not grow with the number of documents, except for 8 bytes per id kept to detect
duplicates (64-bit hashes; a false "duplicate" needs a hash collision, odds ~n²/2⁶⁵).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace.errors import RepspaceError, one_line
from repspace.fsio import JsonlError, jsonl_object
from repspace.progress import progress_bar

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "text",
}
OnError = Literal["raise", "skip"]
_CHUNK = 4096


@dataclass(frozen=True)
class Record:
    """One document: its id, its text and any extra fields that were asked for."""

    id: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    name: str  # the path relative to the corpus argument it came from
    format: str


@dataclass(frozen=True)
class CorpusScan:
    """What one pass over the raw bytes tells: a content hash and a size estimate."""

    hash: str
    files: int
    bytes: int
    approx_records: int


class _Problem(Exception):
    """A bad record; becomes a RepspaceError or a counted skip."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SeenIds:
    """A set of 64-bit id hashes kept as sorted numpy runs merged like a binary counter."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    @staticmethod
    def hashes(ids: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (
                int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little")
                for i in ids
            ),
            dtype=np.uint64,
            count=len(ids),
        )

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            found |= run[pos] == hashes
        return found

    def add(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        self._runs.append(np.sort(hashes))
        while len(self._runs) > 1 and len(self._runs[-1]) >= len(self._runs[-2]):
            top = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], top]))


class Corpus:
    """A streaming view of documents on disk; iterate it to get :class:`Record` objects.

    Parameters mirror the CLI flags ``--id-field``, ``--text-field``, ``--field`` (extra fields
    kept with each record) and ``--on-error``.
    """

    def __init__(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        id_field: str = "id",
        text_field: str = "text",
        fields: Sequence[str] = (),
        on_error: OnError = "raise",
    ) -> None:
        self.paths = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
        self.id_field = id_field
        self.text_field = text_field
        self.fields = tuple(fields)
        self.on_error = on_error
        self.skipped: Counter[str] = Counter()

    # ------------------------------------------------------------------ files
    def files(self) -> list[CorpusFile]:
        """The files of the corpus, in reading order."""
        if self.on_error not in ("raise", "skip"):
            raise RepspaceError(f"on_error must be 'raise' or 'skip', not {self.on_error!r}")
        if not self.paths:
            raise RepspaceError("no corpus given: pass at least one file or directory")
        out: list[CorpusFile] = []
        for root in self.paths:
            if root.is_dir():
                found = [
                    p
                    for p in sorted(root.rglob("*"))
                    if p.is_file()
                    and p.suffix.lower() in FORMATS
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)
                ]
                if not found:
                    raise RepspaceError(
                        f"{root}: directory holds no corpus files "
                        f"(expected {', '.join(sorted(FORMATS))})"
                    )
                out += [CorpusFile(p, p.relative_to(root).as_posix(), _format(p)) for p in found]
            elif root.is_file():
                out.append(CorpusFile(root, root.name, _format(root)))
            else:
                raise RepspaceError(f"{root}: no such file or directory")
        return out

    def scan(self, progress: bool = False) -> CorpusScan:
        """Hash the raw bytes of every file (names included) and estimate the record count."""
        total = hashlib.sha256()
        approx = 0
        files = self.files()
        size = sum(f.path.stat().st_size for f in files)
        with progress_bar("hashing corpus", size, "B", enabled=progress and size > 1 << 28) as bar:
            for f in files:
                h = hashlib.sha256()
                lines = 0
                with open(f.path, "rb") as fh:
                    while block := fh.read(1 << 20):
                        h.update(block)
                        lines += block.count(b"\n")
                        bar.advance(len(block))
                if f.format == "parquet":
                    approx += parquet_file(f.path).metadata.num_rows
                else:
                    approx += max(lines - (f.format in ("csv", "tsv")), 0)
                total.update(f"{f.name}\0{h.hexdigest()}\n".encode())
        return CorpusScan(total.hexdigest(), len(files), size, approx)

    def describe(self) -> dict[str, Any]:
        """The reading options, as recorded in a space's manifest."""
        return {
            "paths": [str(p) for p in self.paths],
            "id_field": self.id_field,
            "text_field": self.text_field,
            "fields": list(self.fields),
            "on_error": self.on_error,
        }

    # ---------------------------------------------------------------- records
    def __iter__(self) -> Iterator[Record]:
        for _, _, rec in self.located():
            yield rec

    def located(self) -> Iterator[tuple[int, int, Record]]:
        """Iterate ``(file number in files(), line or row number, record)``: where each record
        is, for commands that go back to the original bytes."""
        self.skipped = Counter()
        seen = SeenIds()
        for chunk in chunked(self._validated(), _CHUNK):
            ids = [r.id for _, r in chunk]
            hashes = SeenIds.hashes(ids)
            earlier = seen.contains(hashes)
            in_chunk: set[str] = set()
            keep = np.ones(len(chunk), dtype=bool)
            for j, ((where, _, _), rec) in enumerate(chunk):
                if earlier[j] or rec.id in in_chunk:
                    keep[j] = False
                    self._problem(
                        _Problem("duplicate id", f"{where}: duplicate id {rec.id!r}"),
                        hint="ids must be unique across the corpus",
                    )
                else:
                    in_chunk.add(rec.id)
            seen.add(hashes[keep])
            for j, ((_, file_no, lineno), rec) in enumerate(chunk):
                if keep[j]:
                    yield file_no, lineno, rec

    def _problem(self, problem: _Problem, hint: str = "") -> None:
        if self.on_error == "skip":
            self.skipped[problem.reason] += 1
            return
        hint = hint or "fix the record"
        raise RepspaceError(f"{problem} ({hint}, or pass --on-error skip to skip such records)")

    def _validated(self) -> Iterator[tuple[tuple[str, int, int], Record]]:
        for file_no, f in enumerate(self.files()):
            reader = _READERS[f.format]
            has_ids: bool | None = None
            for lineno, row in reader(self, f):
                where = f"{f.path}:{lineno}"
                try:
                    if isinstance(row, _Problem):
                        raise row
                    if isinstance(row, str):
                        text, rid, extra = row, None, {}
                    else:
                        if has_ids is None:
                            has_ids = self.id_field in row
                        text = row.get(self.text_field)
                        rid = row.get(self.id_field) if has_ids else None
                        if has_ids and rid is None:
                            raise _Problem(
                                "missing field", f"{where}: missing field {self.id_field!r}"
                            )
                        extra = {k: row.get(k) for k in self.fields}
                    if text is None:
                        raise _Problem(
                            "missing field", f"{where}: missing field {self.text_field!r}"
                        )
                    if not isinstance(text, str):
                        raise _Problem(
                            "malformed row",
                            f"{where}: field {self.text_field!r} is a {type(text).__name__}, "
                            "not a string",
                        )
                    if not text.strip():
                        raise _Problem("empty text", f"{where}: empty text")
                    if rid is None:
                        rid = f"{f.name}:{lineno}"
                    elif isinstance(rid, int) and not isinstance(rid, bool):
                        rid = str(rid)
                    elif not isinstance(rid, str) or not rid:
                        raise _Problem(
                            "malformed row",
                            f"{where}: id {rid!r} is not a non-empty string or integer",
                        )
                    yield (where, file_no, lineno), Record(rid, text, extra)
                except _Problem as p:
                    self._problem(p)


def _format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise RepspaceError(
            f"{path}: unsupported corpus file type {path.suffix or '(none)'!r} "
            f"(use one of {', '.join(sorted(FORMATS))})"
        ) from None


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decoded_lines(f: CorpusFile) -> Iterator[tuple[int, str | _Problem]]:
    """Lines of a file as text, 1-based; undecodable lines come out as problems."""
    with open(f.path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:  # a byte-order mark (Excel's "CSV UTF-8") is not part of the first line
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield (
                    lineno,
                    _Problem(
                        "invalid utf-8", f"{f.path}:{lineno}: invalid UTF-8 at byte {e.start}"
                    ),
                )


def _read_jsonl(corpus: Corpus, f: CorpusFile) -> Iterator[tuple[int, Any]]:
    with open(f.path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                obj = jsonl_object(raw, f"{f.path}:{lineno}")
            except JsonlError as e:
                reason = "invalid utf-8" if e.kind == "utf-8" else "malformed row"
                yield lineno, _Problem(reason, str(e))
                continue
            if obj is not None:
                yield lineno, obj


def _read_text(corpus: Corpus, f: CorpusFile) -> Iterator[tuple[int, Any]]:
    for lineno, line in _decoded_lines(f):
        if isinstance(line, _Problem):
            yield lineno, line
        elif line.strip():
            yield lineno, line.rstrip("\r\n")


def _read_delimited(corpus: Corpus, f: CorpusFile) -> Iterator[tuple[int, Any]]:
    csv.field_size_limit(1 << 30)
    bad_lines: dict[int, _Problem] = {}

    def text_lines() -> Iterator[str]:
        for lineno, line in _decoded_lines(f):
            if isinstance(line, _Problem):
                bad_lines[lineno] = line
                yield "\n"  # keeps the csv reader's line count in step
            else:
                yield line

    reader = csv.reader(text_lines(), delimiter="\t" if f.format == "tsv" else ",")
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise RepspaceError(f"{f.path}:1: unreadable header ({e})") from None
    if bad_lines:
        raise RepspaceError(f"{bad_lines[1]} (the header must be valid UTF-8)")
    if corpus.text_field not in header:
        raise RepspaceError(
            f"{f.path}:1: no column {corpus.text_field!r} in the header "
            f"(columns: {', '.join(map(repr, header))}); pass --text-field"
        )
    start = 2
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            values = _Problem("malformed row", f"{f.path}:{start}: malformed row ({e})")
        bad = [bad_lines.pop(n) for n in sorted(bad_lines) if n <= reader.line_num]
        if bad:
            yield start, bad[0]
        elif isinstance(values, _Problem):
            yield start, values
        elif values and len(values) != len(header):
            yield (
                start,
                _Problem(
                    "malformed row",
                    f"{f.path}:{start}: {len(values)} fields where the header has {len(header)}",
                ),
            )
        elif values:
            yield start, dict(zip(header, values, strict=True))
        start = reader.line_num + 1


def parquet_file(path: Path) -> pq.ParquetFile:
    """Open a Parquet file; one that is not (empty, truncated, another format) is a one-line
    error."""
    try:
        return pq.ParquetFile(path)
    except PARQUET_ERRORS as e:
        raise RepspaceError(f"{path}: not a readable Parquet file ({one_line(e)})") from None


#: What pyarrow raises for a damaged Parquet file (OSError: undecodable metadata;
#: UnicodeDecodeError: a column name that is not UTF-8).
PARQUET_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


def _read_parquet(corpus: Corpus, f: CorpusFile) -> Iterator[tuple[int, Any]]:
    pf = parquet_file(f.path)
    names = pf.schema_arrow.names
    if corpus.text_field not in names:
        raise RepspaceError(
            f"{f.path}: no column {corpus.text_field!r} (columns: {', '.join(map(repr, names))}); "
            "pass --text-field"
        )
    wanted = [
        c for c in dict.fromkeys([corpus.id_field, corpus.text_field, *corpus.fields]) if c in names
    ]
    row = 0
    batches = pf.iter_batches(batch_size=8192, columns=wanted)
    while True:
        try:
            batch = next(batches, None)
            records = batch.to_pylist() if batch is not None else []
        except PARQUET_ERRORS as e:  # a damaged page, an unsupported type
            raise RepspaceError(
                f"{f.path}: unreadable Parquet data after row {row} ({one_line(e)})"
            ) from None
        if batch is None:
            return
        for rec in records:
            row += 1
            yield row, rec


_READERS = {
    "jsonl": _read_jsonl,
    "text": _read_text,
    "csv": _read_delimited,
    "tsv": _read_delimited,
    "parquet": _read_parquet,
}


def as_corpus(corpus: str | Path | Sequence[str | Path] | Corpus, **options: Any) -> Corpus:
    """Accept a path, several paths or a ready :class:`Corpus`."""
    return corpus if isinstance(corpus, Corpus) else Corpus(corpus, **options)


__all__ = ["Corpus", "CorpusScan", "Record", "SeenIds", "as_corpus", "chunked"]
