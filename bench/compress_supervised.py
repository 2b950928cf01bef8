"""The Matryoshka-Adaptor's supervised stage on a small pair set: papers.jsonl title -> abstract
with ``st:all-MiniLM-L6-v2``, half the titles (200) as (query, positive abstract) training pairs,
the other half held out. Reports the held-out share of full-dimension nDCG@10 (all 400 abstracts
searched) for the unsupervised adaptor and the supervised one (its ranking stage early-stopped on
held-out pairs), at each prefix. Embeddings come from ``bench/align.py``'s cache.

Run from the repository root: ``.venv/bin/python bench/compress_supervised.py``; writes
``bench/results/compress-supervised.json``.
"""

from __future__ import annotations

import numpy as np

from _common import DEFAULT_DATA, machine_info, write_result
from align import WORK, Cache, make_tasks, ndcg
from evaluate import MINILM
from repspace.evaluation.retrieval import build_task
from repspace.maps.matryoshka import MatryoshkaAdaptor

DIMS = (32, 64, 128, 384)


def main() -> None:
    task = make_tasks(DEFAULT_DATA, 100_000)["papers"]
    enc = Cache(WORK / "emb", "minilm", MINILM)
    docs = enc(task.doc_texts)
    qids = list(task.queries)
    order = np.random.default_rng(0).permutation(len(qids))
    train = [qids[i] for i in order[: len(qids) // 2]]
    held = [qids[i] for i in order[len(qids) // 2 :]]
    held_task = build_task(
        "papers-held-out", task.corpus, {q: task.queries[q] for q in held},
        {q: task.qrels[q] for q in held},
    )  # fmt: skip
    q_held = enc([task.queries[q] for q in held])
    q_train = enc([task.queries[q] for q in train])
    positives = docs[[task.doc_ids.index(next(iter(task.qrels[q]))) for q in train]]
    full = ndcg(held_task, q_held, docs)
    rows = {}
    for name, pairs in (("unsupervised", None), ("supervised", (q_train, positives))):
        m = MatryoshkaAdaptor(dim=384).fit(docs, pairs=pairs)
        d, q = m.transform(docs), m.transform(q_held)
        rows[name] = {str(k): round(ndcg(held_task, q[:, :k], d[:, :k]) / full, 4) for k in DIMS}
        if pairs is not None:
            rows[name]["best_step"] = m.supervised_best_step_
        print(name, rows[name], flush=True)
    write_result("compress-supervised", {
        "benchmark": "compress-supervised",
        "machine": machine_info(),
        "task": "papers title -> abstract, 200 training pairs, 200 held-out titles",
        "full_ndcg10_held_out": round(full, 4),
        "share_of_full_ndcg10_held_out": rows,
    })  # fmt: skip


if __name__ == "__main__":
    main()
