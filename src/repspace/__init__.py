"""repspace: pretrained representation spaces, from corpus to searchable, measured space.

Corpus -> Encoder -> Space -> Map -> Index. The Python API mirrors the ``repspace`` CLI.
"""

__version__ = "0.1.0"

from repspace.corpus import Corpus, Record
from repspace.distill import distill
from repspace.encode import encode
from repspace.encoders import Encoder, load_encoder
from repspace.errors import RepspaceError
from repspace.evaluate import evaluate
from repspace.ingest import import_vectors
from repspace.metrics import compare, inspect
from repspace.space import Space
from repspace.tasks import load_task
from repspace.tasks.make import make_task

__all__ = [
    "Corpus",
    "Encoder",
    "Record",
    "RepspaceError",
    "Space",
    "__version__",
    "compare",
    "distill",
    "encode",
    "evaluate",
    "import_vectors",
    "inspect",
    "load_encoder",
    "load_task",
    "make_task",
]
