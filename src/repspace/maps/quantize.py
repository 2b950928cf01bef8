"""Scalar int8 and binary quantization of embeddings, with decoding for rescoring.

As sentence-transformers' ``quantize_embeddings`` (Shakir, Aarsen & Lee 2024, "Binary and
Scalar Embedding Quantization"): int8 maps each dimension's calibrated range onto the 256
levels; binary keeps one bit per dimension (``x > threshold``), packed 8 per byte, compared by
Hamming distance. Both are meant to shortlist candidates that are then rescored with the float
vectors (:mod:`repspace.index.search`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.maps.base import Map

THRESHOLDS = ("zero", "mean", "median")


class Int8Quantizer(Map):
    """Per-dimension scalar quantization to int8, calibrated on the fit vectors.

    ``code = round((x - lo_) / step_) - 128``, clipped to [-128, 127], with ``lo_`` and
    ``step_ = (hi_ - lo_) / 255`` per dimension. ``lo_``/``hi_`` are the ``quantile`` and
    ``1 - quantile`` of each dimension over the fit vectors (0: min and max, as
    sentence-transformers; a small quantile clips outliers for finer steps).
    """

    kind = "int8"
    quantizer = True

    def __init__(self, quantile: float = 0.0):
        self.quantile = quantile

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        if not 0.0 <= self.quantile < 0.5:
            raise RepspaceError(f"int8 quantile must be in [0, 0.5), got {self.quantile}")
        x = np.asarray(X, dtype=np.float32)
        if self.quantile:
            lo, hi = np.quantile(x, [self.quantile, 1 - self.quantile], axis=0)
        else:
            lo, hi = x.min(axis=0), x.max(axis=0)
        self.lo_ = lo.astype(np.float32)
        self.step_ = np.maximum((hi - lo) / 255.0, np.float32(1e-12)).astype(np.float32)

    def _output_dim(self) -> int:
        return self.input_dim_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        codes = np.rint((np.asarray(X, dtype=np.float32) - self.lo_) / self.step_) - 128
        return np.clip(codes, -128, 127).astype(np.int8)

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return ((np.asarray(codes, dtype=np.float32) + 128) * self.step_ + self.lo_).astype(
            np.float32
        )

    @property
    def bytes_per_vector(self) -> float:
        self._check_fitted()
        return float(self.output_dim_)


class BinaryQuantizer(Map):
    """One bit per dimension, ``x > threshold_``, packed big-endian 8 per byte (``np.packbits``).

    ``threshold``: ``"zero"`` (sentence-transformers' choice), or calibrated per dimension on
    the fit vectors (``"mean"``, ``"median"``: half the bits set, the most informative split).
    Decoding gives ±1 per dimension, whose dot product is ``dim - 2 * Hamming``.
    """

    kind = "binary"
    quantizer = True

    def __init__(self, threshold: str = "zero"):
        self.threshold = threshold

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        if self.threshold not in THRESHOLDS:
            raise RepspaceError(
                f"binary threshold must be one of {', '.join(THRESHOLDS)}, not {self.threshold!r}"
            )
        x = np.asarray(X, dtype=np.float32)
        if self.threshold == "zero":
            t = np.zeros(x.shape[1], dtype=np.float32)
        elif self.threshold == "mean":
            t = x.mean(axis=0)
        else:
            t = np.median(x, axis=0)
        self.threshold_ = t.astype(np.float32)

    def _output_dim(self) -> int:
        return self.input_dim_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(X, dtype=np.float32) > self.threshold_, axis=1)

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        bits = np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1, count=self.input_dim_)
        return bits.astype(np.float32) * 2 - 1

    @property
    def bytes_per_vector(self) -> float:
        self._check_fitted()
        return float((self.output_dim_ + 7) // 8)
