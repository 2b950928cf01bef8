"""Index: search a space (usearch HNSW), serve it over HTTP, explore it in a web UI.

``Index`` (index.py) builds, opens, searches and changes an index; ``filters.py`` holds the
metadata filters, ``projection.py`` the cached 2-D map, ``reports.py`` the reports found beside
an index, ``server.py`` the FastAPI app and ``serve``.
"""

from repspace.index.filters import parse_filters
from repspace.index.index import Hit, Index, IndexInfo, build_index

__all__ = ["Hit", "Index", "IndexInfo", "build_index", "parse_filters"]
