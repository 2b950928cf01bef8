from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
    """Deterministic documents of varied length, built without any data set."""
    import random

    rng = random.Random(seed)
    return [
        {"id": f"doc-{i}", "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 40)))}
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = os.environ.get("REPSPACE_TEST_CACHE")
    if cache is None:
        cache = str(tmp_path_factory.getbasetemp() / "repspace-cache")
        os.environ["REPSPACE_TEST_CACHE"] = cache
    monkeypatch.setenv("REPSPACE_CACHE", cache)


@pytest.fixture(scope="session")
def minilm():
    from repspace.encoders import load_encoder

    return load_encoder("st:all-MiniLM-L6-v2")
