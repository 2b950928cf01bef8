"""``static:<path>``: a model2vec-format static model (one vector per token, pooled)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repspace.encoders.base import Encoder, model_dir_parts
from repspace.errors import RepspaceError


class StaticEncoder(Encoder):
    """A model2vec ``StaticModel``: token embeddings looked up and mean-pooled (Tulkens & van
    Dongen, model2vec). Loads a local directory, or a hub name when a network is available."""

    default_batch_size = 1024

    def __init__(self, path: str | Path):
        from model2vec import StaticModel

        self.path = str(path)
        self.spec = f"static:{path}"
        local = Path(path)
        if not local.exists() and ("/" not in self.path or self.path.startswith((".", "/"))):
            raise RepspaceError(f"static:{path}: no such model directory")
        try:
            self.model = StaticModel.from_pretrained(self.path, force_download=False)
        except (OSError, ValueError) as e:
            raise RepspaceError(
                f"static:{path}: not a model2vec model directory ({e}); "
                "it needs config.json, tokenizer.json and model.safetensors"
            ) from None
        self.normalized = bool(getattr(self.model, "normalize", False))

    @classmethod
    def from_spec(cls, arg: str, **options: Any) -> StaticEncoder:
        if options:
            raise RepspaceError(f"static: encoders take no options (got {', '.join(options)})")
        return cls(arg)

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def _fingerprint_parts(self) -> Iterable[bytes]:
        local = Path(self.path)
        if local.is_dir():
            yield from model_dir_parts(local)
        else:
            yield np.ascontiguousarray(self.model.embedding).tobytes()
            yield self.model.tokenizer.to_str().encode()

    def encode(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=False, use_multiprocessing=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
