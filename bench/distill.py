"""The distill benchmark: a general-English static student of ``st:all-MiniLM-L6-v2``, next to
the teacher and model2vec's plain (data-free) distillation, all measured in one run.

Training corpora (disjoint from the evaluation sets; checked and printed):
- general: ``general-english.jsonl`` (231,408 sentences: Wikipedia, news, blogs, speeches, movie
  reviews, captions; sources and licenses in ``general-english-SOURCES.md``), weight 1;
- domain: 50,000 docstring sentences of the Python standard library and of the packages
  installed next to repspace (read with ``ast`` from the source files, no imports; files over
  256 KB and test directories skipped), split with ``repspace.evaluation.generators.sentences``,
  5 to 60 words, mostly letters, deduplicated, a seeded sample; weight 1. Built once into the
  work directory (its time is reported apart).
Leakage check: every sentence of STS-B (train, dev, the test sample) and every title and
abstract of ``papers.jsonl`` is looked up in the training texts under the general corpus's
dedup key (lower case, letters and digits only); the counts are recorded and must be 0.

The student is ``repspace.distill``'s default, with an empty cache (the whole time, teacher
encoding included, per phase). The teacher's backend for the training targets is the API's
``auto`` (ONNX Runtime: same weights); both backends' throughput on 2,000 training sentences is
measured and recorded, the evaluation teacher is torch. ``--keep-cache`` (dev runs only) reuses
the cached teacher vectors and base model.

Evaluation: STS Spearman on STS-B dev (``stsb-dev.jsonl``) and on ``sts-sample.jsonl``; title ->
abstract nDCG@10 on ``papers.jsonl`` (``make-task --kind title-body``); the asymmetric mode
(student queries against teacher-encoded abstracts, with ``--align-to-teacher``); encode
throughput on the 400 abstracts. The curve: the same recipe on seeded general-only samples of
10k, 50k, 100k and all 231k sentences (teacher vectors from the run's cache), STS-B dev each.
The model2vec baseline is model2vec's default distillation (PCA 256, Zipf SIF 1e-4, float16)
of the same token forward pass: ``model2vec.distill``'s own post-processing functions
(``apply_pca``, ``compute_weights``, ``quantize_embeddings``) applied to the raw token vectors
our distillation cached, which is what ``distill()`` computes, without a second forward pass
of the whole vocabulary (timed apart in bench/evaluate.py: ~250 s).

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


def _rows(path: Path) -> list[dict[str, Any]]:
    from repspace.fsio import read_jsonl

    return [obj for _, obj in read_jsonl(path)]


def _key(text: str) -> str:
    """The general corpus's dedup key: lower case, letters and digits only."""
    return "".join(c for c in text.lower() if c.isalnum())


def leakage(training: list[str], data: Path) -> dict[str, int]:
    """Evaluation texts found in the training texts (under :func:`_key`), per evaluation set."""
    seen = {_key(t) for t in training}
    found = {}
    for name in ("stsb-train", "stsb-dev", "sts-sample"):
        rows = _rows(data / f"{name}.jsonl")
        texts = {r[k] for r in rows for k in ("s1", "s2")}
        found[name] = sum(_key(t) in seen for t in texts)
    papers = _rows(data / "papers.jsonl")
    found["papers"] = sum(_key(p[k]) in seen for p in papers for k in ("title", "abstract"))
    return found


def backend_rates(texts: list[str]) -> dict[str, float]:
    """Teacher docs/s with each backend on ``texts`` (a warm-up batch first)."""
    from repspace.encoders import load_encoder
    from repspace.space.batching import encode_sorted

    rates = {}
    for backend in ("torch", "onnx"):
        enc = load_encoder(MINILM, backend=backend)
        enc.encode(texts[:64])
        t0 = time.perf_counter()
        encode_sorted(enc, texts, enc.default_batch_size)
        rates[backend] = round(len(texts) / (time.perf_counter() - t0), 1)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench" / "distill")
    ap.add_argument(
        "--general", type=Path, default=None, help="default: DATA/general-english.jsonl"
    )
    ap.add_argument("--domain-docs", type=int, default=N_DOCS)
    ap.add_argument("--curve", type=int, nargs="*", default=[10_000, 50_000, 100_000, 0])
    ap.add_argument("--epochs", type=int, default=4)
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
    from repspace.space.cache import VectorCache
    from repspace.training.distillation import MAX_TOKENS, base_model, fit_student, write_card

    general = args.general or args.data / "general-english.jsonl"
    domain, domain_info = training_corpus(args.workdir, args.domain_docs)
    general_rows = _rows(general)
    domain_texts = [r["text"] for r in _rows(domain)]
    leaks = leakage([r["text"] for r in general_rows] + domain_texts, args.data)
    print(f"evaluation texts found in the training texts: {leaks}")
    rates = backend_rates(domain_texts[:1000] + [r["text"] for r in general_rows[::231][:1000]])
    print(f"teacher docs/s on 2,000 training sentences: {rates}")
    load_start = os.getloadavg()

    student_dir = args.workdir / "student"
    aligned_dir = args.workdir / "student-aligned"
    corpora = [general, domain]
    common = {"epochs": args.epochs, "overwrite": True}
    rec = repspace.distill(MINILM, corpora, student_dir, **common)
    print(f"student: {rec.seconds}")
    rec_aligned = repspace.distill(MINILM, corpora, aligned_dir, align_to_teacher=True, **common)
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
    sts_tasks = {n: load_task(args.data / f"{n}.jsonl") for n in ("stsb-dev", "sts-sample")}
    abstracts = papers.doc_texts
    queries = list(papers.queries.values())

    def sts_of(enc: Any) -> dict[str, float]:
        out = {}
        for name, task in sts_tasks.items():
            a = enc.encode(task.s1, batch_size=enc.default_batch_size)
            b = enc.encode(task.s2, batch_size=enc.default_batch_size)
            out[name] = round(sts_scores(a, b, task.scores)["spearman"], 4)
        return out

    models = {
        "teacher": load_encoder(MINILM),
        "student": load_encoder(f"static:{student_dir}"),
        "student_aligned": load_encoder(f"static:{aligned_dir}"),
        "model2vec": load_encoder(f"static:{m2v_dir}"),
    }
    scores: dict[str, dict[str, float]] = {}
    docs: dict[str, np.ndarray] = {}
    qvec: dict[str, np.ndarray] = {}
    teacher_abstract_seconds = 0.0
    for name, enc in models.items():
        t0 = time.perf_counter()
        docs[name] = enc.encode(abstracts, batch_size=enc.default_batch_size)
        if name == "teacher":
            teacher_abstract_seconds = time.perf_counter() - t0
        qvec[name] = enc.encode(queries, batch_size=enc.default_batch_size)
        ndcg = retrieval_metrics(papers, qvec[name], docs[name])["metrics"]["ndcg@10"]
        scores[name] = {**sts_of(enc), "papers_ndcg@10": round(ndcg, 4)}
        print(f"{name:<16} {scores[name]}")
    asym = retrieval_metrics(papers, qvec["student_aligned"], docs["teacher"])["metrics"]
    scores["asymmetric"] = {"papers_ndcg@10": round(asym["ndcg@10"], 4)}

    # The curve: the default recipe on general-only samples (teacher vectors from the cache).
    from model2vec import StaticModel

    enc_onnx = load_encoder(MINILM, backend=rec.teacher["backend"])
    vc = VectorCache(cache_dir() / "distill", progress=False)
    g_ids, g_texts = [r["id"] for r in general_rows], [r["text"] for r in general_rows]
    g_vectors = np.asarray(vc.vectors(enc_onnx, g_ids, g_texts), dtype=np.float32)
    base = base_model(enc_onnx, [], progress=False)
    raw = np.asarray(base.embedding, dtype=np.float32)
    g_tokens = base.tokenize(g_texts, max_length=MAX_TOKENS)
    order = np.random.default_rng(0).permutation(len(g_texts))
    curve = []
    for n in args.curve:
        n = n or len(g_texts)
        pick = np.sort(order[:n])
        t0 = time.perf_counter()
        fit = fit_student(
            raw, [g_tokens[i] for i in pick], g_vectors[pick], dims=rec.dims, epochs=args.epochs
        )
        seconds = time.perf_counter() - t0
        model = StaticModel(fit.table, base.tokenizer, config=base.config, normalize=True)
        point = {"sentences": n, "training_seconds": round(seconds, 1)}
        for name, task in sts_tasks.items():
            a, b = model.encode(task.s1), model.encode(task.s2)
            point[name] = round(sts_scores(a, b, task.scores)["spearman"], 4)
        point["stsb-dev_ratio"] = round(point["stsb-dev"] / scores["teacher"]["stsb-dev"], 4)
        print(f"curve: {point}")
        curve.append(point)

    teacher_rate = len(abstracts) / teacher_abstract_seconds
    student_rate = throughput(models["student"], abstracts)
    m2v_rate = throughput(models["model2vec"], abstracts)
    speedup = student_rate["median"] / teacher_rate

    t, s, m = scores["teacher"], scores["student"], scores["model2vec"]
    distill_seconds = rec.seconds["total"]
    n_docs = sum(c["documents"] for c in rec.corpora)

    def target(name: str, measured: float, goal: str, ok: bool) -> dict[str, Any]:
        return {"target": name, "measured": round(measured, 4), "goal": goal, "pass": bool(ok)}

    targets = [
        target(
            "STS-B dev Spearman: student / teacher",
            s["stsb-dev"] / t["stsb-dev"],
            ">= 0.94",
            s["stsb-dev"] >= 0.94 * t["stsb-dev"],
        ),
        target(
            "STS-B dev Spearman: student - model2vec plain distillation",
            s["stsb-dev"] - m["stsb-dev"],
            ">= 0.05",
            s["stsb-dev"] - m["stsb-dev"] >= 0.05,
        ),
        target(
            "papers title->abstract nDCG@10: student - model2vec plain distillation",
            s["papers_ndcg@10"] - m["papers_ndcg@10"],
            ">= 0.04",
            s["papers_ndcg@10"] - m["papers_ndcg@10"] >= 0.04,
        ),
        target(
            "asymmetric nDCG@10 (aligned student queries vs teacher abstracts) / teacher-teacher",
            scores["asymmetric"]["papers_ndcg@10"] / t["papers_ndcg@10"],
            ">= 0.90",
            scores["asymmetric"]["papers_ndcg@10"] >= 0.90 * t["papers_ndcg@10"],
        ),
        target(
            "student encode throughput / teacher's, on the 400 abstracts",
            speedup,
            ">= 100",
            speedup >= 100,
        ),
        target(
            f"distill time on {n_docs:,} sentences (general + domain), empty cache (s)",
            distill_seconds,
            "<= 1800",
            distill_seconds <= 1800,
        ),
        target(
            "evaluation texts (STS-B all splits, papers) in the training texts",
            sum(leaks.values()),
            "== 0",
            sum(leaks.values()) == 0,
        ),
    ]
    write_card(
        student_dir,
        {
            **rec.to_dict(),
            "evaluation": {
                "stsb-dev": {"main_metric": "spearman", "spearman": s["stsb-dev"]},
                "sts-sample": {"main_metric": "spearman", "spearman": s["sts-sample"]},
                "papers-title-abstract": {"main_metric": "ndcg@10", "ndcg@10": s["papers_ndcg@10"]},
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
            "corpora": {"general": str(general), "domain": domain_info},
            "epochs": args.epochs,
            "dims": rec.dims,
        },
        "leakage": leaks,
        "teacher_backend_docs_per_s": rates,
        "scores": scores,
        "curve": curve,
        "throughput_docs_per_s": {
            "teacher": round(teacher_rate, 1),
            "student": student_rate,
            "model2vec": m2v_rate,
        },
        "distill": {k: v for k, v in rec.to_dict().items() if k not in ("format",)},
        "distill_aligned": {
            "seconds": rec_aligned.seconds,
            "held_out_cosine": rec_aligned.held_out_cosine,
        },
        "targets": targets,
    }
    path = write_result("distill", payload)
    for tg in targets:
        verdict = "PASS" if tg["pass"] else "FAIL"
        print(f"{verdict}  {tg['target']}: {tg['measured']} ({tg['goal']})")
    print(f"seconds: {rec.seconds}; load average {os.getloadavg()}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
