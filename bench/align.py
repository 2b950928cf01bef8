"""Benchmark: NEW queries mapped into the OLD space (migration without re-embedding).

OLD = ``st:all-MiniLM-L6-v2``; NEW = a model2vec distillation of it (``bench/evaluate.py``'s
``distilled_model``, cached in ``build/bench/evaluate``) and ``hash:384``. Tasks (title-body):
papers.jsonl title -> abstract (400 docs) and the stdlib demo corpus (qualified name ->
docstring summary, ``bench/compress.py``'s ``stdlib_corpus``). Maps NEW->OLD are fitted on
anchors = a fraction of the task documents (re-embedded with NEW), then NEW queries are mapped
into OLD and searched among the OLD document vectors; target: nDCG@10 >= 95% of OLD->OLD.
Also: anchors drawn from the *other* corpus (anchors need not be the evaluated documents).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import repspace
from _common import DEFAULT_DATA, REPO, machine_info, write_result
from compress import stdlib_corpus
from evaluate import MINILM, distilled_model
from repspace.encode import encode_sorted
from repspace.encoders import load_encoder
from repspace.maps.align import CLASSES
from repspace.metrics.retrieval import retrieval_metrics
from repspace.tasks import load_task

FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def enc_all(enc, texts):
    return encode_sorted(enc, texts, enc.default_batch_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench" / "evaluate")
    ap.add_argument("--stdlib-docs", type=int, default=2000)
    ap.add_argument("--methods", default="procrustes,linear")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    m2v_dir, _ = distilled_model(args.workdir)
    tasks = {}
    p = args.workdir / "papers-title-abstract"
    if not (p / "task.json").is_file():
        repspace.make_task(
            args.data / "papers.jsonl", "title-body", p, text_field="abstract", overwrite=True
        )
    tasks["papers"] = load_task(p)
    s = args.workdir.parent / "align" / "stdlib-task"
    if not (s / "task.json").is_file():
        corpus = stdlib_corpus(args.workdir.parent / "align" / "stdlib.jsonl", args.stdlib_docs)
        repspace.make_task(corpus, "title-body", s, overwrite=True)
    tasks["stdlib"] = load_task(s)
    old = load_encoder(MINILM)
    news = {"m2v": load_encoder(f"static:{m2v_dir}"), "hash:384": load_encoder("hash:384")}
    vecs = {}
    for tn, t in tasks.items():
        qs = list(t.queries.values())
        vecs[tn] = {"old_d": enc_all(old, t.doc_texts), "old_q": enc_all(old, qs)}
        for nn, ne in news.items():
            vecs[tn][nn + "_d"] = enc_all(ne, t.doc_texts)
            vecs[tn][nn + "_q"] = enc_all(ne, qs)
    results, targets = {}, []
    rng = np.random.default_rng(0)
    for tn, t in tasks.items():
        v = vecs[tn]
        base = retrieval_metrics(t, v["old_q"], v["old_d"])["metrics"]["ndcg@10"]
        res = {"old_old_ndcg10": base, "documents": len(t.corpus), "queries": len(t.queries)}
        n = len(t.corpus)
        perm = rng.permutation(n)
        other = "stdlib" if tn == "papers" else "papers"
        for nn in news:
            native = retrieval_metrics(t, v[nn + "_q"], v[nn + "_d"])["metrics"]["ndcg@10"]
            res[f"{nn}_native_ndcg10"] = native
            for meth in args.methods.split(","):
                curve = []
                for f in FRACTIONS:
                    k = max(round(f * n), 4)
                    rows = perm[:k]
                    m = CLASSES[meth]().fit(v[nn + "_d"][rows], v["old_d"][rows])
                    sc = retrieval_metrics(t, m.transform(v[nn + "_q"]), v["old_d"])["metrics"]
                    curve.append({"fraction": f, "anchors": k, "ndcg10": sc["ndcg@10"],
                                  "retained": sc["ndcg@10"] / base})  # fmt: skip
                res[f"{nn}/{meth}/curve"] = curve
                # anchors from the other corpus + 10% of this one
                ov = vecs[other]
                k = round(0.1 * n)
                Xa = np.concatenate([v[nn + "_d"][perm[:k]], ov[nn + "_d"]])
                Ya = np.concatenate([v["old_d"][perm[:k]], ov["old_d"]])
                m = CLASSES[meth]().fit(Xa, Ya)
                sc = retrieval_metrics(t, m.transform(v[nn + "_q"]), v["old_d"])["metrics"]
                res[f"{nn}/{meth}/10pct+other_corpus"] = {
                    "anchors": len(Xa),
                    "ndcg10": sc["ndcg@10"],
                    "retained": sc["ndcg@10"] / base,
                }
                at10 = next(c for c in curve if c["fraction"] == 0.1)
                if nn == "m2v":
                    targets.append({
                        "target": f"{tn}: m2v queries via {meth} (10% anchors = {at10['anchors']})"
                        " retain >= 95% of MiniLM->MiniLM nDCG@10",
                        "measured": round(at10["retained"], 4), "goal": 0.95,
                        "pass": at10["retained"] >= 0.95,
                    })  # fmt: skip
                    r2 = res[f"{nn}/{meth}/10pct+other_corpus"]
                    targets.append({
                        "target": f"{tn}: same with 10% + other corpus as anchors "
                        f"({r2['anchors']} anchors)",
                        "measured": round(r2["retained"], 4), "goal": 0.95,
                        "pass": r2["retained"] >= 0.95,
                    })  # fmt: skip
        results[tn] = res
    write_result("align", {"machine": machine_info(), "old": MINILM,
                           "new": ["static:m2v-minilm (model2vec.distill of MiniLM)", "hash:384"],
                           "targets": targets, "results": results})  # fmt: skip


if __name__ == "__main__":
    main()
