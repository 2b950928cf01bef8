"""repspace: pretrained representation spaces, from corpus to searchable, measured space.

Corpus -> Encoder -> Space -> Map -> Index. The Python API mirrors the ``repspace`` CLI. The
names below are imported on first use (PEP 562), so ``import repspace`` stays cheap and a
command imports only what it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from repspace._version import __version__

#: public name -> the module that defines it
_API: dict[str, str] = {
    "Corpus": "repspace.corpus",
    "Record": "repspace.corpus",
    "RepspaceError": "repspace.errors",
    "Encoder": "repspace.encoders",
    "load_encoder": "repspace.encoders",
    "Space": "repspace.space.store",
    "encode": "repspace.space.encoding",
    "import_vectors": "repspace.space.ingest",
    "inspect": "repspace.metrics.inspection",
    "compare": "repspace.metrics.comparison",
    "evaluate": "repspace.evaluation.leaderboard",
    "load_task": "repspace.evaluation.tasks",
    "make_task": "repspace.evaluation.generators",
    "Map": "repspace.maps.base",
    "load_map": "repspace.maps.base",
    "compress": "repspace.maps.compression",
    "align": "repspace.maps.alignment",
    "Migration": "repspace.maps.migration",
    "export_sentence_transformers": "repspace.maps.export",
    "Index": "repspace.index.index",
    "build_index": "repspace.index.index",
    "rerank_search": "repspace.index.search",
    "select": "repspace.selection.pipeline",
    "distill": "repspace.training.distillation",
    "adapt": "repspace.training.adaptation",
}

__all__ = [
    "Corpus",
    "Encoder",
    "Index",
    "Map",
    "Migration",
    "Record",
    "RepspaceError",
    "Space",
    "__version__",
    "adapt",
    "align",
    "build_index",
    "compare",
    "compress",
    "distill",
    "encode",
    "evaluate",
    "export_sentence_transformers",
    "import_vectors",
    "inspect",
    "load_encoder",
    "load_map",
    "load_task",
    "make_task",
    "rerank_search",
    "select",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'repspace' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


if TYPE_CHECKING:
    from repspace.corpus import Corpus, Record
    from repspace.encoders import Encoder, load_encoder
    from repspace.errors import RepspaceError
    from repspace.evaluation.generators import make_task
    from repspace.evaluation.leaderboard import evaluate
    from repspace.evaluation.tasks import load_task
    from repspace.index.index import Index, build_index
    from repspace.index.search import rerank_search
    from repspace.maps.alignment import align
    from repspace.maps.base import Map, load_map
    from repspace.maps.compression import compress
    from repspace.maps.export import export_sentence_transformers
    from repspace.maps.migration import Migration
    from repspace.metrics.comparison import compare
    from repspace.metrics.inspection import inspect
    from repspace.selection.pipeline import select
    from repspace.space.encoding import encode
    from repspace.space.ingest import import_vectors
    from repspace.space.store import Space
    from repspace.training.adaptation import adapt
    from repspace.training.distillation import distill
