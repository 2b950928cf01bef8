"""``repspace make-task``: a retrieval task made from a user's own unlabeled documents.

Three kinds of (pseudo-query, document) pairs, one generator function per kind so other
commands (e.g. adaptation) can reuse the pairs:

``title-body``  the title is the query, the body (without the title) its one relevant document.
``split-half``  the first half of a document's words is the query, the second half the document.
``span``        a random sentence is the query and the rest of its document the relevant one:
                the Inverse Cloze Task of Lee et al., "Latent retrieval for weakly supervised open
                domain question answering" (ACL 2019), also used to pretrain retrievers by Chang
                et al. (ICLR 2020). Deviation: the sentence is always removed from its document
                (ORQA keeps it in 10% of the pairs), so the task is not solved by string overlap.

Each record gives at most one pair; records too short for the kind (no title, too few words,
fewer than two sentences) are skipped and counted by reason. The output is a BEIR-layout task
directory (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) plus ``task.json`` (kind,
seed, the source corpus and its content hash, counts, skips). Deterministic for a given seed:
the random choices of a record depend on the seed and the record's id only.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repspace.corpus import Corpus, Record, as_corpus
from repspace.errors import RepspaceError
from repspace.evaluation.retrieval import TASK_FILE
from repspace.fsio import atomic_write, atomic_write_json, building, check_output, utc_now, writes
from repspace.results import Result

KINDS = ("title-body", "split-half", "span")
#: split-half: at least this many words in all (half on each side).
MIN_SPLIT_WORDS = 8
#: span: the query sentence and the remaining document need at least this many words each.
MIN_SPAN_WORDS = 3

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Pair:
    """A pseudo-query and the document it should retrieve; ``id`` is the source record's id."""

    id: str
    query: str
    document: str


def _rng(seed: int, rid: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{rid}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def title_body_pairs(
    records: Iterable[Record],
    *,
    title_field: str = "title",
    skipped: Counter[str] | None = None,
    seed: int = 0,
) -> Iterator[Pair]:
    """Title -> body pairs; records need ``title_field`` among their fields (a non-empty
    string), else they are counted as ``"no title"``."""
    skipped = skipped if skipped is not None else Counter()
    for r in records:
        title = r.fields.get(title_field)
        if not isinstance(title, str) or not title.strip():
            skipped["no title"] += 1
        elif title.strip() == r.text.strip():
            skipped["title equals body"] += 1
        else:
            yield Pair(r.id, title.strip(), r.text.strip())


def split_half_pairs(
    records: Iterable[Record],
    *,
    min_words: int = MIN_SPLIT_WORDS,
    skipped: Counter[str] | None = None,
    seed: int = 0,
) -> Iterator[Pair]:
    """First half of the words -> second half; fewer than ``min_words`` words is too short."""
    skipped = skipped if skipped is not None else Counter()
    for r in records:
        words = r.text.split()
        if len(words) < max(min_words, 2):
            skipped["too short"] += 1
            continue
        half = len(words) // 2
        yield Pair(r.id, " ".join(words[:half]), " ".join(words[half:]))


def sentences(text: str) -> list[str]:
    """Split at sentence ends (., !, ? followed by space and an upper-case letter or digit)."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def span_pairs(
    records: Iterable[Record],
    *,
    min_words: int = MIN_SPAN_WORDS,
    skipped: Counter[str] | None = None,
    seed: int = 0,
) -> Iterator[Pair]:
    """Inverse Cloze Task pairs: a random sentence -> the rest of its document (see the module
    docstring). Documents with fewer than two sentences, or whose chosen sentence or remainder
    has fewer than ``min_words`` words, are too short."""
    skipped = skipped if skipped is not None else Counter()
    for r in records:
        sents = sentences(r.text)
        if len(sents) < 2:
            skipped["fewer than 2 sentences"] += 1
            continue
        i = _rng(seed, r.id).randrange(len(sents))
        rest = " ".join(sents[:i] + sents[i + 1 :])
        if len(sents[i].split()) < min_words or len(rest.split()) < min_words:
            skipped["too short"] += 1
            continue
        yield Pair(r.id, sents[i], rest)


PAIR_GENERATORS: dict[str, Callable[..., Iterator[Pair]]] = {
    "title-body": title_body_pairs,
    "split-half": split_half_pairs,
    "span": span_pairs,
}


def make_pairs(
    records: Iterable[Record],
    kind: str,
    *,
    seed: int = 0,
    skipped: Counter[str] | None = None,
    **options: Any,
) -> Iterator[Pair]:
    """The pairs of one ``kind`` (``title-body``, ``split-half``, ``span``)."""
    if kind not in PAIR_GENERATORS:
        raise RepspaceError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return PAIR_GENERATORS[kind](records, skipped=skipped, seed=seed, **options)


@dataclass(kw_only=True)
class TaskInfo(Result):
    """What :func:`make_task` wrote; ``to_dict()`` is the task's ``task.json``."""

    format: str = field(default="repspace.task", init=False)
    #: The pair kind (``title-body``, ``split-half``, ``span``) and the seed.
    kind: str
    seed: int
    #: The source corpus: paths, fields, content ``hash``, ``title_field``.
    source: dict[str, Any]
    #: Documents in the task's corpus, and queries kept.
    documents: int
    queries: int
    #: ``total`` and ``by_reason``: records that gave no pair.
    skipped: dict[str, Any]
    #: UTC time, ISO 8601.
    created: str


@writes("out")
def make_task(
    corpus: str | Path | Sequence[str | Path] | Corpus,
    kind: str,
    out: str | Path,
    *,
    seed: int = 0,
    title_field: str = "title",
    max_queries: int | None = None,
    wait: bool = False,
    overwrite: bool = False,
    **corpus_options: Any,
) -> TaskInfo:
    """Write a retrieval task made from ``corpus`` to the directory ``out``; returns what its
    ``task.json`` holds. ``max_queries`` keeps a seeded random sample of the queries
    (every pair's document stays in the corpus). ``corpus_options`` go to
    :class:`~repspace.Corpus` (``id_field``, ``text_field``, ``on_error``)."""
    if kind not in PAIR_GENERATORS:
        raise RepspaceError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if max_queries is not None and max_queries < 1:
        raise RepspaceError("--max-queries must be at least 1")
    if kind == "title-body":
        fields = [*corpus_options.pop("fields", ()), title_field]
        corpus_options["fields"] = tuple(dict.fromkeys(fields))
    corpus = as_corpus(corpus, **corpus_options)
    out = Path(out)
    check_output(out, overwrite, holds=_is_task, what="task")
    scan = corpus.scan()
    skipped: Counter[str] = Counter()
    options = {"title_field": title_field} if kind == "title-body" else {}
    pairs = list(make_pairs(corpus, kind, seed=seed, skipped=skipped, **options))
    records_skipped = dict(corpus.skipped)
    if not pairs:
        raise RepspaceError(
            f"{', '.join(map(str, corpus.paths))}: no document suits --kind {kind} "
            f"(skipped: {_reasons(skipped) or 'none read'})"
            + ("; pass --title-field" if kind == "title-body" else "")
        )
    queries = pairs
    if max_queries is not None and max_queries < len(pairs):
        chosen = sorted(random.Random(seed).sample(range(len(pairs)), max_queries))
        queries = [pairs[i] for i in chosen]

    info = TaskInfo(
        kind=kind,
        seed=seed,
        source={**corpus.describe(), "hash": scan.hash, "title_field": title_field},
        documents=len(pairs),
        queries=len(queries),
        skipped={
            "total": sum(skipped.values()) + sum(records_skipped.values()),
            "by_reason": {**dict(skipped), **records_skipped},
        },
        created=utc_now(),
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{p.id}\t{p.id}\t1\n" for p in queries)
    with building(out, overwrite, holds=_is_task, what="task") as work:
        _write_jsonl(work / "corpus.jsonl", ({"_id": p.id, "text": p.document} for p in pairs))
        _write_jsonl(work / "queries.jsonl", ({"_id": p.id, "text": p.query} for p in queries))
        atomic_write(work / "qrels" / "test.tsv", lambda f: f.write(qrels.encode()))
        atomic_write_json(work / TASK_FILE, info.to_dict())
    return info


def _reasons(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {why}" for why, n in counts.most_common())


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def _is_task(path: Path) -> bool:
    return (path / TASK_FILE).is_file()


__all__ = [
    "KINDS",
    "PAIR_GENERATORS",
    "Pair",
    "TaskInfo",
    "make_pairs",
    "make_task",
    "sentences",
    "span_pairs",
    "split_half_pairs",
    "title_body_pairs",
]
