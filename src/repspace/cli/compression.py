"""Commands that make spaces cheaper: ``compress`` and ``export st``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    JsonOption,
    NoVerifyOption,
    OverwriteOption,
    QuietOption,
    WaitOption,
    out_option,
    overwrite_option,
    seed_option,
)
from repspace.errors import RepspaceError
from repspace.maps.registry import FLOAT_METHODS, QUANTIZERS

export_app = typer.Typer(
    help="Export an encoder with a fitted map for other tools.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@app.command()
def compress(
    space: Annotated[Path, typer.Argument(help="Space directory.")],
    method: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(FLOAT_METHODS + QUANTIZERS)}, or FLOAT+{'|'.join(QUANTIZERS)}."
        ),
    ] = "matryoshka",
    dims: Annotated[
        str, typer.Option(help="Comma-separated output dimensions, e.g. 32,64,128.")
    ] = "64",
    task: Annotated[
        Path | None,
        typer.Option(help="Retrieval task for nDCG@10 (default: recall@10 of neighbours)."),
    ] = None,
    out_dir: Annotated[
        Path | None, out_option("Map directory (several dims: one subdirectory each).")
    ] = None,
    apply: Annotated[
        Path | None, typer.Option(help="Also write the compressed space(s) here.")
    ] = None,
    map_dir: Annotated[
        Path | None,
        typer.Option("--map", help="Apply this saved map (with --apply) instead of fitting."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Apply a map to a space of another fingerprint.")
    ] = False,
    no_curve: Annotated[
        bool, typer.Option("--no-curve", help="Skip the rate–quality curve.")
    ] = False,
    sample: Annotated[int, typer.Option(help="Documents sampled for neighbour recall.")] = 2000,
    steps: Annotated[
        int, typer.Option(help="matryoshka: at most this many Adam steps (early stopping).")
    ] = 5000,
    seed: Annotated[int, seed_option("the matryoshka training")] = 0,
    threads: Annotated[int, typer.Option(help="matryoshka: torch threads.")] = 1,
    overwrite: Annotated[bool, overwrite_option("Replace existing spaces at --apply.")] = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    no_verify: NoVerifyOption = False,
) -> None:
    """Fit a compression map, write compressed spaces, measure the rate–quality curve."""
    from repspace.maps import load_map
    from repspace.maps.compression import compress as run

    if map_dir is not None:
        if apply is None:
            raise RepspaceError("--map needs --apply OUT (the space to write)")
        m = load_map(map_dir)
        wrote: dict[str, Any] = {
            "space": str(
                m.apply(
                    space, apply, force=force, wait=wait, overwrite=overwrite, verify=not no_verify
                ).path
            )
        }
        print_json(wrote) if as_json else out.print(f"wrote {wrote['space']}")
        return
    result = run(
        space,
        method,
        dims,
        out_dir,
        task=task,
        apply=apply,
        curve=not no_curve,
        sample=sample,
        params={"steps": steps, "seed": seed, "threads": threads},
        overwrite=overwrite,
        wait=wait,
        progress=not quiet and not as_json,
        verify=not no_verify,
    )
    if as_json:
        print_json(result.to_dict())
        return
    out.print(f"fitted {method} on {result.n:,} × {result.dim} in {result.fit_seconds} s")
    for d, path in result.maps.items():
        out.print(f"map ({d} dims): {path}")
    for d, path in result.spaces.items():
        out.print(f"space ({d} dims): {path}")
    curve = result.curve
    if curve:
        table = Table(title=curve["quality"], title_justify="left", box=None)
        for col in ("method", "dims", "bytes/vector", "quality", "vs full"):
            table.add_column(col, justify="left" if col == "method" else "right")
        full = curve["full"]
        table.add_row("full float32", str(full["dims"]), str(full["bytes"]),
                      f"{full['quality']:.4f}", "1.000")  # fmt: skip
        for p in curve["points"]:
            table.add_row(p["method"], str(p["dims"]), f"{p['bytes']:g}",
                          f"{p['quality']:.4f}", f"{p['relative']:.3f}")  # fmt: skip
        for r in curve["rerank"]:
            table.add_row(f"{r['cheap']} + rerank top {r['shortlist']}", str(full["dims"]),
                          str(r["bytes_shortlist"]), f"{r['quality']:.4f}",
                          f"{r['relative']:.3f}")  # fmt: skip
        out.print(table)
    if result.report:
        out.print(f"report: {result.report}")


@export_app.command("st")
def export_st(
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="st:NAME or st:DIR.")],
    map_dir: Annotated[Path, typer.Option("--map", help="Map directory (repspace compress).")],
    out_dir: Annotated[Path, out_option("Model directory to write.")],
    force: Annotated[
        bool, typer.Option(help="Allow a map fitted on another encoder's space.")
    ] = False,
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
) -> None:
    """Write a sentence-transformers model: the encoder followed by the map."""
    from repspace.maps.export import export_sentence_transformers

    path = export_sentence_transformers(
        encoder, map_dir, out_dir, force=force, wait=wait, overwrite=overwrite
    )
    out.print(f"wrote {path} (load it with SentenceTransformer({str(path)!r}))")
