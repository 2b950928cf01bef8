"""The adapt benchmark: ``st:all-MiniLM-L6-v2`` adapted to Python API documentation from
unlabeled documents, full fine-tune and LoRA, measured in one run.

Domain: documented Python objects, each a document with a title (its qualified name, dots and
underscores as spaces) and a text (the first paragraph of its docstring).

- Evaluation task: ``bench/compress.py``'s stdlib task, a seeded sample of 2,000 documented
  standard-library objects (``repspace.demo.stdlib_records``), name -> summary
  (``make-task --kind title-body``), 500 queries; MiniLM scores well below 0.85 nDCG@10 there.
- Training corpus (disjoint from the evaluation documents by id and by text): the other
  documented stdlib objects plus the public functions, classes and methods of the packages
  installed next to repspace (read with ``ast`` from the source files, no imports; test
  directories and files over 256 KB skipped), until ``--pairs`` pairs. Training uses only the
  documents' own structure (``--pairs title-body``): no labels, no queries.
- Replay (forgetting guard): title -> abstract pairs of ``papers.jsonl`` (400 scientific papers;
  general English, not STS data), ``--replay-ratio`` of every batch.
- General task: STS Spearman on ``sts-sample.jsonl`` before and after (never trained on).

Targets: nDCG@10 +10% relative with STS Spearman down by at most 0.01; LoRA >= 90% of the full
fine-tune's nDCG gain with <= 5% of the parameters trained; each 10k-pair adaptation <= 20 min
on 2 cores, time per phase reported (the machine is shared: see ``load_average``).

Run from the repository root:
``.venv/bin/python bench/adapt.py --data /work/shared/data``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import DEFAULT_DATA, REPO, machine_info, write_result
from compress import stdlib_corpus

MINILM = "st:all-MiniLM-L6-v2"
MAX_FILE = 256 * 1024


def _title(qualname: str) -> str:
    return qualname.replace(".", " ").replace("_", " ")


def site_packages_objects() -> Iterator[tuple[str, str]]:
    """(qualified name, docstring summary) of public functions, classes and methods in the
    installed packages, read with ``ast``."""
    from repspace.demo import _summary

    root = Path(sysconfig.get_paths()["purelib"])
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if (
            not parts
            or any(p.startswith("_") or p in ("test", "tests") or "." in p for p in parts)
            or f.stat().st_size > MAX_FILE
        ):
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        module = ".".join(parts)

        def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, str]]:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    if child.name.startswith("_"):
                        continue
                    name = f"{prefix}.{child.name}"
                    doc = ast.get_docstring(child)
                    if doc:
                        yield name, _summary(doc)
                    if isinstance(child, ast.ClassDef):
                        yield from walk(child, name)

        yield from walk(tree, module)


def build_data(work: Path, n_pairs: int, data: Path) -> dict[str, Any]:
    """The evaluation task, the training corpus and the replay file (kept in ``work``)."""
    from repspace.demo import stdlib_records
    from repspace.evaluation.generators import make_task

    t0 = time.perf_counter()
    eval_corpus = stdlib_corpus(work / "stdlib-2000.jsonl", 2000)
    task = work / "stdlib-task"
    if not (task / "task.json").is_file():
        make_task(eval_corpus, "title-body", task, overwrite=True, max_queries=500)
    eval_rows = [json.loads(line) for line in eval_corpus.read_text("utf-8").splitlines()]
    eval_ids = {r["id"] for r in eval_rows}
    eval_texts = {r["text"] for r in eval_rows}

    train = work / f"train-{n_pairs}.jsonl"
    info_file = work / f"train-{n_pairs}.json"
    if not info_file.is_file():
        rows: list[dict[str, str]] = []
        seen_text: set[str] = set(eval_texts)
        seen_id: set[str] = set(eval_ids)
        sources = {"stdlib": 0, "site-packages": 0}
        stdlib = [(r["id"], r["text"].split(": ", 1)[1]) for r in stdlib_records()]
        random.Random(1).shuffle(stdlib)
        site = site_packages_objects()  # lazily, in file order: read only if stdlib runs out
        for source, objects in (("stdlib", iter(stdlib)), ("site-packages", site)):
            for qualname, text in objects:
                if len(rows) >= n_pairs:
                    break
                if qualname in seen_id or text in seen_text or len(text.split()) < 3:
                    continue
                seen_id.add(qualname)
                seen_text.add(text)
                rows.append({"id": qualname, "title": _title(qualname), "text": text})
                sources[source] += 1
        with open(train, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        info_file.write_text(json.dumps({"documents": len(rows), "sources": sources}))
    replay = work / "replay-papers.jsonl"
    if not replay.is_file():
        with open(replay, "w", encoding="utf-8") as f:
            for line in (data / "papers.jsonl").read_text("utf-8").splitlines():
                p = json.loads(line)
                f.write(json.dumps({"anchor": p["title"], "positive": p["abstract"]}) + "\n")
    train_ids = {json.loads(line)["id"] for line in train.read_text("utf-8").splitlines()}
    return {
        "task": task,
        "train": train,
        "replay": replay,
        "train_info": json.loads(info_file.read_text()),
        "overlap_ids": len(train_ids & eval_ids),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def summarize_run(record: dict[str, Any], load: list[float] | None) -> dict[str, Any]:
    """The numbers of one adaptation, from its record (``adapt.json``)."""
    ev = record["evaluation"]
    return {
        "ndcg@10": {
            "before": ev["before"]["stdlib-task"]["ndcg@10"],
            "after": ev["after"]["stdlib-task"]["ndcg@10"],
        },
        "sts_spearman": {
            "before": ev["before"]["sts-sample"]["spearman"],
            "after": ev["after"]["sts-sample"]["spearman"],
        },
        "parameters": record["parameters"],
        "pairs": {k: v for k, v in record["pairs"].items() if k != "replay_file"},
        "steps": record["training"]["steps"],
        "lr": record["training"]["lr"],
        "loss_history": record["training"]["loss_history"],
        "seconds": record["seconds"],
        "seconds_per_step": round(record["seconds"]["training"] / record["training"]["steps"], 2),
        "load_average_after": load,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench-adapt")
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-seq-length", type=int, default=64)
    ap.add_argument("--replay-ratio", type=float, default=0.25)
    ap.add_argument("--full-lr", type=float, default=2e-5)
    ap.add_argument("--lora-lr", type=float, default=5e-4)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--methods", default="full,lora")
    ap.add_argument("--no-write", action="store_true", help="Print instead of writing results.")
    ap.add_argument("--note", default="", help="A note recorded with the result.")
    ap.add_argument(
        "--collect",
        action="store_true",
        help="Do not train: rebuild the result from the models' adapt.json in --workdir.",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from repspace.training.adaptation import adapt

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    d = build_data(work, args.pairs, args.data)
    sts = args.data / "sts-sample.jsonl"
    runs: dict[str, Any] = {}
    for method in args.methods.split(","):
        model_dir = work / f"model-{method}"
        if args.collect:
            if not (model_dir / "adapt.json").is_file():
                continue
            record = json.loads((model_dir / "adapt.json").read_text())
            runs[method] = summarize_run(record, None)
            continue
        print(f"adapting ({method}) ...", flush=True)
        record = adapt(
            MINILM,
            d["train"],
            model_dir,
            pairs="title-body",
            method=method,
            replay=d["replay"],
            replay_ratio=args.replay_ratio,
            evaluate_on=[d["task"], sts],
            batch_size=args.batch_size,
            max_seq_length=args.max_seq_length,
            lr=args.full_lr if method == "full" else args.lora_lr,
            lora_rank=args.lora_rank,
            lora_alpha=2 * args.lora_rank,
            checkpoint_every=100,
            overwrite=True,
            progress=False,
        )
        runs[method] = summarize_run(record.to_dict(), list(os.getloadavg()))
        print(json.dumps({k: v for k, v in runs[method].items() if k != "loss_history"}))

    targets = []
    if "full" in runs:
        f = runs["full"]
        rel = f["ndcg@10"]["after"] / f["ndcg@10"]["before"] - 1
        drop = f["sts_spearman"]["before"] - f["sts_spearman"]["after"]
        targets += [
            {"target": "MiniLM nDCG@10 on the domain task below 0.85",
             "measured": round(f["ndcg@10"]["before"], 4), "goal": "< 0.85",
             "pass": f["ndcg@10"]["before"] < 0.85},
            {"target": "full fine-tune: nDCG@10 relative gain",
             "measured": round(rel, 4), "goal": ">= 0.10", "pass": rel >= 0.10},
            {"target": "full fine-tune: STS Spearman drop",
             "measured": round(drop, 4), "goal": "<= 0.01", "pass": drop <= 0.01},
        ]  # fmt: skip
    if "lora" in runs:
        lo = runs["lora"]
        rel = lo["ndcg@10"]["after"] / lo["ndcg@10"]["before"] - 1
        drop = lo["sts_spearman"]["before"] - lo["sts_spearman"]["after"]
        targets += [
            {"target": "LoRA: nDCG@10 relative gain",
             "measured": round(rel, 4), "goal": ">= 0.10", "pass": rel >= 0.10},
            {"target": "LoRA: STS Spearman drop",
             "measured": round(drop, 4), "goal": "<= 0.01", "pass": drop <= 0.01},
            {"target": "LoRA: share of parameters trained",
             "measured": round(lo["parameters"]["share"], 4), "goal": "<= 0.05",
             "pass": lo["parameters"]["share"] <= 0.05},
        ]  # fmt: skip
        if "full" in runs:
            gain_f = runs["full"]["ndcg@10"]["after"] - runs["full"]["ndcg@10"]["before"]
            gain_l = lo["ndcg@10"]["after"] - lo["ndcg@10"]["before"]
            share = gain_l / gain_f if gain_f > 0 else float("nan")
            targets.append(
                {"target": "LoRA gain as a share of the full fine-tune's gain (nDCG@10)",
                 "measured": round(share, 4), "goal": ">= 0.90", "pass": share >= 0.90}
            )  # fmt: skip
    for method, r in runs.items():
        s = r["seconds"]
        minutes = (s["pairs"] + s["training"] + s["save"]) / 60
        n = r["pairs"]["domain"]
        per_batch = args.batch_size - r["pairs"]["replay_per_batch"]
        steps_10k = -(-10_000 // per_batch)
        projected = (s["pairs"] * 10_000 / n + r["seconds_per_step"] * steps_10k + s["save"]) / 60
        targets.append(
            {"target": f"{method}: minutes to adapt on {n:,} pairs (pairs + training + save; "
                       "evaluation apart)",
             "measured": round(minutes, 2), "goal": "(measured)", "pass": None}
        )  # fmt: skip
        targets.append(
            {"target": f"{method}: minutes to adapt on 10,000 pairs",
             "measured": round(projected, 2), "goal": "<= 20", "pass": projected <= 20,
             "basis": "measured" if n >= 10_000 else
                      f"projected from the {n:,}-pair run: its seconds per step x "
                      f"{steps_10k} steps, on the shared machine (load_average)"}
        )  # fmt: skip
    for method in args.methods.split(","):
        if method not in runs:
            targets.append(
                {"target": f"{method}: adaptation", "measured": None, "goal": "run",
                 "pass": None, "note": "not run to completion (see notes)"}
            )  # fmt: skip
    machine = machine_info()
    machine["torch_threads"] = torch.get_num_threads()
    payload = {
        "benchmark": "adapt",
        "machine": machine,
        "params": {
            "model": MINILM,
            "pairs_requested": args.pairs,
            "pair_kind": "title-body",
            "batch_size": args.batch_size,
            "max_seq_length": args.max_seq_length,
            "replay": "papers.jsonl title -> abstract (400 pairs)",
            "replay_ratio": args.replay_ratio,
            "full_lr": args.full_lr,
            "lora_lr": args.lora_lr,
            "lora_rank": args.lora_rank,
            "data": str(args.data),
            "training_corpus": d["train_info"],
            "train_eval_id_overlap": d["overlap_ids"],
            "data_build_seconds": d["seconds"],
        },
        "targets": targets,
        "notes": args.note,
        "runs": runs,
    }
    if args.no_write:
        print(json.dumps(payload["targets"], indent=1))
    else:
        print(write_result("adapt", payload))


if __name__ == "__main__":
    main()
