from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import repspace
from helpers import synthetic_docs, tiny_static_model, write_jsonl
from repspace import RepspaceError, Space
from repspace.fsio import write_format_json
from repspace.space import read_manifest


def shard_bytes(space_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((space_dir / "shards").glob("[0-9]*"))}


def test_encode_hash_stores_rows_in_corpus_order(tmp_path: Path) -> None:
    docs = synthetic_docs(120)
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    space = repspace.encode(corpus, "hash:32", tmp_path / "s", shard_size=50, progress=False)
    assert space.ids == [d["id"] for d in docs] and space.texts == [d["text"] for d in docs]
    assert [s["rows"] for s in space.manifest["shards"]] == [50, 50, 20]
    enc = repspace.load_encoder("hash:32")
    np.testing.assert_array_equal(space.vectors, enc.encode([d["text"] for d in docs]))
    m = space.manifest
    assert m["status"] == "complete" and m["normalized"] and m["encoder"]["spec"] == "hash:32"
    assert (
        m["fingerprint"] == enc.fingerprint
        and m["corpus"]["hash"] == repspace.Corpus(corpus).scan().hash
    )
    assert m["skipped"] == {"total": 0, "by_reason": {}}
    Space.open(tmp_path / "s", verify=True)


def test_skipped_rows_are_counted_in_the_manifest(tmp_path: Path) -> None:
    corpus = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"id": "a", "text": "ok"},
            {"id": "b", "text": ""},
            "{oops",
            {"id": "a", "text": "dup"},
            {"id": "c", "text": "fine"},
        ],
    )
    with pytest.raises(RepspaceError, match=r"c\.jsonl:2: empty text"):
        repspace.encode(corpus, "hash:8", tmp_path / "s", progress=False)
    space = repspace.encode(corpus, "hash:8", tmp_path / "s2", on_error="skip", progress=False)
    assert space.ids == ["a", "c"]
    assert space.manifest["skipped"] == {
        "total": 3,
        "by_reason": {"empty text": 1, "malformed row": 1, "duplicate id": 1},
    }


def test_resume_after_partial_run_is_byte_identical(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(230))
    clean = repspace.encode(corpus, "hash:16", tmp_path / "clean", shard_size=50, progress=False)
    partial = tmp_path / "partial"
    repspace.encode(corpus, "hash:16", partial, shard_size=50, progress=False)
    m = read_manifest(partial)
    m["shards"] = m["shards"][:2]
    m["n"], m["status"] = 100, "building"
    write_format_json(partial / "manifest.json", m)
    (partial / "shards" / "00003.npy").write_bytes(b"half-written garbage")
    resumed = repspace.encode(corpus, "hash:16", partial, progress=False)
    assert resumed.manifest["shards"] == clean.manifest["shards"]
    assert shard_bytes(partial) == shard_bytes(tmp_path / "clean")


def test_resume_tolerates_a_leftover_that_vanishes(tmp_path: Path, monkeypatch) -> None:
    """A worker of a killed Ray driver may rename its temporary shard file into place between
    resume's listing and its cleanup (seen in test_ray's driver-kill test)."""
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(120))
    out = tmp_path / "s"
    repspace.encode(corpus, "hash:16", out, shard_size=50, progress=False)
    m = read_manifest(out)
    m["shards"], m["n"], m["status"] = m["shards"][:1], 50, "building"
    write_format_json(out / "manifest.json", m)
    real_glob = Path.glob

    def glob_with_ghost(self: Path, pattern: str):
        found = list(real_glob(self, pattern))
        return [*found, self / ".00001.npy.gone.tmp"] if self.name == "shards" else found

    monkeypatch.setattr(Path, "glob", glob_with_ghost)
    resumed = repspace.encode(corpus, "hash:16", out, progress=False)
    assert resumed.manifest["n"] == 120


def test_resume_refuses_other_encoder_or_corpus(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(10))
    repspace.encode(corpus, "hash:16", tmp_path / "s", progress=False)
    with pytest.raises(
        RepspaceError, match=r"was built with encoder hash:16 .* not hash:32 .*--overwrite"
    ):
        repspace.encode(corpus, "hash:32", tmp_path / "s", progress=False)
    write_jsonl(corpus, synthetic_docs(11))
    with pytest.raises(RepspaceError, match="corpus with other content"):
        repspace.encode(corpus, "hash:16", tmp_path / "s", progress=False)
    space = repspace.encode(corpus, "hash:32", tmp_path / "s", overwrite=True, progress=False)
    assert space.n == 11 and space.dim == 32


def test_empty_corpus_is_an_error(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n", encoding="utf-8")
    with pytest.raises(RepspaceError, match="no rows"):
        repspace.encode(corpus, "hash:8", tmp_path / "s", progress=False)


def test_static_encoder_space(tmp_path: Path) -> None:
    model = tiny_static_model(tmp_path / "m")
    corpus = write_jsonl(
        tmp_path / "c.jsonl", [{"id": "1", "text": "the cat sat"}, {"id": "2", "text": "a dog"}]
    )
    space = repspace.encode(corpus, f"static:{model}", tmp_path / "s", progress=False)
    assert space.dim == 16 and space.normalized and space.encoder_spec == f"static:{model}"


def _encode_cmd(corpus: Path, out: Path, encoder: str, shard_size: int) -> list[str]:
    return [sys.executable, "-m", "repspace", "encode", str(corpus), "--encoder", encoder,
            "--out", str(out), "--shard-size", str(shard_size), "--quiet"]  # fmt: skip


def _shards_recorded(out: Path) -> int:
    try:
        m = read_manifest(out)
    except (RepspaceError, ValueError):
        return 0
    return len(m["shards"]) if m else 0


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_clean_run_minilm(tmp_path: Path, minilm) -> None:
    """The real packaged MiniLM in a subprocess, killed with SIGKILL after two shards."""
    docs = synthetic_docs(360, seed=3)
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_encode_cmd(corpus, out, "st:all-MiniLM-L6-v2", 40))
    deadline = time.time() + 300
    while _shards_recorded(out) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = read_manifest(out)
    assert killed_at["status"] == "building" and 2 <= len(killed_at["shards"]) < 9
    Space.open(out, allow_building=True, verify=True)  # whatever is recorded is intact
    recorded = [out / s[key] for s in killed_at["shards"] for key in ("vectors", "table")]
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in recorded}

    subprocess.run(_encode_cmd(corpus, out, "st:all-MiniLM-L6-v2", 40), check=True)
    # a resume, not a restart: the shards recorded before the kill are kept, not written again
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in recorded} == before
    assert read_manifest(out)["shards"][: len(killed_at["shards"])] == killed_at["shards"]
    clean = repspace.encode(corpus, minilm, tmp_path / "clean", shard_size=40, progress=False)
    assert shard_bytes(out) == shard_bytes(tmp_path / "clean")
    assert Space.open(out, verify=True).ids == [d["id"] for d in docs] == clean.ids


@pytest.mark.slow
def test_repeated_sigkill_at_random_moments(tmp_path: Path) -> None:
    """Kill the hash encoder at random moments, several times; every resume continues cleanly."""
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(60_000, seed=5))
    clean = repspace.encode(corpus, "hash:64", tmp_path / "clean", shard_size=2000, progress=False)
    out = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen(_encode_cmd(corpus, out, "hash:64", 2000), env={**os.environ})
        time.sleep(rng.uniform(0.6, 2.5))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if (out / "manifest.json").exists():
            Space.open(out, allow_building=True, verify=True)
    subprocess.run(_encode_cmd(corpus, out, "hash:64", 2000), check=True)
    assert kills >= 1
    assert shard_bytes(out) == shard_bytes(tmp_path / "clean")
    assert Space.open(out, verify=True).manifest["shards"] == clean.manifest["shards"]
    assert not list((out / "shards").glob(".*.tmp"))


def test_encode_runs_again_after_a_kill_before_the_first_manifest(tmp_path: Path) -> None:
    """A writer killed between creating the space directory and renaming its first manifest
    leaves an empty ``shards/`` and the manifest's temp file: the same command runs again;
    anything else in a directory without a manifest is still refused."""
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(30))
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / ".manifest.json.k1ll3d.tmp").write_text('{"format": "repspace.sp')
    space = repspace.encode(corpus, "hash:32", out, progress=False)
    assert space.n == 30 and sorted(p.name for p in out.iterdir()) == ["manifest.json", "shards"]
    other = tmp_path / "other"
    (other / "shards").mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RepspaceError, match="not a repspace space"):
        repspace.encode(corpus, "hash:32", other, progress=False)
    assert (other / "notes.txt").read_text() == "mine"
