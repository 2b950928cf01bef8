"""Commands that search and serve spaces: ``index``, ``search``, ``serve``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from repspace.cli._app import app, out


class Dtype(StrEnum):
    f32 = "f32"
    f16 = "f16"
    i8 = "i8"


@app.command("index")
def index_(
    space: Annotated[Path, typer.Argument(help="Space directory to index.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Index directory to write.")],
    dtype: Annotated[Dtype, typer.Option(help="Vector storage in the index.")] = Dtype.f32,
    exact: Annotated[
        bool, typer.Option("--exact", help="Search by brute force by default (no approximation).")
    ] = False,
    connectivity: Annotated[int, typer.Option(help="HNSW edges per node (M).")] = 16,
    expansion_add: Annotated[int, typer.Option(help="HNSW ef at construction.")] = 128,
    expansion_search: Annotated[int, typer.Option(help="HNSW ef at search.")] = 64,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Build a searchable index (usearch HNSW, cosine) over a space."""
    from repspace.errors import RepspaceError
    from repspace.index import Index
    from repspace.index.projection import projection

    if min(connectivity, expansion_add, expansion_search) < 2:
        raise RepspaceError("--connectivity, --expansion-add and --expansion-search must be >= 2")
    index = Index.build(
        space,
        out_dir,
        dtype=dtype.value,
        exact=exact,
        connectivity=connectivity,
        expansion_add=expansion_add,
        expansion_search=expansion_search,
        overwrite=overwrite,
        progress=not quiet,
    )
    projection(index)
    out.print(
        f"index: {index.n:,} rows × {index.dim} ({index.manifest['dtype']}"
        f"{', exact' if exact else ', HNSW'}) -> {out_dir}"
    )


@app.command()
def search(
    index: Annotated[Path, typer.Argument(help="Index directory.")],
    query: Annotated[str, typer.Argument(help="Text to search for.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of results.")] = 10,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Keep rows whose field equals a value: field=value."),
    ] = None,
    exact: Annotated[
        bool | None, typer.Option("--exact/--ann", help="Brute force or HNSW [default: index's].")
    ] = None,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Shortlist-then-rerank instead of HNSW: 'binary' codes or a prefix dimension."
        ),
    ] = None,
    shortlist: Annotated[int, typer.Option(help="Candidates reranked with --rerank.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search an index by text, with the encoder that built it."""
    from repspace.index import Index, parse_filters

    filters = parse_filters(filter_)
    ix = Index.open(index)
    ix.check_k(k)
    hits = ix.search(query, k, filters=filters, exact=exact, rerank=rerank, shortlist=shortlist)
    if as_json:
        print(json.dumps({"query": query, "k": k, "hits": [h.to_dict() for h in hits]}))
        return
    table = Table(box=None)
    table.add_column("score", justify="right")
    table.add_column("id", style="bold")
    table.add_column("text")
    for h in hits:
        text = (h.text or "").replace("\n", " ")
        table.add_row(f"{h.score:.3f}", h.id, text[:100] + ("…" if len(text) > 100 else ""))
    out.print(table)


@app.command()
def serve(
    indexes: Annotated[list[Path], typer.Argument(help="Index directories to serve.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(help="Require this key in the X-API-Key header.", envvar="REPSPACE_API_KEY"),
    ] = None,
) -> None:
    """Serve indexes over HTTP: JSON API (/search, /spaces, ...) and the web UI at /."""
    from repspace.errors import RepspaceError
    from repspace.index.server import serve as run

    if not 0 <= port <= 65535:
        raise RepspaceError(f"--port {port} is not a TCP port (0-65535)")
    if api_key is not None and not api_key.strip():
        raise RepspaceError("--api-key is empty; give a key or leave the option out")
    run(
        indexes,
        host=host,
        port=port,
        api_key=api_key,
        on_ready=lambda url: print(f"serving {len(indexes)} index(es) at {url}", flush=True),
    )
