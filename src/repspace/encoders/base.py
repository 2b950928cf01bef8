"""The encoder contract: texts in, float32 vectors out, and a fingerprint of what shapes them."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

# Files that do not change what a model computes.
_NOT_WEIGHTS = {"README.md", ".gitattributes"}
_NOT_WEIGHTS_DIRS = {"onnx", "openvino", ".cache", ".git"}


class Encoder(ABC):
    """Turns texts into vectors. Subclasses set :attr:`spec` and implement the abstract parts."""

    spec: str
    #: True when every output vector has unit L2 norm.
    normalized: bool = False
    #: Texts per call to :meth:`encode` that suit this encoder (``--batch-size`` overrides it).
    default_batch_size: int = 32

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode ``texts`` to a ``(len(texts), dim)`` float32 array, in input order."""

    @abstractmethod
    def _fingerprint_parts(self) -> Iterable[bytes]:
        """Bytes of the weights and configuration (the spec is added by :attr:`fingerprint`)."""

    def options(self) -> dict[str, Any]:
        """Options beyond the spec that change the vectors (backend, quantization, ...)."""
        return {}

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over spec, options, configuration and weights."""
        h = hashlib.sha256()
        h.update(
            json.dumps({"spec": self.spec, "options": self.options()}, sort_keys=True).encode()
        )
        for part in self._fingerprint_parts():
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a space's manifest records about its encoder."""
        return {
            "spec": self.spec,
            "options": self.options(),
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "normalized": self.normalized,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, dim={self.dim})"


def model_dir_parts(path: Path) -> Iterable[bytes]:
    """Relative name and content of every file in a model directory that shapes its output."""
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if not f.is_file() or f.name in _NOT_WEIGHTS or rel.parts[0] in _NOT_WEIGHTS_DIRS:
            continue
        yield rel.as_posix().encode()
        yield f.read_bytes()
