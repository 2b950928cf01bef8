"""Retrieval tasks in the BEIR layout (Thakur et al., "BEIR: A heterogeneous benchmark for
zero-shot evaluation of information retrieval models", NeurIPS 2021 Datasets and Benchmarks)::

    TASK/
      corpus.jsonl     {"_id" (or "id"), "title" (optional), "text"}
      queries.jsonl    {"_id" (or "id"), "text"}
      qrels/test.tsv   query-id <TAB> corpus-id <TAB> score, with a header line
                       (or qrels.tsv, or the only .tsv in qrels/)
      task.json        optional: what made the task (``repspace make-task``)

As BEIR's dense retrievers do, a document's text is its title and its text joined by a space
(``(title + " " + text).strip()``); the title alone is kept in ``Record.fields["title"]``.

Bad input never gives a silently wrong score: qrels naming a query or document the task does
not hold, conflicting duplicate judgments and empty tasks are one-line errors; queries without
any judgment, or with judgments but no relevant (score > 0) document, are skipped and counted in
:attr:`RetrievalTask.skipped` (they have no defined nDCG or recall).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repspace.corpus import Corpus, Record
from repspace.errors import RepspaceError
from repspace.fsio import read_json

TASK_FILE = "task.json"


@dataclass
class RetrievalTask:
    """A retrieval task: documents, queries and graded relevance judgments (qrels)."""

    name: str
    corpus: list[Record]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    path: Path | None = None
    #: Queries left out, by reason ("no judgments", "no relevant document").
    skipped: Counter[str] = field(default_factory=Counter)
    #: The contents of ``task.json`` when there is one.
    info: dict[str, Any] = field(default_factory=dict)

    kind = "retrieval"

    @property
    def doc_ids(self) -> list[str]:
        return [r.id for r in self.corpus]

    @property
    def doc_texts(self) -> list[str]:
        return [r.text for r in self.corpus]

    def corpus_hash(self) -> str:
        """sha256 over the documents' ids and texts (what the vectors depend on)."""
        return texts_hash(self.doc_ids, self.doc_texts)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judgments": sum(len(v) for v in self.qrels.values()),
            "skipped": {"total": sum(self.skipped.values()), "by_reason": dict(self.skipped)},
        }


def texts_hash(ids: list[str], texts: list[str]) -> str:
    """sha256 over (id, text) pairs, unambiguous (NUL-separated, lengths included)."""
    h = hashlib.sha256()
    for i, t in zip(ids, texts, strict=True):
        a, b = i.encode(), t.encode()
        h.update(f"{len(a)}:{len(b)}\0".encode() + a + b)
    return h.hexdigest()


def is_retrieval_dir(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def _id_field(path: Path) -> str:
    """``_id`` (BEIR) or ``id``, whichever the first record of a JSONL file has."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                first = json.loads(line)
            except json.JSONDecodeError:
                return "_id"  # the corpus reader reports the bad line
            if isinstance(first, dict) and "_id" not in first and "id" in first:
                return "id"
            return "_id"
    raise RepspaceError(f"{path}: empty file; a retrieval task needs documents and queries")


def _read_records(path: Path, fields: tuple[str, ...] = ()) -> list[Record]:
    id_field = _id_field(path)
    try:
        records = list(Corpus(path, id_field=id_field, fields=fields))
    except RepspaceError as e:  # the corpus reader's hint names flags evaluate does not have
        raise RepspaceError(f"{str(e).split(' (')[0]} (fix the task file)") from None
    if records and records[0].id.startswith(f"{path.name}:"):
        raise RepspaceError(
            f"{path}:1: records have no '_id' (or 'id') field; BEIR files need one per record"
        )
    return records


def qrels_file(path: Path, split: str = "test") -> Path:
    """The qrels TSV of a task directory: ``qrels/<split>.tsv``, ``qrels.tsv``, or the only
    ``.tsv`` under ``qrels/``."""
    candidates = [path / "qrels" / f"{split}.tsv", path / "qrels.tsv"]
    for c in candidates:
        if c.is_file():
            return c
    found = sorted((path / "qrels").glob("*.tsv")) if (path / "qrels").is_dir() else []
    if len(found) == 1:
        return found[0]
    if found:
        raise RepspaceError(
            f"{path}/qrels: several qrels files ({', '.join(f.name for f in found)}) and no "
            f"{split}.tsv; pass the split to use"
        )
    raise RepspaceError(f"{path}: no qrels (expected qrels/{split}.tsv or qrels.tsv)")


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read a BEIR/TREC-style qrels TSV (``query-id, corpus-id, score``; a header line is
    optional; 4-column TREC lines ``qid 0 docid rel`` are accepted too)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) == 1 and " " in row[0].strip():
                row = row[0].split()
            if len(row) == 4:
                row = [row[0], row[2], row[3]]
            if len(row) != 3:
                raise RepspaceError(
                    f"{path}:{lineno}: expected 3 tab-separated fields "
                    f"(query-id, corpus-id, score), got {len(row)}"
                )
            qid, did, score = (c.strip() for c in row)
            try:
                rel = int(float(score))
            except ValueError:
                if lineno == 1:
                    continue  # the header
                raise RepspaceError(f"{path}:{lineno}: score {score!r} is not a number") from None
            if float(score) != rel:
                raise RepspaceError(f"{path}:{lineno}: score {score!r} is not an integer grade")
            if not qid or not did:
                raise RepspaceError(f"{path}:{lineno}: empty query or corpus id")
            old = qrels.setdefault(qid, {}).get(did)
            if old is not None and old != rel:
                raise RepspaceError(
                    f"{path}:{lineno}: query {qid!r} judges {did!r} twice ({old} and {rel}); "
                    "keep one judgment per pair"
                )
            qrels[qid][did] = rel
    return qrels


def load_retrieval_task(path: str | Path, *, split: str = "test") -> RetrievalTask:
    """Read a BEIR-layout task directory; see the module docstring for the rules."""
    path = Path(path)
    if not is_retrieval_dir(path):
        raise RepspaceError(
            f"{path}: not a retrieval task (expected a directory with corpus.jsonl, "
            "queries.jsonl and qrels/test.tsv)"
        )
    if not (path / "queries.jsonl").is_file():
        raise RepspaceError(f"{path}: no queries.jsonl")
    corpus = [
        Record(r.id, _doc_text(r), {"title": r.fields["title"]} if r.fields.get("title") else {})
        for r in _read_records(path / "corpus.jsonl", ("title",))
    ]
    queries = {r.id: r.text for r in _read_records(path / "queries.jsonl")}
    qfile = qrels_file(path, split)
    qrels = read_qrels(qfile)
    info = read_json(path / TASK_FILE) if (path / TASK_FILE).is_file() else {}
    task = build_task(path.name, corpus, queries, qrels, where=str(qfile))
    task.path = path
    task.info = info if isinstance(info, dict) else {}
    return task


def _doc_text(r: Record) -> str:
    title = r.fields.get("title")
    if isinstance(title, str) and title.strip():
        return f"{title} {r.text}".strip()
    return r.text


def build_task(
    name: str,
    corpus: list[Record],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    where: str = "qrels",
) -> RetrievalTask:
    """Check a task's parts against each other and drop (and count) unjudged queries."""
    if not corpus:
        raise RepspaceError(f"{name}: the corpus is empty; a retrieval task needs documents")
    doc_ids = {r.id for r in corpus}
    unknown_q = [q for q in qrels if q not in queries]
    if unknown_q:
        raise RepspaceError(
            f"{where}: {len(unknown_q)} judged query id(s) are not in queries.jsonl "
            f"(first: {unknown_q[0]!r}); add the queries or remove their judgments"
        )
    unknown_d = sorted({d for j in qrels.values() for d in j if d not in doc_ids})
    if unknown_d:
        raise RepspaceError(
            f"{where}: {len(unknown_d)} judged document id(s) are not in corpus.jsonl "
            f"(first: {unknown_d[0]!r}); add the documents or remove their judgments"
        )
    skipped: Counter[str] = Counter()
    kept_q: dict[str, str] = {}
    kept_rels: dict[str, dict[str, int]] = {}
    for qid, text in queries.items():
        judged = qrels.get(qid)
        if not judged:
            skipped["no judgments"] += 1
        elif not any(v > 0 for v in judged.values()):
            skipped["no relevant document"] += 1
        else:
            kept_q[qid] = text
            kept_rels[qid] = judged
    if not kept_q:
        raise RepspaceError(
            f"{name}: no query has a relevant document in {where} "
            f"({len(queries)} queries, {sum(skipped.values())} skipped); nothing to evaluate"
        )
    return RetrievalTask(name, corpus, kept_q, kept_rels, skipped=skipped)


__all__ = [
    "RetrievalTask",
    "build_task",
    "is_retrieval_dir",
    "load_retrieval_task",
    "qrels_file",
    "read_qrels",
    "texts_hash",
]
