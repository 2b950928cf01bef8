"""Crash-safe file I/O: atomic writes (temp file, fsync, rename), the output policy of every
command that writes a directory (:func:`prepare_output`, :func:`publish_dir`), the JSONL reader,
UTC timestamps and checksums."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from repspace._version import __version__
from repspace.errors import RepspaceError


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output(
    out: Path, overwrite: bool, *, holds: Callable[[Path], bool] | None = None, what: str = ""
) -> None:
    """Refuse an output path that is a file, or a non-empty directory unless ``overwrite``.

    With ``holds``, a non-empty directory is replaced only when ``holds(out)`` says it is a
    repspace ``what`` (a space, an index, a task), so ``--overwrite`` never deletes unrelated
    files; ``holds`` may raise its own one-line error.
    """
    if out.exists() and not out.is_dir():
        raise RepspaceError(f"{out}: exists and is not a directory; choose another --out")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if holds is not None and not holds(out):
        raise RepspaceError(
            f"{out}: directory is not empty and is not a repspace {what}; choose another --out"
        )
    if not overwrite:
        raise RepspaceError(
            f"{out}: directory is not empty; pass --overwrite or choose another --out"
        )


def prepare_output(
    out: str | Path,
    overwrite: bool,
    *,
    holds: Callable[[Path], bool] | None = None,
    what: str = "",
) -> Path:
    """Check ``out`` (:func:`check_output`) and return a new empty work directory beside it to
    build the output in; finish with :func:`publish_dir` (or use :func:`building`). The caller
    removes the work directory when the build fails, so the old output stays intact."""
    out = Path(out)
    check_output(out, overwrite, holds=holds, what=what)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    work.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary directory
    return work


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (setting it, even
    briefly, would affect files other threads create meanwhile)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def publish_dir(work: Path, out: Path) -> None:
    """Move the finished directory ``work`` (a sibling of ``out``) to ``out``, replacing it,
    durably: every file and directory under ``work`` fsynced, then the old ``out`` set aside,
    the rename, the parent fsynced, and the old one removed."""
    for f in work.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        elif f.is_dir():
            fsync_dir(f)
    fsync_dir(work)
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(work, out)
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def building(
    out: str | Path,
    overwrite: bool,
    *,
    holds: Callable[[Path], bool] | None = None,
    what: str = "",
) -> Iterator[Path]:
    """Yield a work directory (:func:`prepare_output`); publish it at ``out`` when the block
    ends normally, remove it when the block raises (the old output stays intact)."""
    out = Path(out)
    work = prepare_output(out, overwrite, holds=holds, what=what)
    try:
        yield work
        publish_dir(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; the result is an ordinary file
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write a file atomically through ``write(fileobj)``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
    atomic_write(path, lambda f: f.write(data))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class JsonlError(RepspaceError):
    """A bad JSONL line; ``kind`` is ``"utf-8"``, ``"json"`` or ``"object"`` (not an object)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def jsonl_object(raw: bytes | str, where: str) -> dict[str, Any] | None:
    """The JSON object on one line of a JSONL file, None for a blank line; a bad line raises a
    one-line :class:`JsonlError` that starts with ``where`` (``file:line``)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonlError(f"{where}: invalid UTF-8 at byte {e.start}", "utf-8") from None
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise JsonlError(f"{where}: invalid JSON ({e.msg})", "json") from None
    if not isinstance(obj, dict):
        raise JsonlError(f"{where}: expected a JSON object, got {type(obj).__name__}", "object")
    return obj


def read_jsonl(
    path: str | Path, *, comments: bool = False
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """(line number, object) for every non-blank line of a JSONL file, streamed; the first bad
    line (invalid UTF-8, invalid JSON, not an object) raises a one-line error naming
    ``file:line``. ``comments``: lines starting with ``#`` are skipped."""
    path = Path(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if comments and raw.startswith(b"#"):
                continue
            obj = jsonl_object(raw, f"{path}:{lineno}")
            if obj is not None:
                yield lineno, obj


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second (``2025-01-31T12:00:00+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_format_json(file: Path, fmt: str, version: int, what: str, hint: str = "") -> dict:
    """A repspace JSON file (``what``: "space manifest", "index manifest", "map config") whose
    ``format`` is ``fmt`` and whose ``format_version`` this code reads; one-line errors."""
    try:
        obj = read_json(file)
    except ValueError as e:
        raise RepspaceError(f"{file}: {what} is not valid JSON ({e}){hint}") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise RepspaceError(f"{file}: not a repspace {what}")
    if obj.get("format_version", 0) > version:
        raise RepspaceError(
            f"{file}: {what} format version {obj['format_version']} is newer than this "
            f"repspace ({__version__}) reads; upgrade repspace"
        )
    return obj


def cache_dir() -> Path:
    """Where repspace keeps derived files (ONNX exports, cached spaces): $REPSPACE_CACHE or
    ~/.cache/repspace."""
    root = os.environ.get("REPSPACE_CACHE") or Path.home() / ".cache" / "repspace"
    return Path(root)
