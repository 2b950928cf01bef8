"""The HTML reports of ``inspect`` and ``compare``, built from :mod:`repspace.report`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import repspace.report as rp
from repspace.metrics.catalog import COMPARE, INSPECT
from repspace.results import Result, as_dict


def _space_line(space: dict[str, Any]) -> str:
    parts = [f"{space['n']:,} vectors × {space['dim']}"]
    if space.get("encoder"):
        parts.append(f"encoder {space['encoder']}")
    if space.get("fingerprint"):
        parts.append(f"fingerprint {str(space['fingerprint'])[:12]}…")
    return ", ".join(parts)


def inspect_report(result: Result | Mapping[str, Any]) -> rp.Report:
    """The report of :func:`repspace.metrics.inspect`'s result (which must keep ``figures``)."""
    result = as_dict(result)
    space, metrics, scope, fig = (
        result["space"],
        result["metrics"],
        result["scope"],
        result["figures"],
    )
    page = rp.Report(f"repspace inspect: {space['name']}", _space_line(space))
    rows = []
    for key, value in metrics.items():
        meta = INSPECT[key]
        rows.append([meta.label, value, meta.what, meta.good, scope.get(key, ""), meta.source])
    page.add(
        "Metrics",
        rp.table(
            ["metric", "value", "what it measures", "what good looks like", "computed on", "paper"],
            rows,
            numeric=[1],
        ),
        note=f"Neighbour metrics use cosine similarity with k = {result['params']['k']}; "
        f"seed {result['params']['seed']}. Times per stage (s): "
        + ", ".join(f"{k} {v:g}" for k, v in result["seconds"].items()),
    )

    sv = np.asarray(fig["singular_values"])
    cum = np.asarray(fig["cumulative_variance"])
    page.add(
        "Spectrum",
        rp.grid(
            rp.figure(
                rp.line_chart(
                    {"σ_i / σ_1": (np.arange(1, len(sv) + 1), sv)},
                    x_label="index i",
                    y_label="singular value / largest",
                    log_y=True,
                    title="Singular value spectrum",
                ),
                "Singular values of the (uncentered) embedding matrix, relative to the largest; "
                "a fast drop means few directions carry the vectors (RankMe summarizes this).",
            ),
            rp.figure(
                rp.line_chart(
                    {"cumulative": (np.arange(1, len(cum) + 1), cum)},
                    x_label="principal components",
                    y_label="share of variance",
                    y_range=(0.0, 1.0),
                    title="Cumulative explained variance",
                ),
                "Share of the variance explained by the leading principal components.",
            ),
        ),
    )

    m = fig["map"]
    colour = f", coloured by {m['color_by']}" if m.get("color_by") else ""
    ex = m["explained"] + [0.0, 0.0]
    page.add(
        "Map",
        rp.figure(
            rp.scatter(
                m["x"],
                m["y"],
                labels=m["labels"],
                tooltips=m["tooltips"],
                x_label=f"PC 1 ({ex[0]:.1%} of variance)",
                y_label=f"PC 2 ({ex[1]:.1%} of variance)",
                title=f"PCA map of {len(m['x']):,} sampled vectors{colour}",
            ),
            "Projection on the two leading principal components (a linear view: clusters that "
            "overlap here may still be apart in the full space). Hover a point for its id.",
        ),
    )

    nk = np.asarray(fig["k_occurrence"])
    k = result["params"]["k"]
    top = max(int(nk.max()), 1)
    edges = np.arange(0, top + 2) - 0.5 if top <= 80 else np.linspace(-0.5, top + 0.5, 61)
    norm_h = fig["norm_histogram"]
    page.add(
        "Distributions",
        rp.grid(
            rp.figure(
                rp.histogram(
                    nk,
                    bins=edges,
                    x_label=f"k-occurrence N_{k} (times among others' {k} nearest neighbours)",
                    y_label="points",
                    log_y=True,
                    title="k-occurrence",
                    colour=rp.PALETTE[1],
                ),
                f"Without hubness N_{k} clusters around {k}; a long right tail means hubs, a tall "
                "bar at 0 anti-hubs.",
            ),
            rp.figure(
                rp.histogram(
                    counts=norm_h["counts"],
                    edges=norm_h["edges"],
                    x_label="L2 norm",
                    y_label="vectors",
                    title="Vector norms",
                    colour=rp.PALETTE[4],
                ),
                "Unit-norm encoders put every vector at 1.",
            ),
        ),
    )

    hubs = result["details"]["top_hubs"]
    page.add(
        "Top hubs",
        rp.table(
            ["id", f"N_{k}", "text"],
            [[h["id"], h["k_occurrence"], h["text"] or ""] for h in hubs],
            numeric=[1],
        ),
        note="The points most often among other points' nearest neighbours in the kNN sample.",
    )
    rogue = result["details"]["rogue_dimensions"]
    page.add(
        "Dimensions contributing most to cosine similarity",
        rp.table(
            ["dimension", "contribution to mean cosine", "share of mean cosine"],
            [[r["dim"], r["contribution"], r["share"]] for r in rogue],
            numeric=[1, 2],
        ),
        note="Timkey & van Schijndel (2021): rogue dimensions dominate cosine similarity; "
        "consider standardizing them away before using raw cosines.",
    )
    return page


def compare_report(result: Result | Mapping[str, Any]) -> rp.Report:
    """The report of :func:`repspace.metrics.compare`'s result (which must keep ``figures``)."""
    result = as_dict(result)
    labels = result["labels"]
    title = "repspace compare: " + " vs ".join(labels)
    page = rp.Report(title, f"joined on {result['joined_on']}: {result['shared']:,} shared rows")
    page.add(
        "Spaces",
        rp.table(
            ["space", "rows", "dim", "shared rows", "encoder"],
            [
                [s["label"], s["n"], s["dim"], result["shared"], s.get("encoder") or "—"]
                for s in result["spaces"]
            ],
            numeric=[1, 2, 3],
        ),
    )
    keys = list(result["metrics"])
    if len(labels) == 2:
        pair = result["pairs"][0]
        rows = [
            [COMPARE[k].label, pair[k], COMPARE[k].what, COMPARE[k].good,
             result["scope"][k], COMPARE[k].source]
            for k in keys
        ]  # fmt: skip
        page.add(
            "Metrics",
            rp.table(
                [
                    "metric",
                    "value",
                    "what it measures",
                    "what good looks like",
                    "computed on",
                    "paper",
                ],
                rows,
                numeric=[1],
            ),
            note="Times (s): " + ", ".join(f"{k} {v:g}" for k, v in result["seconds"].items()),
        )
    else:
        page.add(
            "Metrics",
            rp.table(
                ["metric", "what it measures", "what good looks like", "computed on", "paper"],
                [
                    [
                        COMPARE[k].label,
                        COMPARE[k].what,
                        COMPARE[k].good,
                        result["scope"][k],
                        COMPARE[k].source,
                    ]
                    for k in keys
                ],
            ),
            rp.grid(
                *(
                    rp.figure(
                        rp.heatmap(
                            result["metrics"][k],
                            labels,
                            title=COMPARE[k].label,
                            vmin=0.0,
                            vmax=2.0 if k == "procrustes_residual" else 1.0,
                        )
                    )
                    for k in keys
                )
            ),
            note="Times (s): " + ", ".join(f"{k} {v:g}" for k, v in result["seconds"].items()),
        )
    fig = result.get("figures") or {}
    if fig:
        a, b = fig["pair"]
        rho = np.asarray(fig["svcca_correlations"])
        overlap = np.asarray(fig["mutual_knn_overlap"])
        k = result["params"]["k"]
        page.add(
            f"Details: {a} vs {b}",
            rp.grid(
                rp.figure(
                    rp.line_chart(
                        {"ρ": (np.arange(1, len(rho) + 1), rho)},
                        x_label="canonical direction",
                        y_label="canonical correlation",
                        y_range=(0.0, 1.0),
                        title="SVCCA correlations",
                    ),
                    "Canonical correlations between the two reduced spaces, largest first; "
                    "SVCCA is their mean.",
                ),
                rp.figure(
                    rp.histogram(
                        overlap * k,
                        bins=np.arange(0, k + 2) - 0.5,
                        x_label=f"shared neighbours (of {k})",
                        y_label="points",
                        title="Mutual kNN per point",
                        colour=rp.PALETTE[2],
                    ),
                    "How many of each point's nearest neighbours the two spaces agree on.",
                ),
            ),
        )
    return page


def write_report(result: Result | Mapping[str, Any], path: str | Path) -> Path:
    """Write the HTML report of an ``inspect`` or ``compare`` result (or its dict) to ``path``."""
    result = as_dict(result)
    page = inspect_report(result) if result["kind"] == "inspect" else compare_report(result)
    return page.save(path)
