"""Benchmark: NEW queries mapped into the OLD space (a migration without re-embedding first).

Pairs (OLD -> NEW, as a user upgrades): a model2vec distillation of MiniLM (``bench/evaluate.py``'s
``distilled_model``) -> ``st:all-MiniLM-L6-v2``; MiniLM -> ``all-mpnet-base-v2`` (reassembled from
PyPI into ``build/models``, ``_common.mpnet_model``); ``hash:384`` -> MiniLM; and, as an extra
row, the reverse MiniLM -> model2vec. Tasks: papers.jsonl title -> abstract (400 docs), and two
second corpora: STS paraphrases (``sts-sample.jsonl``: s1 of the 179 pairs scored >= 4 retrieves
its s2 among all 864 s2) and the stdlib corpus (qualified name -> docstring summary, all 6,606
documented objects by default; ``--stdlib-docs 2000`` is the sample earlier runs used).

As ``repspace migrate plan`` does: anchors are a seeded sample of a task's documents (their OLD
vectors are the stored ones, their NEW vectors re-embedded); ``+sentences`` (the library default)
adds the sentences of the sampled multi-sentence documents, embedded with both models;
``+generic`` adds general text that costs nothing from the user's corpus (the *other* task
corpora's texts, capped at ``--generic`` texts), embedded with both models (``--extra-anchors``).
A Procrustes map NEW -> OLD is fitted on the anchors; NEW queries mapped into OLD are searched
among the OLD document vectors; target: nDCG@10 >= 95% of OLD -> OLD with 10% of the documents,
judged on the mean over ``--samples`` seeded anchor samples (40 papers are too few for one
sample to speak for all: their retained share ranges over ~0.1).
Embeddings are cached per text in ``build/bench/align/emb`` (resumable; mpnet on 2 shared cores is
slow), so only the texts a configuration needs are ever embedded with NEW.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

import repspace
from _common import DEFAULT_DATA, REPO, machine_info, mpnet_model, write_result
from compress import stdlib_corpus
from evaluate import MINILM, distilled_model
from repspace.corpus import Record
from repspace.encoders import load_encoder
from repspace.evaluation.retrieval import build_task, retrieval_metrics
from repspace.evaluation.tasks import load_task
from repspace.maps.migration import sentence_anchors
from repspace.maps.registry import make_map
from repspace.space.batching import encode_sorted

FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
GOAL = 0.95
WORK = REPO / "build" / "bench" / "align"


class Cache:
    """Vectors per (encoder, text), stored as .npy shards plus a JSON list of text digests."""

    def __init__(self, root: Path, name: str, spec: str):
        self.spec = spec
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.vec: dict[str, np.ndarray] = {}
        self.enc = None
        for meta in sorted(self.dir.glob("*.json")):
            keys = json.loads(meta.read_text())
            mat = np.load(meta.with_suffix(".npy"), allow_pickle=False)
            self.vec.update(zip(keys, mat, strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def __call__(self, texts: list[str], chunk: int = 64) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.vec))
        for s in range(0, len(missing), chunk):
            if self.enc is None:
                self.enc = load_encoder(self.spec)
            part = missing[s : s + chunk]
            mat = encode_sorted(self.enc, part, self.enc.default_batch_size)
            keys = [self.key(t) for t in part]
            stem = self.dir / f"{len(list(self.dir.glob('*.json'))):06d}-{keys[0][:8]}"
            np.save(stem.with_suffix(".npy"), mat, allow_pickle=False)
            stem.with_suffix(".json").write_text(json.dumps(keys))
            self.vec.update(zip(keys, mat, strict=True))
            print(f"  {self.spec}: {min(s + chunk, len(missing))}/{len(missing)}", flush=True)
        if not texts:
            dim = len(next(iter(self.vec.values()))) if self.vec else 1
            return np.zeros((0, dim), np.float32)
        return np.stack([self.vec[self.key(t)] for t in texts])


def make_tasks(data: Path, stdlib_docs: int) -> dict:
    tasks = {}
    p = WORK / "papers-task"
    if not (p / "task.json").is_file():
        repspace.make_task(data / "papers.jsonl", "title-body", p, text_field="abstract",
                           overwrite=True)  # fmt: skip
    tasks["papers"] = load_task(p)
    lines = (data / "sts-sample.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    corpus = [Record(f"s{i}", r["s2"], {}) for i, r in enumerate(rows)]
    queries = {f"q{i}": r["s1"] for i, r in enumerate(rows) if r["score"] >= 4.0}
    tasks["sts"] = build_task(
        "sts-paraphrase", corpus, queries, {q: {"s" + q[1:]: 1} for q in queries}
    )
    s = WORK / f"stdlib-{stdlib_docs}-task"
    if not (s / "task.json").is_file():
        c = stdlib_corpus(WORK / f"stdlib-{stdlib_docs}.jsonl", stdlib_docs)
        repspace.make_task(c, "title-body", s, overwrite=True)
    tasks["stdlib"] = load_task(s)
    return tasks


def generic_texts(tasks: dict, exclude: str, cap: int) -> list[str]:
    """General text from the corpora other than ``exclude``: their documents, queries and
    sentences, interleaved and capped at ``cap`` (seeded shuffle)."""
    pool: list[str] = []
    for name, t in tasks.items():
        if name == exclude:
            continue
        pool += t.doc_texts + list(t.queries.values()) + sentence_anchors(t.doc_texts)[0]
    pool = list(dict.fromkeys(pool))
    rng = np.random.default_rng(1)
    return [pool[i] for i in rng.permutation(len(pool))[:cap]]


def ndcg(task, q: np.ndarray, d: np.ndarray) -> float:
    return float(retrieval_metrics(task, q, d)["metrics"]["ndcg@10"])


class Setup:
    """One task's texts; anchor samples are seeded permutations of its documents (sample 0 is
    the one the curves use)."""

    def __init__(self, name: str, task, generic: list[str]):
        self.name, self.task, self.generic = name, task, generic
        self.docs = task.doc_texts
        self.queries = list(task.queries.values())
        self.n = len(self.docs)
        self._anchors: dict[tuple[int, int], tuple[list[str], list[str]]] = {}

    def k(self, fraction: float) -> int:
        return max(2, round(fraction * self.n))

    def rows(self, k: int, sample: int = 0) -> np.ndarray:
        return np.random.default_rng(sample).permutation(self.n)[:k]

    def anchor_texts(self, k: int, sample: int = 0) -> tuple[list[str], list[str]]:
        """The sampled documents and their sentences (kept: embedding and every evaluation ask
        for the same samples again)."""
        if (k, sample) not in self._anchors:
            docs = [self.docs[i] for i in self.rows(k, sample)]
            self._anchors[k, sample] = (docs, sentence_anchors(docs)[0])
        return self._anchors[k, sample]


def fit_score(s: Setup, old: Cache, new: Cache, base: float, xs: list[list[str]],
              old_docs: np.ndarray, q_new: np.ndarray, rows: np.ndarray) -> dict:  # fmt: skip
    """Procrustes NEW->OLD on anchors: the documents ``rows`` (OLD = stored vectors) plus the
    texts in ``xs`` embedded by both; retained nDCG@10 of mapped NEW queries."""
    texts = [t for group in xs for t in group]
    docs = [s.docs[i] for i in rows]
    x = [new(docs), new(texts)] if texts else [new(docs)]
    y = [old_docs[rows], old(texts)] if texts else [old_docs[rows]]
    m = make_map("procrustes").fit(np.concatenate(x), np.concatenate(y))
    nd = ndcg(s.task, m.transform(q_new), old_docs)
    return {"documents": len(rows), "anchor_pairs": len(rows) + len(texts),
            "ndcg10": round(nd, 4), "retained": round(nd / base, 4)}  # fmt: skip


def evaluate_pair(s: Setup, old: Cache, new: Cache, max_fraction: float, native: bool,
                  generic: list[str], samples: int) -> dict:  # fmt: skip
    """Curves (documents, documents+sentences), the 10% point over ``samples`` anchor samples
    (with and without generic anchors), and other methods at 10%."""
    old_docs, q_old, q_new = old(s.docs), old(s.queries), new(s.queries)
    base = ndcg(s.task, q_old, old_docs)
    res: dict = {"old_old_ndcg10": round(base, 4)}
    res["new_new_ndcg10"] = round(ndcg(s.task, q_new, new(s.docs)), 4) if native else None
    for variant in ("documents", "documents+sentences"):
        curve = []
        for f in FRACTIONS:
            if f > max_fraction + 1e-9:
                continue
            k = s.k(f)
            sents = s.anchor_texts(k)[1] if variant.endswith("sentences") else []
            row = fit_score(s, old, new, base, [sents], old_docs, q_new, s.rows(k))
            curve.append({"fraction": f, **row})
        res[variant] = curve
        hit = [c for c in curve if c["retained"] >= GOAL]
        res[f"{variant}: fraction reaching {GOAL}"] = hit[0]["fraction"] if hit else None
    k = s.k(0.1)
    res["generic anchor texts"] = len(generic)
    for label, extra in (("documents+sentences", []), ("documents+sentences+generic", generic)):
        runs = [fit_score(s, old, new, base, [s.anchor_texts(k, i)[1], extra], old_docs, q_new,
                          s.rows(k, i)) for i in range(samples)]  # fmt: skip
        kept = [r["retained"] for r in runs]
        res[f"{label}@10%"] = {
            "documents": k,
            "samples": samples,
            "mean_anchor_pairs": float(np.mean([r["anchor_pairs"] for r in runs])),
            "retained_mean": round(float(np.mean(kept)), 4),
            "retained_min": min(kept),
            "retained_max": max(kept),
            "retained": kept,
        }
    docs, sents = s.anchor_texts(k)
    x = np.concatenate([new(docs), new(sents)])
    y = np.concatenate([old_docs[s.rows(k)], old(sents)])
    methods = {"procrustes (centred)": round(
        ndcg(s.task, make_map("procrustes", center=True).fit(x, y).transform(q_new), old_docs)
        / base, 4)}  # fmt: skip
    for name in ("linear", "relative"):  # procrustes (uncentred, the default) is the curve
        m = make_map(name).fit(x, y)
        d = m.transform_target(old_docs) if name == "relative" else old_docs
        methods[name] = round(ndcg(s.task, m.transform(q_new), d) / base, 4)
    res["other methods@10% documents+sentences, sample 0 (retained)"] = methods
    res["generic only"] = fit_score(s, old, new, base, [generic], old_docs, q_new,
                                    np.zeros(0, np.int64))  # fmt: skip
    return res


def embed_needed(setups: dict, caches: dict, pairs: list, limits: dict, samples: int) -> None:
    """Embed what the pairs need, most important first (so a slow NEW model has the 10% rows
    before the curve's larger fractions and the generic anchors)."""
    for s in setups.values():
        for c in {pair[0] for pair in pairs}:
            caches[c](s.docs)
    stages = [
        lambda s, lim: s.queries + [t for g in s.anchor_texts(s.k(0.1)) for t in g],
        lambda s, lim: [t for g in s.anchor_texts(s.k(lim["max_fraction"])) for t in g],
        lambda s, lim: s.generic[: lim["generic"]],
        lambda s, lim: [
            t for i in range(1, samples) for g in s.anchor_texts(s.k(0.1), i) for t in g
        ],
    ]
    for stage in stages:
        for old, new in pairs:
            lim = limits[new]
            for tn, s in setups.items():
                if tn in lim["tasks"]:
                    for c in (old, new):
                        caches[c](stage(s, lim))


def plan_check(data: Path, m2v_spec: str, extra: list[str] | None = None) -> dict:
    """The library path end to end: ``repspace.maps.migration.plan`` on a papers space encoded with
    the model2vec OLD, NEW = MiniLM, 10% sample (sentences on by default), title -> abstract
    task, optionally ``extra_anchors``; its own sample (``seed=0``) differs from the curves'."""
    space = WORK / "papers-m2v-space"
    task = WORK / "papers-task"
    if not (space / "manifest.json").is_file():
        repspace.encode(task / "corpus.jsonl", m2v_spec, space, id_field="_id", overwrite=True,
                        progress=False)  # fmt: skip
    return repspace.maps.migration.plan(
        space, MINILM, task=task, sample=0.1, extra_anchors=extra
    ).to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--stdlib-docs", type=int, default=100_000, help="stdlib sample (default: all)")
    ap.add_argument("--generic", type=int, default=2000, help="generic anchor texts (cap)")
    ap.add_argument(
        "--mpnet-max-fraction",
        type=float,
        default=0.5,
        help="largest anchor fraction for the mpnet pair (mpnet is slow on CPU)",
    )
    ap.add_argument("--mpnet-tasks", default="papers,sts,stdlib", help="tasks for the mpnet pair")
    ap.add_argument("--mpnet-generic", type=int, default=2000, help="generic texts, mpnet pair")
    ap.add_argument("--no-mpnet", action="store_true")
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--no-plan-check", action="store_true")
    ap.add_argument("--samples", type=int, default=10, help="anchor samples at 10%% (mean, range)")
    args = ap.parse_args()  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    m2v_dir, _ = distilled_model(REPO / "build" / "bench" / "evaluate")
    specs = {"m2v": f"static:{m2v_dir}", "minilm": MINILM, "hash": "hash:384"}
    pairs = [("m2v", "minilm"), ("hash", "minilm"), ("minilm", "m2v")]
    if not args.no_mpnet:
        specs["mpnet"] = f"st:{mpnet_model()}"
        pairs.insert(1, ("minilm", "mpnet"))
    caches = {n: Cache(WORK / "emb", n, spec) for n, spec in specs.items()}
    tasks = make_tasks(args.data, args.stdlib_docs)
    setups = {n: Setup(n, t, generic_texts(tasks, n, args.generic)) for n, t in tasks.items()}
    full = {"tasks": list(setups), "max_fraction": 0.5, "generic": args.generic}
    limits = {n: full for n in specs}
    limits["mpnet"] = {
        "tasks": args.mpnet_tasks.split(","),
        "max_fraction": args.mpnet_max_fraction,
        "generic": args.mpnet_generic,
    }
    embed_needed(setups, caches, pairs, limits, args.samples)
    if args.embed_only:
        return
    results, targets = {}, []
    for old, new in pairs:
        key = f"{old}->{new}"
        results[key] = {}
        lim = limits[new]
        for tn, s in setups.items():
            if tn not in lim["tasks"]:
                continue
            gen = s.generic[: lim["generic"]]
            r = evaluate_pair(s, caches[old], caches[new], lim["max_fraction"],
                              native=new != "mpnet", generic=gen, samples=args.samples)  # fmt: skip
            results[key][tn] = r
            extra = " (extra row: a downgrade)" if (old, new) == ("minilm", "m2v") else ""
            for label in ("documents+sentences", "documents+sentences+generic"):
                row = r[f"{label}@10%"]
                targets.append({
                    "target": f"{tn}: OLD={old} NEW={new}, 10% of documents "
                    f"({row['documents']}) as anchors, {label} (~{row['mean_anchor_pairs']:.0f} "
                    f"pairs), mean of {row['samples']} anchor samples: mapped NEW queries "
                    f"retain >= {GOAL:.0%} of OLD->OLD nDCG@10{extra}",
                    "measured": row["retained_mean"],
                    "range": [row["retained_min"], row["retained_max"]],
                    "goal": GOAL, "pass": row["retained_mean"] >= GOAL,
                })  # fmt: skip
                print(key, tn, label, row["retained_mean"], flush=True)
    plan = {}
    if not args.no_plan_check:
        for label, extra_texts in (
            ("sentences", None),
            ("sentences+generic", setups["papers"].generic),
        ):
            p = plan[label] = plan_check(args.data, specs["m2v"], extra_texts)
            targets.append({
                "target": "library path: `migrate plan` (papers, OLD=m2v NEW=minilm, --sample 0.1, "
                f"{p['anchors']}) retains >= {GOAL:.0%}",
                "measured": round(p["retained"], 4), "goal": GOAL, "pass": p["retained"] >= GOAL,
            })  # fmt: skip
    write_result("align", {
        "machine": machine_info(),
        "encoders": specs | {"m2v": "model2vec.distill of all-MiniLM-L6-v2 (bench/evaluate.py)"},
        "method": "procrustes, uncentred (migrate's default), NEW -> OLD",
        "anchors": {
            "documents": "a seeded sample of the task's documents (first k of one permutation)",
            "documents+sentences": "plus those documents' sentences, embedded by both models "
            "(migrate plan/start default)",
            "generic": f"plus {args.generic} texts of the other corpora ({args.mpnet_generic} "
            "for the mpnet pair), embedded by both models (--extra-anchors); "
            "corpus-independent, costs nothing from the user's corpus",
        },
        "limits": {k: limits[k] for k in sorted({new for _, new in pairs})},
        "targets": targets,
        "results": results,
        "migrate_plan": plan,
    })  # fmt: skip


if __name__ == "__main__":
    main()
