"""Parsers: property-based fuzzing (Hypothesis, derandomized: the same cases on every run) of
every input reader. For any generated input a reader either returns a correct result or refuses
with a one-line :class:`RepspaceError` (exit code 2 at the CLI); never another exception, never
a hang (each call runs under an alarm).

Inputs: random bytes, random text in other encodings (latin-1, UTF-16, UTF-32, BOMs), valid
files made by a model of the format and then mangled (truncated, bytes flipped or inserted,
re-encoded, CRLF), valid-shaped JSON with wrong types, missing and extra fields, NaN, huge and
deeply nested values, long lines, duplicate ids. Where the input is valid the result is checked
against the model (records, vectors, judgments, pairs); every crash the fuzzer found is kept as
an explicit ``@example``. ``EXAMPLES`` (below) is the number of cases per reader.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import repspace
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace.corpus import Corpus
from repspace.errors import RepspaceError
from repspace.fsio import json_checksum

pytestmark = pytest.mark.slow

T = TypeVar("T")
#: Cases per reader (the figure bench/results/reliability.json reports as fuzz cases); a longer
#: campaign sets REPSPACE_FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("REPSPACE_FUZZ_EXAMPLES", "150"))
#: A reader that runs longer than this on one small input is hung.
HANG_SECONDS = 20
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    # seeded: CI runs the same cases every time (REPSPACE_FUZZ_RANDOM=1: new cases each run)
    derandomize=not os.environ.get("REPSPACE_FUZZ_RANDOM"),
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each case overwrites its own files
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
SLOW_FUZZ = settings(FUZZ, deadline=5000)  # readers that write a space or open an index


# ------------------------------------------------------------------------------- oracle
class Hang(Exception):
    """A reader ran past the alarm."""


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"the reader ran for more than {seconds} s on a small input")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(fn: Callable[[], T]) -> T | RepspaceError:
    """``fn()``'s result, or the RepspaceError it raised (checked to be one non-empty line).
    Any other exception, or a hang, fails the test."""
    with _alarm(HANG_SECONDS):
        try:
            result = fn()
        except RepspaceError as e:
            lines = str(e).splitlines()
            assert len(lines) == 1 and lines[0].strip(), f"not a one-line error: {str(e)!r}"
            event("refused")
            return e
    event("accepted")
    return result


def refused(value: object) -> bool:
    return isinstance(value, RepspaceError)


# ---------------------------------------------------------------------------- strategies
ENCODINGS = ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"]
JSON_SPECIAL: list[Any] = [
    None, True, False, 0, -1, 1, 2, 2**31, 2**63, 10**30, -(10**20), 1.5, -0.0, 1e308,
    math.nan, math.inf, -math.inf, "", " ", "\t\n", "é", "\x00", "../../etc/passwd",
    "/etc/passwd", "shards/../../x", "x" * 300, [], {}, [1, 2], {"a": 1},
]  # fmt: skip
#: JSON text Python's parser chokes on in its own ways (digit limit, recursion).
RAW_JSON = ["1" * 5000, "[" * 50_000 + "]" * 50_000, '{"a":' * 30_000 + "1" + "}" * 30_000,
            "1e999", "-1e999", "NaN", "Infinity", '"\\ud800"', "1" * 400 + ".5"]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(JSON_SPECIAL),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=8,
)


def dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, default=str)


#: (operation, position or parameter, bytes): a damage done to a file's bytes.
Mangle = tuple[str, int, bytes]
MANGLES = st.tuples(
    st.sampled_from(
        ["keep", "keep", "truncate", "flip", "insert", "encode", "crlf", "raw", "long", "double"]
    ),
    st.integers(0, 1 << 20),
    st.binary(min_size=1, max_size=12),
)


def mangle(data: bytes, m: Mangle) -> bytes:
    """``data`` with the damage ``m`` done to it."""
    op, at, junk = m
    pos = at % (len(data) + 1)
    if op == "truncate":
        return data[:pos]
    if op == "flip" and data:
        i = at % len(data)
        return data[:i] + bytes([data[i] ^ (junk[0] or 1)]) + data[i + 1 :]
    if op == "insert":
        return data[:pos] + junk + data[pos:]
    if op == "encode":
        text = data.decode("utf-8", "surrogateescape")
        return text.encode(ENCODINGS[at % len(ENCODINGS)], "replace")
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "raw":  # a JSON value Python's parser cannot take, in place of a number
        raw = RAW_JSON[at % len(RAW_JSON)].encode()
        digits = [i for i, c in enumerate(data) if chr(c).isdigit()]
        if not digits:
            return data + raw
        i = digits[at % len(digits)]
        return data[:i] + raw + data[i + 1 :]
    if op == "long":  # a long line (bounded: 200 kB)
        return data[:pos] + b"x" * (100_000 + at % 100_000) + data[pos:]
    if op == "double":  # every line twice: duplicate ids
        return b"".join(line + line for line in data.splitlines(keepends=True))
    return data


def nasty_bytes(valid: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Random bytes, random text in some encoding, or (given a model of the format) a valid
    file, damaged or not."""
    options = [
        st.binary(max_size=400),
        st.builds(
            lambda t, e: t.encode(e, "replace"), st.text(max_size=200), st.sampled_from(ENCODINGS)
        ),
        st.lists(json_values.map(dumps), max_size=6).map(lambda ls: "\n".join(ls).encode()),
    ]
    if valid is not None:
        options.append(st.builds(mangle, valid, MANGLES))
    return st.one_of(*options)


def json_line(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of ``fields`` (and maybe an extra one)."""
    return st.fixed_dictionaries({}, optional={**fields, "extra": json_values})


def jsonl_bytes(objs: list[Any], crlf: bool = False, ascii_only: bool = True) -> bytes:
    end = "\r\n" if crlf else "\n"
    return "".join(
        (o if isinstance(o, str) else json.dumps(o, ensure_ascii=ascii_only)) + end for o in objs
    ).encode()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------------ corpus: JSONL
ids = st.one_of(
    st.integers(-3, 3), st.sampled_from(["a", "b", "", " ", "0", "1"]), st.none(), st.booleans(),
    st.floats(), st.lists(st.integers(), max_size=2), st.integers(10**18, 10**25),
)  # fmt: skip
texts = st.one_of(
    st.text(max_size=30), st.sampled_from(["", "  ", "\t", "ok", "\u2028", "\x85"]), st.none(),
    st.integers(), st.lists(st.text(max_size=3), max_size=2),
)  # fmt: skip
blank = st.sampled_from(["", "   ", "\t"])


def corpus_model(objs: list[Any], name: str) -> tuple[list[tuple[str, str]], int]:
    """What :class:`Corpus` must do with JSONL lines ``objs`` (dicts; strings are blank lines),
    by its documented rules: ``(good records, number of bad ones)``. With ``on_error="raise"``
    it refuses the file iff a record is bad; with ``"skip"`` it gives the good ones and counts
    the bad ones."""
    has_ids: bool | None = None
    kept: list[tuple[str, str]] = []
    seen: set[str] = set()
    bad = 0
    for lineno, obj in enumerate(objs, 1):
        if isinstance(obj, str):
            continue
        if has_ids is None:
            has_ids = "id" in obj
        text, rid = obj.get("text"), obj.get("id") if has_ids else None
        ok = not (has_ids and rid is None)
        ok = ok and isinstance(text, str) and bool(text.strip())
        if rid is None:
            rid = f"{name}:{lineno}"
        elif isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        elif not isinstance(rid, str) or not rid:
            ok = False
        if ok and rid in seen:
            ok = False
        if not ok:
            bad += 1
            continue
        seen.add(rid)
        kept.append((rid, text))
    return kept, bad


def check_records(result: Any) -> None:
    """What any accepted corpus must satisfy: unique non-empty string ids, non-blank texts."""
    ids_ = [r.id for r in result]
    assert len(set(ids_)) == len(ids_)
    for r in result:
        assert isinstance(r.id, str) and r.id
        assert isinstance(r.text, str) and r.text.strip()


@FUZZ
@given(
    objs=st.lists(json_line({"id": ids, "text": texts}) | blank, max_size=8),
    crlf=st.booleans(),
    ascii_only=st.booleans(),
)
@example(objs=[{"id": "a", "text": "x"}, {"id": 0.5, "text": "y"}], crlf=False, ascii_only=True)
def test_corpus_jsonl_follows_its_rules(
    work: Path, objs: list[Any], crlf: bool, ascii_only: bool
) -> None:
    path = write(work / "model" / "c.jsonl", jsonl_bytes(objs, crlf, ascii_only))
    kept, bad = corpus_model(objs, "c.jsonl")
    got = outcome(lambda: [(r.id, r.text) for r in Corpus(path)])
    assert got == kept if bad == 0 else refused(got), (got, kept)
    corpus = Corpus(path, on_error="skip")
    got = outcome(lambda: [(r.id, r.text) for r in corpus])
    assert got == kept and sum(corpus.skipped.values()) == bad


CORPUS_SUFFIXES = [".jsonl", ".csv", ".tsv", ".txt", ".parquet"]
valid_jsonl = st.lists(json_line({"id": ids, "text": texts}), max_size=5).map(jsonl_bytes)


@FUZZ
@given(content=nasty_bytes(valid_jsonl), suffix=st.sampled_from(CORPUS_SUFFIXES))
@example(content=b'{"id": 1, "text": "x", "n": ' + b"1" * 5000 + b"}\n", suffix=".jsonl")
@example(content=b"[" * 100_000 + b"\n", suffix=".jsonl")
@example(content=b"PAR1garbage", suffix=".parquet")
@example(content=b"", suffix=".parquet")
@example(content=b"\xef\xbb\xbfid,text\na,hello\n", suffix=".csv")
@example(content=b'id,"te\nxt"\n1,x\n', suffix=".csv")
def test_corpus_survives_any_bytes(work: Path, content: bytes, suffix: str) -> None:
    path = write(work / "bytes" / f"c{suffix}", content)
    for on_error in ("raise", "skip"):
        got = outcome(lambda on_error=on_error: list(Corpus(path, on_error=on_error)))
        if not refused(got):
            check_records(got)
    scan = outcome(lambda: Corpus(path).scan())
    assert refused(scan) or scan.bytes == len(content)


def test_corpus_bom_csv_keeps_its_ids(work: Path) -> None:
    """A CSV saved with a UTF-8 byte-order mark (Excel's "CSV UTF-8") still has an ``id``
    column: the mark is not part of the first column's name (it was, and ids were generated)."""
    path = write(work / "bom" / "c.csv", "\ufeffid,text\na,hello\nb,world\n".encode())
    assert [(r.id, r.text) for r in Corpus(path)] == [("a", "hello"), ("b", "world")]


# --------------------------------------------------------------------- corpus: CSV/TSV
cells = st.one_of(
    st.text(max_size=10), st.sampled_from(["", " ", "a", "b", "1", '"', "a,b", "x\ty", "l\nm"])
)
headers = st.lists(st.sampled_from(["id", "text", "lang", "", "TEXT", "id "]), max_size=4)


def delimited_model(
    header: list[str] | None, rows: list[list[str]], name: str, lines: list[int]
) -> tuple[list[tuple[str, str]] | None, int]:
    if header is None:
        return [], 0
    if "text" not in header:
        return None, 0
    has_ids = "id" in header
    kept, seen, bad = [], set(), 0
    for row, lineno in zip(rows, lines, strict=True):
        if not row:
            continue
        if len(row) != len(header):
            bad += 1
            continue
        rec = dict(zip(header, row, strict=True))
        rid = rec["id"] if has_ids else f"{name}:{lineno}"
        if not rec["text"].strip() or not rid or rid in seen:
            bad += 1
            continue
        seen.add(rid)
        kept.append((rid, rec["text"]))
    return kept, bad


@FUZZ
@given(
    header=st.none() | headers,
    rows=st.lists(st.lists(cells, max_size=4), max_size=6),
    tsv=st.booleans(),
    crlf=st.booleans(),
)
def test_corpus_csv_tsv_follow_their_rules(
    work: Path, header: list[str] | None, rows: list[list[str]], tsv: bool, crlf: bool
) -> None:
    name = "c.tsv" if tsv else "c.csv"
    if not crlf:  # csv.writer leaves a "\r" unquoted then: "x\r\n" is a CRLF line, not "x\r"
        rows = [[c.replace("\r", "") for c in row] for row in rows]
    buf, lines, at = io.StringIO(), [], 1
    writer = csv.writer(
        buf, delimiter="\t" if tsv else ",", lineterminator="\r\n" if crlf else "\n"
    )
    for i, row in enumerate([header, *rows] if header is not None else []):
        before = buf.tell()
        writer.writerow(row)
        if i:
            lines.append(at)
        at += buf.getvalue()[before:].count("\n")
    path = write(work / "delimited" / name, buf.getvalue().encode())
    kept, bad = delimited_model(header, rows if header is not None else [], name, lines)
    got = outcome(lambda: [(r.id, r.text) for r in Corpus(path)])
    if kept is None or bad:
        assert refused(got), got
    else:
        assert got == kept
    corpus = Corpus(path, on_error="skip")
    got = outcome(lambda: [(r.id, r.text) for r in corpus])
    if kept is None:
        assert refused(got)
    else:
        assert got == kept and sum(corpus.skipped.values()) == bad


# ------------------------------------------------------------------------ corpus: text
@FUZZ
@given(lines=st.lists(st.text(max_size=20).map(lambda t: t.replace("\n", " ")), max_size=8))
def test_corpus_text_follows_its_rules(work: Path, lines: list[str]) -> None:
    path = write(work / "text" / "c.txt", "".join(f"{line}\n" for line in lines).encode())
    got = outcome(lambda: [(r.id, r.text) for r in Corpus(path)])
    want = [(f"c.txt:{i}", line.rstrip("\r")) for i, line in enumerate(lines, 1) if line.strip()]
    assert got == want


# ---------------------------------------------------------------------- corpus: Parquet
PARQUET_COLUMNS = {
    "string": (pa.string(), st.text(max_size=10) | st.sampled_from(["", " "])),
    "large_string": (pa.large_string(), st.text(max_size=10)),
    "int64": (pa.int64(), st.integers(-3, 3)),
    "float64": (pa.float64(), st.floats()),
    "bool": (pa.bool_(), st.booleans()),
    "binary": (pa.binary(), st.binary(max_size=5)),
    "list": (pa.list_(pa.int32()), st.lists(st.integers(0, 9), max_size=2)),
}


@st.composite
def parquet_tables(draw: st.DrawFn) -> tuple[pa.Table, bytes]:
    n = draw(st.integers(0, 6))
    columns = {}
    names = draw(st.lists(st.sampled_from(["id", "lang"]), unique=True))
    names += ["text"] if draw(st.sampled_from([True, True, True, False])) else []
    for name in names:
        kinds = ["string"] * 6 + sorted(PARQUET_COLUMNS) if name == "text" else PARQUET_COLUMNS
        kind, values = PARQUET_COLUMNS[draw(st.sampled_from(sorted(kinds)))]
        col = draw(st.lists(st.none() | values, min_size=n, max_size=n))
        columns[name] = pa.array(col, kind)
    table = pa.table(columns) if columns else pa.table({"other": pa.array([0] * n, pa.int8())})
    return parquet_made(table, draw(st.integers(1, 4)))


def parquet_made(table: pa.Table, row_group_size: int = 4) -> tuple[pa.Table, bytes]:
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size)
    return table, buf.getvalue()


#: A valid file whose column name ``text`` in the footer becomes invalid UTF-8 when its first
#: byte is flipped with 0x80 (pyarrow raised UnicodeDecodeError).
NAMED = parquet_made(pa.table({"text": ["a"]}))


@FUZZ
@given(made=parquet_tables(), damage=MANGLES)
@example(made=NAMED, damage=("flip", NAMED[1].find(b"text"), b"\x80"))
def test_corpus_parquet_follows_its_rules(
    work: Path, made: tuple[pa.Table, bytes], damage: Mangle
) -> None:
    table, data = made
    content = mangle(data, damage)
    path = write(work / "parquet" / "c.parquet", content)
    got = outcome(lambda: [(r.id, r.text) for r in Corpus(path)])
    if content != data:
        assert refused(got) or len(set(i for i, _ in got)) == len(got)
        return
    if "text" not in table.column_names:
        assert refused(got)
        return
    rows = table.to_pylist()
    objs = [{k: v for k, v in row.items() if k in ("id", "text")} for row in rows]
    # Parquet rows always have every column: a null id is a missing one
    kept, bad = corpus_model(objs, "c.parquet")
    assert got == kept if bad == 0 else refused(got), (got, kept)


@st.composite
def vector_tables(draw: st.DrawFn) -> tuple[pa.Table, bytes]:
    """Parquet files for ``repspace import``: a list column of vectors (of some type, some
    rows null or of another length) and an id column (some ids null, empty, duplicated)."""
    n, dim = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    value = draw(st.sampled_from([pa.float32(), pa.float64(), pa.int16(), pa.string()]))
    number = st.text(max_size=2) if value == pa.string() else st.integers(-9, 9) | st.floats()
    kind = draw(st.sampled_from(["list", "large", "fixed", "flat"]))
    kind = "list" if kind == "fixed" and dim == 0 else kind  # pyarrow aborts writing those
    if kind == "flat":
        vectors = pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), pa.float64())
    else:
        length = st.just(dim) if kind == "fixed" else st.sampled_from([dim, dim, dim, dim + 1])
        rows = [draw(st.lists(number, min_size=k, max_size=k)) for k in
                draw(st.lists(length, min_size=n, max_size=n))]  # fmt: skip
        if kind != "fixed":
            rows = [draw(st.sampled_from([r, r, r, None])) for r in rows]
        types = {"list": pa.list_(value), "large": pa.large_list(value),
                 "fixed": pa.list_(value, dim)}  # fmt: skip
        try:
            vectors = pa.array(rows, types[kind])
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            vectors = pa.array(rows, pa.list_(pa.float64()))
    ids_ = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "", None]), min_size=n, max_size=n))
    return parquet_made(pa.table({"vector": vectors, "id": pa.array(ids_, pa.string())}))


def parquet_vectors_model(table: pa.Table) -> tuple[list[str], np.ndarray] | None:
    """What importing ``table`` must give, or None when it must be refused."""
    kind, ids_ = table.schema.field("vector").type, table.column("id").to_pylist()
    if (
        not pa.types.is_list(kind)
        and not pa.types.is_large_list(kind)
        and not (pa.types.is_fixed_size_list(kind))
    ):
        return None
    rows = table.column("vector").to_pylist()
    numeric = pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)
    if not numeric or not rows or any(r is None or len(r) != len(rows[0]) for r in rows):
        return None
    if not rows[0] or any(v is None for r in rows for v in r):
        return None
    if any(i in (None, "") for i in ids_) or len(set(ids_)) != len(ids_):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = np.asarray(rows, np.float64).astype(np.float32)
    return (ids_, vectors) if np.isfinite(vectors).all() else None


@SLOW_FUZZ
@given(made=vector_tables(), damage=MANGLES)
@example(  # was a ValueError traceback
    made=parquet_made(pa.table({"vector": pa.array([["a"]], pa.list_(pa.string())), "id": ["x"]})),
    damage=("keep", 0, b"x"),
)
@example(  # was a space of 0-dimensional vectors
    made=parquet_made(pa.table({"vector": pa.array([[]], pa.list_(pa.float32())), "id": ["x"]})),
    damage=("keep", 0, b"x"),
)
@example(  # a null id was imported as the id "None"
    made=parquet_made(
        pa.table(
            {
                "vector": pa.array([[1.0]], pa.list_(pa.float32())),
                "id": pa.array([None], pa.string()),
            }
        )
    ),
    damage=("keep", 0, b"x"),
)
def test_import_parquet(work: Path, made: tuple[pa.Table, bytes], damage: Mangle) -> None:
    table, data = made
    content = mangle(data, damage)
    path = write(work / "vparquet" / "v.parquet", content)
    got = outcome(lambda: repspace.import_vectors(path, work / "vparquet" / "out", overwrite=True))
    if refused(got):
        assert content != data or parquet_vectors_model(table) is None
        return
    assert np.asarray(got.vectors).shape == (got.n, got.dim) and len(set(got.ids)) == got.n
    if content == data:
        want = parquet_vectors_model(table)
        assert want is not None
        assert got.ids == want[0] and np.array_equal(np.asarray(got.vectors), want[1])


# ------------------------------------------------------------------------- .npy import
NPY_DTYPES = ["<f4", "<f8", "<f2", ">f4", "<i8", "|i1", "|u1", "<u8", "|b1", "<c8", "<U2"]


@st.composite
def npy_files(draw: st.DrawFn) -> tuple[np.ndarray, bytes]:
    dtype = np.dtype(draw(st.sampled_from(NPY_DTYPES)))
    shape = draw(st.sampled_from([(3, 4), (1, 1), (2, 0), (0, 3), (5,), (2, 2, 2), ()]))
    elements = st.floats(width=16) if dtype.kind == "f" and dtype.itemsize == 2 else None
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    if draw(st.booleans()) and array.ndim == 2:
        array = np.asfortranarray(array)
    return npy_made(array)


def npy_made(array: np.ndarray) -> tuple[np.ndarray, bytes]:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return array, buf.getvalue()


def npy_model(array: np.ndarray) -> np.ndarray | None:
    """The vectors a valid .npy import holds, or None when it must be refused."""
    if array.ndim != 2 or 0 in array.shape or array.dtype.kind not in "iuf":
        return None
    with np.errstate(over="ignore"):
        vectors = array.astype(np.float32)
    return vectors if np.isfinite(vectors).all() else None


@SLOW_FUZZ
@given(made=npy_files(), damage=MANGLES, header=st.none() | st.text(max_size=60))
@example(made=(np.zeros(0), b""), damage=("keep", 0, b"x"), header=None)
@example(made=npy_made(np.zeros((2, 0), np.float32)), damage=("keep", 0, b"x"), header=")")
def test_import_npy(
    work: Path, made: tuple[np.ndarray, bytes], damage: Mangle, header: str | None
) -> None:
    array, data = made
    content = mangle(data, damage)
    if header is not None and content[:6] == b"\x93NUMPY":  # a hand-edited header dict
        content = content[:10] + header.encode("utf-8", "replace") + content[10:]
    vectors = write(work / "npy" / "v.npy", content)
    n = array.shape[0] if array.ndim else 1
    ids_file = write(work / "npy" / "ids.txt", "".join(f"r{i}\n" for i in range(n)).encode())
    got = outcome(
        lambda: repspace.import_vectors(vectors, work / "npy" / "out", ids=ids_file, overwrite=True)
    )
    want = npy_model(array) if content == data else None
    if refused(got):
        assert want is None or content != data
        return
    assert np.array_equal(np.asarray(got.vectors), want if want is not None else got.vectors)
    assert got.ids == [f"r{i}" for i in range(got.n)]
    if content == data:
        assert want is not None and np.array_equal(np.asarray(got.vectors), want)


@FUZZ
@given(
    content=nasty_bytes(
        st.lists(st.sampled_from(["a", "b", "c", "", "1", "\ufeffa"]), max_size=5).map(
            lambda ls: "".join(f"{x}\n" for x in ls).encode()
        )
    ),
    suffix=st.sampled_from([".txt", ".csv", ".tsv", ".jsonl", ".parquet"]),
)
@example(content=b"id\n" + b"a" * 200_000 + b"\n", suffix=".csv")
@example(content=b"junk", suffix=".parquet")
@example(content=b"\xef\xbb\xbfa\nb\n", suffix=".txt")
@example(content=b'{"id": {"x": 1}}\n', suffix=".jsonl")
def test_import_ids_file(work: Path, content: bytes, suffix: str) -> None:
    from repspace.space.ingest import read_ids

    path = write(work / "ids" / f"ids{suffix}", content)
    got = outcome(lambda: read_ids(path))
    if not refused(got):
        assert all(isinstance(i, str) and i for i in got)
    bom = b"\xef\xbb\xbf"
    if content.startswith(bom) and not content[3:].startswith(bom) and suffix != ".parquet":
        plain = write(work / "ids" / f"plain{suffix}", content[3:])
        same = outcome(lambda: read_ids(plain))  # a byte-order mark changes nothing
        assert same == got or refused(same) or refused(got)


# --------------------------------------------------------------------------- retrieval
safe_ids = st.sampled_from(["q1", "q2", "d1", "d2", "d3", "x"])
scores = st.one_of(
    st.integers(-2, 3).map(str),
    st.sampled_from(["1.0", "1.5", "nan", "inf", "-inf", "1e400", "", "score", "0x1", "1" * 400]),
)
qrel_rows = st.lists(
    st.one_of(
        st.tuples(safe_ids, safe_ids, scores),
        st.tuples(safe_ids, st.just("0"), safe_ids, scores),
        st.lists(st.text(alphabet="ab1 ", max_size=4), max_size=4).map(tuple),
    ),
    max_size=6,
)


def qrels_model(rows: list[tuple[str, ...]]) -> dict[str, dict[str, int]] | None:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) == 1 and " " in row[0].strip():
            row = tuple(row[0].split())
        if len(row) == 4:
            row = (row[0], row[2], row[3])
        if len(row) != 3:
            return None
        qid, did, score = (c.strip() for c in row)
        try:
            value = float(score)
        except ValueError:
            if lineno == 1:
                continue
            return None
        if not math.isfinite(value) or value != int(value) or not qid or not did:
            return None
        if qrels.setdefault(qid, {}).get(did, int(value)) != int(value):
            return None
        qrels[qid][did] = int(value)
    return qrels


@FUZZ
@given(rows=qrel_rows)
@example(rows=[("q1", "d1", "inf")])
@example(rows=[("q1", "d1", "1"), ("q1", "d2", "1e400")])
def test_read_qrels_follows_its_rules(work: Path, rows: list[tuple[str, ...]]) -> None:
    from repspace.evaluation.retrieval import read_qrels

    path = write(work / "qrels" / "test.tsv", "".join("\t".join(r) + "\n" for r in rows).encode())
    want = qrels_model(rows)
    got = outcome(lambda: read_qrels(path))
    if want is None:
        assert refused(got)
    else:
        assert got == {q: j for q, j in want.items() if j} or got == want


@FUZZ
@given(content=nasty_bytes(qrel_rows.map(lambda rs: "".join("\t".join(r) + "\n" for r in rs))
                           .map(str.encode)))  # fmt: skip
@example(content=b"q\td\t1\n\xff\xfe\n")
@example(content=b"q\td\t" + b"1" * 200_000 + b"\n")
def test_read_qrels_survives_any_bytes(work: Path, content: bytes) -> None:
    from repspace.evaluation.retrieval import read_qrels

    path = write(work / "qrels-bytes" / "test.tsv", content)
    got = outcome(lambda: read_qrels(path))
    if not refused(got):
        assert all(isinstance(v, int) for j in got.values() for v in j.values())


def beir_files() -> st.SearchStrategy[dict[str, bytes]]:
    docs = [{"_id": f"d{i}", "title": f"t{i}", "text": f"document {i}"} for i in range(1, 4)]
    queries = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(1, 3)]
    valid = {
        "corpus.jsonl": jsonl_bytes(docs),
        "queries.jsonl": jsonl_bytes(queries),
        "qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\n",
    }
    return st.fixed_dictionaries(
        {name: st.just(data) | nasty_bytes(st.just(data)) for name, data in valid.items()},
        optional={
            "task.json": st.just(b'{"kind": "span"}')
            | nasty_bytes(json_values.map(dumps).map(str.encode))
        },
    )


@FUZZ
@given(files=beir_files())
@example(files={"corpus.jsonl": b'{"_id": "d1", "text": "x"}\n', "queries.jsonl": b"",
                "qrels/test.tsv": b"q1\td1\t1\n"})  # fmt: skip
@example(files={"corpus.jsonl": b'{"_id": "d1", "text": "x"}\n',
                "queries.jsonl": b'{"_id": "q1", "text": "y"}\n', "qrels/test.tsv": b"q1\td1\t1\n",
                "task.json": b"{nope"})  # fmt: skip
def test_retrieval_task_directory(work: Path, files: dict[str, bytes]) -> None:
    from repspace.evaluation.tasks import load_task

    root = work / "beir" / "task"
    shutil.rmtree(root, ignore_errors=True)
    for name, data in files.items():
        write(root / name, data)
    got = outcome(lambda: load_task(root))
    if refused(got):
        return
    doc_ids = {r.id for r in got.corpus}
    assert len(doc_ids) == len(got.corpus)
    for qid, judged in got.qrels.items():
        assert qid in got.queries and set(judged) <= doc_ids and any(v > 0 for v in judged.values())
    assert isinstance(got.info, dict)


# ------------------------------------------------------------------ STS / classification
words = st.text(min_size=1, max_size=8).filter(str.strip)
sts_lines = st.lists(
    json_line({"s1": texts, "s2": texts, "score": st.floats() | st.integers() | scalars}) | blank,
    max_size=6,
) | st.lists(  # valid files, to check the result
    st.fixed_dictionaries({"s1": words, "s2": words, "score": st.floats(-5, 5) | st.integers()}),
    min_size=3,
    max_size=6,
)
cls_lines = st.lists(
    json_line({"text": texts, "label": scalars | st.sampled_from(["a", "b", 0, 1]), "id": ids})
    | blank,
    max_size=6,
) | st.lists(st.fixed_dictionaries({"text": words, "label": st.sampled_from(["a", "b", 0, 1])}),
             min_size=2, max_size=6)  # fmt: skip


def sts_model(objs: list[Any]) -> tuple[list[str], list[str], list[float]] | None:
    s1, s2, sc = [], [], []
    for o in objs:
        if isinstance(o, str):
            continue
        score = o.get("score")
        if not all(isinstance(o.get(k), str) and o[k].strip() for k in ("s1", "s2")):
            return None
        if isinstance(score, bool) or not isinstance(score, int | float):
            return None
        if not abs(score) <= sys.float_info.max:
            return None
        s1.append(o["s1"]), s2.append(o["s2"]), sc.append(float(score))
    return (s1, s2, sc) if len(sc) >= 3 and len(set(sc)) >= 2 else None


@FUZZ
@given(objs=sts_lines | cls_lines, damage=MANGLES)
@example(objs=[{"s1": "a", "s2": "b", "score": 10**400}], damage=("keep", 0, b"x"))
def test_sts_and_classification_files(work: Path, objs: list[Any], damage: Mangle) -> None:
    from repspace.evaluation.tasks import load_task

    data = jsonl_bytes(objs)
    content = mangle(data, damage)
    path = write(work / "tasks" / "t.jsonl", content)
    got = outcome(lambda: load_task(path))
    if refused(got):
        first = next((o for o in objs if not isinstance(o, str)), None)
        if content == data and first is not None and {"s1", "s2", "score"} <= first.keys():
            assert sts_model(objs) is None
        return
    if got.kind == "sts":
        assert len(got.s1) == len(got.s2) == len(got.scores) >= 3
        assert np.isfinite(got.scores).all()
        if content == data:
            want = sts_model(objs)
            assert want is not None and (got.s1, got.s2, list(got.scores)) == want
    else:
        assert len(got.texts) == len(got.labels) >= 1 and len(set(got.labels)) >= 2
        assert all(isinstance(t, str) and t.strip() for t in got.texts)
        assert got.ids is None or len(got.ids) == len(set(got.ids)) == len(got.texts)


# ------------------------------------------------------------------------------- pairs
pair_rows = st.lists(st.tuples(safe_ids, safe_ids), max_size=5)


@FUZZ
@given(
    rows=pair_rows,
    suffix=st.sampled_from([".tsv", ".txt", ".csv", ".jsonl"]),
    damage=MANGLES,
)
@example(rows=[("a", "b")], suffix=".tsv", damage=("insert", 3, b"\xff"))
@example(rows=[("a", "b")], suffix=".tsv", damage=("long", 2, b"x"))
def test_pairs_file(work: Path, rows: list[tuple[str, str]], suffix: str, damage: Mangle) -> None:
    from repspace.metrics.data import read_pairs

    if suffix == ".jsonl":
        data = jsonl_bytes([{"a": a, "b": b} for a, b in rows])
    else:
        sep = "," if suffix == ".csv" else "\t"
        data = "".join(f"{a}{sep}{b}\n" for a, b in rows).encode()
    content = mangle(data, damage)
    path = write(work / "pairs" / f"p{suffix}", content)
    got = outcome(lambda: read_pairs(path))
    if content == data:
        assert got == rows if rows else refused(got)
    elif not refused(got):
        assert all(len(p) == 2 and all(isinstance(i, str) for i in p) for p in got)


@FUZZ
@given(content=nasty_bytes(
    st.lists(json_line({"anchor": texts, "positive": texts}), max_size=4).map(jsonl_bytes)
    | st.lists(st.fixed_dictionaries({"anchor": words, "positive": words}), max_size=4)
    .map(jsonl_bytes)
))  # fmt: skip
def test_adapt_replay_pairs(work: Path, content: bytes) -> None:
    from repspace.training.adaptation import read_replay

    path = write(work / "replay" / "r.jsonl", content)
    got = outcome(lambda: read_replay(path))
    if not refused(got):
        assert len(got) >= 2 and all(a.strip() and p.strip() for a, p in got)


# ----------------------------------------------------- artifacts: manifests, maps, states
KEYS = [
    "format", "format_version", "status", "n", "dim", "dtype", "normalized", "encoder", "spec",
    "fingerprint", "corpus", "source", "columns", "shards", "rows", "vectors", "table",
    "unit_norm", "sha256", "skipped", "total", "transforms", "created", "files", "ann", "space",
    "path", "lexical", "dir", "bm25", "k1", "b", "analyzer", "pattern", "stemmer", "fusion",
    "alpha", "candidates", "exact", "generation", "next_key", "kind", "params", "state",
    "steps", "input_dim_", "output_dim_", "components_", "old", "new_encoder", "map", "batch",
    "done", "method", "score_stats", "mean", "std", "old_fingerprint", "new_fingerprint",
]  # fmt: skip
#: One edit of a JSON document: (path of keys or list positions, operation, value).
Edit = tuple[tuple[str | int, ...], str, Any]
edits = st.lists(
    st.tuples(
        st.lists(st.sampled_from(KEYS) | st.integers(0, 2), min_size=1, max_size=3).map(tuple),
        st.sampled_from(["set", "near", "delete"]),
        st.sampled_from(JSON_SPECIAL) | json_values,
    ),
    min_size=1,
    max_size=3,
)


def near(value: Any, other: Any) -> Any:
    """A plausible wrong value of the same kind (off by one, flipped, emptied, duplicated)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + (1 if not isinstance(other, int) or other % 2 else -1)
    if isinstance(value, float):
        return math.nan
    if isinstance(value, str):
        return value + "x" if len(value) % 2 else value[:-1]
    if isinstance(value, list):
        return value + value[:1]
    return other


def edited(doc: Any, changes: list[Edit]) -> Any:
    """``doc`` with ``changes`` done: a path is followed as far as it exists; at the first
    missing step a ``set`` adds it (an extra field), the other operations do nothing."""
    doc = copy.deepcopy(doc)
    for path, op, value in changes:
        parent, key = None, None
        node = doc
        for step in path:
            if (isinstance(node, dict) and step in node) or (
                isinstance(node, list) and isinstance(step, int) and step < len(node)
            ):
                parent, key, node = node, step, node[step]
            else:
                if op == "set" and isinstance(node, dict):
                    node[step] = copy.deepcopy(value)
                parent = None
                break
        if parent is None:
            continue
        if op == "delete":
            del parent[key]
        else:
            parent[key] = copy.deepcopy(value if op == "set" else near(node, value))
    return doc


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real space (two shards, texts), an index over it, a saved PCA map and a chain, a
    migration: the files every artifact reader is fuzzed against (only their JSON is edited)."""
    root = tmp_path_factory.mktemp("artifacts")
    corpus = write_jsonl(root / "c.jsonl", synthetic_docs(60, seed=3))
    space = repspace.encode(corpus, "hash:32", root / "space", shard_size=40, progress=False)
    repspace.Index.build(space, root / "index", progress=False)
    from repspace.maps.base import Chain
    from repspace.maps.pca import PCA
    from repspace.maps.quantize import Int8Quantizer

    PCA(8).fit(space).save(root / "map")
    Chain([PCA(8), Int8Quantizer()]).fit(space).save(root / "chain")
    repspace.Migration.start(root / "space", "hash:24", root / "migration", sample=0.5, batch=20)
    return {
        "space": root / "space",
        "index": root / "index",
        "map": root / "map",
        "chain": root / "chain",
        "migration": root / "migration",
    }


@contextlib.contextmanager
def replaced(file: Path, content: bytes) -> Iterator[None]:
    """``file`` holds ``content`` for the block, then its own bytes again."""
    saved = file.read_bytes()
    file.write_bytes(content)
    try:
        yield
    finally:
        file.write_bytes(saved)


def artifact_json(file: Path, changes: list[Edit], damage: Mangle) -> bytes:
    """The file's JSON edited, then resealed (unless an edit is to the checksum itself), so
    the edits reach the checks behind the checksum; then its bytes damaged."""
    doc = edited(json.loads(file.read_text()), changes)
    if isinstance(doc, dict) and not any(path[:1] == ("checksum",) for path, _, _ in changes):
        doc["checksum"] = json_checksum(json.loads(dumps(doc)))  # as the reader will see it
    return mangle(dumps(doc).encode(), damage)


@SLOW_FUZZ
@given(changes=edits, damage=MANGLES)
@example(changes=[(("status",), "delete", None)], damage=("keep", 0, b"x"))
@example(changes=[(("n",), "near", None)], damage=("keep", 0, b"x"))
@example(changes=[(("dim",), "near", None)], damage=("keep", 0, b"x"))
@example(changes=[(("format_version",), "set", "2")], damage=("keep", 0, b"x"))
@example(changes=[(("shards", 0, "vectors"), "set", "/etc/passwd")], damage=("keep", 0, b"x"))
@example(changes=[(("shards", 1, "vectors"), "set", "shards/00000.npy")], damage=("keep", 0, b"x"))
def test_space_manifest(artifacts: dict[str, Path], changes: list[Edit], damage: Mangle) -> None:
    from repspace.space.store import Space

    file = artifacts["space"] / "manifest.json"
    with replaced(file, artifact_json(file, changes, damage)):

        def use() -> tuple[Any, ...]:
            s = Space.open(artifacts["space"])
            return s.summary(), s.n, s.dim, np.asarray(s.vectors), s.ids, s.fingerprint

        got = outcome(use)
    if refused(got):
        return
    info, n, dim, vectors, ids_, fingerprint = got
    assert vectors.shape == (n, dim) == (info.n, info.dim) and len(ids_) == n
    assert isinstance(fingerprint, str) and fingerprint


@SLOW_FUZZ
@given(changes=edits, damage=MANGLES, which=st.sampled_from(["map", "chain"]))
@example(changes=[(("kind",), "set", [1])], damage=("keep", 0, b"x"), which="map")
@example(changes=[(("steps", 0), "set", ".")], damage=("keep", 0, b"x"), which="chain")
@example(changes=[(("state", "_check_fitted"), "set", 1)], damage=("keep", 0, b"x"), which="map")
@example(changes=[(("params", "nope"), "set", 1)], damage=("keep", 0, b"x"), which="map")
@example(changes=[(("steps",), "delete", None)], damage=("keep", 0, b"x"), which="chain")
def test_map_config(
    artifacts: dict[str, Path], changes: list[Edit], damage: Mangle, which: str
) -> None:
    from repspace.maps.base import load_map

    path = artifacts[which]
    original = load_map(path)
    x = np.random.default_rng(0).normal(size=(5, original.input_dim_)).astype(np.float32)
    file = path / "map.json"
    with replaced(file, artifact_json(file, changes, damage)):
        got = outcome(lambda: load_map(path))
    if not refused(got):  # accepted: then it is the map that was saved
        assert got.fingerprint == original.fingerprint
        assert np.array_equal(got.transform(x), original.transform(x))


@FUZZ
@given(content=nasty_bytes())
@example(content=b"")
def test_map_weights_file(artifacts: dict[str, Path], content: bytes) -> None:
    from repspace.maps.base import load_map

    with replaced(artifacts["map"] / "map.safetensors", content):
        got = outcome(lambda: load_map(artifacts["map"]))
    assert refused(got)


@SLOW_FUZZ
@given(changes=edits, damage=MANGLES)
@example(changes=[(("files",), "set", [])], damage=("keep", 0, b"x"))
@example(changes=[(("sha256",), "set", "x")], damage=("keep", 0, b"x"))
@example(changes=[(("lexical", "sha256"), "set", [])], damage=("keep", 0, b"x"))
@example(changes=[(("lexical", "analyzer", "pattern"), "set", "(")], damage=("keep", 0, b"x"))
@example(changes=[(("dim",), "set", "x")], damage=("keep", 0, b"x"))
def test_index_manifest(artifacts: dict[str, Path], changes: list[Edit], damage: Mangle) -> None:
    from repspace.index.index import Index

    file = artifacts["index"] / "manifest.json"
    with replaced(file, artifact_json(file, changes, damage)):

        def use() -> tuple[Any, ...]:
            index = Index.open(artifacts["index"])
            return index, index.info(), index.search("vector space", k=3)

        got = outcome(use)
    if refused(got):
        return
    index, info, hits = got
    assert info.n == len(index.rows) and len(hits) <= 3
    assert all(h.id in index.ids for h in hits)


@SLOW_FUZZ
@given(changes=edits, damage=MANGLES)
@example(changes=[(("n",), "set", "x")], damage=("keep", 0, b"x"))
@example(changes=[(("status",), "delete", None)], damage=("keep", 0, b"x"))
@example(changes=[(("lexical", "dir"), "set", None)], damage=("keep", 0, b"x"))
@example(changes=[(("lexical", "dir"), "set", "x" * 300)], damage=("keep", 0, b"x"))
@example(changes=[(("n",), "near", None)], damage=("keep", 0, b"x"))
def test_migration_state(artifacts: dict[str, Path], changes: list[Edit], damage: Mangle) -> None:
    from repspace.maps.migration import Migration

    file = artifacts["migration"] / "migration.json"
    with replaced(file, artifact_json(file, changes, damage)):

        def use() -> tuple[Any, ...]:
            m = Migration.open(artifacts["migration"])
            return m.status(), m.search("vector space", k=3)

        got = outcome(use)
    if refused(got):
        return
    status, hits = got
    assert 0 <= status.done <= status.n and 0 <= status.fraction <= 1
    assert len(hits) == 1 and len(hits[0]) <= 3


# --------------------------------------------------------------------------------- CLI
def test_cli_corpus_readers_refuse_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "s"
    deep = write(tmp_path / "deep.jsonl", b'{"id": "a", "text": ' + b"[" * 100_000 + b"\n")
    assert_one_line_error(run("encode", deep, "--encoder", "hash:8", "--out", out), "deep.jsonl:1")
    junk = write(tmp_path / "c.parquet", b"PAR1 not really")
    assert_one_line_error(run("encode", junk, "--encoder", "hash:8", "--out", out), "c.parquet")


def test_cli_import_refuses_in_one_line(tmp_path: Path) -> None:
    ids_file = write(tmp_path / "ids.txt", b"a\nb\n")
    empty = write(tmp_path / "v.npy", b"")
    assert_one_line_error(run("import", empty, "--ids", ids_file, "--out", tmp_path / "s"), "v.npy")
    np.save(tmp_path / "w.npy", np.ones((2, 3), np.float32))
    bad_ids = write(tmp_path / "ids.csv", b"id\n" + b"a" * 200_000 + b"\n")
    result = run("import", tmp_path / "w.npy", "--ids", bad_ids, "--out", tmp_path / "s")
    assert_one_line_error(result, "ids.csv")


def test_cli_task_readers_refuse_in_one_line(tmp_path: Path) -> None:
    task = tmp_path / "task"
    write(task / "corpus.jsonl", jsonl_bytes([{"_id": "d1", "text": "a document"}]))
    write(task / "queries.jsonl", jsonl_bytes([{"_id": "q1", "text": "a query"}]))
    write(task / "qrels" / "test.tsv", b"q1\td1\tinf\n")
    assert_one_line_error(run("evaluate", task, "--retriever", "bm25"), "test.tsv:1")
    sts = write(tmp_path / "sts.jsonl", b'{"s1": "a", "s2": "b", "score": ' + b"9" * 5000 + b"}\n")
    assert_one_line_error(run("evaluate", sts, "--encoder", "hash:8"), "sts.jsonl:1")


def test_cli_pairs_and_artifacts_refuse_in_one_line(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    pairs = write(tmp_path / "pairs.tsv", b"doc-1\tdoc-2\n\xff\xfe\tdoc-3\n")
    result = run("inspect", artifacts["space"], "--pairs", pairs, "--sample", "50")
    assert_one_line_error(result, "pairs.tsv")
    for name, file, command in [
        ("space", "manifest.json", ["info"]),
        ("index", "manifest.json", ["search"]),
        ("migration", "migration.json", ["migrate", "status"]),
    ]:
        copy_ = tmp_path / name
        shutil.copytree(artifacts[name], copy_)
        doc = json.loads((copy_ / file).read_text())
        doc["n"] = "lots"
        (copy_ / file).write_text(json.dumps(doc))
        args = [*command, copy_, *(["vector space"] if name == "index" else [])]
        assert_one_line_error(run(*args), file)
    broken_map = tmp_path / "map"
    shutil.copytree(artifacts["chain"], broken_map)
    config = json.loads((broken_map / "map.json").read_text())
    config["steps"] = ["."]
    (broken_map / "map.json").write_text(json.dumps(config))
    result = run("compress", artifacts["space"], "--map", broken_map, "--apply", tmp_path / "o")
    assert_one_line_error(result, "map.json")
