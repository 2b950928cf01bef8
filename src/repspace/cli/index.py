"""Commands that search and serve spaces: ``index``, ``search``, ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import JsonOption, OverwriteOption, QuietOption, choice, out_option
from repspace.index.index import DTYPES


@app.command("index")
def index_(
    space: Annotated[Path, typer.Argument(help="Space directory to index.")],
    out_dir: Annotated[Path, out_option("Index directory to write.")],
    dtype: Annotated[choice(DTYPES), typer.Option(help="Vector storage in the index.")] = "f32",
    exact: Annotated[
        bool, typer.Option("--exact", help="Search by brute force by default (no approximation).")
    ] = False,
    connectivity: Annotated[int, typer.Option(help="HNSW edges per node (M).")] = 16,
    expansion_add: Annotated[int, typer.Option(help="HNSW ef at construction.")] = 128,
    expansion_search: Annotated[int, typer.Option(help="HNSW ef at search.")] = 64,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build a searchable index (usearch HNSW, cosine) over a space."""
    from repspace.index import Index
    from repspace.index.projection import projection

    index = Index.build(
        space,
        out_dir,
        dtype=dtype,
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
        bool | None,
        typer.Option("--exact/--ann", help="Brute force or HNSW (default: the index's)."),
    ] = None,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Shortlist-then-rerank instead of HNSW: 'binary' codes or a prefix dimension."
        ),
    ] = None,
    shortlist: Annotated[int, typer.Option(help="Candidates reranked with --rerank.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Search an index by text, with the encoder that built it."""
    from repspace.index import Index, parse_filters

    filters = parse_filters(filter_)
    hits = Index.open(index).search(
        query, k, filters=filters, exact=exact, rerank=rerank, shortlist=shortlist
    )
    if as_json:
        print_json({"query": query, "k": k, "hits": [h.to_dict() for h in hits]})
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
    from repspace.index.server import serve as run

    run(
        indexes,
        host=host,
        port=port,
        api_key=api_key,
        on_ready=lambda url: print(f"serving {len(indexes)} index(es) at {url}", flush=True),
    )
