"""Commands between spaces: ``align`` and ``migrate plan|start|backfill|status|search``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from repspace.cli._app import app, out

migrate_app = typer.Typer(
    help="Upgrade a space to a new encoder without re-embedding first.", no_args_is_help=True
)
app.add_typer(migrate_app, name="migrate")

SENTENCES_HELP = "Also fit on the sampled documents' sentences (embedded by NEW and OLD)."
EXTRA_HELP = "Corpus of general texts embedded by NEW and OLD as extra anchors."


def _anchors(value: str) -> float | int:
    v = float(value)
    return v if 0 < v < 1 else int(v)


def _print(result: dict[str, Any]) -> None:
    out.print_json(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))


@app.command()
def align(
    source: Annotated[Path, typer.Argument(help="Source space directory.")],
    target: Annotated[Path, typer.Argument(help="Target space directory.")],
    method: Annotated[
        str, typer.Option(help="procrustes, linear, affine, cca or relative.")
    ] = "procrustes",
    anchors: Annotated[str, typer.Option(help="Shared ids to fit on: N or a fraction.")] = "0.5",
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Map directory.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the anchor sample.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fit a map SOURCE -> TARGET on shared ids; report held-out quality."""
    from repspace.maps.alignment import align as run

    result = run(
        source, target, method, anchors=_anchors(anchors), out=out_dir, seed=seed, report=report
    )
    if as_json:
        _print(result)
        return
    out.print(f"{method}: {result['anchors']} anchors, {result['held_out']} held out")
    for k, v in result["metrics"].items():
        out.print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")


@migrate_app.command("plan")
def plan_cmd(
    old: Annotated[Path, typer.Argument(help="OLD space (with texts).")],
    new: Annotated[str, typer.Argument(help="NEW encoder spec.")],
    task: Annotated[Path | None, typer.Option(help="Retrieval task for nDCG@10.")] = None,
    sample: Annotated[str, typer.Option(help="Documents re-embedded: N or fraction.")] = "0.1",
    method: Annotated[str, typer.Option(help="procrustes, linear, affine or cca.")] = "procrustes",
    seed: Annotated[int, typer.Option()] = 0,
    sentences: Annotated[bool, typer.Option(help=SENTENCES_HELP)] = True,
    extra_anchors: Annotated[Path | None, typer.Option(help=EXTRA_HELP)] = None,
    goal: Annotated[float, typer.Option(help="Retained nDCG@10 the advice aims at.")] = 0.95,
) -> None:
    """Re-embed a sample with NEW, fit NEW->OLD, report expected quality and sample advice."""
    from repspace.maps.migration import plan

    _print(
        plan(
            old,
            new,
            task=task,
            sample=_anchors(sample),
            method=method,
            seed=seed,
            sentences=sentences,
            extra_anchors=extra_anchors,
            goal=goal,
        )
    )


@migrate_app.command("start")
def start_cmd(
    old: Annotated[Path, typer.Argument(help="OLD space (with texts).")],
    new: Annotated[str, typer.Argument(help="NEW encoder spec.")],
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    sample: Annotated[str, typer.Option(help="Documents re-embedded: N or fraction.")] = "0.1",
    method: Annotated[str, typer.Option()] = "procrustes",
    batch: Annotated[int, typer.Option(help="Rows per backfill shard.")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    sentences: Annotated[bool, typer.Option(help=SENTENCES_HELP)] = True,
    extra_anchors: Annotated[Path | None, typer.Option(help=EXTRA_HELP)] = None,
) -> None:
    """Record the migration: queries are embedded with NEW and mapped into OLD."""
    from repspace.maps.migration import Migration

    m = Migration.start(
        old,
        new,
        migration,
        sample=_anchors(sample),
        method=method,
        batch=batch,
        seed=seed,
        sentences=sentences,
        extra_anchors=extra_anchors,
    )
    _print(m.status())


@migrate_app.command("backfill")
def backfill_cmd(
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    max_batches: Annotated[int | None, typer.Option(help="Stop after this many shards.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Re-embed documents with NEW in resumable shards."""
    from repspace.maps.migration import Migration

    _print(Migration(migration).backfill(max_batches=max_batches, progress=not quiet))


@migrate_app.command("status")
def status_cmd(migration: Annotated[Path, typer.Argument(help="Migration directory.")]) -> None:
    """Show the migration's progress."""
    from repspace.maps.migration import Migration

    _print(Migration(migration).status())


@migrate_app.command("search")
def search_cmd(
    migration: Annotated[Path, typer.Argument(help="Migration directory.")],
    query: Annotated[str, typer.Argument(help="Query text.")],
    k: Annotated[int, typer.Option()] = 10,
) -> None:
    """Search the mixed space (old part through the map, new part natively)."""
    from repspace.maps.migration import Migration

    hits = Migration(migration).search(query, k)[0]
    out.print_json(json.dumps([{"id": i, "score": s} for i, s in hits]))
