"""Commands that make models: ``distill`` (a static encoder trained to match a teacher) and
``adapt`` (a sentence-transformer fine-tuned on pairs made from a domain corpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repspace.cli._app import app, out, print_json
from repspace.cli.options import (
    IdFieldOption,
    JsonOption,
    OnErrorOption,
    OverwriteOption,
    QuietOption,
    TextFieldOption,
    WaitOption,
    choice,
    out_option,
    seed_option,
)
from repspace.encoders.st import BACKENDS
from repspace.training.adaptation import METHODS, PAIR_KINDS
from repspace.training.distillation import LOSSES


@app.command()
def distill(
    teacher: Annotated[
        str, typer.Option(help="Teacher encoder spec, a sentence-transformer: st:NAME-OR-DIR.")
    ],
    corpus: Annotated[
        list[str],
        typer.Option(
            "--corpus",
            help="Training corpus file or directory, optionally PATH:WEIGHT (repeatable; weight "
            "w = each document w times per epoch on average, default 1).",
        ),
    ],
    out_dir: Annotated[Path, out_option("Model directory to write.")],
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
    loss: Annotated[choice(LOSSES), typer.Option(help="Training loss.")] = "cosine",
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
    no_reweight: Annotated[
        bool,
        typer.Option(
            "--no-reweight", help="Skip the post-training re-weighting (centred, SIF-weighted)."
        ),
    ] = False,
    teacher_backend: Annotated[
        choice(("auto", *BACKENDS)),
        typer.Option(
            help="Backend encoding the corpus with the teacher (auto: onnx if installed)."
        ),
    ] = "auto",
    seed: Annotated[int, seed_option("the split, the order and the init")] = 0,
    evaluate_on: Annotated[
        list[Path] | None,
        typer.Option("--eval", help="Task to score the student on, recorded in the model card."),
    ] = None,
    id_field: IdFieldOption = "id",
    text_field: TextFieldOption = "text",
    on_error: OnErrorOption = "raise",
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not keep the teacher's vectors in the cache.")
    ] = False,
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Distill a static encoder from a sentence-transformer, trained on one or several corpora."""
    from repspace.training.distillation import corpus_weight
    from repspace.training.distillation import distill as run

    record = run(
        teacher,
        [corpus_weight(c) for c in corpus],
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
        reweight=not no_reweight,
        teacher_backend=teacher_backend,
        seed=seed,
        evaluate_on=evaluate_on or [],
        cache=not no_cache,
        overwrite=overwrite,
        wait=wait,
        progress=not quiet and not as_json,
        id_field=id_field,
        text_field=text_field,
        on_error=on_error,
    )
    if as_json:
        print_json(record.to_dict())
        return
    s, cos = record.seconds, record.held_out_cosine
    out.print(
        f"wrote {out_dir}: {record.dims} dims, {record.vocabulary['size']:,} tokens "
        f"({record.vocabulary['domain_words_added']:,} domain words), "
        f"{sum(c['documents'] for c in record.corpora):,} documents"
    )
    out.print(
        f"held-out cosine to the teacher: {cos['before']:.4f} -> {cos['after']:.4f}; seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s.items())
    )
    for task, m in (record.evaluation or {}).items():
        out.print(f"{task}: {m['main_metric']} {m[m['main_metric']]:.4f}")
    out.print(f"use it as: --encoder static:{out_dir}")


@app.command()
def adapt(
    encoder: Annotated[
        str, typer.Option(help="Encoder to adapt, a sentence-transformer: st:NAME-OR-DIR.")
    ],
    corpus: Annotated[
        list[Path], typer.Option("--corpus", help="Domain corpus file or directory (repeatable).")
    ],
    out_dir: Annotated[Path, out_option("Model directory to write.")],
    pairs: Annotated[
        choice(PAIR_KINDS), typer.Option(help="How pairs are made from the unlabeled documents.")
    ] = "span",
    method: Annotated[
        choice(METHODS),
        typer.Option(help="Train all weights, or LoRA adapters (merged at the end)."),
    ] = "full",
    select_from: Annotated[
        list[Path] | None,
        typer.Option("--select-from", help="Pool to select more in-domain documents from (DSIR)."),
    ] = None,
    k: Annotated[
        int | None, typer.Option("-k", help="Documents to select from --select-from.")
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            help='General-domain pairs mixed into every batch: JSONL {"anchor","positive"}.'
        ),
    ] = None,
    replay_ratio: Annotated[float, typer.Option(help="Share of each batch that is replay.")] = 0.25,
    matryoshka: Annotated[
        str | None, typer.Option(help="Also train these prefix dims, e.g. 64,128,256.")
    ] = None,
    evaluate_on: Annotated[
        list[Path] | None,
        typer.Option("--eval", help="Task scored before and after (e.g. STS; repeatable)."),
    ] = None,
    max_pairs: Annotated[
        int | None, typer.Option(help="Train on a seeded sample of pairs.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the pairs.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Pairs per step (in-batch negatives).")] = 32,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate (default 2e-5 full, 5e-4 LoRA).")
    ] = None,
    max_seq_length: Annotated[int, typer.Option(help="Tokens kept per text.")] = 128,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank (alpha is twice the rank).")] = 8,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 100,
    seed: Annotated[int, seed_option("pairs, order and initialisation")] = 0,
    title_field: Annotated[str, typer.Option(help="Record field holding the title.")] = "title",
    id_field: IdFieldOption = "id",
    text_field: TextFieldOption = "text",
    on_error: OnErrorOption = "raise",
    overwrite: OverwriteOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Adapt a sentence-transformer to a domain from unlabeled documents."""
    from repspace.errors import RepspaceError
    from repspace.training.adaptation import adapt as run

    dims = None
    if matryoshka:
        try:
            dims = [int(d) for d in matryoshka.split(",") if d.strip()]
        except ValueError:
            raise RepspaceError(
                f"--matryoshka must be comma-separated dims like 64,128,256, not {matryoshka!r}"
            ) from None
    record = run(
        encoder,
        corpus,
        out_dir,
        pairs=pairs,
        method=method,
        select_from=select_from or None,
        k=k,
        replay=replay,
        replay_ratio=replay_ratio,
        matryoshka=dims,
        evaluate_on=evaluate_on or [],
        max_pairs=max_pairs,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_seq_length=max_seq_length,
        lora_rank=lora_rank,
        checkpoint_every=checkpoint_every,
        seed=seed,
        title_field=title_field,
        overwrite=overwrite,
        wait=wait,
        progress=not quiet and not as_json,
        id_field=id_field,
        text_field=text_field,
        on_error=on_error,
    )
    if as_json:
        print_json(record.to_dict())
        return
    p, t, c = record.pairs, record.training, record.parameters
    out.print(
        f"wrote {out_dir}: {record.method} ({c['trainable']:,} parameters trained, "
        f"{100 * c['share']:.2f}%), {t['steps']:,} steps on {p['domain']:,} {p['kind']} pairs"
        + (f" + {p['replay']:,} replay pairs" if p["replay"] else "")
    )
    ev = record.evaluation
    for task, m in ev["after"].items():
        key = m["main_metric"]
        before = ev["before"][task][key]
        out.print(f"{task}: {key} {before:.4f} -> {m[key]:.4f} ({m[key] - before:+.4f})")
    out.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in record.seconds.items()))
    out.print(f"use it as: --encoder st:{out_dir}")
