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

Scoring: exact cosine top-k search (:func:`repspace.kernels.cosine_search`: brute force, no
approximate index, so scores are reproducible) and the standard ranking metrics.
:func:`score_run` computes nDCG@k, MRR@k, Recall@k, MAP@k and P@k exactly as
``trec_eval`` does (the implementation behind ``pytrec_eval``, used by BEIR): documents are
ranked by score, ties broken by document id in descending order; a document is relevant when
its grade is > 0; nDCG uses the grades as gains and ``log2(rank + 1)`` discounts (Järvelin &
Kekäläinen 2002), with the ideal ranking over all judged documents; Recall@k and MAP@k divide by
all relevant documents of the query; MRR@k is the reciprocal rank of the first relevant document
within the top k (``recip_rank`` of a run cut at k, as BEIR reports it). The tests check every
number against ``pytrec_eval`` on the same run.

As in ``pytrec_eval``, a query is scored when it is in both the qrels and the run; the mean is
over those queries. :func:`retrieval_metrics` builds a run for every query of a task, so none is
dropped there.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.corpus import Corpus, Record
from repspace.errors import RepspaceError
from repspace.fsio import JsonlError, read_json, read_jsonl
from repspace.kernels import cosine_search
from repspace.space.cache import texts_hash

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


def is_retrieval_dir(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def _id_field(path: Path) -> str:
    """``_id`` (BEIR) or ``id``, whichever the first record of a JSONL file has."""
    rows = read_jsonl(path)
    try:
        _, first = next(rows, (0, None))
    except JsonlError:
        return "_id"  # the corpus reader reports the bad line
    finally:
        rows.close()
    if first is None:
        raise RepspaceError(f"{path}: empty file; a retrieval task needs documents and queries")
    return "id" if "_id" not in first and "id" in first else "_id"


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
    try:
        return _read_qrels(path)
    except (UnicodeDecodeError, csv.Error) as e:  # not UTF-8, a field over csv's size limit
        raise RepspaceError(f"{path}: unreadable qrels file ({e}); save it as UTF-8 TSV") from None


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
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
                value = float(score)
            except ValueError:
                if lineno == 1:
                    continue  # the header
                raise RepspaceError(f"{path}:{lineno}: score {score!r} is not a number") from None
            if not (math.isfinite(value) and value == int(value) and abs(value) < 2**31):
                raise RepspaceError(f"{path}:{lineno}: score {score!r} is not an integer grade")
            rel = int(value)
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
    try:
        info = read_json(path / TASK_FILE) if (path / TASK_FILE).is_file() else {}
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, nested too deep
        raise RepspaceError(
            f"{path / TASK_FILE}: not valid JSON ({e}); fix it or delete it (it only describes "
            "how the task was made)"
        ) from None
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


DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
DEFAULT = DEFAULT_METRICS
_KINDS = ("ndcg", "mrr", "recall", "map", "precision")


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; kinds: ndcg, mrr, recall, map, precision."""
    kind, sep, cut = name.lower().partition("@")
    if kind not in _KINDS or not sep or not cut.isdigit() or int(cut) < 1:
        raise RepspaceError(
            f"unknown retrieval metric {name!r}; use <kind>@<k> with kind one of "
            f"{', '.join(_KINDS)} (e.g. ndcg@10)"
        )
    return kind, int(cut)


def _ranked(docs: Mapping[str, float]) -> list[str]:
    """trec_eval's order: score descending, then document id descending."""
    return [d for d, _ in sorted(docs.items(), key=lambda kv: (float(kv[1]), kv[0]), reverse=True)]


def score_query(
    judged: Mapping[str, int], retrieved: Mapping[str, float], metrics: Sequence[str] = DEFAULT
) -> dict[str, float]:
    """Every metric for one query (see the module docstring for the definitions)."""
    ranking = _ranked(retrieved)
    rels = np.array([max(int(judged.get(d, 0)), 0) for d in ranking], dtype=np.float64)
    relevant = np.array(sorted((g for g in judged.values() if g > 0), reverse=True), float)
    n_rel = len(relevant)
    out: dict[str, float] = {}
    for name in metrics:
        kind, k = parse_metric(name)
        top = rels[:k]
        hit = top > 0
        if kind == "ndcg":
            disc = 1.0 / np.log2(np.arange(2, k + 2))
            ideal = float(np.sum(relevant[:k] * disc[: min(k, n_rel)]))
            dcg = float(np.sum(top * disc[: len(top)]))
            value = dcg / ideal if ideal > 0 else 0.0
        elif kind == "mrr":
            first = np.flatnonzero(hit)
            value = 1.0 / (first[0] + 1) if len(first) else 0.0
        elif kind == "recall":
            value = float(hit.sum()) / n_rel if n_rel else 0.0
        elif kind == "precision":
            value = float(hit.sum()) / k
        else:  # map
            ranks = np.flatnonzero(hit) + 1
            value = float(np.sum(np.arange(1, len(ranks) + 1) / ranks)) / n_rel if n_rel else 0.0
        out[name] = float(value)
    return out


def score_queries(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT,
) -> dict[str, dict[str, float]]:
    """Per-query metrics for the queries in both ``qrels`` and ``run``."""
    for name in metrics:
        parse_metric(name)
    return {q: score_query(qrels[q], run[q], metrics) for q in qrels if q in run}


def score_run(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT,
) -> dict[str, float]:
    """Mean of each metric over the queries in both ``qrels`` (qid -> {docid: grade}) and
    ``run`` (qid -> {docid: score}); NaN for every metric when no query is in both."""
    per_query = score_queries(qrels, run, metrics)
    if not per_query:
        return {m: math.nan for m in metrics}
    return {m: float(np.mean([v[m] for v in per_query.values()])) for m in metrics}


def metric_depth(metrics: Sequence[str]) -> int:
    """How many documents per query the metrics look at (the largest cut-off)."""
    return max(parse_metric(m)[1] for m in metrics)


def make_run(
    query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, indices: np.ndarray
) -> dict[str, dict[str, float]]:
    """A run (qid -> {docid: score}) from :func:`~repspace.kernels.cosine_search`'s output."""
    return {
        q: {doc_ids[j]: float(s) for j, s in zip(idx, sc, strict=True)}
        for q, sc, idx in zip(query_ids, scores, indices, strict=True)
    }


def retrieval_metrics(
    task: RetrievalTask,
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    metrics: Sequence[str] = DEFAULT,
    *,
    normalized: bool = False,
) -> dict[str, Any]:
    """Search ``task``'s queries (rows of ``query_vectors``, in ``task.queries`` order) among
    its documents (rows of ``doc_vectors``, in ``task.corpus`` order) and score the run.

    Returns ``{"metrics": {name: mean}, "queries": n, "depth": k}``.
    """
    qids = list(task.queries)
    if len(query_vectors) != len(qids) or len(doc_vectors) != len(task.corpus):
        raise RepspaceError(
            f"{task.name}: {len(query_vectors)} query vectors for {len(qids)} queries and "
            f"{len(doc_vectors)} document vectors for {len(task.corpus)} documents; "
            "give one vector per query and per document, in task order"
        )
    depth = metric_depth(metrics)
    scores, indices = cosine_search(query_vectors, doc_vectors, depth, normalized=normalized)
    run = make_run(qids, task.doc_ids, scores, indices)
    return {"metrics": score_run(task.qrels, run, metrics), "queries": len(qids), "depth": depth}


__all__ = [
    "DEFAULT",
    "DEFAULT_METRICS",
    "RetrievalTask",
    "build_task",
    "is_retrieval_dir",
    "load_retrieval_task",
    "make_run",
    "metric_depth",
    "parse_metric",
    "qrels_file",
    "read_qrels",
    "retrieval_metrics",
    "score_queries",
    "score_run",
]
