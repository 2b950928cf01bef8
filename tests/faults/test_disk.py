"""Disk full and I/O errors: writers on a small file system (a tmpfs the test mounts; skipped
where mounting is not allowed) and under a file-size limit (RLIMIT_FSIZE, anywhere), and with a
read-only target: one line, exit 2, nothing published, the previous artifact untouched, and the
same command finishes once there is room."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import canonical
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl

pytestmark = pytest.mark.slow


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                       capture_output=True)  # fmt: skip
    return r.returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "mnt"
    if not _mount(mnt, "size=1m"):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("disk")
    rows = [{**d, "title": f"title {i}"} for i, d in enumerate(synthetic_docs(3000, seed=3))]
    return write_jsonl(root / "c.jsonl", rows)


def _remount(mnt: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)


def test_full_disk_then_room_again(small_fs: Path, corpus: Path, tmp_path: Path) -> None:
    encode = ["encode", corpus, "--encoder", "hash:256", "--out", small_fs / "space", "-q",
              "--shard-size", "500"]  # fmt: skip
    r = run(*encode)
    assert_one_line_error(r, "No space left on device", "run the same command again")
    assert not (small_fs / "space" / "manifest.json").read_text().count('"complete"')
    _remount(small_fs, "size=64m")
    assert run(*encode).returncode == 0  # resumes where it stopped
    run("encode", corpus, "--encoder", "hash:256", "--out", tmp_path / "clean", "-q",
        "--shard-size", "500")  # fmt: skip
    assert canonical(small_fs / "space") == canonical(tmp_path / "clean")


def test_full_disk_keeps_the_previous_index(small_fs: Path, corpus: Path, tmp_path: Path) -> None:
    run("encode", corpus, "--encoder", "hash:16", "--out", tmp_path / "space", "-q")
    _remount(small_fs, "size=64m")
    assert run("index", tmp_path / "space", "--out", small_fs / "ix", "-q").returncode == 0
    before = canonical(small_fs / "ix")
    run("encode", corpus, "--encoder", "hash:512", "--out", tmp_path / "big", "-q")
    _remount(small_fs, "size=3m")  # room for the old index, not for a second, bigger one
    r = run("index", tmp_path / "big", "--out", small_fs / "ix", "--overwrite", "-q")
    assert_one_line_error(r, "No space left on device")
    assert canonical(small_fs / "ix") == before
    assert sorted(p.name for p in small_fs.iterdir()) == ["ix"]  # no leftovers


def test_read_only_target(small_fs: Path, corpus: Path) -> None:
    _remount(small_fs, "size=64m")
    assert run("make-task", corpus, "--kind", "title-body", "--out", small_fs / "t").returncode == 0
    before = canonical(small_fs / "t")
    _remount(small_fs, "ro")
    r = run("make-task", corpus, "--kind", "title-body", "--out", small_fs / "t", "--overwrite")
    assert_one_line_error(r, "Read-only file system")
    assert canonical(small_fs / "t") == before


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_file_size_limit(corpus: Path, tmp_path: Path) -> None:
    """No privileges needed: RLIMIT_FSIZE makes every write past 64 KiB fail."""
    r = subprocess.run(
        [sys.executable, "-m", "repspace", "make-task", str(corpus), "--kind", "title-body",
         "--out", str(tmp_path / "t")],
        capture_output=True, text=True, preexec_fn=lambda: _limited(64 * 1024), timeout=300,
    )  # fmt: skip
    assert_one_line_error(r, "File too large")
    assert not (tmp_path / "t").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".building")]
    r = run("make-task", corpus, "--kind", "title-body", "--out", tmp_path / "t")
    assert r.returncode == 0, r.stderr
