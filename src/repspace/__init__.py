"""repspace: pretrained representation spaces, from corpus to searchable, measured space.

Corpus -> Encoder -> Space -> Map -> Index. The Python API mirrors the ``repspace`` CLI.
"""

__version__ = "0.1.0"

from repspace.adapt import adapt
from repspace.align import align
from repspace.compress import compress
from repspace.corpus import Corpus, Record
from repspace.distill import distill
from repspace.encode import encode
from repspace.encoders import Encoder, load_encoder
from repspace.errors import RepspaceError
from repspace.evaluate import evaluate
from repspace.export import export_sentence_transformers
from repspace.index import Index, build_index
from repspace.ingest import import_vectors
from repspace.maps import Map, load_map
from repspace.metrics import compare, inspect
from repspace.migrate import Migration
from repspace.search import rerank_search
from repspace.select import select
from repspace.space import Space
from repspace.tasks import load_task
from repspace.tasks.make import make_task

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
