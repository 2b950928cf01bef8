"""The map of an index: a 2-D PCA projection of a uniform sample of its rows, cached beside it.

PCA (Pearson, 1901) of the centred sample through an SVD; the cache (``projection.json`` in the
index directory, written atomically) is keyed by the index generation and the sample size, so it
is computed once and recomputed only after the index changes.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from repspace.fsio import atomic_write_json, read_json
from repspace.index.filters import filterable_columns

if TYPE_CHECKING:
    from repspace.index.index import Index

CACHE = "projection.json"
DEFAULT_SAMPLE = 2_000
SNIPPET = 160
#: Fields with more distinct values than this are not offered for colouring.
MAX_CATEGORIES = 24


def compute_projection(index: Index, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> dict[str, Any]:
    """x/y of a uniform sample of rows, with id, text snippet and colourable fields."""
    rng = np.random.default_rng(seed)
    n = index.n
    pos = np.sort(rng.choice(n, size=min(sample, n), replace=False)) if n else np.empty(0, int)
    keys = index._keys[pos]
    if len(pos) >= 2:
        x = index.vectors_for(keys).astype(np.float64)
        x -= x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        xy = x @ vt[:2].T
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
        var = (s**2)[:2] / max(float((s**2).sum()), 1e-12)
    else:
        xy, var = np.zeros((len(pos), 2)), np.zeros(2)
    table = index.rows.take(pos)
    texts = table.column("text").to_pylist() if "text" in table.column_names else None
    fields: dict[str, list[str]] = {}
    for name in filterable_columns(table):
        values = ["" if v is None else str(v) for v in table.column(name).to_pylist()]
        if 1 < len(set(values)) <= MAX_CATEGORIES:
            fields[name] = values
    return {
        "generation": index.manifest["generation"],
        "sample": int(sample),
        "n": n,
        "explained_variance": [round(float(v), 4) for v in var],
        "ids": table.column("id").to_pylist(),
        "x": [round(float(v), 5) for v in xy[:, 0]],
        "y": [round(float(v), 5) for v in xy[:, 1]],
        "texts": [t[:SNIPPET] for t in texts] if texts else None,
        "fields": fields,
    }


def projection(index: Index, sample: int = DEFAULT_SAMPLE, *, write: bool = True) -> dict[str, Any]:
    """The cached projection when it matches the index, else computed (and cached if possible)."""
    path = index.path / CACHE
    if path.is_file():
        try:
            cached = read_json(path)
            if cached.get("generation") == index.manifest["generation"] and cached.get(
                "sample"
            ) == int(sample):
                return cached
        except ValueError:
            pass  # a damaged cache is recomputed
    result = compute_projection(index, sample)
    if write:
        # a read-only index directory: serve the projection without caching it
        with contextlib.suppress(OSError):
            atomic_write_json(path, result)
    return result
