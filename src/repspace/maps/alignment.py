"""Align two spaces on their shared ids and report how well the map transfers (held-out ids).

Metrics on held-out shared ids: mean cosine of mapped source to target, top-1/top-10 neighbour
agreement (neighbours of a row among held-out rows, mapped source vs target), cross-space
retrieval R@1/R@10 (a mapped source vector retrieves its own id among the target vectors),
linear CKA before (source vs target) and after (mapped vs target), and a learning curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import writes
from repspace.kernels import cosine_knn, cosine_search, unit_rows
from repspace.maps.aligners import target_side
from repspace.maps.base import Map
from repspace.maps.registry import make_map, map_class
from repspace.metrics.cka import linear_cka
from repspace.results import INTERNAL, OPTIONAL, Result, as_dict
from repspace.space import Space, open_space


def shared_rows(source: Space, target: Space) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids present in both spaces (source order) and their row indices in each."""
    tpos = {i: r for r, i in enumerate(target.ids)}
    ids, si, ti = [], [], []
    for r, i in enumerate(source.ids):
        if i in tpos:
            ids.append(i)
            si.append(r)
            ti.append(tpos[i])
    if not ids:
        raise RepspaceError(
            f"{source.path} and {target.path} share no ids; align spaces of the same documents"
        )
    return ids, np.array(si), np.array(ti)


def anchor_count(anchors: float | int | str, n_shared: int) -> int:
    """``N`` (an integer) or a fraction in (0, 1) of the shared ids."""
    a = float(anchors)
    n = round(a * n_shared) if 0 < a < 1 else int(a)
    if n <= 0:
        raise RepspaceError(f"--anchors {anchors}: give a count >= 1 or a fraction in (0, 1)")
    return min(n, n_shared)


def make_aligner(method: str, **params: Any) -> Map:
    """A new, unfitted map of alignment method ``method`` (:data:`ALIGN_METHODS`)."""
    return make_map(method, "align", **params)


def alignment_metrics(m: Map, Xs: np.ndarray, Yt: np.ndarray) -> dict[str, float]:
    """Quality of a fitted map on paired held-out rows ``Xs`` (source) and ``Yt`` (target)."""
    mapped = unit_rows(m.transform(Xs))
    tgt = unit_rows(target_side(m, Yt))
    n = len(mapped)
    out: dict[str, float] = {"n": n, "mean_cosine": float((mapped * tgt).sum(1).mean())}
    _, idx = cosine_search(mapped, tgt, min(10, n), normalized=True)
    own = np.arange(n)[:, None]
    out["retrieval_r@1"] = float((idx[:, :1] == own).any(1).mean())
    out["retrieval_r@10"] = float((idx == own).any(1).mean())
    if n > 2:
        k = min(10, n - 1)
        a, _ = cosine_knn(mapped, k)
        b, _ = cosine_knn(tgt, k)
        out["neighbour_top1"] = float((a[:, 0] == b[:, 0]).mean())
        out["neighbour_top10"] = float(
            np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)])
        )
    if n > 3:
        out["cka_before"] = float(
            linear_cka(np.asarray(Xs, np.float64), np.asarray(Yt, np.float64))
        )
        out["cka_after"] = float(
            linear_cka(np.asarray(mapped, np.float64), np.asarray(tgt, np.float64))
        )
    return out


@dataclass(kw_only=True)
class AlignResult(Result):
    """The map :func:`align` fitted and how well it transfers; ``to_dict()`` is
    ``repspace align --json`` (without the map object)."""

    #: The source and target spaces.
    source: str
    target: str
    method: str
    #: Ids both spaces hold, anchors fitted on, ids held out (the metrics' rows).
    shared: int
    anchors: int
    held_out: int
    seed: int
    #: Held-out quality (see :func:`alignment_metrics`).
    metrics: dict[str, float]
    #: The learning curve: one dict per anchor fraction (None: not asked for).
    curve: list[dict[str, Any]] | None = field(default=None, metadata=OPTIONAL)
    #: The map directory written (``out``), and the HTML report written.
    map: str | None = field(default=None, metadata=OPTIONAL)
    report: str | None = field(default=None, metadata=OPTIONAL)
    #: The fitted map (source -> target).
    fitted: Map = field(metadata=INTERNAL, repr=False, compare=False)


@writes("out")
def align(
    source: str | Path | Space,
    target: str | Path | Space,
    method: str = "procrustes",
    *,
    anchors: float | int | str = 0.5,
    out: str | Path | None = None,
    seed: int = 0,
    curve: tuple[float, ...] | None = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    report: str | Path | None = None,
    wait: bool = False,
    verify: bool = True,
    **params: Any,
) -> AlignResult:
    """Fit a ``method`` map source→target on ``anchors`` shared ids (seeded sample), evaluate on
    the other shared ids, optionally save it to ``out`` and an HTML report. Both spaces'
    shards are checksum-verified first unless ``verify`` is False."""
    src = open_space(source, verify=verify)
    tgt = open_space(target, verify=verify)
    ids, si, ti = shared_rows(src, tgt)
    n = len(ids)
    k = anchor_count(anchors, n)
    need = map_class(method, "align").min_anchors
    if k < need:
        raise RepspaceError(
            f"{method}: {k} anchors, needs at least {need}; raise --anchors (shared ids: {n})"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    fit_rows, held = perm[:k], perm[k:]
    if len(held) == 0:
        held = fit_rows
    X, Y = np.asarray(src.vectors), np.asarray(tgt.vectors)
    m = make_aligner(method, **params)
    m.fit(
        X[si[fit_rows]],
        Y[ti[fit_rows]],
        source_fingerprint=src.fingerprint,
        target_fingerprint=tgt.fingerprint,
    )
    result = AlignResult(
        source=str(src.path),
        target=str(tgt.path),
        method=method,
        shared=n,
        anchors=k,
        held_out=len(held),
        seed=seed,
        metrics=alignment_metrics(m, X[si[held]], Y[ti[held]]),
        fitted=m,
    )
    if curve:
        points = []
        held_c = perm[n // 2 :] if n >= 4 else perm
        for frac in curve:
            kc = max(round(frac * n), need)
            if kc > n - len(held_c) and n >= 4:
                kc = min(kc, n - len(held_c))
            if kc < need:
                continue
            mc = make_aligner(method, **params)
            mc.fit(X[si[perm[:kc]]], Y[ti[perm[:kc]]])
            met = alignment_metrics(mc, X[si[held_c]], Y[ti[held_c]])
            points.append({"fraction": frac, "anchors": kc, **met})
        result.curve = points
    if out is not None:
        m.save(out)
        result.map = str(out)
    if report is not None:
        write_align_report(result, report)
        result.report = str(report)
    return result


def write_align_report(result: AlignResult | Mapping[str, Any], path: str | Path) -> Path:
    """HTML report with the metrics table and the learning curve (inline SVG)."""
    import repspace.report as rp

    result = as_dict(result)

    met = result["metrics"]
    rep = rp.Report(
        "repspace align",
        f"{result['method']} map {result['source']} -> {result['target']}: "
        f"{result['anchors']} anchors of {result['shared']} shared ids, "
        f"{result['held_out']} held out",
    )
    rep.add("Held-out quality", rp.table(["metric", "value"], [[k, v] for k, v in met.items()]))
    pts = result.get("curve") or []
    if pts:
        xs = [p["anchors"] for p in pts]
        names = ("mean_cosine", "retrieval_r@1", "retrieval_r@10", "neighbour_top10")
        series = {nm: (xs, [p.get(nm, float("nan")) for p in pts]) for nm in names}
        rep.add(
            "Learning curve",
            rp.figure(rp.line_chart(series, x_label="anchors", y_label="held-out score")),
            note="Fitted on the first N of a seeded permutation, scored on its second half.",
        )
    return rep.save(path)
