"""Commands that pick data: ``select`` (DSIR importance resampling)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    out_option,
    quiet_option,
    seed_option,
)
from repspace.selection.pipeline import MIN_TOKENS, Dedup


@app.command("select")
def select_(
    target: Annotated[
        list[Path], typer.Option("--target", "-t", help="Target sample (files or directories).")
    ],
    pool: Annotated[
        list[Path], typer.Option("--pool", "-p", help="Pool to select from (repeatable).")
    ],
    k: Annotated[int, typer.Option("-k", help="Number of documents to select.")],
    out_dir: Annotated[Path, out_option("Output directory to write.")],
    features: Annotated[
        str, typer.Option(help="ngram (DSIR's hashed 1-2-grams) or space:ENCODER.")
    ] = "ngram",
    dedup: Annotated[
        Dedup, typer.Option(help="Drop duplicates first: exact, near (MinHash / cosine), none.")
    ] = "exact",
    seed: Annotated[int, seed_option("the Gumbel noise")] = 0,
    on_error: OnErrorOption = "raise",
    id_field: IdFieldOption = "id",
    text_field: TextFieldOption = "text",
    num_buckets: Annotated[int, typer.Option(help="Hash buckets of the n-gram features.")] = 10_000,
    min_tokens: Annotated[
        int,
        typer.Option(help="Never select documents with fewer tokens (0: keep short ones)."),
    ] = MIN_TOKENS,
    near_threshold: Annotated[
        float | None,
        typer.Option(help="Near-duplicate threshold (default: Jaccard 0.8, cosine 0.95)."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes (default: the usable cores).")
    ] = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
    quiet: Annotated[bool, quiet_option("No progress bar and no summary.")] = False,
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
        dedup=dedup,
        seed=seed,
        on_error=on_error,
        id_field=id_field,
        text_field=text_field,
        num_buckets=num_buckets,
        min_tokens=min_tokens,
        near_threshold=near_threshold,
        jobs=jobs,
        engine=engine,
        ray_address=ray_address,
        overwrite=overwrite,
        wait=wait,
        progress=not quiet and not as_json,
    )
    r = result.report
    if as_json:
        print_json(result.to_dict())
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
