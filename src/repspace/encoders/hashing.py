"""``hash:<dim>``: hashed word and character n-grams, no weights, deterministic and fast."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from repspace.encoders.base import Encoder
from repspace.errors import RepspaceError

_MASK = (1 << 64) - 1
_B = 0x100000001B3  # odd, so invertible modulo 2**64
_B_INV = pow(_B, -1, 1 << 64)
_PAIR = np.uint64(0x9E3779B97F4A7C15)
# Bytes that belong to words: ASCII letters and digits, and every byte of a non-ASCII character.
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads every input bit over the 64 output bits."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class HashEncoder(Encoder):
    """Feature hashing of word 1-2-grams and character n-grams into ``dim`` signed buckets.

    The hashing trick with a sign hash (Weinberger et al., "Feature Hashing for Large Scale
    Multitask Learning", 2009) is a sparse signed random projection of the n-gram count vector.
    Text is lower-cased and whitespace-collapsed; words are runs of ASCII letters/digits or
    non-ASCII characters. Word features and character features are L2-normalized separately,
    summed and normalized again, so that neither family dominates. N-gram hashes are computed
    for a whole batch at once with a polynomial hash over UTF-8 bytes (prefix sums modulo 2**64).
    """

    normalized = True
    default_batch_size = 4096

    def __init__(self, dim: int = 384, char_ngrams: tuple[int, int] = (3, 5), seed: int = 0):
        self._dim = dim
        self.char_ngrams = char_ngrams
        self.seed = seed
        self.spec = f"hash:{dim}"

    @classmethod
    def from_spec(cls, arg: str, **options: Any) -> HashEncoder:
        if options:
            raise RepspaceError(f"hash: encoders take no options (got {', '.join(options)})")
        if not arg.isdigit() or not 1 <= int(arg) <= 1 << 16:
            raise RepspaceError(
                f"hash:{arg}: the argument is the dimension, an integer in 1..65536"
            )
        return cls(int(arg))

    @property
    def dim(self) -> int:
        return self._dim

    def options(self) -> dict[str, Any]:
        return {"char_ngrams": list(self.char_ngrams), "seed": self.seed, "version": 1}

    def _fingerprint_parts(self) -> Iterable[bytes]:
        return ()

    def encode(self, texts: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        step = 4096  # bounds the temporary n-gram arrays; the output does not depend on it
        for i in range(0, len(texts), step):
            out[i : i + step] = self._encode_batch(texts[i : i + step])
        return out

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        docs = [(" " + " ".join(t.lower().split()) + " ").encode() for t in texts]
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=n)
        raw = np.frombuffer(b"".join(docs), dtype=np.uint8)
        total = len(raw)
        doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        x = raw.astype(np.uint64) + np.uint64(1)
        with np.errstate(over="ignore"):
            pw = np.cumprod(np.full(total + 1, _B, dtype=np.uint64))  # pw[k] = B**(k+1)
            pw = np.concatenate([np.ones(1, dtype=np.uint64), pw[:-1]])  # pw[k] = B**k
            inv = np.cumprod(np.full(total, _B_INV, dtype=np.uint64))
            inv = np.concatenate([np.ones(1, dtype=np.uint64), inv[:-1]])
            prefix = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(x * inv)])

            def span_hash(start: np.ndarray, end: np.ndarray, tag: int) -> np.ndarray:
                h = (prefix[end] - prefix[start]) * pw[end - 1]
                return _mix(h ^ np.uint64((tag * 0xD6E8FEB86659FD93 + self.seed) & _MASK))

            char = []
            for k in range(self.char_ngrams[0], self.char_ngrams[1] + 1):
                start = np.arange(total - k + 1, dtype=np.int64)
                start = start[doc_of[start] == doc_of[start + k - 1]]
                char.append((doc_of[start], span_hash(start, start + k, k)))

            is_word = _WORD_BYTE[raw]
            edges = np.diff(np.concatenate([[False], is_word, [False]]).astype(np.int8))
            w_start = np.flatnonzero(edges == 1)
            w_doc = doc_of[w_start]
            uni = span_hash(w_start, np.flatnonzero(edges == -1), 101)
            same = w_doc[1:] == w_doc[:-1]
            bi = _mix(uni[:-1][same] * _PAIR + uni[1:][same] ^ np.uint64(102))
            word = [(w_doc, uni), (w_doc[1:][same], bi)]

            vec = _unit(self._bag(char, n))
            vec += _unit(self._bag(word, n))
        return _unit(vec).astype(np.float32)

    def _bag(self, features: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
        """Sum the signed one-hot buckets of (document, hash) features into an (n, dim) array."""
        doc = np.concatenate([d for d, _ in features])
        h = np.concatenate([h for _, h in features])
        dim = np.uint64(self._dim)
        bucket = (((h >> np.uint64(32)) * dim) >> np.uint64(32)).astype(np.int64)  # Lemire's range
        sign = (h & np.uint64(1)).astype(np.float64) * 2.0 - 1.0
        flat = np.bincount(doc * self._dim + bucket, weights=sign, minlength=n * self._dim)
        return flat.reshape(n, self._dim)


def _unit(v: np.ndarray) -> np.ndarray:
    """Scale the rows of ``v`` to unit length in place (zero rows stay zero)."""
    norm = np.sqrt(np.einsum("ij,ij->i", v, v))
    v *= (1.0 / np.where(norm > 0, norm, 1.0))[:, None]
    return v
