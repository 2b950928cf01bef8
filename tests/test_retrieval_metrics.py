"""Retrieval scoring equals trec_eval (pytrec_eval) on the same run; search is exact."""

from __future__ import annotations

import random

import numpy as np
import pytest

from repspace import kernels
from repspace.errors import RepspaceError
from repspace.evaluation.retrieval import (
    DEFAULT,
    build_task,
    make_run,
    parse_metric,
    retrieval_metrics,
    score_queries,
    score_run,
)
from repspace.kernels import cosine_search as search

pytrec_eval = pytest.importorskip("pytrec_eval")


def trec_reference(qrels: dict, run: dict) -> dict[str, float]:
    """The default metrics from pytrec_eval: MRR@10 is recip_rank of the run cut at 10 (in
    trec_eval's own order: score, then document id, descending), as BEIR reports it."""
    measures = {"ndcg_cut.10", "recall.1,10,100", "map_cut.100"}
    per_q = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    cut = {
        q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10])
        for q, d in run.items()
    }
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    keys = {
        "ndcg@10": "ndcg_cut_10",
        "recall@1": "recall_1",
        "recall@10": "recall_10",
        "recall@100": "recall_100",
        "map@100": "map_cut_100",
    }
    out = {m: float(np.mean([v[k] for v in per_q.values()])) for m, k in keys.items()}
    out["mrr@10"] = float(np.mean([v["recip_rank"] for v in rr.values()]))
    return out


def random_run(seed: int, ties: bool) -> tuple[dict, dict]:
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(150):
        judged = {f"d{rng.randrange(400)}": rng.choice([-1, 0, 1, 1, 2, 3]) for _ in range(6)}
        if not any(v > 0 for v in judged.values()):
            judged[f"d{rng.randrange(400)}"] = 1
        qrels[f"q{q}"] = judged
        scores = [0.1, 0.2, 0.5] if ties else None
        run[f"q{q}"] = {
            f"d{rng.randrange(400)}": rng.choice(scores) if scores else rng.random()
            for _ in range(rng.randint(1, 160))
        }
    return qrels, run


@pytest.mark.parametrize("ties", [False, True])
def test_score_run_equals_pytrec_eval(ties: bool) -> None:
    qrels, run = random_run(1 + ties, ties)
    mine, ref = score_run(qrels, run), trec_reference(qrels, run)
    assert mine.keys() == ref.keys()
    for key in ref:
        assert mine[key] == pytest.approx(ref[key], abs=1e-12), key


def test_per_query_values_equal_pytrec_eval() -> None:
    qrels, run = random_run(7, ties=True)
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "P.5"}).evaluate(run)
    mine = score_queries(qrels, run, ["ndcg@10", "precision@5"])
    for q in ref:
        assert mine[q]["ndcg@10"] == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-12)
        assert mine[q]["precision@5"] == pytest.approx(ref[q]["P_5"], abs=1e-12)


def test_hand_computed_example() -> None:
    qrels = {"q": {"a": 2, "b": 1, "z": 1}}
    run = {"q": {"x": 0.9, "a": 0.8, "b": 0.8, "y": 0.1}}  # a/b tie: "b" first (id descending)
    got = score_run(qrels, run, ["mrr@10", "recall@1", "recall@10", "map@100", "ndcg@10"])
    assert got["mrr@10"] == 0.5 and got["recall@1"] == 0.0
    assert got["recall@10"] == pytest.approx(2 / 3)
    assert got["map@100"] == pytest.approx((1 / 2 + 2 / 3) / 3)
    dcg = 1 / np.log2(3) + 2 / np.log2(4)
    ideal = 2 + 1 / np.log2(3) + 1 / np.log2(4)
    assert got["ndcg@10"] == pytest.approx(dcg / ideal)
    assert np.isnan(score_run(qrels, {"other": {"a": 1.0}})["ndcg@10"])


def test_metric_names() -> None:
    assert parse_metric("nDCG@10") == ("ndcg", 10)
    for bad in ("ndcg", "hits@3", "ndcg@0", "map@x"):
        with pytest.raises(RepspaceError, match="unknown retrieval metric"):
            parse_metric(bad)


@pytest.mark.parametrize("block_cells", [1 << 24, 64])
def test_search_is_exact_in_any_blocking(monkeypatch: pytest.MonkeyPatch, block_cells: int) -> None:
    monkeypatch.setattr(kernels, "BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(0)
    q, d = rng.standard_normal((37, 12)), rng.standard_normal((301, 12)) * 5
    scores, idx = search(q, d, 20)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dn = d / np.linalg.norm(d, axis=1, keepdims=True)
    full = qn @ dn.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), atol=1e-5)
    assert search(q, d, 1000)[1].shape == (37, 301)  # k capped at the corpus size


def test_search_rejects_mismatched_dimensions() -> None:
    with pytest.raises(RepspaceError, match="encode both with the same encoder"):
        search(np.ones((2, 3)), np.ones((4, 5)), 2)
    with pytest.raises(RepspaceError, match="NaN"):
        search(np.full((1, 2), np.nan), np.ones((4, 2)), 2)


def test_retrieval_metrics_on_an_encoded_task_equal_pytrec_eval() -> None:
    from repspace import Record, load_encoder

    docs = [
        "the cat purrs on the sofa",
        "a dog barks at the postman",
        "fish swim in the ocean",
        "birds sing in the morning",
        "the stock market fell today",
    ]
    corpus = [Record(f"d{i}", t) for i, t in enumerate(docs)]
    queries = {"q0": "cat purring", "q1": "barking dog", "q2": "ocean fish", "q3": "market"}
    qrels = {"q0": {"d0": 1}, "q1": {"d1": 1, "d0": 0}, "q2": {"d2": 2, "d3": 1}, "q3": {"d4": 1}}
    task = build_task("toy", corpus, queries, qrels)
    enc = load_encoder("hash:64")
    qv, dv = enc.encode(list(queries.values())), enc.encode(docs)
    result = retrieval_metrics(task, qv, dv)
    assert result["queries"] == 4 and result["depth"] == 100
    scores, idx = search(qv, dv, 100)
    run = make_run(list(queries), task.doc_ids, scores, idx)
    ref = trec_reference(qrels, run)
    for key in DEFAULT:
        assert result["metrics"][key] == pytest.approx(ref[key], abs=1e-12)
    with pytest.raises(RepspaceError, match="one vector per query"):
        retrieval_metrics(task, qv[:2], dv)
