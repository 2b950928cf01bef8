"""Commands that make models: ``distill`` (a static encoder trained to match a teacher)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from repspace.cli._app import OnError, app, out


@app.command()
def distill(
    teacher: Annotated[
        str, typer.Option(help="Teacher encoder spec, a sentence-transformer: st:NAME-OR-DIR.")
    ],
    corpus: Annotated[
        list[Path], typer.Option("--corpus", help="Training corpus file or directory (repeatable).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    dims: Annotated[
        int | None,
        typer.Option(
            help="Output dimensions (default 256; with --align-to-teacher the teacher's)."
        ),
    ] = None,
    vocab: Annotated[
        int, typer.Option(help="Add up to this many frequent corpus words as new tokens.")
    ] = 0,
    epochs: Annotated[int, typer.Option(help="Passes over the corpus.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Documents per training step.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate (decays linearly to 0).")] = 3e-3,
    align_to_teacher: Annotated[
        bool,
        typer.Option(
            "--align-to-teacher",
            help="Output in the teacher's space: student queries search teacher-encoded documents.",
        ),
    ] = False,
    no_matryoshka: Annotated[
        bool, typer.Option("--no-matryoshka", help="Train the full dimension only.")
    ] = False,
    loss: Annotated[
        str, typer.Option(help="Training loss: cosine, contrastive or cosine+contrastive.")
    ] = "cosine",
    no_head: Annotated[
        bool,
        typer.Option("--no-head", help="No shared linear map (folded into the table) is trained."),
    ] = False,
    freeze_tokens: Annotated[
        bool,
        typer.Option(
            "--freeze-tokens", help="Keep the token vectors' directions; train weights (and map)."
        ),
    ] = False,
    teacher_backend: Annotated[
        str, typer.Option(help="Backend encoding the corpus with the teacher: torch or onnx.")
    ] = "torch",
    seed: Annotated[int, typer.Option(help="Seed of the split, the order and the init.")] = 0,
    evaluate_on: Annotated[
        list[Path] | None,
        typer.Option("--eval", help="Task to score the student on, recorded in the model card."),
    ] = None,
    id_field: Annotated[str, typer.Option(help="Field holding the document id.")] = "id",
    text_field: Annotated[str, typer.Option(help="Field holding the document text.")] = "text",
    on_error: Annotated[
        OnError, typer.Option(help="On a bad record: raise, or skip and count it.")
    ] = OnError.raise_,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not keep the teacher's vectors in the cache.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a model already at --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Distill a static encoder from a sentence-transformer, trained on a corpus."""
    from repspace.distill import distill as run

    record = run(
        teacher,
        corpus,
        out_dir,
        dims=dims,
        vocab=vocab,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        align_to_teacher=align_to_teacher,
        matryoshka=not no_matryoshka,
        loss=loss,
        head=not no_head,
        train_tokens=not freeze_tokens,
        teacher_backend=teacher_backend,
        seed=seed,
        evaluate_on=evaluate_on or [],
        cache=not no_cache,
        overwrite=overwrite,
        progress=not quiet and not as_json,
        id_field=id_field,
        text_field=text_field,
        on_error=on_error.value,
    )
    if as_json:
        print(json.dumps(record))
        return
    s, cos = record["seconds"], record["held_out_cosine"]
    out.print(
        f"wrote {out_dir}: {record['dims']} dims, {record['vocabulary']['size']:,} tokens "
        f"({record['vocabulary']['domain_words_added']:,} domain words), "
        f"{record['corpus']['documents']:,} documents"
    )
    out.print(
        f"held-out cosine to the teacher: {cos['before']:.4f} -> {cos['after']:.4f}; seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s.items())
    )
    for task, m in (record.get("evaluation") or {}).items():
        out.print(f"{task}: {m['main_metric']} {m[m['main_metric']]:.4f}")
    out.print(f"use it as: --encoder static:{out_dir}")
