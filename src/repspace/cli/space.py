"""Commands that make and describe spaces: ``encode``, ``import``, ``info``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    EngineOption,
    IdFieldOption,
    JsonOption,
    OnErrorOption,
    OverwriteOption,
    RayAddressOption,
    TextFieldOption,
    WaitOption,
    choice,
    out_option,
    overwrite_option,
    quiet_option,
)
from repspace.encoders.st import BACKENDS, QUANTIZE


@app.command()
def encode(
    corpus: Annotated[
        list[Path], typer.Argument(help="Files or directories (JSONL, CSV/TSV, Parquet, text).")
    ],
    encoder: Annotated[
        str, typer.Option("--encoder", "-e", help="Encoder spec: st:NAME, static:DIR, hash:DIM.")
    ],
    out_dir: Annotated[Path, out_option("Space directory to write.")],
    id_field: IdFieldOption = "id",
    text_field: TextFieldOption = "text",
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Extra field to keep as a column (repeatable)."),
    ] = None,
    on_error: OnErrorOption = "raise",
    batch_size: Annotated[
        int | None, typer.Option(help="Texts per encoder call (default: per encoder).")
    ] = None,
    shard_size: Annotated[
        int, typer.Option(help="Rows per shard (the unit of resumption).")
    ] = 10_000,
    backend: Annotated[
        choice(BACKENDS) | None, typer.Option(help="st: only; ONNX Runtime instead of torch.")
    ] = None,
    quantize: Annotated[
        choice(QUANTIZE) | None, typer.Option(help="With --backend onnx: dynamic int8.")
    ] = None,
    no_text: Annotated[
        bool, typer.Option("--no-text", help="Do not store the texts in the space.")
    ] = False,
    overwrite: Annotated[
        bool, overwrite_option("Replace an existing space instead of resuming it.")
    ] = False,
    wait: WaitOption = False,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    num_actors: Annotated[
        int | None,
        typer.Option(help="With --engine ray: encoder replicas (default: one per cluster CPU)."),
    ] = None,
    quiet: Annotated[bool, quiet_option("No progress bar and no summary.")] = False,
) -> None:
    """Encode a corpus into a space; re-running the same command resumes an interrupted run."""
    from repspace.encoders import load_encoder
    from repspace.space.encoding import encode as run

    started = time.perf_counter()
    enc = load_encoder(encoder, backend=backend, quantize=quantize)
    space = run(
        corpus,
        enc,
        out_dir,
        batch_size=batch_size,
        shard_size=shard_size,
        store_text=not no_text,
        overwrite=overwrite,
        wait=wait,
        progress=not quiet,
        engine=engine,
        ray_address=ray_address,
        num_actors=num_actors,
        id_field=id_field,
        text_field=text_field,
        fields=field or [],
        on_error=on_error,
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
    out_dir: Annotated[Path, out_option("Space directory to write.")],
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
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
) -> None:
    """Bring your own vectors (any modality) into a space."""
    from repspace.space.ingest import import_vectors

    space = import_vectors(
        vectors,
        out_dir,
        ids=ids,
        id_field=id_field,
        vector_field=vector_field,
        model=model,
        overwrite=overwrite,
        wait=wait,
    )
    out.print(f"imported {space.n:,} vectors (dim {space.dim}) into {space.path}")


@app.command()
def info(
    space: Annotated[Path, typer.Argument(help="Space directory.")],
    as_json: JsonOption = False,
    verify: Annotated[bool, typer.Option(help="Re-check every shard's sha256.")] = False,
) -> None:
    """Show what a space holds and where it came from."""
    from repspace.space import Space

    s = Space.open(space, verify=verify, allow_building=True)
    summary = s.summary()
    if verify:
        summary.verified = True
    if as_json:
        print_json(summary.to_dict())
        return
    out.print(_info_table(summary.to_dict()))


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
