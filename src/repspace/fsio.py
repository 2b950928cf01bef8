"""Crash-safe file I/O: atomic writes (temp file, fsync, rename), the output policy of every
command that writes a directory (:func:`writer_lock`, :func:`prepare_output`,
:func:`publish_dir`), the JSONL reader, UTC timestamps and checksums."""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import inspect
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

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


F = TypeVar("F", bound=Callable[..., Any])
#: Lock files this process holds: path -> [file descriptor, depth] (re-entrant per process).
_HELD: dict[Path, list[int]] = {}
_HELD_GUARD = threading.Lock()


def lock_file(target: str | Path) -> Path:
    """Where the writer lock of ``target`` lives: ``.NAME.lock`` beside it (not inside, so it
    outlives the rename that publishes a new version of ``target``)."""
    target = Path(os.path.abspath(target))
    return target.parent / f".{target.name}.lock"


def _holder(fd: int) -> str:
    """Who holds a lock, from what the holder wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, `{info['command']}`, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def writer_lock(target: str | Path | None, *, wait: bool = False) -> Iterator[None]:
    """Hold the exclusive writer lock of the artifact ``target`` (a space, index, map, migration,
    selection, task or model directory) for the block: one writer at a time. Another process
    holding it makes this fail at once with one line naming the holder, or, with ``wait``,
    block until it is released. Readers never take it: publishing stays an atomic rename.

    The lock is ``fcntl.flock`` on :func:`lock_file` (removed again when the block ends), which
    the kernel releases when the holder exits, however it dies (``kill -9`` included), so a
    dead writer's lock is never an obstacle (its file stays until the next writer's end). On
    NFS (v4, or v3 with lockd) Linux maps ``flock`` to byte-range locks the server arbitrates,
    and a crashed client's locks go when its lease expires. Re-entrant within a process (a
    command that calls another writer on the same target)."""
    if target is None:  # an optional output that is not written
        yield
        return
    path = lock_file(target)
    with _HELD_GUARD:
        held = _HELD.get(path)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, target, wait)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now(),
                "command": " ".join(["repspace", *sys.argv[1:]])[:300]}  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _HELD_GUARD:
            _HELD[path] = [fd, 1]
        try:
            yield
        finally:
            with _HELD_GUARD:
                del _HELD[path]
            path.unlink(missing_ok=True)  # still held: a waiter re-checks the path (_acquire)
    finally:
        os.close(fd)  # releases the lock


def _acquire(path: Path, target: str | Path, wait: bool) -> int:
    """Open and lock ``path``; the returned descriptor holds the lock. The holder removes the
    file when it is done, so a lock taken on a file that has meanwhile been removed (or
    replaced) is dropped and taken again on the file now at ``path``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not wait:
                    raise RepspaceError(
                        f"{target}: another repspace process is writing it ({holder}); let it "
                        "finish, or pass --wait to wait for it"
                    ) from None
                print(f"repspace: waiting for {holder} to finish writing {target}",
                      file=sys.stderr)  # fmt: skip
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def writes(param: str = "out") -> Callable[[F], F]:
    """Decorator of a command's API function: run it under the :func:`writer_lock` of its
    argument ``param`` (the artifact it writes), waiting for the lock when its ``wait``
    argument is true (the function declares ``wait: bool = False``)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with writer_lock(bound.arguments[param], wait=bool(bound.arguments.get("wait"))):
                return fn(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate


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
    removes the work directory when the build fails, so the old output stays intact. Under the
    writer lock of ``out``, the work directories a killed writer left beside it are removed."""
    out = Path(out)
    check_output(out, overwrite, holds=holds, what=what)
    out.parent.mkdir(parents=True, exist_ok=True)
    if lock_file(out) in _HELD:  # no other writer of ``out``: what a killed one left is garbage
        for stale in [*out.parent.glob(f".{out.name}.*.building"),
                      *out.parent.glob(f".{out.name}.old-*")]:  # fmt: skip
            shutil.rmtree(stale, ignore_errors=True)
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
    durably: every file and directory under ``work`` fsynced, then one atomic exchange of the
    two directories (``renameat2(RENAME_EXCHANGE)``: a reader finds the old ``out`` or the new
    one, never none), the parent fsynced, and the old one (now at ``work``) removed. Where the
    exchange is unavailable (not Linux, an old kernel, some file systems): the old ``out`` set
    aside, then the rename, which leaves a moment without ``out``."""
    for f in work.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        elif f.is_dir():
            fsync_dir(f)
    fsync_dir(work)
    if out.exists() and _exchange(work, out):
        fsync_dir(out.parent)
        shutil.rmtree(work, ignore_errors=True)
        return
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(work, out)
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``; False where it
    is not available (the caller falls back to two renames)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    if not done and ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
    return done


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
    except (OSError, RuntimeError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        cause = _short_write(tmp, path)
        if cause is None:
            raise
        raise cause from e
    finally:
        tmp.unlink(missing_ok=True)


def _short_write(tmp: Path, path: Path) -> OSError | None:
    """What the system would have said when a library reported a failed write without an
    errno (numpy's ``tofile``, usearch's ``save``, Arrow): ENOSPC when the file system is
    (nearly) full, EFBIG at the file-size limit (RLIMIT_FSIZE); None when neither explains it."""
    try:
        st = os.statvfs(path.parent)
        written = tmp.stat().st_size if tmp.exists() else 0
    except OSError:
        return None
    code = None
    if st.f_bavail * st.f_frsize < 1 << 20:
        code = errno.ENOSPC
    else:
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and written >= soft - 1:
            code = errno.EFBIG
    return None if code is None else OSError(code, os.strerror(code), str(path))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write a file atomically through ``write(fileobj)``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
    atomic_write(path, lambda f: f.write(data))


def json_checksum(obj: dict[str, Any]) -> str:
    """sha256 of a repspace JSON file's content without its ``checksum`` field (keys sorted,
    no whitespace, ASCII escapes): what :func:`write_format_json` records and
    :func:`read_format_json` checks."""
    body = {k: v for k, v in obj.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write_format_json(path: str | Path, obj: dict[str, Any]) -> None:
    """Write a versioned repspace JSON file (manifest, map config, state) atomically, sealed
    with the :func:`json_checksum` of its content (set in ``obj`` too)."""
    obj["checksum"] = json_checksum(obj)
    atomic_write_json(path, obj)


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file, streamed (``hashlib.file_digest``: one reused buffer, the GIL
    released while hashing), at the speed of the disk or of SHA-256 itself."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


#: Files whose sha256 this process has seen match: (resolved path, size, mtime_ns, ctime_ns,
#: inode, device, digest). Any write, truncation or replacement changes the stat part.
_VERIFIED: set[tuple[str, int, int, int, int, int, str]] = set()
_VERIFIED_GUARD = threading.Lock()


def _stat_key(path: Path, digest: str) -> tuple[str, int, int, int, int, int, str]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, digest)


def sha256_matches(path: str | Path, digest: str) -> bool:
    """Whether the file at ``path`` has the sha256 ``digest``, hashed once per process: a match
    is remembered under the file's resolved path and stat (size, mtime, ctime, inode), so the
    next check of the unchanged file costs one ``stat``; a changed file is hashed again."""
    path = Path(path).resolve()
    key = _stat_key(path, str(digest))
    with _VERIFIED_GUARD:
        if key in _VERIFIED:
            return True
    if sha256_file(path) != digest:
        return False
    if _stat_key(path, str(digest)) == key:  # not changed while it was being read
        with _VERIFIED_GUARD:
            _VERIFIED.add(key)
    return True


def first_mismatch(files: Sequence[tuple[Path, str]]) -> Path | None:
    """The first of ``files`` ((path, expected sha256), in order) whose content does not match,
    or None: each checked with :func:`sha256_matches`, several at once on threads (hashlib
    releases the GIL), so a many-shard artifact verifies at the speed of the disk."""
    from concurrent.futures import ThreadPoolExecutor

    def check(item: tuple[Path, str]) -> bool:
        try:
            return sha256_matches(*item)
        except FileNotFoundError:  # removed since the caller saw it
            return False

    workers = min(4, len(files), os.cpu_count() or 1)
    if workers <= 1:
        ok = [check(f) for f in files]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="repspace-sha256") as pool:
            ok = list(pool.map(check, files))
    return next((path for (path, _), good in zip(files, ok, strict=True) if not good), None)


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
    except (ValueError, RecursionError) as e:  # an integer over 4300 digits, nesting too deep
        raise JsonlError(f"{where}: unreadable JSON ({e})", "json") from None
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


def read_format_json(
    file: Path,
    fmt: str,
    version: int,
    what: str,
    hint: str = "",
    fields: dict[str, str] | None = None,
    problems: Callable[[dict], str | None] | None = None,
) -> dict:
    """A repspace JSON file (``what``: "space manifest", "index manifest", "map config") whose
    ``format`` is ``fmt`` and whose ``format_version`` this code reads; one-line errors.
    Its ``checksum`` (:func:`write_format_json`) must match its content: an edited or corrupted
    file is refused as "damaged" (a file without one, written before they were sealed, is
    checked field by field only). ``fields``: the JSON kind each field must have
    (``"integer"``, ``"object|null"``, ...; dotted names for nested fields), checked (see
    :func:`check_fields`); ``problems``: what is inconsistent in the object (None when
    nothing), refused as "damaged"."""
    try:
        obj = read_json(file)
    except (ValueError, RecursionError) as e:  # RecursionError: nesting too deep
        raise RepspaceError(f"{file}: {what} is not valid JSON ({e}){hint}") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise RepspaceError(f"{file}: not a repspace {what}")
    try:
        sealed = "checksum" not in obj or obj["checksum"] == json_checksum(obj)
    except RecursionError:  # nested deeper than the encoder goes
        sealed = False
    if not sealed:
        raise RepspaceError(
            f"{file}: damaged {what}: its content does not match its checksum (edited or "
            f"corrupted after it was written){hint}"
        )
    check_fields(obj, {"format_version": "integer|missing", **(fields or {})}, file, what, hint)
    if obj.get("format_version", 0) > version:
        raise RepspaceError(
            f"{file}: {what} format version {obj['format_version']} is newer than this "
            f"repspace ({__version__}) reads; upgrade repspace"
        )
    problem = problems(obj) if problems is not None else None
    if problem:
        raise RepspaceError(f"{file}: damaged {what}: {problem}{hint}")
    return obj


def json_kind(value: Any) -> str:
    """The JSON kind of a parsed value: null, boolean, integer, number, string, array, object."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    for kind, types in (("integer", int), ("number", float), ("string", str), ("array", list)):
        if isinstance(value, types):
            return kind
    return "object"


def check_fields(obj: dict, fields: dict[str, str], file: Path, what: str, hint: str = "") -> None:
    """Refuse (one line) a JSON file whose fields are not of the kinds ``fields`` names
    (``"number"`` takes integers too, ``"missing"`` allows the field to be absent)."""
    for name, kinds in fields.items():
        value: Any = obj
        for part in name.split("."):
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        kind = "missing" if value is _MISSING else json_kind(value)
        accepted = kinds.split("|")
        if kind not in accepted and not (kind == "integer" and "number" in accepted):
            raise RepspaceError(
                f"{file}: damaged {what}: field {name!r} is {kind}, not "
                f"{' or '.join(k for k in accepted if k != 'missing')}{hint}"
            )


_MISSING = object()


def plain_name(name: Any) -> bool:
    """Whether ``name`` (read from a file) names an entry of a directory, and nothing else: a
    string, not ``""``, ``.`` or ``..``, no separator, at most 255 bytes (NAME_MAX)."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and Path(name).name == name
        and len(name.encode("utf-8", "surrogatepass")) <= 255
        and "\x00" not in name
    )


def cache_dir() -> Path:
    """Where repspace keeps derived files (ONNX exports, cached spaces): $REPSPACE_CACHE or
    ~/.cache/repspace."""
    root = os.environ.get("REPSPACE_CACHE") or Path.home() / ".cache" / "repspace"
    return Path(root)
