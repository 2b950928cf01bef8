"""repspace: pretrained representation spaces, from corpus to searchable, measured space.

Corpus -> Encoder -> Space -> Map -> Index. The Python API mirrors the ``repspace`` CLI.
"""

__version__ = "0.1.0"

from repspace.corpus import Corpus, Record  # noqa: E402
from repspace.encode import encode  # noqa: E402
from repspace.encoders import Encoder, load_encoder  # noqa: E402
from repspace.errors import RepspaceError  # noqa: E402
from repspace.ingest import import_vectors  # noqa: E402
from repspace.space import Space  # noqa: E402

__all__ = [
    "Corpus",
    "Encoder",
    "Record",
    "RepspaceError",
    "Space",
    "__version__",
    "encode",
    "import_vectors",
    "load_encoder",
]
