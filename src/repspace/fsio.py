"""Crash-safe file writes (temp file, fsync, rename) and checksums."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from repspace.errors import RepspaceError


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty directory unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise RepspaceError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise RepspaceError(f"{out}: directory is not empty; pass --overwrite or another --out")


def publish_dir(work: Path, out: Path) -> None:
    """Move the finished directory ``work`` (a sibling of ``out``) to ``out``, replacing it,
    durably: every file and ``work`` fsynced, then the old ``out`` set aside, the rename, the
    parent fsynced, and the old one removed."""
    for f in work.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
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
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_format_json(file: Path, fmt: str, version: int, what: str, hint: str = "") -> dict:
    """A repspace JSON file (``what``: "space manifest", "index manifest", "map config") whose
    ``format`` is ``fmt`` and whose ``format_version`` this code reads; one-line errors."""
    from repspace._version import __version__

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
