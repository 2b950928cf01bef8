"""``repspace compare``: how similar two or more spaces over the same records are.

Spaces are joined on the ids all of them hold (in the first space's order); arrays are joined
row by row. Linear CKA, SVCCA and the Procrustes residual are exact over all shared rows (dim ×
dim statistics, one cross product per pair); mutual-kNN, RBF CKA and RSA are defined on a set of
rows and use nested uniform samples of the shared rows (``scope`` says how many). With more than
two spaces every metric is a matrix.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import cosine_knn, unit_rows
from repspace.metrics import cka, procrustes
from repspace.metrics.data import join, load, row_norms
from repspace.metrics.moments import centered, cross_gram
from repspace.metrics.mutual_knn import knn_overlap
from repspace.metrics.rsa import cosine_rdm
from repspace.metrics.svcca import VARIANCE, svcca_from_stats
from repspace.progress import progress_bar
from repspace.results import Result
from repspace.space import Space

SAMPLE = 10_000
RBF_SAMPLE = 4_000
RSA_SAMPLE = 2_000
K = 10
#: The value a metric takes when a space is compared with itself (the matrices' diagonal).
SELF = {
    "linear_cka": 1.0,
    "linear_cka_debiased": 1.0,
    "rbf_cka": 1.0,
    "rbf_cka_debiased": 1.0,
    "mutual_knn": 1.0,
    "svcca": 1.0,
    "rsa": 1.0,
    "procrustes_residual": 0.0,
}


def _none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@dataclass(kw_only=True)
class CompareResult(Result):
    """What :func:`compare` measured; ``to_dict()`` is ``repspace compare --json`` (with the
    figures) and what the report is drawn from."""

    kind: str = field(default="compare", init=False)
    #: Each space (path, rows, dimension, encoder) with its ``label``.
    spaces: list[dict[str, Any]]
    #: Rows all spaces share (the rows compared).
    shared: int
    #: ``"ids"`` or ``"row order"``.
    joined_on: str
    #: Rows and dimension of each space.
    rows: list[int]
    dims: list[int]
    #: Sample sizes, k, seed and the constants the metrics used.
    params: dict[str, Any]
    #: One label per space (unique), the order of the matrices.
    labels: list[str]
    #: Metric name -> matrix over the spaces (diagonal: self-similarity; None where undefined).
    metrics: dict[str, list[list[float | None]]]
    #: One dict per pair of spaces: ``a``, ``b``, each metric, ``svcca_directions``.
    pairs: list[dict[str, Any]]
    #: Metric name -> the rows it was computed on.
    scope: dict[str, str]
    #: Seconds per metric and in total.
    seconds: dict[str, float]
    #: Data for the report's charts (of the first pair).
    figures: dict[str, Any]


def compare(
    *data: Space | np.ndarray | str | Path,
    names: Sequence[str] | None = None,
    sample: int | None = SAMPLE,
    rbf_sample: int | None = RBF_SAMPLE,
    rsa_sample: int | None = RSA_SAMPLE,
    k: int = K,
    debiased: bool = False,
    seed: int = 0,
    progress: bool = False,
    verify: bool = True,
) -> CompareResult:
    """Compare spaces (or directories, or arrays) pairwise on their shared rows (each space's
    shards checksum-verified first unless ``verify`` is False).

    ``sample``/``rbf_sample``/``rsa_sample``: rows for mutual-kNN, RBF CKA and RSA (None: all
    shared rows; RBF CKA and RSA hold an m × m matrix). ``debiased`` adds the debiased CKA
    estimators. Returns a :class:`CompareResult`: ``metrics`` (name -> matrix, diagonal =
    self-similarity), ``pairs`` (one dict per pair), ``shared`` rows, ``scope``, ``seconds`` per
    metric, and ``figures``.
    """
    started = time.perf_counter()
    if len(data) < 2:
        raise RepspaceError("compare needs at least two spaces")
    if k < 1 or any(s is not None and s < 3 for s in (sample, rbf_sample, rsa_sample)):
        raise RepspaceError("--k must be at least 1 and the sample sizes at least 3")
    if names is not None and len(names) != len(data):
        raise RepspaceError(f"{len(names)} names for {len(data)} spaces")
    rows = [load(d, names[i] if names else None, verify=verify) for i, d in enumerate(data)]
    labels = [r.name for r in rows]
    if len(set(labels)) < len(labels):
        labels = [f"{i}:{r.name}" for i, r in enumerate(rows)]
    shared_ids, index = join(rows)
    n = len(index[0])
    seconds: dict[str, float] = {}

    def timed(key: str, t0: float) -> None:
        seconds[key] = round(seconds.get(key, 0.0) + time.perf_counter() - t0, 4)

    perm = np.random.default_rng(seed).permutation(n)
    knn_rows = np.sort(perm[: min(n, sample or n)])
    rbf_rows = np.sort(perm[: min(n, rbf_sample or n)])
    rsa_rows = np.sort(perm[: min(n, rsa_sample or n)])
    stages = len(rows) + len(rows) * (len(rows) - 1) // 2
    per_space: list[dict[str, Any]] = []
    with progress_bar("compare", stages, "steps", progress) as bar:
        for r, ix in zip(rows, index, strict=True):
            t0 = time.perf_counter()
            x = r.vectors if np.array_equal(ix, np.arange(r.n)) else r.vectors[ix]
            norms = row_norms(x, r.name, shared_ids)
            stats = centered(x)
            timed("centering", t0)
            t0 = time.perf_counter()
            knn, _ = cosine_knn(unit_rows(x[knn_rows], norms=norms[knn_rows], precise=True), k)
            timed("mutual_knn", t0)
            t0 = time.perf_counter()
            kernel = cka.rbf_gram(x[rbf_rows])
            ugram = cka.center_gram(kernel.copy(), unbiased=True) if debiased else None
            gram = cka.center_gram(kernel)
            timed("rbf_cka", t0)
            t0 = time.perf_counter()
            rdm = _ranks(cosine_rdm(x[rsa_rows]))
            timed("rsa", t0)
            per_space.append(
                {"x": x, "stats": stats, "knn": knn, "gram": gram, "ugram": ugram, "rdm": rdm}
            )
            bar.advance()

        keys = ["linear_cka", "rbf_cka", "mutual_knn", "svcca", "rsa", "procrustes_residual"]
        if debiased:
            keys[1:1] = ["linear_cka_debiased"]
            keys[3:3] = ["rbf_cka_debiased"]
        matrices = {key: np.full((len(rows), len(rows)), SELF[key]) for key in keys}
        pairs = []
        figures: dict[str, Any] = {}
        for i, j in itertools.combinations(range(len(rows)), 2):
            a, b = per_space[i], per_space[j]
            values: dict[str, float | None] = {}
            t0 = time.perf_counter()
            cross = cross_gram(a["x"], b["x"], a["stats"].mean, b["stats"].mean)
            timed("cross_covariance", t0)
            t0 = time.perf_counter()
            values["linear_cka"] = cka.linear_cka_from_stats(a["stats"], b["stats"], cross)
            if debiased:
                values["linear_cka_debiased"] = cka.linear_cka_from_stats(
                    a["stats"], b["stats"], cross, debiased=True
                )
            timed("linear_cka", t0)
            t0 = time.perf_counter()
            values["rbf_cka"] = _gram_cka(a["gram"], b["gram"])
            if debiased:
                values["rbf_cka_debiased"] = (
                    _gram_cka(a["ugram"], b["ugram"]) if len(rbf_rows) >= 4 else float("nan")
                )
            timed("rbf_cka", t0)
            t0 = time.perf_counter()
            overlap = knn_overlap(a["knn"], b["knn"])
            values["mutual_knn"] = float(overlap.mean())
            timed("mutual_knn", t0)
            t0 = time.perf_counter()
            sv = svcca_from_stats(a["stats"], b["stats"], cross)
            values["svcca"] = sv["mean"]
            timed("svcca", t0)
            t0 = time.perf_counter()
            values["rsa"] = _spearman(a["rdm"], b["rdm"])
            timed("rsa", t0)
            t0 = time.perf_counter()
            values["procrustes_residual"] = procrustes.procrustes_from_stats(
                a["stats"], b["stats"], cross
            )
            timed("procrustes_residual", t0)
            for key in keys:
                matrices[key][i, j] = matrices[key][j, i] = values[key]
            pairs.append(
                {
                    "a": labels[i],
                    "b": labels[j],
                    **{key: _none(values[key]) for key in keys},
                    "svcca_directions": list(sv["directions"]),
                }
            )
            if not figures:
                figures = {
                    "pair": [labels[i], labels[j]],
                    "svcca_correlations": np.asarray(sv["correlations"]).tolist(),
                    "mutual_knn_overlap": overlap.tolist(),
                }
            bar.advance()

    counts = [r.n for r in rows]
    dims = [r.dim for r in rows]
    every = f"all {n:,} shared rows"
    scope = {key: every for key in keys}
    for key, chosen in (
        ("mutual_knn", knn_rows),
        ("rbf_cka", rbf_rows),
        ("rbf_cka_debiased", rbf_rows),
        ("rsa", rsa_rows),
    ):
        if key in scope and len(chosen) < n:
            scope[key] = f"uniform sample of {len(chosen):,} of {n:,} shared rows"
    seconds["total"] = round(time.perf_counter() - started, 4)
    return CompareResult(
        spaces=[{**r.describe(), "label": lab} for r, lab in zip(rows, labels, strict=True)],
        shared=n,
        joined_on="ids" if shared_ids is not None else "row order",
        rows=counts,
        dims=dims,
        params={
            "k": k,
            "sample": len(knn_rows),
            "rbf_sample": len(rbf_rows),
            "rsa_sample": len(rsa_rows),
            "rbf_threshold": cka.RBF_THRESHOLD,
            "svcca_variance": VARIANCE,
            "debiased": debiased,
            "seed": seed,
        },
        labels=labels,
        metrics={key: [[_none(v) for v in row] for row in mat] for key, mat in matrices.items()},
        pairs=pairs,
        scope=scope,
        seconds=seconds,
        figures=figures,
    )


def _gram_cka(gx: np.ndarray, gy: np.ndarray) -> float:
    """CKA of two already-centred Gram matrices."""
    return float(np.vdot(gx, gy) / (np.linalg.norm(gx) * np.linalg.norm(gy)))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks, centred and scaled to unit norm: Spearman's rho of two such vectors is
    their dot product (as ``scipy.stats.spearmanr``), so each space is ranked once."""
    from scipy.stats import rankdata

    r = rankdata(values)
    r -= r.mean()
    norm = np.linalg.norm(r)
    return r / norm if norm > 0 else r


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if not a.any() or not b.any():
        return float("nan")
    return float(np.dot(a, b))
