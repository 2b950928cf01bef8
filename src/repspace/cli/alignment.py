"""Commands between spaces: ``align`` and ``migrate plan|start|backfill|status|search``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    ReportOption,
    WaitOption,
    choice,
    count_or_fraction,
    out_option,
    seed_option,
)
from repspace.maps.registry import ALIGN_METHODS, BRIDGE_METHODS, MIGRATE_METHODS
from repspace.results import Result

migrate_app = typer.Typer(
    help="Upgrade a space to a new encoder without re-embedding first.", no_args_is_help=True
)
app.add_typer(migrate_app, name="migrate")

SENTENCES_HELP = "Also fit on the sampled documents' sentences (embedded by NEW and OLD)."
EXTRA_HELP = "Corpus of general texts embedded by NEW and OLD as extra anchors."
SampleOption = Annotated[
    float,
    typer.Option(
        parser=count_or_fraction, metavar="N|FRACTION", help="Documents re-embedded with NEW."
    ),
]
MigrateMethodOption = Annotated[
    choice(("auto", *MIGRATE_METHODS, *BRIDGE_METHODS)),
    typer.Option(help="Map fitted NEW -> OLD; auto: the best of all on held-out documents."),
]
ExtraLimitOption = Annotated[
    int | None, typer.Option(help="Use a seeded sample of this many extra anchor texts.")
]
BridgeOption = Annotated[
    Path | None, typer.Option(help="Bridge of this model pair to start from (migrate bridge).")
]
MigrateSeedOption = Annotated[int, seed_option("the document sample")]


def _print(result: Result) -> None:
    print_json(result.to_dict())


@app.command()
def align(
    source: Annotated[Path, typer.Argument(help="Source space directory.")],
    target: Annotated[Path, typer.Argument(help="Target space directory.")],
    method: Annotated[
        choice(ALIGN_METHODS), typer.Option(help="Map fitted SOURCE -> TARGET.")
    ] = "procrustes",
    anchors: Annotated[
        float,
        typer.Option(parser=count_or_fraction, metavar="N|FRACTION", help="Shared ids to fit on."),
    ] = 0.5,
    out_dir: Annotated[Path | None, out_option("Map directory to write.")] = None,
    report: ReportOption = None,
    seed: Annotated[int, seed_option("the anchor sample")] = 0,
    as_json: JsonOption = False,
    wait: WaitOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Fit a map SOURCE -> TARGET on shared ids; report held-out quality."""
    from repspace.maps.alignment import align as run

    result = run(
        source,
        target,
        method,
        anchors=anchors,
        out=out_dir,
        seed=seed,
        report=report,
        wait=wait,
        verify=not no_verify,
    )
    if as_json:
        _print(result)
        return
    out.print(f"{method}: {result.anchors} anchors, {result.held_out} held out")
    for k, v in result.metrics.items():
        out.print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")


@migrate_app.command("plan")
def plan_cmd(
    old: Annotated[Path, typer.Argument(help="OLD space (with texts).")],
    new: Annotated[str, typer.Argument(help="NEW encoder spec.")],
    task: Annotated[Path | None, typer.Option(help="Retrieval task for nDCG@10.")] = None,
    sample: SampleOption = 0.1,
    method: MigrateMethodOption = "auto",
    seed: MigrateSeedOption = 0,
    sentences: Annotated[bool, typer.Option(help=SENTENCES_HELP)] = True,
    extra_anchors: Annotated[Path | None, typer.Option(help=EXTRA_HELP)] = None,
    extra_limit: ExtraLimitOption = None,
    bridge: BridgeOption = None,
    goal: Annotated[float, typer.Option(help="Retained nDCG@10 the advice aims at.")] = 0.95,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Re-embed a sample with NEW, fit every NEW->OLD method (or one), compare them on held-out
    documents (and the task), recommend one; learning curves and sample advice."""
    from repspace.maps.migration import plan

    _print(
        plan(
            old,
            new,
            task=task,
            sample=sample,
            method=None if method == "auto" else method,
            seed=seed,
            sentences=sentences,
            extra_anchors=extra_anchors,
            extra_limit=extra_limit,
            bridge=bridge,
            goal=goal,
            verify=not no_verify,
            progress=not quiet,
        )
    )


@migrate_app.command("start")
def start_cmd(
    old: Annotated[Path, typer.Argument(help="OLD space (with texts).")],
    new: Annotated[str, typer.Argument(help="NEW encoder spec.")],
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    sample: SampleOption = 0.1,
    method: MigrateMethodOption = "auto",
    batch: Annotated[int, typer.Option(help="Rows per backfill shard.")] = 1000,
    seed: MigrateSeedOption = 0,
    sentences: Annotated[bool, typer.Option(help=SENTENCES_HELP)] = True,
    extra_anchors: Annotated[Path | None, typer.Option(help=EXTRA_HELP)] = None,
    extra_limit: ExtraLimitOption = None,
    bridge: BridgeOption = None,
    quiet: QuietOption = False,
    wait: WaitOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Record the migration: queries are embedded with NEW and mapped into OLD."""
    from repspace.maps.migration import Migration

    m = Migration.start(
        old,
        new,
        migration,
        sample=sample,
        method=None if method == "auto" else method,
        batch=batch,
        seed=seed,
        sentences=sentences,
        extra_anchors=extra_anchors,
        extra_limit=extra_limit,
        bridge=bridge,
        wait=wait,
        verify=not no_verify,
        progress=not quiet,
    )
    _print(m.status())


@migrate_app.command("bridge")
def bridge_cmd(
    old: Annotated[str, typer.Argument(help="OLD encoder spec.")],
    new: Annotated[str, typer.Argument(help="NEW encoder spec.")],
    corpus: Annotated[Path, typer.Option(help="Generic texts embedded by both (JSONL, ...).")],
    out_dir: Annotated[Path, out_option("Bridge directory to write.")],
    method: Annotated[
        choice(MIGRATE_METHODS), typer.Option(help="Map fitted NEW -> OLD.")
    ] = "residual-mlp",
    limit: Annotated[int | None, typer.Option(help="A seeded sample of this many texts.")] = None,
    seed: Annotated[int, seed_option("the text sample and the fit")] = 0,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    wait: WaitOption = False,
) -> None:
    """Fit a NEW -> OLD map once per model pair on generic text, for `migrate --bridge`."""
    from repspace.maps.bridge import fit_bridge

    _print(
        fit_bridge(
            old,
            new,
            corpus,
            out_dir,
            method=method,
            limit=limit,
            seed=seed,
            overwrite=overwrite,
            wait=wait,
            progress=not quiet,
        )
    )


@migrate_app.command("backfill")
def backfill_cmd(
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    max_batches: Annotated[int | None, typer.Option(help="Stop after this many shards.")] = None,
    quiet: QuietOption = False,
    wait: WaitOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Re-embed documents with NEW in resumable shards."""
    from repspace.maps.migration import Migration

    m = Migration.open(migration, verify=not no_verify)
    _print(m.backfill(max_batches=max_batches, progress=not quiet, wait=wait))


@migrate_app.command("status")
def status_cmd(migration: Annotated[Path, typer.Argument(help="Migration directory.")]) -> None:
    """Show the migration's progress."""
    from repspace.maps.migration import Migration

    _print(Migration.open(migration).status())


@migrate_app.command("search")
def search_cmd(
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    query: Annotated[str, typer.Argument(help="Query text.")],
    k: Annotated[int, typer.Option(help="Number of results.")] = 10,
    mode: ModeOption = None,
    alpha: AlphaOption = None,
    fusion: FusionOption = None,
    norm: NormOption = None,
    candidates: CandidatesOption = None,
    no_verify: NoVerifyOption = False,
) -> None:
    """Search the mixed space (old part through the map, new part natively), fused with BM25
    over the old texts in hybrid mode."""
    from repspace.maps.migration import Migration

    hits = Migration.open(migration, verify=not no_verify).search(
        query, k, mode=mode, alpha=alpha, fusion=fusion, norm=norm, candidates=candidates
    )[0]
    print_json([{"id": i, "score": s} for i, s in hits])
