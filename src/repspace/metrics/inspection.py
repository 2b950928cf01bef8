"""``repspace inspect``: every intrinsic metric of one space, computed in as few passes as possible.

1. norms (validates: NaN/inf, zero vectors), 2. one float64 pass for the moments: RankMe,
IsoScore, PCA shares, von Neumann entropy, mean cosine and rogue dimensions, exact over all rows,
3. exact duplicates over all rows (a digest per row), 4. one blocked cosine-kNN pass over a
uniform sample (``sample`` rows; all rows when the space is smaller): hubness, uniformity,
TwoNN/MLE intrinsic dimension, 5. near-duplicates: every row when the kNN covered all rows,
otherwise ``near_duplicate_queries`` sampled rows searched against all rows. Each metric's
``scope`` says which rows it was computed on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import bin_edges, cosine_knn, nearest_other_similarity, unit_rows
from repspace.metrics import anisotropy, duplicates, intrinsic_dim, norms, spectrum
from repspace.metrics.data import (
    Rows,
    check_values,
    load,
    pair_indices,
    read_pairs,
    sample_indices,
)
from repspace.metrics.hubness import hubness_stats
from repspace.metrics.moments import moments
from repspace.metrics.neighbors import k_occurrence
from repspace.metrics.uniformity import UniformityAccumulator, alignment
from repspace.progress import progress_bar
from repspace.results import Result
from repspace.space import Space

SAMPLE = 10_000
K = 10
NEAR_DUPLICATE_QUERIES = 2_000
MAP_POINTS = 2_000
TOP_HUBS = 10
TEXT_CHARS = 200


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@dataclass(kw_only=True)
class InspectResult(Result):
    """What :func:`inspect` measured; ``to_dict()`` is ``repspace inspect --json`` (with the
    figures) and what the report is drawn from."""

    kind: str = field(default="inspect", init=False)
    #: The space (or array) measured: path, rows, dimension, encoder.
    space: dict[str, Any]
    #: Sample sizes, k, seed and the constants the metrics used.
    params: dict[str, Any]
    #: Metric name -> value (None where undefined).
    metrics: dict[str, float | None]
    #: Metric name -> the rows it was computed on.
    scope: dict[str, str]
    #: Norm and hubness statistics, top hubs, rogue dimensions, duplicate counts.
    details: dict[str, Any]
    #: Seconds per stage and in total.
    seconds: dict[str, float]
    #: Data for the report's charts.
    figures: dict[str, Any]


def inspect(
    data: Space | np.ndarray | str | Path,
    *,
    sample: int | None = SAMPLE,
    k: int = K,
    pairs: str | Path | Sequence[tuple[str, str]] | Sequence[tuple[int, int]] | None = None,
    color_by: str | Sequence[Any] | None = None,
    texts: Sequence[str] | None = None,
    near_duplicate_threshold: float = duplicates.NEAR_DUPLICATE_COSINE,
    near_duplicate_queries: int = NEAR_DUPLICATE_QUERIES,
    seed: int = 0,
    progress: bool = False,
    verify: bool = True,
) -> InspectResult:
    """Measure one space (a :class:`~repspace.Space`, its directory, or an ``(n, dim)`` array;
    a space's shards are checksum-verified first unless ``verify`` is False).

    ``sample``: rows for the neighbour-based metrics (None: all rows, O(n^2)). ``pairs``: positive
    pairs for alignment (a file, see :func:`~repspace.metrics.data.read_pairs`, or (id, id)
    tuples; row numbers for an array). ``color_by``: a metadata column of the space, or one label
    per row, to colour the report's map. ``texts``: one per row, for an array (spaces supply
    their own). Returns an :class:`InspectResult`: ``metrics`` (name -> value or None), ``scope``
    (rows each was computed on), ``details``, ``seconds`` per stage, ``params``, and ``figures``
    (data for the report).
    """
    started = time.perf_counter()
    if k < 1 or (sample is not None and sample < 3):
        raise RepspaceError("--k must be at least 1 and --sample at least 3")
    rows = load(data, verify=verify)
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = round(now - clock[0], 4)
        clock[0] = now
        bar.advance()

    pair_idx = _pairs(pairs, rows)
    labels = _labels(color_by, rows)
    n, dim = rows.n, rows.dim
    idx = sample_indices(n, sample, seed)
    m = len(idx)
    metrics: dict[str, float | None] = {}
    scope: dict[str, str] = {}
    all_rows = f"all {n:,} rows"
    on_sample = all_rows if m == n else f"uniform sample of {m:,} of {n:,} rows (kNN within it)"

    with progress_bar("inspect", 6 if pair_idx is None else 7, "stages", progress) as bar:
        row_norms = check_values(rows)
        lap("validate_and_norms")

        wide = dim > spectrum.MAX_GRAM_DIM  # no dim x dim Gram: spectrum on a row sample
        mom = moments(rows.vectors, row_norms, gram=not wide, unit_gram=not wide)
        lap("moments")

        spec = spectrum.spectrum(rows.vectors if wide else mom, seed=seed)
        spec_scope = (
            all_rows
            if spec.rows_used == n
            else f"sample of {spec.rows_used:,} rows (dim > {spectrum.MAX_GRAM_DIM})"
        )
        metrics["rankme"] = spectrum.rankme(spec)
        metrics["isoscore"] = _nan_to_none(spectrum.isoscore(spec))
        metrics["pc1_variance_share"] = _nan_to_none(spectrum.pca_variance_share(spec, 1))
        metrics["pc10_variance_share"] = _nan_to_none(spectrum.pca_variance_share(spec, 10))
        metrics["von_neumann_entropy"] = spectrum.von_neumann_entropy(spec)
        metrics["von_neumann_entropy_normalized"] = _nan_to_none(
            spectrum.von_neumann_entropy(spec, normalized=True)
        )
        metrics["mean_cosine"] = anisotropy.mean_cosine(mom)
        metrics["top3_dims_cosine_share"] = _nan_to_none(anisotropy.top_dimensions_share(mom, 3))
        rogue = anisotropy.rogue_dimensions(mom, 5)
        for key in (
            "rankme", "isoscore", "pc1_variance_share", "pc10_variance_share",
            "von_neumann_entropy", "von_neumann_entropy_normalized",
        ):  # fmt: skip
            scope[key] = spec_scope
        scope["mean_cosine"] = scope["top3_dims_cosine_share"] = all_rows
        lap("spectrum")

        stats = norms.norm_stats(row_norms)
        metrics["norm_mean"], metrics["norm_cv"] = stats["mean"], stats["cv"]
        scope["norm_mean"] = scope["norm_cv"] = all_rows
        dup_count = duplicates.exact_duplicate_count(rows.vectors)
        metrics["exact_duplicate_share"] = dup_count / n
        scope["exact_duplicate_share"] = all_rows
        lap("exact_duplicates")

        unit = unit_rows(rows.vectors[idx], norms=row_norms[idx], precise=True)
        uni = UniformityAccumulator()
        knn, sims = cosine_knn(unit, k, visit=uni)
        hub = hubness_stats(knn)
        metrics["hubness_skewness"] = hub["skewness"]
        metrics["antihub_share"] = hub["antihub_share"]
        metrics["hub_share"] = hub["hub_share"]
        metrics["uniformity"] = uni.value()
        metrics["intrinsic_dim_twonn"] = _nan_to_none(intrinsic_dim.twonn(sims))
        metrics["intrinsic_dim_mle"] = _nan_to_none(intrinsic_dim.mle_levina_bickel(sims))
        for key in (
            "hubness_skewness", "antihub_share", "hub_share", "uniformity",
            "intrinsic_dim_twonn", "intrinsic_dim_mle",
        ):  # fmt: skip
            scope[key] = on_sample
        lap("neighbours")

        if m == n:
            nearest = sims[:, 0]
            scope["near_duplicate_share"] = all_rows
        else:
            queries = sample_indices(n, near_duplicate_queries, seed + 1)
            nearest = nearest_other_similarity(rows.vectors, row_norms, queries)
            scope["near_duplicate_share"] = (
                f"{len(queries):,} sampled rows, each searched against all {n:,} rows"
            )
        metrics["near_duplicate_share"] = duplicates.near_duplicate_share(
            nearest, near_duplicate_threshold
        )
        lap("near_duplicates")

        if pair_idx is not None:
            metrics["alignment"] = alignment(
                rows.vectors[pair_idx[:, 0]], rows.vectors[pair_idx[:, 1]]
            )
            scope["alignment"] = f"{len(pair_idx):,} positive pairs"
            lap("alignment")

    row_texts = _texts(rows, texts)
    nk = k_occurrence(knn, m)
    hubs = [
        {
            "id": _row_id(rows, int(idx[i])),
            "k_occurrence": int(nk[i]),
            "text": row_texts[int(idx[i])][:TEXT_CHARS] if row_texts is not None else None,
        }
        for i in np.argsort(-nk, kind="stable")[:TOP_HUBS]
    ]
    figures = _figures(rows, spec, row_norms, nk, idx, labels, row_texts, color_by, seed)
    seconds["total"] = round(time.perf_counter() - started, 4)
    return InspectResult(
        space=rows.describe(),
        params={
            "sample": m,
            "k": int(knn.shape[1]),
            "seed": seed,
            "near_duplicate_threshold": near_duplicate_threshold,
            "rankme_eps": spectrum.RANKME_EPS,
            "uniformity_t": uni.t,
            "distance": "cosine (rows L2-normalized) for neighbour metrics",
        },
        metrics={key: _nan_to_none(v) if v is not None else None for key, v in metrics.items()},
        scope=scope,
        details={
            "norms": stats,
            "hubness": hub,
            "top_hubs": hubs,
            "rogue_dimensions": rogue,
            "exact_duplicates": dup_count,
            "spectrum_rows": spec.rows_used,
        },
        seconds=seconds,
        figures=figures,
    )


def _row_id(rows: Rows, i: int) -> str:
    return rows.ids[i] if rows.ids is not None else str(i)


def _pairs(pairs: Any, rows: Rows) -> np.ndarray | None:
    if pairs is None:
        return None
    source = "pairs"
    if isinstance(pairs, str | Path):
        source = str(pairs)
        pairs = read_pairs(pairs)
    return pair_indices(pairs, rows.ids, rows.n, source)


def _labels(color_by: str | Sequence[Any] | None, rows: Rows) -> list[Any] | None:
    if color_by is None:
        return None
    if isinstance(color_by, str):
        if rows.space is None:
            raise RepspaceError(
                f"--color-by {color_by!r} names a column, but the input is an array; "
                "pass one label per row instead"
            )
        return rows.space.table([color_by]).column(color_by).to_pylist()
    labels = list(color_by)
    if len(labels) != rows.n:
        raise RepspaceError(f"{len(labels)} colour labels for {rows.n} rows; give one per row")
    return labels


def _texts(rows: Rows, texts: Sequence[str] | None) -> Sequence[str] | None:
    if texts is not None:
        if len(texts) != rows.n:
            raise RepspaceError(f"{len(texts)} texts for {rows.n} rows; give one per row")
        return texts
    return rows.space.texts if rows.space is not None else None


def _figures(
    rows: Rows,
    spec: spectrum.Spectrum,
    row_norms: np.ndarray,
    nk: np.ndarray,
    idx: np.ndarray,
    labels: list[Any] | None,
    texts: Sequence[str] | None,
    color_by: Any,
    seed: int,
) -> dict[str, Any]:
    """Data for the report: spectra, a PCA map of a sample, and histograms."""
    sv = spec.singular_values
    var = spec.pca_variances
    cum = np.cumsum(var) / var.sum() if var.sum() > 0 else np.zeros_like(var)
    pick = (
        idx
        if len(idx) <= MAP_POINTS
        else np.sort(np.random.default_rng(seed + 2).choice(idx, MAP_POINTS, replace=False))
    )
    coords = (np.asarray(rows.vectors[pick], dtype=np.float64) - spec.mean) @ spec.pca_components
    if coords.shape[1] < 2:
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    explained = (var[:2] / var.sum()).tolist() if var.sum() > 0 else [0.0, 0.0]
    tips = []
    for i in pick:
        tip = _row_id(rows, int(i))
        if labels is not None:
            tip += f" [{labels[int(i)]}]"
        if texts is not None:
            tip += f": {texts[int(i)][:120]}"
        tips.append(tip)
    counts, edges = np.histogram(row_norms, bins=bin_edges(row_norms, 40))
    return {
        "singular_values": (sv / sv[0] if sv[0] > 0 else sv).tolist(),
        "cumulative_variance": cum.tolist(),
        "map": {
            "x": coords[:, 0].tolist(),
            "y": coords[:, 1].tolist(),
            "explained": explained,
            "labels": [labels[int(i)] for i in pick] if labels is not None else None,
            "color_by": color_by if isinstance(color_by, str) else None,
            "tooltips": tips,
        },
        "k_occurrence": nk.tolist(),
        "norm_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }
