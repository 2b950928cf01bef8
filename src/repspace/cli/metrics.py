"""Commands that measure spaces: ``inspect`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from repspace.cli._app import app, out
from repspace.errors import RepspaceError


@app.command("inspect")
def inspect_(
    space: Annotated[Path, typer.Argument(help="Space directory.")],
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    color_by: Annotated[
        str | None, typer.Option(help="Metadata column that colours the report's map.")
    ] = None,
    sample: Annotated[
        int, typer.Option(help="Rows for the neighbour metrics (hubness, uniformity, ...).")
    ] = 10_000,
    pairs: Annotated[
        Path | None,
        typer.Option(help="Positive pairs for alignment: two ids per line (TSV/CSV) or JSONL."),
    ] = None,
    k: Annotated[int, typer.Option(help="Neighbours for hubness and intrinsic dimension.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the row samples.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Measure one space: rank, isotropy, hubness, uniformity, intrinsic dimension, duplicates."""
    from repspace.metrics.inspection import inspect as run
    from repspace.metrics.pages import write_report
    from repspace.space import Space

    if k < 1 or sample < 3:
        raise RepspaceError("--k must be at least 1 and --sample at least 3")
    result = run(
        Space.open(space),
        sample=sample,
        k=k,
        pairs=pairs,
        color_by=color_by,
        seed=seed,
        progress=not quiet and not as_json,
    )
    path = write_report(result, report) if report else None
    if as_json:
        print(json.dumps({**_without_figures(result), "report": str(path) if path else None}))
        return
    _print_metrics(result, "inspect")
    if path:
        out.print(f"report: {path}")


@app.command()
def compare(
    spaces: Annotated[list[Path], typer.Argument(help="Two or more space directories.")],
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    debiased: Annotated[
        bool, typer.Option(help="Also the debiased (unbiased-HSIC) CKA estimators.")
    ] = False,
    sample: Annotated[int, typer.Option(help="Shared rows for mutual-kNN.")] = 10_000,
    rbf_sample: Annotated[int, typer.Option(help="Shared rows for RBF CKA.")] = 4_000,
    rsa_sample: Annotated[int, typer.Option(help="Shared rows for RSA.")] = 2_000,
    k: Annotated[int, typer.Option(help="Neighbours for mutual-kNN.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the row samples.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Compare spaces on their shared ids: CKA, mutual-kNN, SVCCA, RSA, Procrustes."""
    from repspace.metrics.comparison import compare as run
    from repspace.metrics.pages import write_report
    from repspace.space import Space

    if len(spaces) < 2:
        raise RepspaceError("compare needs at least two spaces")
    if k < 1 or min(sample, rbf_sample, rsa_sample) < 3:
        raise RepspaceError("--k must be at least 1 and the sample sizes at least 3")
    result = run(
        *[Space.open(s) for s in spaces],
        sample=sample,
        rbf_sample=rbf_sample,
        rsa_sample=rsa_sample,
        k=k,
        debiased=debiased,
        seed=seed,
        progress=not quiet and not as_json,
    )
    path = write_report(result, report) if report else None
    if as_json:
        print(json.dumps({**_without_figures(result), "report": str(path) if path else None}))
        return
    counts = ", ".join(f"{s['label']}: {s['n']:,} × {s['dim']}" for s in result["spaces"])
    out.print(f"joined on {result['joined_on']}: {result['shared']:,} shared rows ({counts})")
    _print_metrics(result, "compare")
    if path:
        out.print(f"report: {path}")


def _without_figures(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "figures"}


def _print_metrics(result: dict[str, Any], kind: str) -> None:
    from repspace.metrics.catalog import COMPARE, INSPECT
    from repspace.report import fmt

    catalog = INSPECT if kind == "inspect" else COMPARE
    if kind == "compare" and len(result["labels"]) > 2:
        for key, matrix in result["metrics"].items():
            table = Table(
                title=f"{catalog[key].label} ({result['scope'][key]})", title_justify="left"
            )
            table.add_column("")
            for label in result["labels"]:
                table.add_column(label, justify="right")
            for label, row in zip(result["labels"], matrix, strict=True):
                table.add_row(label, *(fmt(v) for v in row))
            out.print(table)
        return
    values = result["metrics"] if kind == "inspect" else result["pairs"][0]
    table = Table(box=None)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("computed on", style="dim")
    for key in result["metrics"]:
        table.add_row(catalog[key].label, fmt(values[key]), result["scope"].get(key, ""))
    out.print(table)
    if kind == "inspect":
        hubs = result["details"]["top_hubs"][:3]
        if hubs:
            out.print(
                "top hubs: " + "; ".join(f"{h['id']} (N_k={h['k_occurrence']})" for h in hubs)
            )
