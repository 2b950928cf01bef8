"""Test session setup: offline Hugging Face, an isolated cache, the shared MiniLM fixture.
Shared helper functions live in ``helpers.py``."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
