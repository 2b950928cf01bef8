"""``repspace evaluate``: several tasks × several encoders or spaces, one leaderboard.

Each row is one (task, model) pair: the task's scores (retrieval: nDCG@10, MRR@10, Recall@1/10/
100, MAP@100; STS: Spearman, Pearson; classification: logistic-regression and kNN probes), and
the label-free metrics of ``inspect`` on the same vectors (RankMe, Garrido et al. 2023;
IsoScore, Rudman et al. 2022), so one can see whether they agree with the task scores: the
result holds the Spearman rank correlation between each intrinsic metric and the main score,
over all rows and within each task (across models).

Encoding: each distinct text set (a task's corpus, its queries, the STS sentences, the
classification texts) is encoded once per encoder with :func:`repspace.encode` into a space
cached under ``<cache dir>/evaluate/spaces/<encoder fingerprint>-<content hash>``, so a second
run, or another task over the same corpus, reuses the vectors.

Retrievers (``retrievers=``) rank a retrieval task's documents without vectors of their own:
``bm25`` (the index's BM25, :mod:`repspace.index.lexical`) and ``hybrid:ENCODER`` (the encoder's
cosine and BM25 fused with the label-free default, :mod:`repspace.index.fusion`); they have no
row for STS or classification tasks (a note says so) and no intrinsic metrics (BM25 has no
vectors; a hybrid's vectors are its encoder's, measured in the encoder's own row).

A precomputed space (``spaces=``) stands for its vectors: a retrieval task's documents are
looked up in it by id (all must be there; extra rows are ignored), and the queries are encoded
with the encoder the space records (refused when it has none, e.g. imported vectors, or when
that encoder no longer has the space's fingerprint). STS sentences, which have no ids, and
classification texts whose ids the space lacks are encoded with the same encoder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.encoders import Encoder, load_encoder, load_recorded_encoder
from repspace.errors import RepspaceError
from repspace.evaluation.tasks import ClassificationTask, RetrievalTask, StsTask, Task, load_task
from repspace.fsio import cache_dir
from repspace.results import Result, as_dict
from repspace.space import Space, open_space
from repspace.space.cache import VectorCache

#: The score each kind of task is ranked by.
MAIN_METRIC = {"retrieval": "ndcg@10", "sts": "spearman", "classification": "logreg_accuracy"}
INTRINSIC = ("rankme", "isoscore")
#: Label, one line on what it measures.
METRIC_INFO = {
    "ndcg@10": ("nDCG@10", "graded ranking quality of the top 10 (1 = ideal order)"),
    "mrr@10": ("MRR@10", "1 / rank of the first relevant document within the top 10"),
    "recall@1": ("Recall@1", "share of relevant documents ranked first"),
    "recall@10": ("Recall@10", "share of relevant documents in the top 10"),
    "recall@100": ("Recall@100", "share of relevant documents in the top 100"),
    "map@100": ("MAP@100", "mean average precision over the top 100"),
    "spearman": ("Spearman", "rank correlation of cosine similarity with the human scores"),
    "pearson": ("Pearson", "linear correlation of cosine similarity with the human scores"),
    "logreg_accuracy": ("LogReg acc.", "accuracy of a logistic-regression probe (k-fold)"),
    "logreg_f1_macro": ("LogReg F1", "macro-F1 of a logistic-regression probe (k-fold)"),
    "knn_accuracy": ("kNN acc.", "accuracy of a cosine kNN probe (k-fold)"),
    "knn_f1_macro": ("kNN F1", "macro-F1 of a cosine kNN probe (k-fold)"),
    "rankme": ("RankMe", "effective rank of the vectors (label-free)"),
    "isoscore": ("IsoScore", "isotropy of the vectors, 0..1 (label-free)"),
}


#: The retrievers ``evaluate`` takes besides encoders and spaces.
RETRIEVERS = ("bm25", "hybrid:ENCODER")


@dataclass
class Model:
    """One leaderboard entry: an encoder spec, a precomputed space (and its encoder), or a
    retriever (``bm25``; ``hybrid`` with the encoder ``spec``)."""

    label: str
    spec: str | None = None
    space: Space | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _encoder: Encoder | None = None
    retriever: str | None = None

    @classmethod
    def parse_retriever(cls, text: str) -> Model:
        """``bm25`` or ``hybrid:ENCODER``."""
        name, _, spec = text.partition(":")
        if text == "bm25":
            return cls("bm25", retriever="bm25")
        if name == "hybrid" and spec:
            return cls(text, spec=spec, retriever="hybrid")
        raise RepspaceError(
            f"--retriever {text!r}: use {' or '.join(RETRIEVERS)} (e.g. hybrid:st:all-MiniLM-L6-v2)"
        )

    @property
    def encoder(self) -> Encoder:
        """The encoder (loaded once); for a space, the one it records, checked."""
        if self._encoder is not None:
            return self._encoder
        if self.space is None:
            self._encoder = load_encoder(self.spec or "", **self.options)
            return self._encoder
        space = self.space
        enc = load_recorded_encoder(
            space.manifest,
            space.path,
            "queries and sentences cannot be encoded like its rows; evaluate it only with tasks "
            "whose every text it holds, or encode the corpus with `repspace encode` and pass "
            "--encoder SPEC",
        )
        if enc.dim != space.dim:
            raise RepspaceError(
                f"{space.path}: vectors have {space.dim} dimensions, its encoder "
                f"{space.encoder_spec} gives {enc.dim}; re-encode the space"
            )
        self._encoder = enc
        return enc

    def describe(self) -> dict[str, Any]:
        if self.retriever == "bm25":
            return {"label": self.label, "space": None, "encoder": None, "fingerprint": None,
                    "dim": None, "retriever": "bm25"}  # fmt: skip
        if self.space is not None:
            return {
                "label": self.label,
                "space": str(self.space.path),
                "encoder": self.space.encoder_spec,
                "fingerprint": self.space.fingerprint,
                "dim": self.space.dim,
            }
        enc = self.encoder
        return {
            "label": self.label,
            "space": None,
            "encoder": enc.spec,
            "fingerprint": enc.fingerprint,
            "dim": enc.dim,
            **({"retriever": self.retriever} if self.retriever else {}),
        }


def _intrinsic(vectors: np.ndarray) -> dict[str, float | None]:
    from repspace.metrics.spectrum import isoscore, rankme, spectrum

    x = np.asarray(vectors)
    if len(x) < 3:
        return {"rankme": None, "isoscore": None}
    s = spectrum(x, density=False)
    return {"rankme": rankme(s), "isoscore": isoscore(s)}


def _finite_or_none(values: dict[str, Any]) -> dict[str, Any]:
    """NaN (an undefined score, e.g. a correlation of constant values) becomes None, so the JSON
    stays valid and no one mistakes it for a number."""
    return {k: v if v is None or math.isfinite(v) else None for k, v in values.items()}


def _space_rows(model: Model, ids: Sequence[str], what: str) -> np.ndarray | None:
    """The space's vectors for ``ids`` (in that order), or None when it lacks some."""
    space = model.space
    assert space is not None
    where = {i: j for j, i in enumerate(space.ids)}
    missing = [i for i in ids if i not in where]
    if missing:
        if what:
            raise RepspaceError(
                f"{space.path}: lacks {len(missing)} of the {len(ids)} document ids of task "
                f"{what} (first: {missing[0]!r}); encode the task's corpus into the space, "
                f"e.g. repspace encode TASK/corpus.jsonl --id-field _id --encoder "
                f"{space.encoder_spec or 'SPEC'} --out SPACE"
            )
        return None
    return np.asarray(space.vectors[np.array([where[i] for i in ids], dtype=np.int64)])


def _evaluate_row(
    task: Task,
    model: Model,
    cache: VectorCache,
    *,
    folds: int,
    knn_k: int,
    seed: int,
) -> dict[str, Any]:
    from repspace.evaluation.classification import probe_scores
    from repspace.evaluation.retrieval import (
        DEFAULT_METRICS,
        metric_depth,
        retrieval_metrics,
        score_run,
    )
    from repspace.evaluation.sts import sts_scores

    notes: list[str] = []
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    intrinsic_on: np.ndarray | None
    if model.retriever is not None and not isinstance(task, RetrievalTask):
        t1 = time.perf_counter()
        scores, intrinsic_on = {MAIN_METRIC[task.kind]: None}, None
        notes.append(f"{model.retriever} ranks documents; it has no score on {task.kind} tasks")
    elif model.retriever == "bm25":
        from repspace.evaluation.hybrid import lexical_run, task_lexical

        assert isinstance(task, RetrievalTask)
        lexical = task_lexical(task)
        t1 = time.perf_counter()
        run = lexical_run(task, lexical, metric_depth(DEFAULT_METRICS))
        scores, intrinsic_on = score_run(task.qrels, run, DEFAULT_METRICS), None
        extra = {"queries": len(task.queries), "documents": len(task.corpus)}
        notes.append("BM25 (Lucene variant, k1 1.2, b 0.75) with the index's default analyzer")
    elif isinstance(task, RetrievalTask):
        if model.space is not None:
            docs = _space_rows(model, task.doc_ids, task.name)
            assert docs is not None
            notes.append("documents from the space; queries encoded with its encoder")
        else:
            docs = cache.vectors(model.encoder, task.doc_ids, task.doc_texts)
        queries = cache.vectors(model.encoder, list(task.queries), list(task.queries.values()))
        t1 = time.perf_counter()
        if model.retriever == "hybrid":
            from repspace.evaluation.hybrid import hybrid_metrics, task_lexical

            depth = metric_depth(DEFAULT_METRICS)
            result = hybrid_metrics(task, queries, docs, task_lexical(task), DEFAULT_METRICS, depth)
            notes.append("cosine and BM25, convex fusion with the label-free default alpha")
        else:
            result = retrieval_metrics(task, queries, docs)
        # a hybrid row is not a space: no intrinsic metrics (they are its encoder's row's)
        scores, intrinsic_on = result["metrics"], None if model.retriever else docs
        extra = {"queries": result["queries"], "documents": len(docs)}
    elif isinstance(task, StsTask):
        sentences = task.sentences()
        vecs = cache.vectors(model.encoder, [f"s{i}" for i in range(len(sentences))], sentences)
        if model.space is not None:
            notes.append("sentences encoded with the space's encoder")
        t1 = time.perf_counter()
        row = {s: i for i, s in enumerate(sentences)}
        a = vecs[[row[s] for s in task.s1]]
        b = vecs[[row[s] for s in task.s2]]
        scores, intrinsic_on = sts_scores(a, b, task.scores), vecs
        extra = {"pairs": len(task.s1)}
    elif isinstance(task, ClassificationTask):
        vecs = None
        if model.space is not None and task.ids:
            vecs = _space_rows(model, task.ids, "")
            if vecs is not None:
                notes.append("vectors from the space")
        if vecs is None:
            ids = task.ids or [f"t{i}" for i in range(len(task.texts))]
            vecs = cache.vectors(model.encoder, ids, task.texts)
            if model.space is not None:
                notes.append("texts encoded with the space's encoder")
        t1 = time.perf_counter()
        scores = probe_scores(vecs, task.labels, folds=folds, k=knn_k, seed=seed)
        intrinsic_on = vecs
        extra = {"examples": len(task.texts), "folds": folds}
    else:  # pragma: no cover - load_task returns one of the three
        raise TypeError(type(task))
    intrinsic = _finite_or_none(
        _intrinsic(intrinsic_on) if intrinsic_on is not None else dict.fromkeys(INTRINSIC)
    )
    scores = _finite_or_none(scores)
    main = MAIN_METRIC[task.kind]
    return {
        "task": task.name,
        "task_kind": task.kind,
        "model": model.label,
        "main_metric": main,
        "main_score": scores[main],
        "metrics": scores,
        "intrinsic": intrinsic,
        **extra,
        "notes": notes,
        "seconds": {
            "encode": round(t1 - t0, 3),
            "score": round(time.perf_counter() - t1, 3),
        },
    }


def _spearman(xs: Sequence[float | None], ys: Sequence[float | None]) -> dict[str, Any]:
    from scipy.stats import spearmanr

    pairs = [
        (float(x), float(y))
        for x, y in zip(xs, ys, strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    if len(pairs) < 3:
        return {"spearman": None, "rows": len(pairs), "note": "needs at least 3 rows"}
    a, b = zip(*pairs, strict=True)
    if len(set(a)) < 2 or len(set(b)) < 2:
        return {"spearman": None, "rows": len(pairs), "note": "a constant column"}
    return {"spearman": float(spearmanr(a, b).statistic), "rows": len(pairs)}


def correlations(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Spearman rank correlation of each intrinsic metric with the main score: over all rows,
    and within each task (across models). ``None`` with a note when undefined (< 3 rows)."""
    out: dict[str, Any] = {}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    for metric in INTRINSIC:
        out[metric] = {
            "all_rows": _spearman(
                [r["intrinsic"][metric] for r in rows], [r["main_score"] for r in rows]
            ),
            "per_task": {
                t: _spearman(
                    [r["intrinsic"][metric] for r in rows if r["task"] == t],
                    [r["main_score"] for r in rows if r["task"] == t],
                )
                for t in tasks
            },
        }
    return out


def _unique_labels(labels: list[str], fallbacks: list[str]) -> list[str]:
    if len(set(labels)) == len(labels):
        return labels
    return fallbacks if len(set(fallbacks)) == len(fallbacks) else [*map(str, range(len(labels)))]


@dataclass(kw_only=True)
class EvaluateResult(Result):
    """The leaderboard :func:`evaluate` made; ``to_dict()`` is ``repspace evaluate --json``
    (without ``report``) and what the report is drawn from."""

    kind: str = field(default="evaluate", init=False)
    #: Each task: name, kind, path and its counts.
    tasks: list[dict[str, Any]]
    #: Each model: label, space, encoder, fingerprint, dim.
    models: list[dict[str, Any]]
    #: One per task × model, best first within a task: ``metrics``, ``main_score``,
    #: ``intrinsic`` (RankMe, IsoScore), ``rank``, ``notes``, ``seconds``.
    rows: list[dict[str, Any]]
    #: Models by mean main score: ``rank``, ``model``, ``mean_main_score``, ``tasks``.
    leaderboard: list[dict[str, Any]]
    #: Spearman of each intrinsic metric with the main score (see :func:`correlations`).
    correlation: dict[str, Any]
    #: Task kind -> the score it is ranked by.
    main_metric: dict[str, str]
    params: dict[str, Any]
    #: The vector cache: ``dir``, ``hits``, ``misses``.
    cache: dict[str, Any]
    seconds: float


def evaluate(
    tasks: Sequence[str | Path | Task],
    encoders: Sequence[str | Encoder] = (),
    spaces: Sequence[str | Path | Space] = (),
    *,
    retrievers: Sequence[str] = (),
    batch_size: int | None = None,
    cache: bool = True,
    folds: int = 5,
    knn_k: int = 10,
    seed: int = 0,
    progress: bool = True,
    verify: bool = True,
) -> EvaluateResult:
    """Score every task with every encoder, space and retriever (``bm25``,
    ``hybrid:ENCODER``); see the module docstring. The spaces' shards are checksum-verified
    first unless ``verify`` is False.

    ``tasks`` are paths (:func:`repspace.evaluation.tasks.load_task`) or loaded tasks. Returns an
    :class:`EvaluateResult`: ``tasks``, ``models``, ``rows`` (one per task × model: ``metrics``,
    ``main_score``, ``intrinsic``), ``leaderboard`` (models by mean main score), ``correlation``,
    ``params``, ``cache`` and ``seconds``.
    """
    start = time.perf_counter()
    if not tasks:
        raise RepspaceError("no task given: pass at least one task directory or file")
    if not encoders and not spaces and not retrievers:
        raise RepspaceError(
            "nothing to evaluate: pass --encoder SPEC, --space SPACE and/or --retriever NAME"
        )
    kinds = RetrievalTask | StsTask | ClassificationTask
    loaded = [t if isinstance(t, kinds) else load_task(t) for t in tasks]
    names = _unique_labels(
        [t.name for t in loaded], [str(t.path) if t.path else t.name for t in loaded]
    )
    for t, name in zip(loaded, names, strict=True):
        t.name = name
    models = [
        Model(e.spec, _encoder=e) if isinstance(e, Encoder) else Model(e, spec=e) for e in encoders
    ]
    opened = [open_space(s, verify=verify) for s in spaces]
    labels = _unique_labels([s.path.name for s in opened], [str(s.path) for s in opened])
    models += [Model(label, space=s) for label, s in zip(labels, opened, strict=True)]
    models += [Model.parse_retriever(r) for r in retrievers]
    if len({m.label for m in models}) != len(models):
        raise RepspaceError("the same encoder or space is given twice; give each once")
    if folds < 2:
        raise RepspaceError("--folds must be at least 2")
    vectors = VectorCache(
        cache_dir() / "evaluate" if cache else None, batch_size=batch_size, progress=progress
    )
    rows = [
        _evaluate_row(task, model, vectors, folds=folds, knn_k=knn_k, seed=seed)
        for model in models
        for task in loaded
    ]
    order = {t.name: i for i, t in enumerate(loaded)}
    rows.sort(key=lambda r: (order[r["task"]], -_num(r["main_score"])))
    for t in loaded:
        for rank, r in enumerate((r for r in rows if r["task"] == t.name), 1):
            r["rank"] = rank
    board = []
    for m in models:
        mine = {r["task"]: r["main_score"] for r in rows if r["model"] == m.label}
        finite = [v for v in mine.values() if v is not None and math.isfinite(v)]
        board.append(
            {
                "model": m.label,
                "mean_main_score": float(np.mean(finite)) if finite else None,
                "tasks": mine,
            }
        )
    board.sort(key=lambda b: -_num(b["mean_main_score"]))
    for rank, b in enumerate(board, 1):
        b["rank"] = rank
    return EvaluateResult(
        tasks=[t.describe() for t in loaded],
        models=[m.describe() for m in models],
        rows=rows,
        leaderboard=board,
        correlation=correlations(rows),
        main_metric=MAIN_METRIC,
        params={"folds": folds, "knn_k": knn_k, "seed": seed, "batch_size": batch_size},
        cache={
            "dir": str(vectors.root) if vectors.root else None,
            "hits": vectors.hits,
            "misses": vectors.misses,
        },
        seconds=round(time.perf_counter() - start, 3),
    )


def _num(v: float | None) -> float:
    return float(v) if v is not None and math.isfinite(v) else -math.inf


def metric_label(key: str) -> str:
    return METRIC_INFO.get(key, (key, ""))[0]


def report(result: EvaluateResult | Mapping[str, Any]) -> Any:
    """The HTML page of an :func:`evaluate` result (or its dict): leaderboard, bar chart, every
    row's scores and intrinsic metrics, the rank correlations."""
    import repspace.report as rp

    result = as_dict(result)

    tasks = [t["name"] for t in result["tasks"]]
    finite = [r["main_score"] for r in result["rows"] if _num(r["main_score"]) > -math.inf]
    page = rp.Report(
        "repspace evaluate",
        f"{len(tasks)} task(s) × {len(result['models'])} model(s); main score per task: "
        + ", ".join(f"{t['name']} {metric_label(MAIN_METRIC[t['kind']])}" for t in result["tasks"]),
    )
    page.add(
        "Leaderboard",
        rp.table(
            ["rank", "model", "mean main score", *tasks],
            [
                [b["rank"], b["model"], b["mean_main_score"], *(b["tasks"].get(t) for t in tasks)]
                for b in result["leaderboard"]
            ],
            numeric=list(range(2, 3 + len(tasks))),
        ),
        rp.figure(
            rp.bar_chart(
                {
                    t: {r["model"]: r["main_score"] for r in result["rows"] if r["task"] == t}
                    for t in tasks
                },
                y_label="main score",
                title="Main score per task",
                y_range=(min(0.0, *finite), 1.0),
            ),
            "Each task's main score per model (retrieval nDCG@10, STS Spearman, classification "
            "logistic-regression accuracy).",
        ),
        note="Models are ranked by the mean of their main scores over the tasks.",
    )
    for t in result["tasks"]:
        rows = [r for r in result["rows"] if r["task"] == t["name"]]
        keys = list(rows[0]["metrics"]) if rows else []
        page.add(
            f"Task {t['name']} ({t['kind']})",
            rp.table(
                ["rank", "model", *map(metric_label, keys), "RankMe", "IsoScore", "notes"],
                [
                    [
                        r["rank"],
                        r["model"],
                        *(r["metrics"][k] for k in keys),
                        r["intrinsic"]["rankme"],
                        r["intrinsic"]["isoscore"],
                        "; ".join(r["notes"]),
                    ]
                    for r in rows
                ],
                numeric=list(range(2, 4 + len(keys))),
            ),
            note=_task_note(t),
        )
    corr = result["correlation"]
    page.add(
        "Do the label-free metrics agree?",
        rp.table(
            ["intrinsic metric", "all rows", *tasks],
            [
                [
                    metric_label(m),
                    _corr_cell(corr[m]["all_rows"]),
                    *(_corr_cell(corr[m]["per_task"][t]) for t in tasks),
                ]
                for m in INTRINSIC
            ],
            numeric=list(range(1, 2 + len(tasks))),
        ),
        note="Spearman rank correlation between each intrinsic metric (on the task's document, "
        "sentence or text vectors) and the main score; over all rows, and per task across "
        "models. Undefined with fewer than 3 rows.",
    )
    page.add(
        "Metrics",
        rp.table(["metric", "what it measures"], [list(v) for v in METRIC_INFO.values()]),
    )
    return page


def _corr_cell(c: dict[str, Any]) -> Any:
    return c["spearman"] if c["spearman"] is not None else f"— ({c.get('note', '')})"


def _task_note(t: dict[str, Any]) -> str:
    if t["kind"] == "retrieval":
        skipped = t["skipped"]["total"]
        return (
            f"{t['documents']:,} documents, {t['queries']:,} queries"
            + (f"; {skipped:,} queries skipped ({t['skipped']['by_reason']})" if skipped else "")
            + "."
        )
    if t["kind"] == "sts":
        return f"{t['pairs']:,} pairs, {t['sentences']:,} distinct sentences."
    return f"{t['examples']:,} examples, classes {t['classes']}."


def write_report(result: EvaluateResult | Mapping[str, Any], path: str | Path) -> Path:
    return report(result).save(path)


__all__ = ["MAIN_METRIC", "EvaluateResult", "correlations", "evaluate", "report", "write_report"]
