"""Commands that search and serve spaces: ``index``, ``search``, ``serve``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    AlphaOption,
    CandidatesOption,
    FusionOption,
    JsonOption,
    ModeOption,
    NormOption,
    NoVerifyOption,
    OverwriteOption,
    QuietOption,
    WaitOption,
    choice,
    out_option,
)
from repspace.errors import RepspaceError
from repspace.index.index import DTYPES
from repspace.index.lexical import STEMMERS, STOPWORDS

if TYPE_CHECKING:
    from repspace.index.index import Hits


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
    lexical: Annotated[
        bool | None,
        typer.Option(
            "--lexical/--no-lexical",
            help="Also build a BM25 index of the texts (default: when the space keeps texts).",
        ),
    ] = None,
    stemmer: Annotated[
        str, typer.Option(help=f"BM25 stemmer: {' | '.join(STEMMERS)} (Snowball).")
    ] = "english",
    stopwords: Annotated[
        str, typer.Option(help=f"BM25 stop words removed: {' | '.join(STOPWORDS)}.")
    ] = "english",
    split_identifiers: Annotated[
        bool,
        typer.Option(help="BM25: also index the parts of identifiers (file_digest: file, digest)."),
    ] = True,
    tune: Annotated[
        Path | None,
        typer.Option(
            help="A retrieval task over the same documents: fit the hybrid alpha on its "
            "queries and record it in the index."
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Build a searchable index over a space: usearch HNSW (cosine) and, when the space keeps
    texts, BM25 beside it for lexical and hybrid search."""
    from repspace.index import Index
    from repspace.index.lexical import Analyzer
    from repspace.index.projection import projection

    analyzer = Analyzer(stemmer=stemmer, stopwords=stopwords, split_identifiers=split_identifiers)
    if tune is not None and lexical is False:
        raise RepspaceError("--tune fits the hybrid fusion; it needs the lexical index")
    index = Index.build(
        space,
        out_dir,
        dtype=dtype,
        exact=exact,
        connectivity=connectivity,
        expansion_add=expansion_add,
        expansion_search=expansion_search,
        lexical=lexical,
        analyzer=analyzer,
        overwrite=overwrite,
        wait=wait,
        progress=not quiet,
        verify=not no_verify,
    )
    projection(index)
    bm25 = f" + BM25 ({index.lexical.describe()['vocabulary']:,} terms)" if index.lexical else ""
    out.print(
        f"index: {index.n:,} rows × {index.dim} ({index.manifest['dtype']}"
        f"{', exact' if exact else ', HNSW'}){bm25} -> {out_dir}"
    )
    if tune is not None:
        from repspace.evaluation.hybrid import tune_index

        tuned = tune_index(index, tune, progress=not quiet)
        out.print(
            f"tuned on {tuned.queries} queries of {tune}: alpha {tuned.alpha:g} "
            f"(nDCG@10 {tuned.best:.4f}; default alpha {tuned.default_alpha:g}: "
            f"{tuned.default:.4f})"
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
    mode: ModeOption = None,
    alpha: AlphaOption = None,
    fusion: FusionOption = None,
    norm: NormOption = None,
    candidates: CandidatesOption = None,
    as_json: JsonOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Search an index by text: dense (the encoder that built it), lexical (BM25) or hybrid."""
    from repspace.index import Index, parse_filters

    filters = parse_filters(filter_)
    hits = Index.open(index, verify=not no_verify).search(
        query,
        k,
        filters=filters,
        exact=exact,
        rerank=rerank,
        shortlist=shortlist,
        mode=mode,
        alpha=alpha,
        fusion=fusion,
        norm=norm,
        candidates=candidates,
    )
    if as_json:
        print_json({"query": query, "k": k, **hits.to_dict()})
        return
    if hits.note:
        print(f"repspace: note: {hits.note}", file=sys.stderr)
    print_hits(hits)


def print_hits(hits: Hits) -> None:
    """A table of hits: score (and each side's score in hybrid mode), id, text."""
    table = Table(box=None)
    table.add_column(hits.mode, justify="right")
    sides = hits.mode == "hybrid"
    if sides:
        table.add_column("dense", justify="right")
        table.add_column("bm25", justify="right")
    table.add_column("id", style="bold")
    table.add_column("text")
    for h in hits:
        text = (h.text or "").replace("\n", " ")
        cells = [f"{h.score:.3f}"]
        if sides and h.scores:
            cells += [f"{h.scores['dense']:.3f}", f"{h.scores['lexical']:.2f}"]
        table.add_row(*cells, h.id, text[:100] + ("…" if len(text) > 100 else ""))
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
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Also answer requests whose Host header is this name (NAME or NAME:PORT; "
            "repeatable; * for any, e.g. behind a proxy). Others get 403 (DNS rebinding).",
        ),
    ] = None,
    no_verify: NoVerifyOption = False,
) -> None:
    """Serve indexes over HTTP: JSON API (/search, /spaces, ...) and the web UI at /."""
    from repspace.index.server import serve as run

    run(
        indexes,
        host=host,
        port=port,
        api_key=api_key,
        allow_hosts=allow_host or (),
        on_ready=lambda line: print(line, flush=True),
        verify=not no_verify,
    )
