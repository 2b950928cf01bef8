"""Lexical and hybrid retrieval scored on tasks: the ``bm25`` and ``hybrid:ENCODER`` rows of
``repspace evaluate``, and the fusion weight a task fits (``repspace index --tune TASK``).

BM25 and the fusion are the index's own (:mod:`repspace.index.lexical`,
:mod:`repspace.index.fusion`); a task's documents are indexed as BEIR's retrievers see them
(title and text joined). Tuning follows Bruch et al. 2023 (§6, "sample efficiency"): the
convex combination's one parameter ``alpha`` is chosen on a grid by the mean nDCG@10 of the
task's queries; among equal scores the alpha closest to the label-free default wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.evaluation.retrieval import RetrievalTask, score_run
from repspace.index.fusion import DEFAULT_ALPHA, Candidates, Fusion, hybrid, lexical_candidates
from repspace.index.lexical import Analyzer, LexicalIndex
from repspace.kernels import cosine_search, unit_rows
from repspace.progress import progress_bar
from repspace.results import Result

if TYPE_CHECKING:
    from repspace.index.index import Index

#: The alphas tuning tries: 0, 0.05, ..., 1.
ALPHA_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 21))
TUNE_METRIC = "ndcg@10"

Run = dict[str, dict[str, float]]


def task_lexical(task: RetrievalTask, analyzer: Analyzer | None = None) -> LexicalIndex:
    """A BM25 index over the task's documents, in task order."""
    return LexicalIndex.build(task.doc_texts, analyzer)


def lexical_run(task: RetrievalTask, lexical: LexicalIndex, depth: int) -> Run:
    """BM25's top ``depth`` documents (positive scores only) for every query of the task."""
    ids = task.doc_ids
    run: Run = {}
    for qid, text in task.queries.items():
        scores = lexical.scores(lexical.query_terms(text))
        top = lexical_candidates(scores, depth)
        run[qid] = {ids[j]: float(scores[j]) for j in top}
    return run


def task_candidates(
    task: RetrievalTask,
    lexical: LexicalIndex,
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    count: int,
) -> list[Candidates]:
    """Both sides of every query before fusion, searched exactly over the task's documents."""
    q = unit_rows(query_vectors, what="query vectors")
    d = unit_rows(doc_vectors, what="document vectors")
    scores, top = cosine_search(q, d, min(count, len(d)), normalized=True)
    out = []
    for i, text in enumerate(task.queries.values()):
        lex = lexical.scores(lexical.query_terms(text))
        out.append(Candidates(top[i], scores[i], lex, lambda pos, qi=q[i]: d[pos] @ qi))
    return out


def fused_run(
    qids: Sequence[str], doc_ids: Sequence[str], candidates: Sequence[Candidates], fusion: Fusion,
    depth: int,
) -> Run:  # fmt: skip
    """The fused top ``depth`` of every query."""
    run: Run = {}
    for qid, c in zip(qids, candidates, strict=True):
        f = hybrid(c, depth, fusion)
        run[qid] = {doc_ids[j]: float(s) for j, s in zip(f.positions, f.fused, strict=True)}
    return run


@dataclass(kw_only=True)
class TuneResult(Result):
    """The alpha a task chose (``repspace index --tune``)."""

    kind: str = field(default="tune", init=False)
    alpha: float
    #: Mean nDCG@10 at the chosen alpha and at the label-free default.
    best: float
    default: float
    default_alpha: float
    queries: int
    task: str
    #: ``[alpha, nDCG@10]`` at every alpha of the grid.
    curve: list[list[float]]


def tune_alpha(
    qrels: dict[str, dict[str, int]],
    qids: Sequence[str],
    doc_ids: Sequence[str],
    candidates: Sequence[Candidates],
    base: Fusion,
    *,
    grid: Sequence[float] = ALPHA_GRID,
    task: str = "",
) -> TuneResult:
    """The alpha of the grid with the best mean nDCG@10 over ``qids`` (convex fusion)."""
    base = replace(base, fusion="convex")
    curve = []
    for a in grid:
        run = fused_run(qids, doc_ids, candidates, replace(base, alpha=float(a)), 10)
        curve.append([float(a), score_run(qrels, run, [TUNE_METRIC])[TUNE_METRIC]])
    best = max(curve, key=lambda c: (c[1], -abs(c[0] - DEFAULT_ALPHA)))
    default_run = fused_run(qids, doc_ids, candidates, replace(base, alpha=DEFAULT_ALPHA), 10)
    return TuneResult(
        alpha=best[0],
        best=best[1],
        default=score_run(qrels, default_run, [TUNE_METRIC])[TUNE_METRIC],
        default_alpha=DEFAULT_ALPHA,
        queries=len(qids),
        task=task,
        curve=curve,
    )


def tune_index(
    index: Index, task: str | Path | RetrievalTask, *, progress: bool = True
) -> TuneResult:
    """Fit the index's hybrid alpha on a retrieval task over the same documents (ids matched)
    and record it in the index manifest."""
    from repspace.evaluation.tasks import load_task

    loaded = task if isinstance(task, RetrievalTask) else load_task(task)
    if not isinstance(loaded, RetrievalTask):
        raise RepspaceError(f"--tune {task}: not a retrieval task (need corpus, queries, qrels)")
    if index.lexical is None:
        raise RepspaceError(f"{index.path}: no lexical index to tune a fusion for")
    judged = {d for q in loaded.qrels.values() for d in q}
    missing = [d for d in sorted(judged) if d not in index.ids]
    if missing:
        raise RepspaceError(
            f"--tune {task}: {len(missing)} judged documents are not in the index (first: "
            f"{missing[0]!r}); tune on a task over the index's documents"
        )
    qids = [q for q in loaded.queries if q in loaded.qrels]
    if not qids:
        raise RepspaceError(f"--tune {task}: no query with judgments to tune on")
    base = index.fusion
    texts = [loaded.queries[q] for q in qids]
    vectors = index.encoder.encode(texts)
    candidates = []
    with progress_bar("tuning", len(qids), "queries", enabled=progress) as bar:
        for v, t in zip(vectors, texts, strict=True):
            candidates.append(index.candidates(v, t, base.candidates)[0])
            bar.advance(1)
    ids = index.rows.column("id").to_pylist()
    result = tune_alpha(loaded.qrels, qids, ids, candidates, base, task=str(loaded.path or task))
    tuned = {k: v for k, v in result.to_dict().items() if k not in ("kind", "alpha")}
    index.set_fusion(replace(base, fusion="convex", alpha=result.alpha), tuned)
    return result


def hybrid_metrics(
    task: RetrievalTask,
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    lexical: LexicalIndex,
    metrics: Sequence[str],
    depth: int,
    fusion: Fusion | None = None,
) -> dict[str, Any]:
    """Hybrid retrieval on ``task`` scored like :func:`~repspace.evaluation.retrieval.
    retrieval_metrics` (the fused top ``depth``; each side retrieves ``max(depth,
    candidates)``)."""
    fusion = fusion or Fusion()
    fusion = replace(fusion, candidates=max(fusion.candidates, depth))
    cands = task_candidates(task, lexical, query_vectors, doc_vectors, fusion.candidates)
    run = fused_run(list(task.queries), task.doc_ids, cands, fusion, depth)
    return {"metrics": score_run(task.qrels, run, metrics), "queries": len(run), "depth": depth}
