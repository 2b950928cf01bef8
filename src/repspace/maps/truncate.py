"""Prefix truncation: keep the first ``dim`` coordinates (how Matryoshka embeddings are used,
Kusupati et al. 2022, "Matryoshka Representation Learning")."""

from __future__ import annotations

from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.maps.base import Map


class Truncate(Map):
    """``x -> x[:dim]``. Nothing is learned but the input dimension."""

    kind = "truncate"

    def __init__(self, dim: int):
        self.dim = dim

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        check_dim(self.dim, self.input_dim_)

    def _output_dim(self) -> int:
        return int(self.dim)

    def prefix(self, dim: int) -> Truncate:
        """``x -> x[:dim]``, fitted."""
        self._check_fitted()
        check_dim(dim, self.output_dim_)
        return self._derive({"dim": dim}, {"output_dim_": int(dim)})

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(X[:, : self.dim], dtype=np.float32)

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        self._check_fitted()
        weight = np.eye(self.input_dim_, dtype=np.float32)[: self.dim]
        return [(weight, np.zeros(self.dim, dtype=np.float32), "identity")]


def check_dim(dim: int, input_dim: int) -> None:
    """A target dimension must be 1..input_dim."""
    if not isinstance(dim, int | np.integer) or dim < 1 or dim > input_dim:
        raise RepspaceError(
            f"dims {dim} is not between 1 and the space's {input_dim} dimensions; "
            f"choose --dims of at most {input_dim}"
        )
