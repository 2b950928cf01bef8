"""Helpers shared by the test modules (imported as ``helpers``: pytest puts ``tests/`` on the
path). Test modules import from here, never from each other or from ``conftest``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

WORDS = [
    "vector", "space", "model", "embedding", "retrieval", "token", "corpus", "shard", "index",
    "query", "neighbour", "cosine", "matrix", "encoder", "sentence", "document", "language",
    "representation", "pretraining", "dimension",
]  # fmt: skip


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def synthetic_docs(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Deterministic documents of varied length (3-40 words), built without any data set."""
    rng = random.Random(seed)
    return [
        {"id": f"doc-{i}", "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 40)))}
        for i in range(n)
    ]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The ``repspace`` command in a subprocess (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "repspace", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Bad input: exit code 2, one line on stderr holding every needle, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def tiny_static_model(path: Path, seed: int = 0) -> Path:
    """A real model2vec model with a 9-word vocabulary (no download, no teacher)."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {
        "[PAD]": 0,
        "[UNK]": 1,
        **{w: i + 2 for i, w in enumerate(["the", "cat", "sat", "on", "a", "mat", "dog"])},
    }
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    vectors = np.random.default_rng(seed).normal(size=(len(vocab), 16)).astype(np.float32)
    StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(path))
    return path


def space_files(space_dir: Path) -> dict[str, bytes]:
    """Every shard file's bytes and the manifest without its timestamps."""
    files = {p.name: p.read_bytes() for p in sorted((space_dir / "shards").glob("[0-9]*"))}
    manifest = json.loads((space_dir / "manifest.json").read_text())
    for key in ("created", "updated", "checksum"):  # the checksum covers the timestamps
        manifest.pop(key)
    files["manifest"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def corpus_with_fields(path: Path, n: int, seed: int = 0) -> Path:
    """``synthetic_docs`` with a ``lang`` field (en, fr or null)."""
    docs = synthetic_docs(n, seed=seed)
    return write_jsonl(path, [{**d, "lang": ["en", "fr", None][i % 3]} for i, d in enumerate(docs)])


def select_pool(tmp_path: Path) -> tuple[Path, Path]:
    """A select target and a pool of short documents with some exact duplicates (the engines'
    equality tests: select them with ``min_tokens=0``)."""
    docs = synthetic_docs(2_400, seed=6)
    docs += [{"id": f"dup-{i}", "text": docs[i]["text"]} for i in range(0, 300, 7)]
    target = write_jsonl(tmp_path / "target.jsonl", synthetic_docs(150, seed=7)[:150])
    return target, write_jsonl(tmp_path / "pool.jsonl", docs)


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(index: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``repspace serve INDEX`` in a subprocess on a free loopback port, until it answers
    ``/health``: its URL and the process (stopped with SIGINT at the end)."""
    import signal
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "repspace", "serve", str(index), "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield url, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
