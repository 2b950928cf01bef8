"""Corruption: flip a byte, truncate a file, delete a shard, edit a manifest field (n, dim,
fingerprint, the shard list; an index's files, sha256 and n), then run every command that reads
the space or index: each refuses with one line and exit code 2, never a traceback, never a
number on stdout. ``--no-verify`` skips only the checksums; the verified hash is cached per
process.

The commands run in this process through the CLI's entry point (:func:`cli`), so a case costs
no interpreter start; one case per artifact also runs as a real subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import repspace
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace import fsio

pytestmark = pytest.mark.slow

ROWS, SHARD = 200, 100  # two shards


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``repspace ARGS`` through its entry point in this process, as :func:`helpers.run` reports
    it: exit code, stdout, stderr; an exception that escapes ``main`` is exit code 1 with its
    traceback on stderr, as the interpreter would print it."""
    from repspace.cli import main

    argv = ["repspace", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(sys, "argv", argv)
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------ the clean artifacts
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-shard hash:64 space, a hash:32 space of the same documents, an index, a fitted map,
    a retrieval task: all clean."""
    root = tmp_path_factory.mktemp("corruption")
    docs = [{**d, "title": f"title {i}"} for i, d in enumerate(synthetic_docs(ROWS, seed=5))]
    corpus = write_jsonl(root / "c.jsonl", docs)
    w = {"root": root, "space": root / "space", "other": root / "other", "index": root / "index"}
    repspace.encode(corpus, "hash:64", w["space"], shard_size=SHARD, progress=False)
    repspace.encode(corpus, "hash:32", w["other"], shard_size=SHARD, progress=False)
    repspace.Index.build(w["space"], w["index"], progress=False)
    w["map"] = root / "map"
    repspace.compress(w["space"], "pca", "16", w["map"], curve=False)
    w["task"] = root / "task"
    repspace.make_task(corpus, "title-body", w["task"])
    return w


def _flip(file: Path, at: float = 0.5) -> None:
    """Invert one byte at fraction ``at`` of the file (past any header at the default)."""
    data = bytearray(file.read_bytes())
    i = int(len(data) * at)
    data[i] ^= 0xFF
    file.write_bytes(bytes(data))


def _truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _edit(file: Path, change: Callable[[dict[str, Any]], None], *, seal: bool = True) -> None:
    """Change a manifest; sealed with a matching checksum, as a buggy writer would, so that
    the check behind the checksum is what refuses it (unsealed, the checksum refuses it)."""
    m = json.loads(file.read_text())
    change(m)
    if seal:
        m["checksum"] = fsio.json_checksum(m)
    file.write_text(json.dumps(m))


def _unsealed(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda d: _edit(d / "manifest.json", change, seal=False)


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.update(fields)


def _rows_and_n(m: dict[str, Any]) -> None:
    """n and a shard's row count edited together: the manifest agrees with itself."""
    m["n"] += 1
    m["shards"][0]["rows"] += 1


def _last_ann_name(m: dict[str, Any]) -> None:
    m["files"]["ann"] = m["files"]["ann"].replace(".usearch", "-renamed.usearch")


# ------------------------------------------------------------------ the corruptions
#: case -> (what it does to a copy of the space directory, a needle of the error line)
SPACE_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "flip-vectors": (lambda s: _flip(s / "shards/00001.npy"), "00001.npy: checksum mismatch"),
    "flip-table": (lambda s: _flip(s / "shards/00000.parquet"), "00000.parquet"),
    "truncate-vectors": (lambda s: _truncate(s / "shards/00000.npy"), "00000.npy"),
    "truncate-table": (lambda s: _truncate(s / "shards/00001.parquet"), "00001.parquet"),
    "delete-shard": (lambda s: (s / "shards/00001.npy").unlink(), "00001.npy"),
    "rename-file": (
        lambda s: (s / "shards/00000.parquet").rename(s / "shards/00000.parquet.bak"),
        "00000.parquet",
    ),
    "n": (lambda s: _edit(s / "manifest.json", lambda m: m.update(n=m["n"] + 1)), "manifest"),
    "n-and-rows": (lambda s: _edit(s / "manifest.json", _rows_and_n), "00000"),
    "dim": (lambda s: _edit(s / "manifest.json", _set(dim=65)), "00000.npy"),
    "fingerprint": (lambda s: _edit(s / "manifest.json", _set(fingerprint="0" * 64)), "manifest"),
    "shards-remove-first": (
        lambda s: _edit(s / "manifest.json", lambda m: m["shards"].pop(0)),
        "manifest",
    ),
    "shards-remove-last": (
        lambda s: _edit(s / "manifest.json", lambda m: m["shards"].pop()),
        "manifest",
    ),
    "shards-duplicate": (
        lambda s: _edit(s / "manifest.json", lambda m: m["shards"].append(m["shards"][0])),
        "manifest",
    ),
    "shards-rename": (
        lambda s: _edit(
            s / "manifest.json", lambda m: m["shards"][1].update(vectors="shards/00001x.npy")
        ),
        "manifest",
    ),
    "shards-swap": (
        lambda s: _edit(s / "manifest.json", lambda m: m["shards"].reverse()),
        "manifest",
    ),
    "unsealed-updated": (_unsealed(_set(updated="2000-01-01T00:00:00Z")), "checksum"),
    "unsealed-normalized": (_unsealed(_set(normalized=False)), "checksum"),
}

#: command -> argv after ``repspace`` (S: the space under test; the clean artifacts by name)
SPACE_READERS: dict[str, Callable[[Path, dict[str, Path], Path], list[Any]]] = {
    "info": lambda s, w, o: ["info", s, "--verify"],
    "inspect": lambda s, w, o: ["inspect", s, "--sample", 50, "-q"],
    "compare": lambda s, w, o: ["compare", s, w["other"], "--sample", 50, "-q"],
    "index": lambda s, w, o: ["index", s, "--out", o, "-q"],
    "compress": lambda s, w, o: [
        "compress",
        s,
        "--method=pca",
        "--dims=16",
        "--no-curve",
        "--out",
        o,
        "-q",
    ],
    "compress-apply": lambda s, w, o: ["compress", s, "--map", w["map"], "--apply", o],
    "align": lambda s, w, o: ["align", s, w["other"], "--json"],
    "evaluate": lambda s, w, o: ["evaluate", w["task"], "--space", s, "--no-cache", "-q"],
    "migrate-plan": lambda s, w, o: ["migrate", "plan", s, "hash:32", "--sample", 60],
    "migrate-start": lambda s, w, o: ["migrate", "start", s, "hash:32", o, "--sample", 60],
}

INDEX_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "flip-ann": (lambda i: _flip(next(i.glob("ann-*.usearch"))), ".usearch: checksum mismatch"),
    "flip-rows": (lambda i: _flip(next(i.glob("rows-*.parquet"))), ".parquet: checksum"),
    "flip-lexical": (lambda i: _flip(next(i.glob("lexical-*/tokens.npy"))), "tokens.npy"),
    "truncate-ann": (lambda i: _truncate(next(i.glob("ann-*.usearch"))), ".usearch"),
    "delete-rows": (lambda i: next(i.glob("rows-*.parquet")).unlink(), ".parquet"),
    "files-renamed": (lambda i: _edit(i / "manifest.json", _last_ann_name), "renamed.usearch"),
    "files-swapped": (
        lambda i: _edit(i / "manifest.json", lambda m: m["files"].update(ann=m["files"]["rows"])),
        "name one file",
    ),
    "sha256": (
        lambda i: _edit(
            i / "manifest.json", lambda m: m["sha256"].update({m["files"]["ann"]: "0" * 64})
        ),
        ".usearch: checksum mismatch",
    ),
    "n": (
        lambda i: _edit(i / "manifest.json", lambda m: m.update(n=m["n"] + 1)),
        "manifest",
    ),
    "unsealed-metric": (_unsealed(_set(metric="l2sq")), "checksum"),
}

INDEX_READERS: dict[str, Callable[[Path], list[Any]]] = {
    "search": lambda i: ["search", i, "vector space", "--json"],
    "serve": lambda i: ["serve", i, "--port", 0],
}


@pytest.fixture(scope="module")
def broken(world: dict[str, Path]) -> Callable[[str, str], Path]:
    """A corrupted copy of the space or index per case, made once and shared by the commands
    (refusing, none of them writes it)."""
    made: dict[tuple[str, str], Path] = {}

    def make(kind: str, case: str) -> Path:
        if (kind, case) not in made:
            path = world["root"] / "broken" / kind / case
            shutil.copytree(world[kind], path)
            (SPACE_CASES if kind == "space" else INDEX_CASES)[case][0](path)
            made[kind, case] = path
        return made[kind, case]

    return make


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` returns instead of serving, so a corruption it let through fails the test
    (exit code 0) rather than hanging it."""
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: None)


def _refused(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert_one_line_error(result, needle)
    assert result.stdout == "", result.stdout


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("command", SPACE_READERS)
def test_clean_space_is_read(command: str, world: dict[str, Path], tmp_path: Path) -> None:
    """Every reader accepts the clean space (so the refusals below are the corruption's)."""
    r = cli(*SPACE_READERS[command](world["space"], world, tmp_path / "out"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", INDEX_READERS)
def test_clean_index_is_read(command: str, world: dict[str, Path], no_server: None) -> None:
    r = cli(*INDEX_READERS[command](world["index"]))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", SPACE_READERS)
@pytest.mark.parametrize("case", SPACE_CASES)
def test_corrupted_space_is_refused(
    case: str,
    command: str,
    world: dict[str, Path],
    broken: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    r = cli(*SPACE_READERS[command](broken("space", case), world, out))
    _refused(r, SPACE_CASES[case][1])
    assert not out.exists()


@pytest.mark.parametrize("command", INDEX_READERS)
@pytest.mark.parametrize("case", INDEX_CASES)
def test_corrupted_index_is_refused(
    case: str, command: str, broken: Callable[[str, str], Path], no_server: None
) -> None:
    _refused(cli(*INDEX_READERS[command](broken("index", case))), INDEX_CASES[case][1])


def test_real_processes_refuse(broken: Callable[[str, str], Path]) -> None:
    """The same through the installed entry point: a new interpreter per command, and the
    server refusing at startup (a timeout guards against it serving)."""
    _refused(run("inspect", broken("space", "flip-vectors"), "-q"), "00001.npy")
    served = subprocess.run(
        [sys.executable, "-m", "repspace", "serve", str(broken("index", "flip-ann")), "--port",
         "0"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    _refused(served, ".usearch: checksum mismatch")


def test_no_verify_skips_only_the_checksums(
    world: dict[str, Path], broken: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """``--no-verify`` reads a space whose bytes changed (the user vouches for it), but the
    layout checks still hold: a manifest that disagrees with its shards is refused."""
    flipped = broken("space", "flip-vectors")
    assert cli("inspect", flipped, "--sample", 50, "-q", "--no-verify").returncode == 0
    assert cli("index", flipped, "--out", tmp_path / "ix", "-q", "--no-verify").returncode == 0
    assert cli("search", tmp_path / "ix", "vector", "--no-verify").returncode == 0
    _refused(cli("inspect", broken("space", "dim"), "-q", "--no-verify"), "00000.npy")
    _refused(cli("search", broken("index", "n"), "vector", "--no-verify"), "manifest")
    lexical = broken("index", "flip-lexical")
    assert cli("search", lexical, "vector", "--mode", "dense", "--no-verify").returncode == 0


def test_api_functions_verify_by_default(
    world: dict[str, Path], broken: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """The Python API verifies like the CLI unless told ``verify=False``."""
    from repspace.maps.migration import plan

    s = broken("space", "flip-vectors")
    calls: list[Callable[[], Any]] = [
        lambda: repspace.inspect(s, sample=50),
        lambda: repspace.compare(s, world["other"], sample=50),
        lambda: repspace.compress(s, "pca", "16", tmp_path / "m", curve=False),
        lambda: repspace.align(s, world["other"]),
        lambda: repspace.Index.build(s, tmp_path / "ix", progress=False),
        lambda: repspace.evaluate([world["task"]], spaces=[s], cache=False, progress=False),
        lambda: plan(s, "hash:32", sample=60),
        lambda: repspace.load_map(world["map"]).apply(s, tmp_path / "applied"),
    ]
    for call in calls:
        with pytest.raises(repspace.RepspaceError, match=r"00001\.npy: checksum mismatch"):
            call()
    assert repspace.inspect(s, sample=50, verify=False).metrics


def test_each_file_is_hashed_once_per_process(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second verified open of an unchanged space hashes nothing; a file changed since (even
    with its size and mtime restored) is hashed again and refused."""
    space = tmp_path / "s"
    shutil.copytree(world["space"], space)
    hashed: list[Path] = []
    real = fsio.sha256_file

    def counting(path: str | Path) -> str:
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(fsio, "sha256_file", counting)
    repspace.Space.open(space, verify=True)
    assert len(hashed) == 4  # two shards, two files each
    repspace.Space.open(space, verify=True)
    repspace.inspect(space, sample=50)
    assert len(hashed) == 4
    file = space / "shards/00000.npy"
    stat = file.stat()
    _flip(file)
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(repspace.RepspaceError, match=r"00000\.npy: checksum mismatch"):
        repspace.Space.open(space, verify=True)
    assert hashed[4:] == [file.resolve()]
