"""The distill benchmark: a static student of ``st:all-MiniLM-L6-v2`` trained on 50k documents,
next to the teacher and to model2vec's plain (data-free) distillation, all measured in one run.

Training corpus (disjoint from the evaluation sets): sentences of the docstrings of the Python
standard library and of the packages installed next to repspace (read with ``ast`` from the
source files, no imports; files over 256 KB and test directories skipped), split with
``repspace.evaluation.generators.sentences``, 5 to 60 words, mostly letters, deduplicated, and
a seeded sample of 50,000. Built once into the work directory (its time is reported apart).

The student is ``repspace.distill``'s default (cosine loss, shared linear head folded into the
table, Matryoshka prefixes, 4 epochs); the corpus is encoded for the training targets with the
teacher's ONNX backend (same weights, cosine 1.0 to torch, faster on short texts on this shared
machine; ``--teacher-backend torch`` for the torch path); the evaluation teacher is torch.
``--keep-cache`` (dev runs only) reuses the cached teacher vectors and base model.

Evaluation: STS Spearman on ``sts-sample.jsonl``; title -> abstract nDCG@10 on ``papers.jsonl``
(``make-task --kind title-body``); the asymmetric mode (student queries against teacher-encoded
abstracts, with ``--align-to-teacher``); encode throughput on the 400 abstracts; the distill
time per phase with an empty cache. The model2vec baseline is model2vec's default distillation
(PCA 256, Zipf SIF 1e-4, float16) of the same token forward pass: ``model2vec.distill``'s own
post-processing functions (``apply_pca``, ``compute_weights``, ``quantize_embeddings``) applied
to the raw token vectors our distillation cached, which is what ``distill()`` computes, without
a second forward pass of the whole vocabulary (timed apart in bench/evaluate.py: ~250 s).

Run from the repository root: ``.venv/bin/python bench/distill.py --data /work/shared/data``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import DEFAULT_DATA, REPO, machine_info, summarize, write_result

MINILM = "st:all-MiniLM-L6-v2"
N_DOCS = 50_000
MAX_FILE = 256 * 1024


def _docstrings(roots: list[Path]) -> Any:
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            if any(p in ("test", "tests") for p in f.parts) or f.stat().st_size > MAX_FILE:
                continue
            try:
                tree = ast.parse(f.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                ):
                    doc = ast.get_docstring(node)
                    if doc:
                        yield doc


def training_corpus(workdir: Path, n: int = N_DOCS, seed: int = 0) -> tuple[Path, dict[str, Any]]:
    """The first ``n`` of the shuffled docstring sentences (see the module docstring); the
    shuffled pool is built once into ``workdir``."""
    pool = workdir / "docstring-sentences.jsonl"
    record = workdir / "docstring-sentences.json"
    if not (pool.is_file() and record.is_file()):
        import repspace
        from repspace.evaluation.generators import sentences

        t0 = time.perf_counter()
        paths = sysconfig.get_paths()
        roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
        seen: set[str] = set()
        found: list[str] = []
        for doc in _docstrings(roots):
            for para in doc.split("\n\n"):
                text = " ".join(para.split())
                if not text or text.startswith((">>>", "..", ":", "-", "*", "=", "|")):
                    continue
                for s in sentences(text):
                    letters = sum(c.isalpha() for c in s)
                    long_enough = 5 <= len(s.split()) <= 60
                    if long_enough and letters > 0.7 * len(s.replace(" ", "")) and s not in seen:
                        seen.add(s)
                        found.append(s)
        random.Random(seed).shuffle(found)
        with open(pool, "w", encoding="utf-8") as f:
            for i, s in enumerate(found):
                f.write(json.dumps({"id": f"s{i}", "text": s}) + "\n")
        info = {
            "source": "docstring sentences of the Python stdlib and site-packages (ast), shuffled",
            "roots": [str(r) for r in roots],
            "sentences_found": len(found),
            "seconds_to_build": round(time.perf_counter() - t0, 1),
            "repspace": repspace.__version__,
        }
        record.write_text(json.dumps(info))
    info = json.loads(record.read_text())
    corpus = workdir / f"train-{n}.jsonl"
    with open(pool, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= n:
                break
            dst.write(line)
    return corpus, {**info, "documents": min(n, info["sentences_found"])}


def model2vec_baseline(base_dir: Path, out: Path) -> Path:
    """model2vec's default post-processing (PCA 256, Zipf SIF 1e-4, float16) of the raw token
    vectors, with model2vec's own functions: what ``model2vec.distill(MiniLM)`` returns."""
    from model2vec import StaticModel
    from model2vec.distill.inference import apply_pca, compute_weights
    from model2vec.quantization import DType, quantize_embeddings

    base = StaticModel.from_pretrained(str(base_dir), force_download=False)
    emb = np.asarray(base.embedding, dtype=np.float32)
    weights = compute_weights(len(emb), sif_coefficient=1e-4)
    emb = apply_pca(emb, 256) * weights[:, None]
    emb = quantize_embeddings(emb, DType.Float16)
    config = {**base.config, "apply_pca": 256, "sif_coefficient": 1e-4, "hidden_dim": 256}
    model = StaticModel(emb, base.tokenizer, config=config, normalize=True)
    model.save_pretrained(str(out))
    return out


def throughput(enc: Any, texts: list[str], min_seconds: float = 2.0) -> dict[str, Any]:
    """Docs/s of ``enc`` on ``texts`` (repeated until ``min_seconds`` passed, 3 rounds)."""
    from repspace.space.batching import encode_sorted

    rates = []
    for _ in range(3):
        done, t0 = 0, time.perf_counter()
        while True:
            encode_sorted(enc, texts, enc.default_batch_size)
            done += len(texts)
            if time.perf_counter() - t0 >= min_seconds:
                break
        rates.append(done / (time.perf_counter() - t0))
    return summarize(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="papers.jsonl, sts-sample")
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench" / "distill")
    ap.add_argument("--docs", type=int, default=N_DOCS)
    ap.add_argument("--corpus-only", action="store_true", help="Build the corpus and stop.")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument(
        "--teacher-backend",
        default="onnx",
        choices=["torch", "onnx"],
        help="Backend of the teacher encoding the training corpus (same weights; the "
        "evaluation teacher is always torch).",
    )
    ap.add_argument(
        "--keep-cache",
        action="store_true",
        help="Dev runs: reuse the cached teacher vectors and base model (the distill time is "
        "then not the empty-cache time the target asks for).",
    )
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = args.workdir / "cache"
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    os.environ["REPSPACE_CACHE"] = str(cache)

    import torch

    import repspace
    from repspace.encoders import load_encoder
    from repspace.evaluation.retrieval import retrieval_metrics
    from repspace.evaluation.sts import sts_scores
    from repspace.evaluation.tasks import load_task
    from repspace.fsio import cache_dir

    corpus, corpus_info = training_corpus(args.workdir, args.docs)
    if args.corpus_only:
        print(corpus_info)
        return
    load_start = os.getloadavg()

    student_dir = args.workdir / "student"
    aligned_dir = args.workdir / "student-aligned"
    common = {"epochs": args.epochs, "teacher_backend": args.teacher_backend, "overwrite": True}
    rec = repspace.distill(MINILM, corpus, student_dir, **common)
    rec_aligned = repspace.distill(MINILM, corpus, aligned_dir, align_to_teacher=True, **common)
    base_dir = next((cache_dir() / "distill" / "base").iterdir())
    m2v_dir = model2vec_baseline(base_dir, args.workdir / "m2v-baseline")

    repspace.make_task(
        args.data / "papers.jsonl",
        "title-body",
        args.workdir / "papers-title-abstract",
        text_field="abstract",
        overwrite=True,
    )
    papers = load_task(args.workdir / "papers-title-abstract")
    sts = load_task(args.data / "sts-sample.jsonl")
    models = {
        "teacher": load_encoder(MINILM),
        "student": load_encoder(f"static:{student_dir}"),
        "student_aligned": load_encoder(f"static:{aligned_dir}"),
        "model2vec": load_encoder(f"static:{m2v_dir}"),
    }
    sentences = sts.sentences()
    row = {s: i for i, s in enumerate(sentences)}
    abstracts = papers.doc_texts
    queries = list(papers.queries.values())
    vectors: dict[str, dict[str, np.ndarray]] = {}
    teacher_abstract_seconds = None
    for name, enc in models.items():
        t0 = time.perf_counter()
        docs = enc.encode(abstracts, batch_size=enc.default_batch_size)
        if name == "teacher":
            teacher_abstract_seconds = time.perf_counter() - t0
        vectors[name] = {
            "docs": docs,
            "queries": enc.encode(queries, batch_size=enc.default_batch_size),
            "sts": enc.encode(sentences, batch_size=enc.default_batch_size),
        }
    scores: dict[str, dict[str, float]] = {}
    for name, v in vectors.items():
        ret = retrieval_metrics(papers, v["queries"], v["docs"])["metrics"]
        st = sts_scores(
            v["sts"][[row[s] for s in sts.s1]], v["sts"][[row[s] for s in sts.s2]], sts.scores
        )
        scores[name] = {"sts_spearman": st["spearman"], "papers_ndcg@10": ret["ndcg@10"]}
    aligned_q = vectors["student_aligned"]["queries"]
    asym = retrieval_metrics(papers, aligned_q, vectors["teacher"]["docs"])
    scores["asymmetric"] = {"papers_ndcg@10": asym["metrics"]["ndcg@10"]}

    # Throughput on the abstracts: the teacher once (slow), the static models repeated.
    assert teacher_abstract_seconds is not None
    teacher_rate = len(abstracts) / teacher_abstract_seconds
    student_rate = throughput(models["student"], abstracts)
    m2v_rate = throughput(models["model2vec"], abstracts)
    speedup = student_rate["median"] / teacher_rate

    t, s, m = scores["teacher"], scores["student"], scores["model2vec"]
    sa = scores["student_aligned"]
    distill_seconds = rec.seconds["total"]
    goal_time = 15 * 60
    targets = [
        {
            "target": "student encode throughput / teacher's, on the 400 abstracts",
            "measured": round(speedup, 1),
            "goal": ">= 100",
            "pass": speedup >= 100,
        },
        {
            "target": "STS Spearman: student / teacher",
            "measured": round(s["sts_spearman"] / t["sts_spearman"], 4),
            "goal": ">= 0.95",
            "pass": s["sts_spearman"] >= 0.95 * t["sts_spearman"],
        },
        {
            "target": "STS Spearman: student - model2vec plain distillation",
            "measured": round(s["sts_spearman"] - m["sts_spearman"], 4),
            "goal": ">= 0.04",
            "pass": s["sts_spearman"] - m["sts_spearman"] >= 0.04,
        },
        {
            "target": "papers title->abstract nDCG@10: student - model2vec plain distillation",
            "measured": round(s["papers_ndcg@10"] - m["papers_ndcg@10"], 4),
            "goal": ">= 0.04",
            "pass": s["papers_ndcg@10"] - m["papers_ndcg@10"] >= 0.04,
        },
        {
            "target": "asymmetric nDCG@10 (aligned student queries vs teacher abstracts) / "
            "teacher-teacher",
            "measured": round(scores["asymmetric"]["papers_ndcg@10"] / t["papers_ndcg@10"], 4),
            "goal": ">= 0.90",
            "pass": scores["asymmetric"]["papers_ndcg@10"] >= 0.90 * t["papers_ndcg@10"],
        },
        {
            "target": f"distill time on {corpus_info['documents']:,} documents, empty cache (s)",
            "measured": round(distill_seconds, 1),
            "goal": f"<= {goal_time}",
            "pass": distill_seconds <= goal_time,
        },
    ]
    evaluation = {
        "sts-sample": {"main_metric": "spearman", "spearman": s["sts_spearman"]},
        "papers-title-abstract": {"main_metric": "ndcg@10", "ndcg@10": s["papers_ndcg@10"]},
    }
    from repspace.training.distillation import write_card

    write_card(student_dir, {**rec.to_dict(), "evaluation": evaluation})
    write_card(
        aligned_dir,
        {
            **rec_aligned.to_dict(),
            "evaluation": {
                "sts-sample": {"main_metric": "spearman", "spearman": sa["sts_spearman"]},
                "papers-title-abstract (student queries, teacher abstracts)": {
                    "main_metric": "ndcg@10",
                    "ndcg@10": scores["asymmetric"]["papers_ndcg@10"],
                },
            },
        },
    )
    payload = {
        "benchmark": "distill",
        "machine": {
            **machine_info(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": list(load_start),
        },
        "params": {
            "teacher": MINILM,
            "data": str(args.data),
            "training_corpus": corpus_info,
            "epochs": args.epochs,
            "teacher_backend_for_training_targets": args.teacher_backend,
            "dims": rec.dims,
            "domain_vocabulary": 0,
        },
        "scores": {k: {m: round(x, 4) for m, x in v.items()} for k, v in scores.items()},
        "throughput_docs_per_s": {
            "teacher": round(teacher_rate, 1),
            "student": student_rate,
            "model2vec": m2v_rate,
        },
        "distill": {
            "seconds": rec.seconds,
            "held_out_cosine": rec.held_out_cosine,
            "history": rec.history,
            "documents": rec.documents,
            "vocabulary": rec.vocabulary["size"],
        },
        "distill_aligned": {
            "seconds": rec_aligned.seconds,
            "held_out_cosine": rec_aligned.held_out_cosine,
            "history": rec_aligned.history,
        },
        "targets": targets,
    }
    path = write_result("distill", payload)
    for name, v in scores.items():
        print(f"{name:<16} {v}")
    print(f"throughput docs/s: teacher {teacher_rate:.1f}, student {student_rate['median']:.0f}")
    for tg in targets:
        verdict = "PASS" if tg["pass"] else "FAIL"
        print(f"{verdict}  {tg['target']}: {tg['measured']} ({tg['goal']})")
    print(f"seconds: {rec.seconds}; load average {os.getloadavg()}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
