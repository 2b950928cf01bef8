"""Anchors that cost nothing from the user's corpus, and bridges built on them.

Generic anchors: any corpus of general text (``--extra-anchors general-english.jsonl``), all of
it or a seeded sample of ``limit`` texts, embedded by both models through the
:class:`~repspace.space.cache.VectorCache` (streamed into spaces under the cache directory,
keyed by encoder fingerprint and content hash): the second migration to the same NEW model, or
from the same OLD one, encodes nothing again.

A bridge (``repspace migrate bridge OLDSPEC NEWSPEC --corpus general.jsonl --out BRIDGE``) is a
NEW→OLD map fitted once per model pair on such anchors (Text-to-Concept, Moayeri et al. 2023,
fits its map on generic data rather than the task's) and saved with both fingerprints;
``migrate plan|start --bridge BRIDGE`` uses it as it is, or refines it on the user's sample
(:class:`~repspace.maps.adapters.ResidualMLP` started from the bridge, early-stopped on held-out
sample pairs), and keeps whichever the held-out documents prefer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repspace.encoders import Encoder, load_encoder
from repspace.errors import RepspaceError
from repspace.fsio import building, cache_dir, read_format_json, write_format_json, writes
from repspace.kernels import cosine_search, unit_rows
from repspace.maps.base import Map, load_map
from repspace.maps.registry import make_map
from repspace.results import Result
from repspace.space.cache import VectorCache, texts_hash

RECORD = "bridge.json"
#: Share of the bridge's anchor pairs held out to report its quality.
HELD_OUT = 0.1


def anchor_texts(
    corpus: str | Path | list[str], limit: int | None = None, seed: int = 0
) -> tuple[list[str], list[str]]:
    """``(ids, texts)`` of a corpus of anchor texts (or a list of texts; ids generated): all
    non-empty ones, or a seeded sample of ``limit`` of them (kept in corpus order)."""
    if isinstance(corpus, list):
        ids = [f"t{i}" for i in range(len(corpus))]
        pairs = [(i, t) for i, t in zip(ids, corpus, strict=True) if t.strip()]
    else:
        from repspace.corpus import as_corpus

        pairs = [(r.id, r.text) for r in as_corpus(corpus) if r.text.strip()]
        if not pairs:
            raise RepspaceError(f"{corpus}: no texts found for anchors; give a corpus file")
    if limit is not None:
        if limit < 1:
            raise RepspaceError(f"anchor limit {limit}: give a positive number of texts")
        if limit < len(pairs):
            keep = np.sort(np.random.default_rng(seed).choice(len(pairs), limit, replace=False))
            pairs = [pairs[i] for i in keep]
    return [i for i, _ in pairs], [t for _, t in pairs]


def pair_vectors(
    ids: list[str], texts: list[str], new: Encoder, old: Encoder, *, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """NEW and OLD vectors of anchor texts, cached per encoder fingerprint and content."""
    if not texts:
        return np.zeros((0, new.dim), np.float32), np.zeros((0, old.dim), np.float32)
    cache = VectorCache(cache_dir() / "anchors", progress=progress)
    return cache.vectors(new, ids, texts), cache.vectors(old, ids, texts)


def held_out_quality(
    m: Map,
    x: np.ndarray,
    y: np.ndarray,
    *,
    pool: np.ndarray | None = None,
    own: np.ndarray | None = None,
) -> dict[str, float]:
    """Held-out pairs: mean cosine of mapped NEW (``x``) to OLD (``y``), and how often one of the
    first ``len(own)`` mapped rows finds its own OLD vector (row ``own[i]`` of ``pool``; by default
    every row, among ``y``) first / in the top 10."""
    pool = y if pool is None else pool
    own = np.arange(len(y)) if own is None else own
    mapped = m.transform(x)
    _, idx = cosine_search(mapped[: len(own)], pool, min(10, len(pool)))
    hit = idx == own[:, None]
    return {
        "cosine": float((unit_rows(mapped) * unit_rows(y)).sum(1).mean()),
        "self_r@1": float(hit[:, :1].any(1).mean()),
        "self_r@10": float(hit.any(1).mean()),
    }


@dataclass(kw_only=True)
class BridgeRecord(Result):
    """A bridge NEW→OLD; ``to_dict()`` is ``repspace migrate bridge``'s output and
    ``bridge.json``."""

    #: The bridge directory; OLD and NEW encoder specs and fingerprints; the map kind.
    path: str
    old: str
    new: str
    old_fingerprint: str
    new_fingerprint: str
    method: str
    #: The anchor corpus (paths, content hash, texts used, the sample's limit and seed).
    corpus: dict[str, Any]
    #: Anchor pairs fitted on, and the held-out quality (:func:`held_out_quality`) of a map
    #: fitted without the held-out share.
    pairs: int
    held_out: dict[str, float]


@writes("out")
def fit_bridge(
    old_encoder: str,
    new_encoder: str,
    corpus: str | Path | list[str],
    out: str | Path,
    *,
    method: str = "residual-mlp",
    limit: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    wait: bool = False,
    progress: bool = False,
) -> BridgeRecord:
    """Fit a NEW→OLD ``method`` map on a generic ``corpus`` (all texts or ``limit`` of them)
    embedded by both encoders, and save it with both fingerprints at ``out``."""
    old, new = load_encoder(old_encoder), load_encoder(new_encoder)
    ids, texts = anchor_texts(corpus, limit, seed)
    x, y = pair_vectors(ids, texts, new, old, progress=progress)
    perm = np.random.default_rng(seed).permutation(len(x))
    held = perm[: max(1, round(HELD_OUT * len(x)))]
    fit_rows = np.sort(perm[len(held) :])
    fps = {"source_fingerprint": new.fingerprint, "target_fingerprint": old.fingerprint}
    trial = make_map(method, "migrate").fit(x[fit_rows], y[fit_rows])
    quality = held_out_quality(trial, x[held], y[held])
    m = make_map(method, "migrate").fit(x, y, **fps)
    paths = [str(Path(p).resolve()) for p in ([] if isinstance(corpus, list) else [corpus])]
    record = BridgeRecord(
        path=str(out),
        old=old_encoder,
        new=new_encoder,
        old_fingerprint=old.fingerprint,
        new_fingerprint=new.fingerprint,
        method=method,
        corpus={
            "paths": paths,
            "hash": texts_hash(ids, texts),
            "texts": len(texts),
            "limit": limit,
            "seed": seed,
        },
        pairs=len(x),
        held_out=quality,
    )
    with building(out, overwrite, holds=lambda p: (p / RECORD).is_file(), what="bridge") as work:
        m.save(work)
        write_format_json(work / RECORD, {"format": "repspace.bridge", "format_version": 1,
                                          **record.to_dict()})  # fmt: skip
    return record


_FIELDS = {
    "old": "string", "new": "string", "old_fingerprint": "string",
    "new_fingerprint": "string", "method": "string", "pairs": "integer",
}  # fmt: skip


def load_bridge(path: str | Path, *, old_fingerprint: str, new_fingerprint: str) -> Map:
    """The bridge saved at ``path``, refused unless it maps ``new_fingerprint`` vectors to
    ``old_fingerprint`` ones."""
    path = Path(path)
    if not (path / RECORD).is_file():
        raise RepspaceError(f"{path}: not a bridge (no {RECORD}); make one with `migrate bridge`")
    rec = read_format_json(path / RECORD, "repspace.bridge", 1, "bridge record", "", _FIELDS)
    for side, want in (("old", old_fingerprint), ("new", new_fingerprint)):
        if rec[f"{side}_fingerprint"] != want:
            raise RepspaceError(
                f"{path}: a bridge for another model pair ({side.upper()} is {rec[side]}, "
                f"fingerprint {rec[f'{side}_fingerprint'][:12]}, not {want[:12]}); fit one for "
                "these models with `repspace migrate bridge`"
            )
    m = load_map(path)
    if (m.source_fingerprint_, m.target_fingerprint_) != (new_fingerprint, old_fingerprint):
        raise RepspaceError(f"{path}: the bridge's map does not match its record; fit it again")
    return m
