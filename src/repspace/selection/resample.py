"""Importance resampling without replacement by Gumbel top-k (Xie et al. 2023, §4; Kool et al.
2019, "Stochastic Beams and Where to Find Them"): add independent Gumbel(0, 1) noise to every
log importance weight and keep the ``k`` largest; this draws ``k`` documents without replacement
with probabilities proportional to the weights.

Deviation from the reference package (which draws ``np.random.gumbel`` over the concatenated
weights, unseeded): the noise of a document is a pure function of the seed and the document's
id, so the selection does not depend on reading order, chunking, the number of processes or a
cluster's block layout. The top-k is kept in bounded memory while streaming (:class:`TopK`);
ties are broken by the id hash, so it is fully deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from repspace.corpus import SeenIds

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (Steele et al.), vectorized over uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def id_hashes(ids: Sequence[str]) -> np.ndarray:
    """64-bit hashes of the ids (the corpus' duplicate-id hash)."""
    return SeenIds.hashes(list(ids))


def uniforms(hashes: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """A uniform in (0, 1) per id hash, a pure function of (seed, stream, id)."""
    key = splitmix64(np.array([(seed * 1_000_003 + stream) & 0xFFFFFFFFFFFFFFFF], np.uint64))
    bits = splitmix64(hashes ^ key) >> np.uint64(11)  # 53 random bits
    return (bits.astype(np.float64) + 0.5) / float(1 << 53)


def gumbel_noise(hashes: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """Gumbel(0, 1) noise per id hash: ``-log(-log(u))``."""
    return -np.log(-np.log(uniforms(hashes, seed, stream)))


#: Noise streams: the DSIR selection and the random baseline use independent noise.
SELECTION, RANDOM = 0, 1


@dataclass
class TopK:
    """The ``k`` largest keys seen so far, with an integer payload (a row of int64) per key
    (bounded memory: at most ``2k`` entries between prunings). Ties go to the smaller id
    hash."""

    k: int
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    payload: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def push(self, keys: np.ndarray, hashes: np.ndarray, payload: np.ndarray) -> None:
        if self.k <= 0 or not len(keys):
            return
        if len(self.keys) >= self.k:  # cheap pre-filter against the current k-th key
            keep = keys >= self._threshold
            keys, hashes, payload = keys[keep], hashes[keep], payload[keep]
        payload = np.asarray(payload, np.int64)
        if not len(self.payload):
            self.payload = self.payload.reshape((0, *payload.shape[1:]))
        self.keys = np.concatenate([self.keys, keys])
        self.hashes = np.concatenate([self.hashes, hashes])
        self.payload = np.concatenate([self.payload, payload])
        if len(self.keys) > 2 * self.k:
            self._prune()

    def _prune(self) -> None:
        order = np.lexsort((self.hashes, -self.keys))[: self.k]
        self.keys, self.hashes, self.payload = (
            self.keys[order],
            self.hashes[order],
            self.payload[order],
        )
        self._threshold = self.keys[-1] if len(self.keys) >= self.k else -np.inf

    _threshold: float = -np.inf

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(payloads, keys) of the top k, best first."""
        self._prune()
        return self.payload.copy(), self.keys.copy()


def gumbel_top_k(log_weights: np.ndarray, hashes: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices of the Gumbel top-k of an in-memory array of log weights (best first)."""
    top = TopK(k)
    top.push(log_weights + gumbel_noise(hashes, seed, SELECTION), hashes, np.arange(len(hashes)))
    return top.result()[0]


__all__ = [
    "RANDOM",
    "SELECTION",
    "TopK",
    "gumbel_noise",
    "gumbel_top_k",
    "id_hashes",
    "splitmix64",
    "uniforms",
]
