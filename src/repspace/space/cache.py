"""Vectors of text sets, encoded once per encoder: in memory, or through :func:`repspace.encode`
into spaces under a cache directory keyed by encoder fingerprint and content hash (so the cache
inherits the space format's crash safety and resumption). Used by ``evaluate``, ``distill`` and
``compress``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from repspace.encoders import Encoder
from repspace.fsio import atomic_write
from repspace.space.batching import encode_sorted
from repspace.space.encoding import encode
from repspace.space.store import Space


def texts_hash(ids: list[str], texts: list[str]) -> str:
    """sha256 over (id, text) pairs, unambiguous (NUL-separated, lengths included)."""
    h = hashlib.sha256()
    for i, t in zip(ids, texts, strict=True):
        a, b = i.encode(), t.encode()
        h.update(f"{len(a)}:{len(b)}\0".encode() + a + b)
    return h.hexdigest()


class VectorCache:
    """Encodes text sets once per encoder; with ``root`` set, through :func:`repspace.encode`
    into spaces cached under ``root`` (keyed by fingerprint + content hash)."""

    def __init__(
        self, root: Path | None, *, batch_size: int | None = None, progress: bool = True
    ) -> None:
        self.root = root
        self.batch_size = batch_size
        self.progress = progress
        self.memory: dict[tuple[str, str], np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def vectors(self, enc: Encoder, ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        key = (enc.fingerprint, texts_hash(list(ids), list(texts)))
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        if self.root is None:
            self.misses += 1
            vectors = encode_sorted(enc, texts, self.batch_size or enc.default_batch_size)
        else:
            vectors = self._cached(enc, ids, texts, key[1])
        self.memory[key] = vectors
        return vectors

    def _cached(
        self, enc: Encoder, ids: Sequence[str], texts: Sequence[str], content: str
    ) -> np.ndarray:
        assert self.root is not None
        source = self.root / "texts" / f"{content[:32]}.jsonl"
        if not source.is_file():
            data = "".join(
                json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                for i, t in zip(ids, texts, strict=True)
            ).encode("utf-8")
            atomic_write(source, lambda f: f.write(data))
        out = self.root / "spaces" / f"{enc.fingerprint[:16]}-{content[:16]}"
        done = (out / "manifest.json").is_file() and Space.open(out, allow_building=True).complete
        if done:
            self.hits += 1
        else:
            self.misses += 1
        space = encode(
            source,
            enc,
            out,
            batch_size=self.batch_size,
            store_text=False,
            progress=self.progress,
        )
        if space.ids != list(ids):  # the cache is content-addressed; this would be a bug
            raise RuntimeError(f"{out}: cached space rows do not match the texts")
        return np.asarray(space.vectors)
