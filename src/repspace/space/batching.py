"""Encoding texts in batches, longest first: the unit of work of ``encode`` on either engine
(local, or Ray's shard actors) and of every command that encodes a text set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from repspace.corpus import Record
from repspace.encoders import Encoder


def encode_shard(
    encoder: Encoder,
    records: Sequence[Record],
    batch_size: int,
    store_text: bool,
    fields: Sequence[str],
    on_batch: Callable[[int], Any] | None = None,
) -> tuple[list[str], np.ndarray, dict[str, list[Any]]]:
    """One shard: ``(ids, vectors, columns)`` for :meth:`SpaceWriter.add_shard`; the vectors
    depend only on the records, their order and ``batch_size`` (both engines call this)."""
    texts = [r.text for r in records]
    vectors = encode_sorted(encoder, texts, batch_size, on_batch=on_batch)
    columns = {
        **({"text": texts} if store_text else {}),
        **{f: [r.fields.get(f) for r in records] for f in fields},
    }
    return [r.id for r in records], vectors, columns


def encode_sorted(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int,
    on_batch: Callable[[int], Any] | None = None,
) -> np.ndarray:
    """Encode ``texts`` longest-first in batches of ``batch_size``; rows keep the input order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[idx] = encoder.encode([texts[i] for i in idx], batch_size=batch_size)
        if on_batch is not None:
            on_batch(len(idx))
    return out
