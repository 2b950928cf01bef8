"""Commands that pick data: ``select`` (DSIR importance resampling)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from repspace.cli._app import Engine, EngineOption, OnError, RayAddressOption, app, out


class Dedup(StrEnum):
    exact = "exact"
    near = "near"
    none = "none"


@app.command("select")
def select_(
    target: Annotated[
        list[Path], typer.Option("--target", "-t", help="Target sample (files or directories).")
    ],
    pool: Annotated[
        list[Path], typer.Option("--pool", "-p", help="Pool to select from (repeatable).")
    ],
    k: Annotated[int, typer.Option("-k", help="Number of documents to select.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory to write.")],
    features: Annotated[
        str, typer.Option(help="ngram (DSIR's hashed 1-2-grams) or space:ENCODER.")
    ] = "ngram",
    dedup: Annotated[
        Dedup, typer.Option(help="Drop duplicates first: exact, near (MinHash / cosine), none.")
    ] = Dedup.exact,
    seed: Annotated[int, typer.Option(help="Seed of the Gumbel noise.")] = 0,
    on_error: Annotated[
        OnError, typer.Option(help="Bad records: raise (stop) or skip (count them).")
    ] = OnError.raise_,
    id_field: Annotated[str, typer.Option(help="Record field holding the id.")] = "id",
    text_field: Annotated[str, typer.Option(help="Record field holding the text.")] = "text",
    num_buckets: Annotated[int, typer.Option(help="Hash buckets of the n-gram features.")] = 10_000,
    min_tokens: Annotated[int, typer.Option(help="Never select documents with fewer tokens.")] = 0,
    near_threshold: Annotated[
        float | None,
        typer.Option(help="Near-duplicate threshold [default: Jaccard 0.8, cosine 0.95]."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes [default: the usable cores].")
    ] = None,
    engine: EngineOption = Engine.local,
    ray_address: RayAddressOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Select the k pool documents that look most like the target (DSIR), after deduplication;
    writes selected.jsonl, weights.parquet, report.json and report.html."""
    from repspace.selection import select as run

    result = run(
        target,
        pool,
        k,
        out_dir,
        features=features,
        dedup=dedup.value,
        seed=seed,
        on_error=on_error.value,
        id_field=id_field,
        text_field=text_field,
        num_buckets=num_buckets,
        min_tokens=min_tokens,
        near_threshold=near_threshold,
        jobs=jobs,
        engine=engine.value,
        ray_address=ray_address,
        overwrite=overwrite,
        progress=not quiet and not as_json,
    )
    r = result.report
    if as_json:
        print(json.dumps(r))
        return
    if quiet:
        return
    pool_info, kl = r["pool"], r["kl"]
    skipped = sum(pool_info["skipped"].values())
    dups = pool_info["duplicates"]
    out.print(
        f"selected {r['selected']:,} of {pool_info['candidates']:,} candidates "
        f"({pool_info['documents']:,} pool documents read; duplicates dropped: "
        f"{dups['exact']:,} exact, {dups['near']:,} near"
        + (f"; {skipped:,} bad records skipped" if skipped else "")
        + ")"
    )
    out.print(
        f"KL reduction {kl['kl_reduction']:.4f} nats (target‖random {kl['kl_target_random']:.4f}, "
        f"target‖selected {kl['kl_target_selected']:.4f})"
    )
    out.print(f"wrote {result.out}/selected.jsonl, weights.parquet, report.json, report.html")
