"""The ``repspace`` command line: each command parses, calls the Python API, prints."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from repspace import __version__
from repspace.errors import RepspaceError

app = typer.Typer(
    name="repspace",
    help="Pretrained representation spaces: encode a corpus, then measure, compress, align and "
    "search the space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)


class OnError(StrEnum):
    raise_ = "raise"
    skip = "skip"


class Backend(StrEnum):
    torch = "torch"
    onnx = "onnx"


class Quantize(StrEnum):
    int8 = "int8"


def _version(value: bool) -> None:
    if value:
        print(f"repspace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Corpus -> Encoder -> Space -> Map -> Index."""


@app.command()
def encode(
    corpus: Annotated[
        list[Path], typer.Argument(help="Files or directories (JSONL, CSV/TSV, Parquet, text).")
    ],
    encoder: Annotated[
        str, typer.Option("--encoder", "-e", help="Encoder spec: st:NAME, static:DIR, hash:DIM.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Space directory to write.")],
    id_field: Annotated[str, typer.Option(help="Record field holding the id.")] = "id",
    text_field: Annotated[str, typer.Option(help="Record field holding the text.")] = "text",
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Extra field to keep as a column (repeatable)."),
    ] = None,
    on_error: Annotated[
        OnError, typer.Option(help="Bad records: raise (stop) or skip (count them).")
    ] = OnError.raise_,
    batch_size: Annotated[
        int | None, typer.Option(help="Texts per encoder call [default: per encoder].")
    ] = None,
    shard_size: Annotated[
        int, typer.Option(help="Rows per shard (the unit of resumption).")
    ] = 10_000,
    backend: Annotated[
        Backend | None, typer.Option(help="st: only; ONNX Runtime instead of torch.")
    ] = None,
    quantize: Annotated[
        Quantize | None, typer.Option(help="With --backend onnx: dynamic int8.")
    ] = None,
    no_text: Annotated[
        bool, typer.Option("--no-text", help="Do not store the texts in the space.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing space instead of resuming it.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Encode a corpus into a space; re-running the same command resumes an interrupted run."""
    from repspace.encode import encode as run
    from repspace.encoders import load_encoder

    started = time.perf_counter()
    enc = load_encoder(
        encoder,
        backend=backend.value if backend else None,
        quantize=quantize.value if quantize else None,
    )
    space = run(
        corpus,
        enc,
        out_dir,
        batch_size=batch_size,
        shard_size=shard_size,
        store_text=not no_text,
        overwrite=overwrite,
        progress=not quiet,
        id_field=id_field,
        text_field=text_field,
        fields=field or [],
        on_error=on_error.value,
    )
    seconds = time.perf_counter() - started
    skipped = space.manifest["skipped"]["total"]
    if not quiet:
        out.print(
            f"wrote {space.n:,} vectors (dim {space.dim}) to {space.path} in {seconds:.1f} s"
            + (f"; skipped {skipped:,} bad records" if skipped else "")
        )


@app.command("import")
def import_(
    vectors: Annotated[Path, typer.Argument(help=".npy matrix, or Parquet with a list column.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Space directory to write.")],
    ids: Annotated[
        Path | None,
        typer.Option(help="Ids: .txt (one per line) or JSONL/CSV/Parquet with --id-field."),
    ] = None,
    id_field: Annotated[str, typer.Option(help="Column holding the ids.")] = "id",
    vector_field: Annotated[
        str | None, typer.Option(help="Parquet list column holding the vectors.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Name of the model that made the vectors.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing space.")] = False,
) -> None:
    """Bring your own vectors (any modality) into a space."""
    from repspace.ingest import import_vectors

    space = import_vectors(
        vectors,
        out_dir,
        ids=ids,
        id_field=id_field,
        vector_field=vector_field,
        model=model,
        overwrite=overwrite,
    )
    out.print(f"imported {space.n:,} vectors (dim {space.dim}) into {space.path}")


@app.command()
def info(
    space: Annotated[Path, typer.Argument(help="Space directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    verify: Annotated[bool, typer.Option(help="Re-check every shard's sha256.")] = False,
) -> None:
    """Show what a space holds and where it came from."""
    from repspace.space import Space

    s = Space.open(space, verify=verify, allow_building=True)
    summary = s.summary()
    if verify:
        summary["verified"] = True
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    out.print(_info_table(summary))


def _info_table(s: dict[str, Any]) -> Table:
    source = s["source"] or {}
    if "hash" in source:
        origin = f"{', '.join(source['paths'])} (sha256 {source['hash'][:12]}…, "
        origin += f"id field {source['id_field']!r}, text field {source['text_field']!r})"
    else:
        origin = f"imported from {source.get('vectors', 'arrays')} (model {source.get('model')})"
    rows = {
        "path": s["path"],
        "status": s["status"],
        "vectors": f"{s['n']:,} × {s['dim']} {s['dtype']}"
        + (", unit norm" if s["normalized"] else ""),
        "encoder": f"{s['encoder'] or '(external)'}  fingerprint {str(s['fingerprint'])[:12]}…",
        "source": origin,
        "columns": ", ".join(s["columns"]),
        "shards": f"{s['shards']} ({s['bytes_on_disk'] / 1e6:,.1f} MB on disk)",
        "skipped": f"{s['skipped']:,} bad records",
        "transforms": ", ".join(t.get("kind", "?") for t in s["transforms"]) or "none",
        "created": f"{s['created']} (updated {s['updated']})",
    }
    table = Table(show_header=False, box=None)
    for key, value in rows.items():
        table.add_row(f"[bold]{key}[/]", str(value))
    return table


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
    """Measure one space: rank, isotropy, anisotropy, hubness, uniformity, intrinsic dimension,
    norms and duplicates."""
    from repspace.metrics import inspect as run
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
    from repspace.metrics import compare as run
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


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2; bugs keep their traceback."""
    try:
        app()
    except RepspaceError as e:
        print(f"repspace: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("repspace: interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
