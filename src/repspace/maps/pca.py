"""PCA (Pearson 1901; Hotelling 1933): project centred vectors on the top principal axes,
optionally whitened (unit variance per output coordinate), as scikit-learn's ``PCA``."""

from __future__ import annotations

from typing import Any

import numpy as np

from repspace.kernels import eigh
from repspace.maps.base import Map
from repspace.maps.truncate import check_dim

#: Rows per block of the float64 covariance pass.
_BLOCK = 8192


class PCA(Map):
    """``x -> (x - mean_) @ components_.T`` (divided by ``sqrt(explained_variance_)`` when
    ``whiten``). Components are the covariance's top eigenvectors, in decreasing variance, so
    every prefix of the output is the PCA of that size; signs follow scikit-learn's
    ``svd_flip`` convention (largest-magnitude loading positive), so fits are reproducible."""

    kind = "pca"

    def __init__(self, dim: int, whiten: bool = False):
        self.dim = dim
        self.whiten = whiten

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        check_dim(self.dim, self.input_dim_)
        n, d = X.shape
        mean = np.zeros(d)
        for s in range(0, n, _BLOCK):
            mean += np.asarray(X[s : s + _BLOCK], dtype=np.float64).sum(axis=0)
        mean /= n
        cov = np.zeros((d, d))
        for s in range(0, n, _BLOCK):
            b = np.asarray(X[s : s + _BLOCK], dtype=np.float64) - mean
            cov += b.T @ b
        cov /= max(n - 1, 1)
        values, vectors = eigh(cov)
        order = np.argsort(values)[::-1][: self.dim]
        components = vectors[:, order].T
        signs = np.sign(components[np.arange(len(order)), np.abs(components).argmax(axis=1)])
        components *= np.where(signs == 0, 1.0, signs)[:, None]
        self.mean_ = mean.astype(np.float32)
        self.components_ = components.astype(np.float32)
        self.explained_variance_ = np.maximum(values[order], 0.0).astype(np.float32)
        total = float(np.maximum(values, 0).sum())
        self.explained_variance_ratio_ = (
            self.explained_variance_ / total if total > 0 else self.explained_variance_ * 0
        ).astype(np.float32)

    def _output_dim(self) -> int:
        return int(self.dim)

    def prefix(self, dim: int) -> PCA:
        """The PCA of ``dim`` components (the first ``dim`` of these), fitted."""
        self._check_fitted()
        check_dim(dim, self.output_dim_)
        return self._derive(
            {"dim": dim},
            {
                "components_": self.components_[:dim],
                "explained_variance_": self.explained_variance_[:dim],
                "explained_variance_ratio_": self.explained_variance_ratio_[:dim],
                "output_dim_": int(dim),
            },
        )

    def _scale(self) -> np.ndarray:
        if not self.whiten:
            return np.ones(self.dim, dtype=np.float32)
        return (1.0 / np.sqrt(np.maximum(self.explained_variance_, 1e-12))).astype(np.float32)

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        weight = self.components_ * self._scale()[:, None]
        return weight.astype(np.float32), (-(weight @ self.mean_)).astype(np.float32)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        weight, bias = self._weights()
        return np.asarray(X, dtype=np.float32) @ weight.T + bias

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        self._check_fitted()
        weight, bias = self._weights()
        return [(weight, bias, "identity")]
