"""Commands that evaluate: ``evaluate`` (tasks × encoders/spaces -> leaderboard) and
``make-task`` (a retrieval task from your own documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    IdFieldOption,
    JsonOption,
    NoVerifyOption,
    OnErrorOption,
    OverwriteOption,
    QuietOption,
    ReportOption,
    TextFieldOption,
    WaitOption,
    choice,
    out_option,
    seed_option,
)
from repspace.evaluation.generators import KINDS


@app.command()
def evaluate(
    tasks: Annotated[
        list[Path],
        typer.Argument(
            help="Tasks: retrieval directories (BEIR layout), STS or classification JSONL files."
        ),
    ],
    encoder: Annotated[
        list[str] | None, typer.Option("--encoder", "-e", help="Encoder spec (repeatable).")
    ] = None,
    space: Annotated[
        list[Path] | None, typer.Option("--space", "-s", help="Precomputed space (repeatable).")
    ] = None,
    retriever: Annotated[
        list[str] | None,
        typer.Option(
            "--retriever",
            "-r",
            help="bm25, or hybrid:ENCODER (BM25 fused with the encoder), on retrieval tasks "
            "(repeatable).",
        ),
    ] = None,
    as_json: JsonOption = False,
    report: ReportOption = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per encoder call.")] = None,
    folds: Annotated[int, typer.Option(help="Stratified folds of the classification probes.")] = 5,
    knn_k: Annotated[int, typer.Option("--knn-k", help="Neighbours of the kNN probe.")] = 10,
    seed: Annotated[int, seed_option("the classification folds")] = 0,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not keep the encoded vectors in the cache.")
    ] = False,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Score tasks with encoders, spaces and retrievers (BM25, hybrid): a leaderboard with
    RankMe and IsoScore per row."""
    from repspace.evaluation.leaderboard import evaluate as run
    from repspace.evaluation.leaderboard import write_report

    result = run(
        tasks,
        encoders=encoder or [],
        spaces=space or [],
        retrievers=retriever or [],
        batch_size=batch_size,
        cache=not no_cache,
        folds=folds,
        knn_k=knn_k,
        seed=seed,
        progress=not quiet and not as_json,
        verify=not no_verify,
    )
    path = write_report(result, report) if report else None
    if as_json:
        print_json({**result.to_dict(), "report": str(path) if path else None})
        return
    _print_leaderboard(result.to_dict())
    if path:
        out.print(f"report: {path}")


def _print_leaderboard(result: dict[str, Any]) -> None:
    from repspace.evaluation.leaderboard import metric_label
    from repspace.report import fmt

    for t in result["tasks"]:
        rows = [r for r in result["rows"] if r["task"] == t["name"]]
        keys = list(rows[0]["metrics"])
        table = Table(title=f"{t['name']} ({t['kind']})", title_justify="left", box=box.SIMPLE)
        table.add_column("#", justify="right")
        table.add_column("model")
        for k in keys:
            table.add_column(metric_label(k), justify="right")
        table.add_column("RankMe", justify="right", style="dim")
        table.add_column("IsoScore", justify="right", style="dim")
        for r in rows:
            table.add_row(
                str(r["rank"]),
                r["model"],
                *(fmt(r["metrics"][k]) for k in keys),
                fmt(r["intrinsic"]["rankme"]),
                fmt(r["intrinsic"]["isoscore"]),
            )
        _show(table)
        skipped = t.get("skipped", {}).get("total", 0)
        if skipped:
            out.print(f"  {skipped:,} queries skipped: {t['skipped']['by_reason']}")
    if len(result["tasks"]) > 1:
        table = Table(title="leaderboard (mean main score)", title_justify="left", box=box.SIMPLE)
        table.add_column("#", justify="right")
        table.add_column("model")
        table.add_column("mean", justify="right")
        for t in result["tasks"]:
            table.add_column(t["name"], justify="right")
        for b in result["leaderboard"]:
            table.add_row(
                str(b["rank"]),
                b["model"],
                fmt(b["mean_main_score"]),
                *(fmt(b["tasks"].get(t["name"])) for t in result["tasks"]),
            )
        _show(table)
    parts = []
    for metric, c in result["correlation"].items():
        s = c["all_rows"]["spearman"]
        parts.append(f"{metric_label(metric)} {fmt(s) if s is not None else '—'}")
    rows = len(result["rows"])
    out.print(f"rank correlation with the main score over {rows} rows: " + ", ".join(parts))


@app.command("make-task")
def make_task(
    corpus: Annotated[list[Path], typer.Argument(help="Corpus files or directories.")],
    kind: Annotated[choice(KINDS), typer.Option(help="How queries are made from documents.")],
    out_dir: Annotated[Path, out_option("Task directory to write.")],
    seed: Annotated[int, seed_option("the random choices")] = 0,
    id_field: IdFieldOption = "id",
    text_field: TextFieldOption = "text",
    title_field: Annotated[str, typer.Option(help="Title field (title-body).")] = "title",
    max_queries: Annotated[
        int | None, typer.Option(help="Keep a random sample of this many queries.")
    ] = None,
    on_error: OnErrorOption = "raise",
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Make a retrieval task (BEIR layout) from your own documents."""
    from repspace.evaluation.generators import make_task as run

    info = run(
        corpus,
        kind,
        out_dir,
        seed=seed,
        title_field=title_field,
        max_queries=max_queries,
        overwrite=overwrite,
        wait=wait,
        id_field=id_field,
        text_field=text_field,
        on_error=on_error,
    )
    if as_json:
        print_json(info.to_dict())
        return
    skipped = info.skipped
    reasons = ", ".join(f"{n:,} {why}" for why, n in skipped["by_reason"].items())
    out.print(
        f"wrote {out_dir}: {info.documents:,} documents, {info.queries:,} queries "
        f"({kind}, seed {seed}); skipped {skipped['total']:,}"
        + (f" ({reasons})" if reasons else "")
    )


def _show(table: Table) -> None:
    """Print a table at its natural width (a pipe or file gets no 80-column squeeze)."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.console import Console
    from rich.measure import Measurement

    wide = Console(width=10_000, soft_wrap=True)
    width = Measurement.get(wide, wide.options, table).maximum
    Console(width=width, soft_wrap=True, file=out.file).print(table)
