"""One writer per artifact: every writer command refuses a target another process is writing
(one line naming the holder, exit 2, nothing touched), waits with --wait, and a dead holder's
lock is no obstacle; two Index copies cannot lose each other's changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import repspace
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace import RepspaceError
from repspace.fsio import lock_file, writer_lock
from repspace.index import Index

pytestmark = pytest.mark.slow
HELD = "another repspace process is writing it"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus, a space, a second space, a task, an index, a map and a migration."""
    import numpy as np

    root = tmp_path_factory.mktemp("locks")
    rows = [{**d, "title": f"title {i}"} for i, d in enumerate(synthetic_docs(160, seed=4))]
    write_jsonl(root / "c.jsonl", rows)
    repspace.encode(root / "c.jsonl", "hash:64", root / "space", progress=False)
    repspace.encode(root / "c.jsonl", "hash:32", root / "space32", progress=False)
    repspace.make_task(root / "c.jsonl", "title-body", root / "task")
    Index.build(root / "space", root / "index", progress=False)
    r = run("compress", root / "space", "--method", "pca", "--dims", "16", "--out", root / "map",
            "--no-curve")  # fmt: skip
    assert r.returncode == 0, r.stderr
    np.save(root / "v.npy", np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    (root / "ids.txt").write_text("".join(f"r{i}\n" for i in range(20)))
    repspace.Migration.start(root / "space", "hash:48", root / "mig", sample=0.5, batch=40)
    return root


def _commands(root: Path, out: Path) -> dict[str, list[str | Path]]:
    """Each writer command with ``out`` as the artifact it writes."""
    return {
        "encode": ["encode", root / "c.jsonl", "--encoder", "hash:64", "--out", out],
        "import": ["import", root / "v.npy", "--ids", root / "ids.txt", "--out", out],
        "index": ["index", root / "space", "--out", out],
        "compress --out": ["compress", root / "space", "--method", "pca", "--dims", "16",
                           "--out", out, "--no-curve"],
        "compress --apply": ["compress", root / "space", "--map", root / "map", "--apply", out],
        "align": ["align", root / "space", root / "space32", "--out", out],
        "migrate start": ["migrate", "start", root / "space", "hash:48", out, "--sample", "0.5"],
        "select": ["select", "--target", root / "c.jsonl", "--pool", root / "c.jsonl", "-k", "5",
                   "--out", out],
        "make-task": ["make-task", root / "c.jsonl", "--kind", "title-body", "--out", out],
        "distill": ["distill", "--teacher", "st:all-MiniLM-L6-v2", "--corpus", root / "c.jsonl",
                    "--out", out],
        "adapt": ["adapt", "--encoder", "st:all-MiniLM-L6-v2", "--corpus", root / "c.jsonl",
                  "--out", out],
        "export st": ["export", "st", "--encoder", "st:all-MiniLM-L6-v2", "--map", root / "map",
                      "--out", out],
    }  # fmt: skip


@pytest.mark.parametrize("command", list(_commands(Path("r"), Path("o"))))
def test_every_writer_refuses_a_target_being_written(root: Path, tmp_path: Path, command: str):
    out = tmp_path / "artifact"
    with writer_lock(out):
        r = run(*_commands(root, out)[command])
    assert_one_line_error(r, HELD, f"pid {os.getpid()}", "--wait")
    assert not out.exists()


def test_backfill_and_overwrite_respect_the_lock(root: Path) -> None:
    with writer_lock(root / "mig"):
        assert_one_line_error(run("migrate", "backfill", root / "mig"), HELD)
    before = (root / "index" / "manifest.json").read_bytes()
    with writer_lock(root / "index"):  # --overwrite never removes a directory being written
        assert_one_line_error(run("index", root / "space", "--out", root / "index", "--overwrite"),
                              HELD)  # fmt: skip
    assert (root / "index" / "manifest.json").read_bytes() == before
    assert lock_file(root / "index") == root / ".index.lock"


def test_wait_waits_for_the_holder(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "task"
    held = threading.Event()

    def hold() -> None:
        with writer_lock(out):
            held.set()
            time.sleep(2.0)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    t0 = time.monotonic()
    r = run("make-task", root / "c.jsonl", "--kind", "title-body", "--out", out, "--wait")
    thread.join()
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 1.0 and "waiting for pid" in r.stderr
    assert (out / "queries.jsonl").is_file()


def test_a_killed_holder_leaves_no_obstacle(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "task"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom repspace.fsio import writer_lock\n"
         "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n",
         str(out)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    r = run("make-task", root / "c.jsonl", "--kind", "title-body", "--out", out)
    assert_one_line_error(r, HELD, f"pid {holder.pid}")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    r = run("make-task", root / "c.jsonl", "--kind", "title-body", "--out", out)
    assert r.returncode == 0, r.stderr


def test_two_index_copies_cannot_lose_a_change(root: Path, tmp_path: Path) -> None:
    Index.build(root / "space", tmp_path / "ix", progress=False)
    first, second = Index.open(tmp_path / "ix"), Index.open(tmp_path / "ix")
    first.add(["one"], texts=["first writer's text"])
    with pytest.raises(RepspaceError, match="changed since it was opened"):
        second.add(["two"], texts=["second writer's text"])
    third = Index.open(tmp_path / "ix")
    third.delete(["one"])
    assert "one" not in Index.open(tmp_path / "ix").ids


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with writer_lock(tmp_path / "x"), writer_lock(tmp_path / "x"):
        pass
    with writer_lock(tmp_path / "x"):  # released: taken again
        pass


def test_readers_and_a_server_during_publishes(root: Path, tmp_path: Path) -> None:
    """While ``index --overwrite`` publishes new versions, readers opening the index get the
    old one or the new one, and a server keeps answering from the one it loaded."""
    from fastapi.testclient import TestClient

    from repspace.index.server import create_app

    ix = tmp_path / "ix"
    Index.build(root / "space", ix, progress=False)
    client = TestClient(create_app({"ix": Index.open(ix)}), base_url="http://127.0.0.1")
    stop = threading.Event()
    errors: list[str] = []
    opened = answered = 0

    def reader() -> None:
        nonlocal opened
        while not stop.is_set():
            try:
                index = Index.open(ix)
                assert len(index.search("vector space", 3, mode="dense")) == 3
                opened += 1
            except Exception as e:  # any failure is a finding
                errors.append(repr(e))

    def server() -> None:
        nonlocal answered
        while not stop.is_set():
            r = client.get("/search", params={"q": "vector space", "k": 3})
            if r.status_code != 200 or len(r.json()["hits"]) != 3:
                errors.append(f"server: {r.status_code} {r.text[:100]}")
            answered += 1

    threads = [threading.Thread(target=reader), threading.Thread(target=server)]
    for t in threads:
        t.start()
    for _ in range(4):
        r = run("index", root / "space", "--out", ix, "--overwrite", "-q")
        assert r.returncode == 0, r.stderr
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert opened > 4 and answered > 4


def test_readers_during_an_encode_overwrite(root: Path, tmp_path: Path) -> None:
    """``encode --overwrite`` builds the new space beside the old one and swaps it in: a reader
    opening the space meanwhile gets the old one or the new one, complete and verified; one
    that reads a shard after the swap is told in one line to open it again, never given a mix."""
    import numpy as np

    from repspace.space import open_space

    refs = {d: np.asarray(open_space(root / f"space{'' if d == 64 else d}").vectors)
            for d in (32, 64)}  # fmt: skip
    out = tmp_path / "s"
    repspace.encode(root / "c.jsonl", "hash:64", out, progress=False)
    stop = threading.Event()
    errors: list[str] = []
    seen: list[int] = []
    reopened = 0

    def reader() -> None:
        nonlocal reopened
        while not stop.is_set():
            try:
                space = open_space(out)
                assert np.array_equal(space.vectors, refs[space.dim])
                seen.append(space.dim)
            except RepspaceError as e:
                if "was replaced (encode --overwrite) while in use; open it again" not in str(e):
                    errors.append(repr(e))
                reopened += 1
            except Exception as e:  # any other failure is a finding
                errors.append(repr(e))

    thread = threading.Thread(target=reader)
    thread.start()
    for dim in (32, 64, 32, 64):
        r = run("encode", root / "c.jsonl", "--encoder", f"hash:{dim}", "--out", out,
                "--shard-size", "40", "--overwrite", "-q")  # fmt: skip
        assert r.returncode == 0, r.stderr
    stop.set()
    thread.join()
    assert not errors, errors[:3]
    assert set(seen) == {32, 64} and len(seen) > 10 * reopened
    assert not list(tmp_path.glob(".s.*building"))


def test_an_interrupted_overwrite_leaves_the_old_space(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    old = repspace.encode(root / "c.jsonl", "hash:64", out, progress=False)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "repspace", "encode", str(root / "c.jsonl"), "--encoder",
         "hash:32", "--out", str(out), "--shard-size", "10", "--overwrite", "-q"],
    )  # fmt: skip
    stage = tmp_path / ".s.overwrite.building"
    deadline = time.monotonic() + 60
    while not list(stage.glob("shards/*.npy")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert repspace.Space.open(out).fingerprint == old.fingerprint
    # running it again starts over and publishes the new space
    r = run("encode", root / "c.jsonl", "--encoder", "hash:32", "--out", out, "--overwrite", "-q")
    assert r.returncode == 0, r.stderr
    assert repspace.Space.open(out).dim == 32 and not stage.exists()
