"""``repspace adapt``: adapt a sentence-transformer to a domain from unlabeled documents.

The recipe of the domain-adaptive pretraining papers (Gururangan et al., "Don't Stop
Pretraining", ACL 2020; Gu et al., domain-specific pretraining for biomedical NLP, 2021), done
as contrastive fine-tuning of the encoder on pairs made from the corpus itself:

1. **Pairs without labels**, from the same generators as ``make-task``
   (:mod:`repspace.evaluation.generators`): ``title-body``, ``split-half``, ``span`` (the
   Inverse Cloze Task of Lee et al., ACL 2019), or ``dropout``: a document paired with itself,
   the two views differing by dropout noise only (unsupervised SimCSE, Gao et al., EMNLP 2021).
   Pairs are deduplicated on either side (duplicates would be false in-batch negatives); the
   ids of the documents used are written to ``training_documents.json`` so evaluation can
   exclude them.
2. **Training** with sentence-transformers' ``SentenceTransformerTrainer`` and
   ``MultipleNegativesRankingLoss`` (in-batch negatives, the InfoNCE loss of the dense
   retrieval papers), wrapped in ``MatryoshkaLoss`` (Kusupati et al., NeurIPS 2022) with
   ``matryoshka``; ``method="lora"`` trains LoRA adapters (Hu et al., ICLR 2022) through
   ``peft`` (sentence-transformers' ``add_adapter``) and merges them into the weights at the
   end, so the output is a plain sentence-transformers directory. CPU, seeded; checkpoints
   every ``checkpoint_every`` steps beside the output, and an interrupted run with the same
   arguments resumes from the last one (the trainer's own resume).
3. **Selection first** (optional): ``select_from`` + ``k`` runs :func:`repspace.selection.select`
   (DSIR, Xie et al., NeurIPS 2023) with the corpus as the target and trains on the selected
   pool documents too (``min_tokens=0``: short pool documents are candidates as well).
4. **Forgetting guard**: ``replay`` (a JSONL file of ``{"anchor", "positive"}`` general-domain
   pairs) puts ``round(replay_ratio * batch_size)`` replay pairs into every batch (the replay
   of continual-learning papers, e.g. Ibrahim et al., "Simple and scalable strategies to
   continually pre-train large language models", 2024); ``evaluate_on`` tasks (e.g. an STS
   file) are scored before and after, and the change is recorded.
5. **Output**: ``save_pretrained`` of the adapted model (usable as ``st:OUT``), ``README.md``
   (model card: base model, corpus hash, pair kind, steps, before/after scores),
   ``adapt.json`` (the same record) and ``training_documents.json``.

Deviations: batches are laid out in advance (seeded shuffles of the domain pairs, one per
epoch, with the replay pairs interleaved) and read in order, so each batch holds the replay
share exactly and a resumed run sees the same batches; within-batch duplicates are avoided by
deduplicating the pairs rather than by sentence-transformers' ``NoDuplicatesBatchSampler``.
Checkpoints are the trainer's own format (its optimizer and RNG states are ``torch.save``
files); they live in a work directory beside the output that is removed when the run ends, and
the published model holds only safetensors and JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repspace.corpus import Corpus, Record, as_corpus
from repspace.errors import RepspaceError
from repspace.evaluation.generators import MIN_SPAN_WORDS, Pair, make_pairs
from repspace.fsio import (
    atomic_write_json,
    building,
    check_output,
    read_json,
    read_jsonl,
    utc_now,
    writes,
)
from repspace.results import Result, as_dict
from repspace.training import card

PAIR_KINDS = ("title-body", "span", "split-half", "dropout")
METHODS = ("full", "lora")
#: Fewer distinct pairs than this cannot make a useful contrastive batch.
MIN_PAIRS = 16
#: Modules of a BERT-style encoder that LoRA adapts (attention and feed-forward projections).
LORA_TARGETS = ["query", "key", "value", "dense"]
CARD_START = "<!-- repspace adapt -->"
RUN_FILE = "run.json"


def dropout_pairs(
    records: Iterable[Record],
    *,
    min_words: int = MIN_SPAN_WORDS,
    skipped: Counter[str] | None = None,
    seed: int = 0,
) -> Iterator[Pair]:
    """Unsupervised SimCSE pairs: each document twice; dropout makes the two views differ."""
    skipped = skipped if skipped is not None else Counter()
    for r in records:
        text = r.text.strip()
        if len(text.split()) < min_words:
            skipped["too short"] += 1
            continue
        yield Pair(r.id, text, text)


def training_pairs(
    corpus: Corpus, kind: str, *, seed: int = 0, title_field: str = "title"
) -> tuple[list[Pair], Counter[str]]:
    """The deduplicated pairs of ``kind`` made from ``corpus`` and the skip counts by reason."""
    skipped: Counter[str] = Counter()
    if kind == "dropout":
        pairs: Iterable[Pair] = dropout_pairs(corpus, skipped=skipped, seed=seed)
    else:
        options = {"title_field": title_field} if kind == "title-body" else {}
        pairs = make_pairs(corpus, kind, seed=seed, skipped=skipped, **options)
    seen_q: set[str] = set()
    seen_d: set[str] = set()
    seen_id: set[str] = set()
    out: list[Pair] = []
    for p in pairs:
        if p.id in seen_id or p.query in seen_q or p.document in seen_d:
            skipped["duplicate"] += 1
            continue
        seen_id.add(p.id)
        seen_q.add(p.query)
        seen_d.add(p.document)
        out.append(p)
    return out, skipped


def read_replay(path: str | Path) -> list[tuple[str, str]]:
    """General-domain pairs for replay: a JSONL file, one ``{"anchor": ..., "positive": ...}``
    object per line (sentence-transformers' pair-dataset columns)."""
    path = Path(path)
    if not path.is_file():
        raise RepspaceError(f"{path}: --replay file not found")
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise RepspaceError(
            f"{path}: --replay must be a JSONL file of {{'anchor', 'positive'}} pairs"
        )
    pairs = []
    for lineno, obj in read_jsonl(path):
        a, p = obj.get("anchor"), obj.get("positive")
        if not (isinstance(a, str) and a.strip() and isinstance(p, str) and p.strip()):
            raise RepspaceError(
                f"{path}:{lineno}: a --replay line needs non-empty string fields 'anchor' and "
                "'positive'"
            )
        pairs.append((a, p))
    if len(pairs) < 2:
        raise RepspaceError(f"{path}: --replay holds {len(pairs)} pairs; give at least 2")
    return pairs


def layout(
    pairs: Sequence[tuple[str, str]],
    replay: Sequence[tuple[str, str]],
    *,
    epochs: int,
    batch_size: int,
    replay_ratio: float,
    seed: int,
) -> tuple[list[str], list[str], int]:
    """Anchors and positives in training order: seeded shuffles of ``pairs`` (one per epoch,
    concatenated) cut into batches of ``batch_size - r`` domain pairs, each followed by ``r``
    replay pairs (cycled through seeded shuffles), so every batch but the last has exactly
    ``batch_size`` rows; returns ``(anchors, positives, replayed)``."""
    r = round(replay_ratio * batch_size) if replay else 0
    domain_per_batch = batch_size - r
    rng = random.Random(seed)
    stream: list[int] = []
    for _ in range(epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        stream += order
    replay_order: list[int] = []
    anchors: list[str] = []
    positives: list[str] = []
    replayed = 0
    for start in range(0, len(stream), domain_per_batch):
        for i in stream[start : start + domain_per_batch]:
            anchors.append(pairs[i][0])
            positives.append(pairs[i][1])
        for _ in range(r):
            if not replay_order:
                replay_order = list(range(len(replay)))
                rng.shuffle(replay_order)
            a, p = replay[replay_order.pop()]
            anchors.append(a)
            positives.append(p)
            replayed += 1
    return anchors, positives, replayed


def _in_order_sampler() -> type:
    """A batch sampler reading the dataset in order: the batches are laid out by
    :func:`layout`. Made on first use (torch stays unimported until then) and reachable as
    ``repspace.training.adaptation.InOrderBatchSampler``, so the trainer's checkpoints can name
    it."""
    from sentence_transformers.base.sampler import DefaultBatchSampler
    from torch.utils.data import SequentialSampler

    class InOrderBatchSampler(DefaultBatchSampler):
        def __init__(self, dataset: Any, batch_size: int, drop_last: bool, **kw: Any) -> None:
            super().__init__(SequentialSampler(dataset), batch_size, drop_last, **kw)

    InOrderBatchSampler.__qualname__ = "InOrderBatchSampler"
    return InOrderBatchSampler


_LAZY: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name == "InOrderBatchSampler":
        if name not in _LAZY:
            _LAZY[name] = _in_order_sampler()
        return _LAZY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _base_name(encoder: str) -> str:
    if not isinstance(encoder, str) or not encoder.startswith("st:") or not encoder[3:]:
        raise RepspaceError(
            f"adapt trains sentence-transformers models: --encoder must be st:NAME-OR-DIR, "
            f"not {encoder!r}"
        )
    return encoder[3:]


def _scores(tasks: Sequence[str | Path], encoder: Any, progress: bool) -> dict[str, Any]:
    from repspace.evaluation.leaderboard import evaluate

    result = evaluate(list(tasks), encoders=[encoder], progress=progress)
    return {r["task"]: {"main_metric": r["main_metric"], **r["metrics"]} for r in result.rows}


def _main(scores: dict[str, Any]) -> dict[str, float | None]:
    return {t: m.get(m.get("main_metric")) for t, m in scores.items()}


def parameter_counts(model: Any) -> dict[str, Any]:
    """Trainable and total parameters (LoRA adapters included in the total while attached)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total, "share": trainable / total}


def _merge_lora(model: Any, adapter_dir: Path, base_source: str) -> Any:
    """The base model with the saved LoRA adapter merged into its weights (``peft``'s
    ``merge_and_unload``): a plain sentence-transformers model again."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    merged = SentenceTransformer(base_source, device="cpu")
    module = merged[0]
    module.auto_model = PeftModel.from_pretrained(
        module.auto_model, str(adapter_dir)
    ).merge_and_unload()
    return merged


@dataclass(kw_only=True)
class AdaptRecord(Result):
    """What :func:`adapt` trained; ``to_dict()`` is ``adapt.json`` (and ``repspace adapt
    --json``); the model card holds it without ``evaluation``."""

    format: str = field(default="repspace.adapt", init=False)
    #: The base encoder: spec and the directory it was loaded from.
    base: dict[str, Any]
    #: The corpus (paths, fields, content hash, documents the pairs came from).
    corpus: dict[str, Any]
    #: Pair kind, domain and replay pair counts, skipped records by reason.
    pairs: dict[str, Any]
    #: The DSIR selection from a pool (``select_from``), or None.
    selection: dict[str, Any] | None
    #: ``full`` or ``lora``, and the trainable and total parameters.
    method: str
    parameters: dict[str, Any]
    #: Loss, hyperparameters, steps, loss history.
    training: dict[str, Any]
    #: Task scores ``before`` and ``after`` adapting, and the ``change`` of the main score.
    evaluation: dict[str, Any]
    #: Seconds per phase and in total.
    seconds: dict[str, float] = field(default_factory=dict)
    #: UTC time, ISO 8601.
    created: str


@writes("out")
def adapt(
    encoder: str,
    corpus: str | Path | Sequence[str | Path] | Corpus,
    out: str | Path,
    *,
    pairs: str = "span",
    method: str = "full",
    select_from: str | Path | Sequence[str | Path] | None = None,
    k: int | None = None,
    replay: str | Path | None = None,
    replay_ratio: float = 0.25,
    matryoshka: Sequence[int] | None = None,
    evaluate_on: Sequence[str | Path] = (),
    max_pairs: int | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float | None = None,
    max_seq_length: int | None = 128,
    lora_rank: int = 8,
    lora_alpha: int | None = None,
    scale: float = 20.0,
    warmup_ratio: float = 0.1,
    checkpoint_every: int = 100,
    seed: int = 0,
    title_field: str = "title",
    wait: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **corpus_options: Any,
) -> AdaptRecord:
    """Adapt the ``st:`` ``encoder`` to ``corpus`` and write the model to ``out``; see the
    module docstring. ``lr`` defaults to 2e-5 (full) or 5e-4 (LoRA), ``lora_alpha`` to twice
    ``lora_rank``. ``max_pairs`` keeps a seeded sample of the pairs; ``max_seq_length`` cuts the
    texts during training only (the saved model keeps the base model's). Returns the record
    written to ``adapt.json`` and the card."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    base = _base_name(encoder)
    if pairs not in PAIR_KINDS:
        raise RepspaceError(f"--pairs must be one of {', '.join(PAIR_KINDS)}, not {pairs!r}")
    if method not in METHODS:
        raise RepspaceError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if (select_from is None) != (k is None):
        raise RepspaceError("--select-from and -k go together: give both or neither")
    if batch_size < 2 or epochs < 1 or checkpoint_every < 1:
        raise RepspaceError("--batch-size must be at least 2, --epochs and checkpoints at least 1")
    if not 0 <= replay_ratio < 1:
        raise RepspaceError(f"--replay-ratio must be in [0, 1), not {replay_ratio}")
    if max_pairs is not None and max_pairs < MIN_PAIRS:
        raise RepspaceError(f"--max-pairs must be at least {MIN_PAIRS}")
    lr = lr if lr is not None else (2e-5 if method == "full" else 5e-4)
    lora_alpha = lora_alpha if lora_alpha is not None else 2 * lora_rank
    out = Path(out)
    check_output(out, overwrite)
    replay_pairs = read_replay(replay) if replay is not None else []

    from repspace.encoders.st import resolve_model

    source = resolve_model(base)
    if pairs == "title-body":
        fields = [*corpus_options.pop("fields", ()), title_field]
        corpus_options["fields"] = tuple(dict.fromkeys(fields))
    paths: list[Any]
    if isinstance(corpus, Corpus):
        paths = list(corpus.paths)
        target = corpus
    else:
        paths = [corpus] if isinstance(corpus, str | Path) else list(corpus)
        target = as_corpus(paths, **corpus_options)
    scan = target.scan()

    # 0. Work directory beside the output: checkpoints and the selection; kept for a resume.
    key = hashlib.sha256(
        json.dumps(
            [encoder, scan.hash, pairs, method, str(select_from), k, str(replay), replay_ratio,
             list(matryoshka or []), max_pairs, epochs, batch_size, lr, max_seq_length,
             lora_rank, lora_alpha, scale, warmup_ratio, seed, title_field],
            default=str,
        ).encode()
    ).hexdigest()[:16]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.adapt-{key}"
    work.mkdir(exist_ok=True)

    # 1. Optional selection of more in-domain documents from a pool (DSIR).
    selection = None
    if select_from is not None:
        from repspace.selection import select

        t0 = time.perf_counter()
        sel_dir = work / "select"
        if (sel_dir / "selected.jsonl").is_file():
            report = read_json(sel_dir / "report.json")
        else:
            report = select(
                target, select_from, int(k or 0), sel_dir, seed=seed, progress=progress,
                overwrite=True, id_field=target.id_field, text_field=target.text_field,
                min_tokens=0,  # as before select's default became 100: short ones too
            ).report  # fmt: skip
        paths = [*paths, sel_dir / "selected.jsonl"]
        selection = {
            "pool": [str(p) for p in ([select_from] if isinstance(select_from, str | Path)
                                      else select_from)],
            "k": k,
            "kl_reduction": (report.get("kl") or {}).get("kl_reduction"),
        }  # fmt: skip
        seconds["select"] = time.perf_counter() - t0

    # 2. Pairs.
    t0 = time.perf_counter()
    train_corpus = as_corpus(paths, **corpus_options) if selection else target
    made, skipped = training_pairs(train_corpus, pairs, seed=seed, title_field=title_field)
    if len(made) < MIN_PAIRS:
        if not (work / "checkpoints").exists():
            shutil.rmtree(work, ignore_errors=True)
        raise RepspaceError(
            f"{', '.join(map(str, target.paths))}: only {len(made)} distinct --pairs {pairs} "
            f"pairs (need at least {MIN_PAIRS}; skipped: "
            + (", ".join(f"{n} {why}" for why, n in skipped.most_common()) or "none")
            + "); give more documents or another --pairs kind"
        )
    if max_pairs is not None and max_pairs < len(made):
        keep = sorted(random.Random(seed).sample(range(len(made)), max_pairs))
        made = [made[i] for i in keep]
    anchors, positives, replayed = layout(
        [(p.query, p.document) for p in made],
        replay_pairs,
        epochs=epochs,
        batch_size=batch_size,
        replay_ratio=replay_ratio,
        seed=seed,
    )
    seconds["pairs"] = time.perf_counter() - t0

    # 3. Scores before.
    t0 = time.perf_counter()
    before = _scores(evaluate_on, encoder, progress) if evaluate_on else {}
    seconds["evaluate_before"] = time.perf_counter() - t0

    # 4. Training with the library's trainer.
    t0 = time.perf_counter()
    model, counts, state = _train(
        source, anchors, positives, work / "checkpoints",
        method=method, matryoshka=matryoshka, batch_size=batch_size, lr=lr,
        max_seq_length=max_seq_length, lora_rank=lora_rank, lora_alpha=lora_alpha,
        scale=scale, warmup_ratio=warmup_ratio, checkpoint_every=checkpoint_every,
        seed=seed, progress=progress,
    )  # fmt: skip
    seconds["training"] = time.perf_counter() - t0

    # 5. The model directory, written aside and renamed into place.
    t0 = time.perf_counter()
    with building(out, overwrite) as tmp:
        if method == "lora":
            adapter = work / "adapter"
            model.save_pretrained(str(adapter))
            model = _merge_lora(model, adapter, source)
        model.save_pretrained(str(tmp), create_model_card=False)  # ours is written below
        record = AdaptRecord(
            base={"spec": encoder, "source": source},
            corpus={
                **target.describe(),
                "hash": scan.hash,
                "documents_used": len(made),
            },
            pairs={
                "kind": pairs,
                "domain": len(made),
                "replay": replayed,
                "replay_file": str(replay) if replay is not None else None,
                "replay_per_batch": round(replay_ratio * batch_size) if replay_pairs else 0,
                "skipped": dict(skipped),
            },
            selection=selection,
            method=method,
            parameters=counts,
            training={
                "loss": "MatryoshkaLoss(MultipleNegativesRankingLoss)"
                if matryoshka
                else "MultipleNegativesRankingLoss",
                "matryoshka_dims": list(matryoshka or []),
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "max_seq_length": max_seq_length,
                "scale": scale,
                "lora": {"rank": lora_rank, "alpha": lora_alpha, "targets": LORA_TARGETS}
                if method == "lora"
                else None,
                "steps": state["steps"],
                "resumed_from_step": state["resumed_from"],
                "loss_history": state["history"],
                "seed": seed,
            },
            evaluation={"before": before, "after": {}, "change": {}},
            created=utc_now(),
        )
        atomic_write_json(
            tmp / "training_documents.json",
            {"corpus_hash": scan.hash, "ids": [p.id for p in made]},
        )
        seconds["save"] = time.perf_counter() - t0
        _write_record(tmp, record)

    # 6. Scores after, on the published directory as users will load it.
    t0 = time.perf_counter()
    if evaluate_on:
        after = _scores(evaluate_on, f"st:{out}", progress)
        b, a = _main(before), _main(after)
        record.evaluation = {
            "before": before,
            "after": after,
            "change": {
                t: (a[t] - b[t]) if a.get(t) is not None and b.get(t) is not None else None
                for t in a
            },
        }
    seconds["evaluate_after"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    record.seconds = {name: round(v, 2) for name, v in seconds.items()}
    _write_record(out, record)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _train(
    source: str,
    anchors: list[str],
    positives: list[str],
    checkpoints: Path,
    *,
    method: str,
    matryoshka: Sequence[int] | None,
    batch_size: int,
    lr: float,
    max_seq_length: int | None,
    lora_rank: int,
    lora_alpha: int,
    scale: float,
    warmup_ratio: float,
    checkpoint_every: int,
    seed: int,
    progress: bool,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fine-tune with ``SentenceTransformerTrainer``; resumes from the last checkpoint."""
    import transformers
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from transformers.trainer_callback import PrinterCallback

    transformers.set_seed(seed)
    transformers.logging.set_verbosity_error()
    model = SentenceTransformer(source, device="cpu")
    base_length = model.max_seq_length
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    if method == "lora":
        from peft import LoraConfig, TaskType

        model.add_adapter(
            LoraConfig(
                task_type=TaskType.FEATURE_EXTRACTION,
                r=lora_rank,
                lora_alpha=lora_alpha,
                lora_dropout=0.1,
                target_modules=LORA_TARGETS,
            )
        )
    counts = parameter_counts(model)
    if method == "lora":
        base_total = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
        counts = {**counts, "total": base_total, "share": counts["trainable"] / base_total}
    loss: Any = MultipleNegativesRankingLoss(model, scale=scale)
    if matryoshka:
        get_dim = getattr(model, "get_embedding_dimension", None)
        dim = int((get_dim or model.get_sentence_embedding_dimension)() or 0)
        dims = sorted({*(int(d) for d in matryoshka), dim}, reverse=True)
        if dims[0] > dim or dims[-1] < 1:
            raise RepspaceError(f"--matryoshka dims must be between 1 and {dim}")
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=dims)
    dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})
    steps = math.ceil(len(anchors) / batch_size)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=1,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        warmup_steps=round(warmup_ratio * steps),
        lr_scheduler_type="linear",
        seed=seed,
        data_seed=seed,
        use_cpu=True,
        save_strategy="steps",
        save_steps=checkpoint_every,
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, steps // 20),
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        batch_sampler=__getattr__("InOrderBatchSampler"),
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
    last = _last_checkpoint(checkpoints)
    resumed = int(last.rsplit("-", 1)[1]) if last else 0
    trainer.train(resume_from_checkpoint=last)
    history = [
        {"step": h["step"], "loss": round(h["loss"], 5)}
        for h in trainer.state.log_history
        if "loss" in h
    ]
    state = {"steps": trainer.state.global_step, "resumed_from": resumed, "history": history}
    model.max_seq_length = base_length  # a training-time cut; the model keeps the base's
    return model, counts, state


def _last_checkpoint(checkpoints: Path) -> str | None:
    """The newest complete checkpoint: the trainer writes ``trainer_state.json`` last, so a
    directory without it was cut off by a crash and is skipped."""
    done = [
        d
        for d in checkpoints.glob("checkpoint-*")
        if d.name.rsplit("-", 1)[1].isdigit() and (d / "trainer_state.json").is_file()
    ]
    return str(max(done, key=lambda d: int(d.name.rsplit("-", 1)[1]))) if done else None


def card_text(record: AdaptRecord | Mapping[str, Any]) -> str:
    """The model card (``README.md``) of an adapted model (its record, or the record's dict)."""
    record = as_dict(record)
    b, c, p, t = record["base"], record["corpus"], record["pairs"], record["training"]
    s = record["seconds"]
    counts = record["parameters"]
    ev = record.get("evaluation") or {}
    rows = []
    if ev.get("before") or ev.get("after"):
        for task, m in (ev.get("after") or ev.get("before")).items():
            key = m.get("main_metric")
            bv = (ev.get("before", {}).get(task) or {}).get(key)
            av = (ev.get("after", {}).get(task) or {}).get(key)
            ch = ev.get("change", {}).get(task)
            rows.append([task, str(key), _fmt(bv), _fmt(av), _fmt(ch, "+.4f")])
    return card.Card(
        library="sentence-transformers",
        tags=["sentence-transformers", "repspace", "domain-adaptation"],
        marker=CARD_START,
        title=f"{b['spec']} adapted to a domain",
        intro="Made by `repspace adapt`: contrastive fine-tuning (in-batch negatives) on pairs "
        "made from unlabeled documents of the corpus.",
        facts=[
            ("base model", f"`{b['spec']}`"),
            ("corpus", f"{c['documents_used']:,} documents used, content hash `{c['hash'][:16]}`"),
            ("pairs", f"`{p['kind']}`: {p['domain']:,} domain pairs, {p['replay']:,} replay pairs"),
            (
                "method",
                f"{record['method']} ({counts['trainable']:,} of {counts['total']:,} "
                f"parameters trained, {100 * counts['share']:.2f}%)",
            ),
            ("loss", str(t["loss"])),
            (
                "steps",
                f"{t['steps']:,} (batch {t['batch_size']}, lr {t['lr']:g}, "
                f"max_seq_length {t['max_seq_length']})",
            ),
            ("seconds", ", ".join(f"{k} {v:.0f}" for k, v in s.items())),
        ],
        evaluation_header=["task", "metric", "before", "after", "change"] if rows else [],
        evaluation_rows=rows,
        usage_code=[
            "from sentence_transformers import SentenceTransformer",
            'model = SentenceTransformer("PATH")',
        ],
        usage_note="or `repspace encode CORPUS --encoder st:PATH --out SPACE`. The ids of the "
        "documents the pairs came from are in `training_documents.json`.",
        record={k: v for k, v in record.items() if k != "evaluation"},
    ).text()


def _fmt(v: Any, spec: str = ".4f") -> str:
    return format(v, spec) if isinstance(v, int | float) else "–"


def _write_record(model_dir: Path, record: AdaptRecord) -> None:
    atomic_write_json(model_dir / "adapt.json", record.to_dict())
    card.write_card(model_dir, card_text(record))


__all__ = [
    "METHODS",
    "MIN_PAIRS",
    "PAIR_KINDS",
    "AdaptRecord",
    "adapt",
    "card_text",
    "dropout_pairs",
    "layout",
    "parameter_counts",
    "read_replay",
    "training_pairs",
]
