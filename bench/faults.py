"""The crash campaign of the reliability issue: every writer command SIGKILLed at >= 20 seeded
moments (``--moments``), then run again; the result must equal a clean run's
(``tests/faults/harness.py``: bytes, JSON without run times, HNSW files by keys and vectors),
or, for training commands, be absent or complete and loadable after the kill and complete after
the rerun; nothing may be left beside the output. A command's campaign stops early when it has
used ``--budget`` seconds (the number done is reported).

Run from the repository root: ``.venv/bin/python bench/faults.py``; writes
``bench/results/faults.json`` (merged into ``reliability.json`` by ``bench/reliability.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, RESULTS, machine_info, write_result

sys.path[:0] = [str(REPO / "tests" / "faults"), str(REPO / "tests")]

from harness import Case, clean_run, crash, moments, run_time  # noqa: E402
from helpers import synthetic_docs, write_jsonl  # noqa: E402

MINILM = "st:all-MiniLM-L6-v2"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fixtures(root: Path) -> None:
    import repspace

    rows = [{**d, "title": f"title {i}"} for i, d in enumerate(synthetic_docs(4000, seed=2))]
    write_jsonl(root / "c.jsonl", rows)
    write_jsonl(root / "small.jsonl", rows[:300])
    repspace.encode(root / "c.jsonl", "hash:64", root / "space", progress=False, shard_size=500)
    repspace.encode(root / "c.jsonl", "hash:32", root / "space32", progress=False)
    repspace.compress(root / "space", "pca", [16], out=root / "map", curve=False)
    repspace.encode(root / "small.jsonl", MINILM, root / "minilm", progress=False)
    repspace.compress(root / "minilm", "pca", [64], out=root / "minilm-map", curve=False)
    np.save(root / "v.npy", np.random.default_rng(0).normal(size=(4000, 32)).astype(np.float32))
    (root / "ids.txt").write_text("".join(f"r{i}\n" for i in range(4000)))
    repspace.Migration.start(root / "space", "hash:48", root / "mig", sample=0.1, batch=400)


def _static(path: Path) -> None:
    from model2vec import StaticModel

    StaticModel.from_pretrained(str(path)).encode(["a loadable model"])


def _st(path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(str(path), device="cpu").encode(["a loadable model"])


def cases(root: Path) -> list[Case]:
    out = root / "out"
    r = str(root)

    def started(path: Path) -> None:
        shutil.copytree(root / "mig", path)

    return [
        Case("encode", ["encode", f"{r}/c.jsonl", "--encoder", "hash:64", "--out", str(out),
                        "--shard-size", "250", "-q"], out),
        Case("encode --engine ray", ["encode", f"{r}/c.jsonl", "--encoder", "hash:64", "--out",
                                     str(out), "--shard-size", "250", "-q", "--engine", "ray"],
             out),
        Case("import", ["import", f"{r}/v.npy", "--ids", f"{r}/ids.txt", "--out", str(out),
                        "--overwrite"], out),
        Case("index", ["index", f"{r}/space", "--out", str(out), "--overwrite", "-q"], out),
        Case("compress --apply", ["compress", f"{r}/space", "--map", f"{r}/map", "--apply",
                                  str(out), "--overwrite"], out),
        Case("compress --out", ["compress", f"{r}/space", "--method", "pca", "--dims", "16",
                                "--out", str(out), "--no-curve"], out),
        Case("align --out", ["align", f"{r}/space", f"{r}/space32", "--out", str(out)], out),
        Case("migrate start", ["migrate", "start", f"{r}/space", "hash:48", str(out),
                               "--sample", "0.1", "--batch", "400"], out),
        Case("migrate backfill", ["migrate", "backfill", str(out), "-q"], out, setup=started),
        Case("select", ["select", "--target", f"{r}/small.jsonl", "--pool", f"{r}/c.jsonl",
                        "-k", "200", "--min-tokens", "0", "--out", str(out), "--overwrite",
                        "-q"], out),
        Case("make-task", ["make-task", f"{r}/c.jsonl", "--kind", "title-body", "--out",
                           str(out), "--overwrite"], out),
        Case("export st", ["export", "st", "--encoder", MINILM, "--map", f"{r}/minilm-map",
                           "--out", str(out), "--overwrite"], out, training=True, check=_st),
        Case("distill", ["distill", "--teacher", MINILM, "--corpus", f"{r}/small.jsonl",
                         "--out", str(out), "--dims", "64", "--epochs", "1", "--overwrite"],
             out, training=True, check=_static),
        Case("adapt", ["adapt", "--encoder", MINILM, "--corpus", f"{r}/small.jsonl", "--out",
                       str(out), "--pairs", "title-body", "--max-pairs", "64", "--epochs", "1",
                       "--overwrite"], out, training=True, check=_st),
    ]  # fmt: skip


def campaign(case: Case, count: int, seed: int, budget: float) -> dict[str, Any]:
    started = time.monotonic()
    clean, _ = clean_run(case) if not case.training else ({}, run_time(case))
    seconds = run_time(case)  # warm: the kill moments span a run with its caches filled
    results = []
    for m in moments(seed, count, seconds):
        if time.monotonic() - started > budget:
            break
        results.append(crash(case, clean, m))
    return {
        "clean_seconds": round(seconds, 2),
        "crashes": len(results),
        "killed_mid_run": sum(r["killed"] for r in results),
        "survived": sum(r["ok"] for r in results),
        "stopped_by_budget": len(results) < count,
        "failures": [r for r in results if not r["ok"]],
        "campaign_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moments", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=900, help="seconds per command, at most")
    ap.add_argument("--only", nargs="*", default=None, help="command names to run")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "faults", "machine": machine_info(),
                              "params": vars(args), "commands": {}}  # fmt: skip
    previous = RESULTS / "faults.json"
    if args.only and previous.is_file():  # a partial run adds to (replaces) those commands
        result["commands"] = json.loads(previous.read_text())["commands"]
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        root = Path(tmp)
        log("fixtures")
        fixtures(root)
        for case in cases(root):
            if args.only and case.name not in args.only:
                continue
            log(f"{case.name}: {args.moments} kills")
            part = campaign(case, args.moments, args.seed, args.budget)
            result["commands"][case.name] = part
            log(f"{case.name}: {part['survived']}/{part['crashes']} survived "
                f"({part['killed_mid_run']} killed mid-run)")  # fmt: skip
            write_result("faults", result)
    total = result["commands"].values()
    result["summary"] = {
        "commands": len(result["commands"]),
        "crashes": sum(p["crashes"] for p in total),
        "survived": sum(p["survived"] for p in total),
        "data_lost_or_wrong": sum(p["crashes"] - p["survived"] for p in total),
    }
    result["seconds_total_this_run"] = round(time.perf_counter() - started, 1)
    write_result("faults", result)
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
