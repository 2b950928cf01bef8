"""Commands that measure spaces: ``inspect`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    JsonOption,
    NoVerifyOption,
    QuietOption,
    ReportOption,
    seed_option,
)

if TYPE_CHECKING:
    from repspace.metrics.comparison import CompareResult
    from repspace.metrics.inspection import InspectResult


@app.command("inspect")
def inspect_(
    space: Annotated[Path, typer.Argument(help="Space directory.")],
    report: ReportOption = None,
    as_json: JsonOption = False,
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
    seed: Annotated[int, seed_option("the row samples")] = 0,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Measure one space: rank, isotropy, hubness, uniformity, intrinsic dimension, duplicates."""
    from repspace.metrics.inspection import inspect as run

    result = run(
        space,
        sample=sample,
        k=k,
        pairs=pairs,
        color_by=color_by,
        seed=seed,
        progress=not quiet and not as_json,
        verify=not no_verify,
    )
    _show(result, "inspect", report, as_json)


@app.command()
def compare(
    spaces: Annotated[list[Path], typer.Argument(help="Two or more space directories.")],
    report: ReportOption = None,
    as_json: JsonOption = False,
    debiased: Annotated[
        bool, typer.Option(help="Also the debiased (unbiased-HSIC) CKA estimators.")
    ] = False,
    sample: Annotated[int, typer.Option(help="Shared rows for mutual-kNN.")] = 10_000,
    rbf_sample: Annotated[int, typer.Option(help="Shared rows for RBF CKA.")] = 4_000,
    rsa_sample: Annotated[int, typer.Option(help="Shared rows for RSA.")] = 2_000,
    k: Annotated[int, typer.Option(help="Neighbours for mutual-kNN.")] = 10,
    seed: Annotated[int, seed_option("the row samples")] = 0,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Compare spaces on their shared ids: CKA, mutual-kNN, SVCCA, RSA, Procrustes."""
    from repspace.metrics.comparison import compare as run

    result = run(
        *spaces,
        sample=sample,
        rbf_sample=rbf_sample,
        rsa_sample=rsa_sample,
        k=k,
        debiased=debiased,
        seed=seed,
        progress=not quiet and not as_json,
        verify=not no_verify,
    )
    _show(result, "compare", report, as_json)


def _show(
    result: InspectResult | CompareResult, kind: str, report: Path | None, as_json: bool
) -> None:
    """Write the HTML report if asked; print the result as JSON (without the figure data) or
    as tables."""
    from repspace.metrics.pages import write_report

    path = write_report(result, report) if report else None
    if as_json:
        data = {k: v for k, v in result.to_dict().items() if k != "figures"}
        print_json({**data, "report": str(path) if path else None})
        return
    if kind == "compare":
        counts = ", ".join(f"{s['label']}: {s['n']:,} × {s['dim']}" for s in result.spaces)
        out.print(f"joined on {result.joined_on}: {result.shared:,} shared rows ({counts})")
    _print_metrics(result, kind)
    if path:
        out.print(f"report: {path}")


def _print_metrics(result: InspectResult | CompareResult, kind: str) -> None:
    from repspace.metrics.catalog import COMPARE, INSPECT
    from repspace.report import fmt

    catalog = INSPECT if kind == "inspect" else COMPARE
    if kind == "compare" and len(result.labels) > 2:
        for key, matrix in result.metrics.items():
            table = Table(title=f"{catalog[key].label} ({result.scope[key]})", title_justify="left")
            table.add_column("")
            for label in result.labels:
                table.add_column(label, justify="right")
            for label, row in zip(result.labels, matrix, strict=True):
                table.add_row(label, *(fmt(v) for v in row))
            out.print(table)
        return
    values = result.metrics if kind == "inspect" else result.pairs[0]
    table = Table(box=None)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("computed on", style="dim")
    for key in result.metrics:
        table.add_row(catalog[key].label, fmt(values[key]), result.scope.get(key, ""))
    out.print(table)
    if kind == "inspect":
        hubs = result.details["top_hubs"][:3]
        if hubs:
            out.print(
                "top hubs: " + "; ".join(f"{h['id']} (N_k={h['k_occurrence']})" for h in hubs)
            )
