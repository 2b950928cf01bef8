"""``compress``: fit compression maps on a space and measure the rate–quality curve.

Methods are map kinds joined by ``+``: a float map (``truncate``, ``pca``, ``pca-whiten``,
``matryoshka``), optionally followed by a quantizer (``int8``, ``binary``); a bare quantizer
quantizes the truncated vectors (``int8`` = ``truncate+int8``).

The **rate–quality curve** puts bytes per vector against retrieval quality for truncation, PCA,
the chosen method and its int8/binary variants at every requested dimension: nDCG@10 on a
retrieval task (queries encoded with the space's encoder), or without a task the recall@10 of
each (sampled) document's full-dimension nearest neighbours. Binary shortlist + full-vector
rerank (:mod:`repspace.index.search`) is measured too. All nested maps (truncate, PCA, the adaptor)
are fitted once at the largest dimension; smaller sizes are their prefixes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import atomic_write_json, writes
from repspace.index.search import ShortlistSearch
from repspace.kernels import cosine_search
from repspace.maps.base import Chain, Map, check_finite
from repspace.maps.quantize import Int8Quantizer
from repspace.maps.registry import make_map, methods
from repspace.maps.truncate import check_dim
from repspace.results import OPTIONAL, Result
from repspace.space import Space, open_space

K = 10


def parse_method(method: str) -> tuple[str, str | None]:
    """``(float part, quantizer or None)`` of a method string such as ``matryoshka+binary``
    (the choices: :data:`repspace.maps.registry.COMPRESS_METHODS`)."""
    floats, quantizers = methods("compress"), methods("quantize")
    parts = method.split("+")
    if len(parts) == 1 and parts[0] in quantizers:
        return "truncate", parts[0]
    if len(parts) > 2 or parts[0] not in floats or (len(parts) == 2 and parts[1] not in quantizers):
        raise RepspaceError(
            f"unknown method {method!r}: use one of {', '.join(floats + quantizers)}, "
            f"or a float method + {'/'.join(quantizers)} (e.g. matryoshka+binary)"
        )
    return parts[0], parts[1] if len(parts) == 2 else None


def float_map(name: str, dim: int, params: dict[str, Any] | None = None) -> Map:
    """An unfitted float map of ``dim`` output dimensions; ``params`` are the adaptor's (the
    other float methods have none to tune)."""
    extra = (params or {}) if name == "matryoshka" else {}
    return make_map(name, "compress", dim=dim, **extra)


def with_quantizer(base: Map, q: str | None, X: np.ndarray) -> Map:
    """``base`` alone, or chained with a quantizer calibrated on ``base``'s output for ``X``."""
    if q is None:
        return base
    quant = make_map(q, "quantize")
    quant.fit(base.transform(X), source_fingerprint=base.source_fingerprint_)
    return Chain([base, quant])


# ----------------------------------------------------------------------------- quality
Searcher = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def map_searcher(m: Map | None) -> Searcher:
    """Cosine search in ``m``'s (decoded) output; ``None``: the full vectors."""

    def search(q: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
        if m is not None:
            q, d = m.decode_transform(q), m.decode_transform(d)
        return cosine_search(q, d, k)[1]

    return search


def rerank_searcher(shortlist: int, cheap: str | int | Map = "binary") -> Searcher:
    def search(q: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
        return ShortlistSearch(d, cheap=cheap).search(q, k, shortlist=shortlist)[1]

    return search


class NeighbourRecall:
    """Recall@k of each sampled document's k nearest full-dimension neighbours (itself
    excluded): how much of the space's local structure a compression keeps, without labels."""

    def __init__(self, docs: np.ndarray, sample: int = 2000, k: int = K, seed: int = 0):
        self.docs = docs
        self.k = min(k, len(docs) - 1)
        rng = np.random.default_rng(seed)
        n = len(docs)
        self.rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
        self.name = f"recall@{self.k} of full-dimension neighbours"
        self.truth = self._neighbours(map_searcher(None))

    def _neighbours(self, search: Searcher) -> np.ndarray:
        idx = search(np.asarray(self.docs[self.rows]), self.docs, self.k + 1)
        out = np.empty((len(self.rows), self.k), dtype=np.int64)
        for i, (row, found) in enumerate(zip(self.rows, idx, strict=True)):
            out[i] = [j for j in found if j != row][: self.k]
        return out

    def score(self, search: Searcher) -> float:
        found = self._neighbours(search)
        hits = [len(set(a) & set(b)) for a, b in zip(found, self.truth, strict=True)]
        return float(np.mean(hits) / self.k)


class TaskNDCG:
    """nDCG@10 of a retrieval task (scored by :func:`repspace.evaluation.retrieval.score_run`):
    query vectors against the space's documents."""

    metrics = ("ndcg@10", "mrr@10")

    def __init__(
        self,
        name: str,
        docs: np.ndarray,
        doc_ids: Sequence[str],
        queries: np.ndarray,
        query_ids: Sequence[str],
        qrels: dict[str, dict[str, int]],
    ):
        self.name = f"nDCG@10 on {name}"
        self.docs, self.doc_ids = docs, list(doc_ids)
        self.queries, self.query_ids = queries, list(query_ids)
        self.qrels = qrels

    def evaluate(self, search: Searcher) -> dict[str, float]:
        """nDCG@10 and MRR@10 of the run ``search`` makes."""
        from repspace.evaluation.retrieval import score_run

        idx = search(self.queries, self.docs, K)
        # Rank-derived scores keep the searcher's order (trec_eval sorts by score).
        run = {
            q: {self.doc_ids[j]: float(K - r) for r, j in enumerate(row)}
            for q, row in zip(self.query_ids, idx, strict=True)
        }
        return score_run(self.qrels, run, self.metrics)

    def score(self, search: Searcher) -> float:
        return self.evaluate(search)["ndcg@10"]


# ----------------------------------------------------------------------------- curve
def rate_quality(
    X: np.ndarray,
    quality: NeighbourRecall | TaskNDCG,
    dims: Sequence[int],
    *,
    method: str = "matryoshka",
    params: dict[str, Any] | None = None,
    fitted: dict[str, Map] | None = None,
    shortlist: int = 100,
    fingerprint: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The rate–quality curve over ``dims`` for truncate, PCA, ``method`` and its int8/binary
    variants, plus binary shortlist + rerank; ``fitted`` reuses already fitted nested maps (by
    float method name, at the largest dim)."""
    base_name, _ = parse_method(method)
    names = list(dict.fromkeys(["truncate", "pca", base_name]))
    top = max(dims)
    fitted = dict(fitted or {})
    fit_seconds: dict[str, float] = {}
    for name in names:
        if name not in fitted:
            t0 = time.perf_counter()
            m = float_map(name, top, params)
            extra = {"progress": progress} if name == "matryoshka" else {}
            fitted[name] = m.fit(X, source_fingerprint=fingerprint, **extra)
            fit_seconds[name] = round(time.perf_counter() - t0, 3)
    full = quality.score(map_searcher(None))
    points = []
    for name in names:
        for variant in (None, *methods("quantize")):
            if variant is not None and name != base_name:
                continue
            for dim in dims:
                m = with_quantizer(fitted[name].prefix(dim), variant, X)
                q = quality.score(map_searcher(m))
                points.append(
                    {
                        "method": name + (f"+{variant}" if variant else ""),
                        "dims": int(dim),
                        "bytes": m.bytes_per_vector,
                        "quality": round(q, 6),
                        "relative": round(q / full, 6) if full else None,
                    }
                )
    rerank = []
    for cheap_name, cheap in (("binary", "binary"), ("int8", Int8Quantizer().fit(X))):
        rr = quality.score(rerank_searcher(shortlist, cheap))
        rerank.append(
            {
                "cheap": cheap_name,
                "shortlist": shortlist,
                "bytes_shortlist": (X.shape[1] + 7) // 8 if cheap_name == "binary" else X.shape[1],
                "quality": round(rr, 6),
                "relative": round(rr / full, 6) if full else None,
            }
        )
    return {
        "quality": quality.name,
        "full": {"dims": int(X.shape[1]), "bytes": 4 * X.shape[1], "quality": round(full, 6)},
        "points": points,
        "rerank": rerank,
        "fit_seconds": fit_seconds,
    }


def write_curve_report(result: dict[str, Any], path: str | Path) -> Path:
    """The rate–quality curve as a self-contained HTML page (inline SVG)."""
    from repspace.report import Report, figure, line_chart, table

    series: dict[str, tuple[list[float], list[float]]] = {}
    for p in result["points"]:
        xs, ys = series.setdefault(p["method"], ([], []))
        xs.append(p["bytes"])
        ys.append(p["quality"])
    full = result["full"]
    series["full float32"] = ([full["bytes"]], [full["quality"]])
    chart = line_chart(
        series,
        x_label="bytes per vector (log)",
        y_label=result["quality"],
        log_x=True,
        title="rate–quality",
        width=680,
        height=360,
    )
    rows = [
        [p["method"], p["dims"], p["bytes"], p["quality"], p["relative"]] for p in result["points"]
    ]
    rows += [
        [f"{r['cheap']} + rerank top {r['shortlist']}", full["dims"], r["bytes_shortlist"],
         r["quality"], r["relative"]]
        for r in result["rerank"]
    ]  # fmt: skip
    report = Report("repspace compress: rate–quality curve", result.get("space", ""))
    report.add(
        "Bytes per vector against quality",
        figure(chart, f"{result['quality']}; full float32 ({full['dims']} dims): "
               f"{full['quality']:.4f}"),
        note="Nested maps are fitted once at the largest dimension; smaller sizes are prefixes. "
        "Quantized variants: int8 per-dimension scalar, binary sign bits (Hamming).",
    )  # fmt: skip
    report.add(
        "Points",
        table(["method", "dims", "bytes/vector", "quality", "relative to full"], rows,
              numeric=(1, 2, 3, 4)),
    )  # fmt: skip
    return report.save(path)


# ----------------------------------------------------------------------------- the command
def task_quality(space: Space, task: str | Path, progress: bool = False) -> TaskNDCG:
    """Load a retrieval task, encode its queries with the space's encoder, join its qrels on
    the space's ids."""
    from repspace.encoders import load_recorded_encoder
    from repspace.evaluation.retrieval import load_retrieval_task

    if space.manifest.get("transforms"):
        raise RepspaceError(
            f"{space.path}: is already a mapped space; compress the space it was made from"
        )
    t = load_retrieval_task(task)
    encoder = load_recorded_encoder(
        space.manifest, space.path, "use a space made by repspace encode"
    )
    qids = [q for q in t.queries if q in t.qrels]
    queries = encoder.encode([t.queries[q] for q in qids])
    ids = space.ids
    known = set(ids)
    if not any(d in known for rels in t.qrels.values() for d in rels):
        raise RepspaceError(
            f"{task}: none of the task's relevant documents is in {space.path}; encode the "
            "task's corpus into the space"
        )
    return TaskNDCG(t.name, np.asarray(space.vectors), ids, queries, qids, t.qrels)


def parse_dims(text: str | Sequence[int], dim: int) -> list[int]:
    """``"32,64,128"`` -> [32, 64, 128], each checked against the space's dimension."""
    if isinstance(text, str):
        try:
            dims = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise RepspaceError(f"--dims {text!r}: give comma-separated integers") from None
    else:
        dims = [int(x) for x in text]
    if not dims:
        raise RepspaceError("--dims: give at least one dimension, e.g. --dims 64,128")
    for d in dims:
        check_dim(d, dim)
    return sorted(set(dims))


@dataclass(kw_only=True)
class CompressResult(Result):
    """What :func:`compress` fitted and wrote; ``to_dict()`` is ``repspace compress --json``."""

    #: The space the maps were fitted on, its rows and dimension.
    space: str
    n: int
    dim: int
    method: str
    dims: list[int]
    #: Seconds to fit the map at the largest dimension.
    fit_seconds: float
    #: Output dimension -> map directory written (``out``).
    maps: dict[int, str] = field(default_factory=dict)
    #: Output dimension -> mapped space written (``apply``).
    spaces: dict[int, str] = field(default_factory=dict)
    #: The rate–quality curve (see :func:`rate_quality`); None when not measured.
    curve: dict[str, Any] | None = field(default=None, metadata=OPTIONAL)
    #: The curve's HTML page, when written (with ``out``).
    report: str | None = field(default=None, metadata=OPTIONAL)


@writes("out")
def compress(
    space: Space | str | Path,
    method: str = "matryoshka",
    dims: str | Sequence[int] = (64,),
    out: str | Path | None = None,
    *,
    task: str | Path | None = None,
    apply: str | Path | None = None,
    curve: bool = True,
    sample: int = 2000,
    shortlist: int = 100,
    params: dict[str, Any] | None = None,
    wait: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    verify: bool = True,
) -> CompressResult:
    """Fit ``method`` at each of ``dims`` on ``space``, save the map(s) to ``out`` (one dim:
    ``out`` itself; several: ``out/<dim>``), write the mapped space(s) to ``apply`` (same
    layout), and measure the rate–quality curve (``out/rate_quality.json`` and ``.html``).
    The space's shards are checksum-verified first unless ``verify`` is False."""
    if out is None and apply is None and not curve:
        raise RepspaceError("nothing to do: give --out, --apply, or leave the curve on")
    space = open_space(space, verify=verify)
    base_name, quant = parse_method(method)
    dims = parse_dims(dims, space.dim)
    X = np.asarray(space.vectors)
    check_finite(X, f"{space.path}")
    quality: NeighbourRecall | TaskNDCG | None = None
    if curve:  # before fitting: a bad task fails fast
        quality = (
            task_quality(space, task, progress)
            if task is not None
            else NeighbourRecall(X, sample=sample)
        )
    t0 = time.perf_counter()
    base = float_map(base_name, max(dims), params)
    base = base.fit(space, progress=progress) if base_name == "matryoshka" else base.fit(space)
    fit_seconds = round(time.perf_counter() - t0, 3)
    maps = {d: with_quantizer(base.prefix(d), quant, X) for d in dims}
    result = CompressResult(
        space=str(space.path),
        n=space.n,
        dim=space.dim,
        method=method,
        dims=dims,
        fit_seconds=fit_seconds,
    )
    if out is not None:
        out = Path(out)
        for d, m in maps.items():
            result.maps[d] = str(m.save(out if len(dims) == 1 else out / str(d)))
    if apply is not None:
        apply = Path(apply)
        for d, m in maps.items():
            target = apply if len(dims) == 1 else apply / str(d)
            result.spaces[d] = str(
                m.apply(space, target, wait=wait, overwrite=overwrite, verify=verify).path
            )
    if quality is not None:
        result.curve = rate_quality(
            X,
            quality,
            dims,
            method=method,
            params=params,
            fitted={base_name: base},
            shortlist=shortlist,
            fingerprint=space.fingerprint,
            progress=progress,
        )
        if out is not None:
            atomic_write_json(out / "rate_quality.json", {**result.curve, "space": str(space.path)})
            result.report = str(
                write_curve_report({**result.curve, "space": str(space.path)},
                                   out / "rate_quality.html")
            )  # fmt: skip
    return result
