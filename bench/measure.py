"""Measuring spaces at scale: the targets of the inspect/compare issue, measured in one run.

1. ``inspect``: ``repspace inspect SPACE --json --report R.html`` (a subprocess, so the wall time
   includes start-up and the report, and ``wait4`` gives its peak RSS) on a synthetic
   100,000 × 768 float32 space that is anisotropic, clustered, not unit-norm (the slower path:
   a second Gram for the normalized rows) and has planted exact and near duplicates.
   Targets: <= 60 s wall, <= 4 GB peak RSS. The time of each stage (and the metrics it yields)
   comes from the command's own ``seconds``.
2. ``compare``: ``repspace compare A B --json --report R.html`` on two 20,000 × 768 spaces over
   the same ids (B: a rotated, noisy, partly nonlinear copy of A, rows in another order).
   Target: <= 60 s wall.
3. ``reference``: the same inputs through the reference packages, against repspace's function
   for the same metric: ``IsoScore.IsoScore`` (float64, as exact as ours) on the 100k matrix;
   ``ckatorch.cka_base`` linear and RBF CKA on a 4,000-row sample of the compare pair (its
   n × n Gram matrices do not fit in memory at 20k rows: 3.2 GB each), with the values'
   absolute differences. Sides alternate round by round.

Nothing is downloaded; the data are generated. Run from the repository root:
``.venv/bin/python bench/measure.py`` (``--help`` for options); writes
``bench/results/measure.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine_info, summarize, timed, write_result
from repspace import Space
from repspace.metrics.cka import linear_cka, rbf_cka
from repspace.metrics.spectrum import isoscore

#: Which metrics each stage of ``inspect`` computes (its ``seconds`` keys).
INSPECT_STAGES = {
    "validate_and_norms": "NaN/inf/zero checks, norms (all rows)",
    "moments": "one float64 pass: X^T X and U^T U (all rows)",
    "spectrum": "RankMe, IsoScore, PC shares, von Neumann entropy, mean cosine, rogue dims",
    "exact_duplicates": "exact duplicates, norm statistics (all rows)",
    "neighbours": "kNN on the sample: hubness, uniformity, TwoNN, MLE",
    "near_duplicates": "near-duplicates: sampled rows against all rows",
}


def synthetic(n: int, dim: int, seed: int) -> np.ndarray:
    """Embedding-like float32 vectors: a decaying spectrum under a random rotation, a common
    offset (anisotropy), 64 clusters, varied norms, 1% exact and 1% near duplicates."""
    rng = np.random.default_rng(seed)
    scales = (np.arange(1, dim + 1) ** -0.6).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= scales
    x = x @ rotation.astype(np.float32)
    centres = rng.standard_normal((64, dim), dtype=np.float32) * 0.15
    x += centres[rng.integers(0, 64, n)]
    x += rng.standard_normal(dim, dtype=np.float32) * 0.2  # common direction
    x *= rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    k = n // 100
    src, dst = rng.choice(n, k, replace=False), rng.choice(n, 2 * k, replace=False)
    x[dst[:k]] = x[src]
    x[dst[k:]] = x[src] + rng.standard_normal((k, dim), dtype=np.float32) * 1e-3
    return x


def run_cli(args: list[str]) -> dict[str, Any]:
    """Run ``python -m repspace ARGS``; wall seconds, peak RSS (wait4) and the JSON it prints."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "repspace", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    stdout, stderr = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"repspace {' '.join(args)} failed: {stderr.decode()[-2000:]}")
    return {
        "wall_seconds": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "user_cpu_seconds": round(usage.ru_utime, 3),
        "result": json.loads(stdout),
    }


def target(name: str, measured: float, goal: float, unit: str) -> dict[str, Any]:
    return {
        "target": name,
        "measured": round(measured, 3),
        "goal": f"<= {goal} {unit}",
        "pass": bool(measured <= goal),
    }


def alternate(sides: dict[str, Any], rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Seconds per call of each side, alternating A, B, A, B; and each side's last value."""
    times: dict[str, list[float]] = {k: [] for k in sides}
    values: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in sides.items():
            seconds, values[name] = timed(fn)
            times[name].append(seconds)
    return {k: summarize(v) for k, v in times.items()}, values


def reference(x: np.ndarray, a: np.ndarray, b: np.ndarray, rounds: int) -> dict[str, Any]:
    import torch
    from ckatorch import cka_base
    from IsoScore.IsoScore import IsoScore

    out: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    x64 = x.astype(np.float64)
    secs, vals = alternate(
        {"repspace": lambda: isoscore(x), "isoscore_package": lambda: float(IsoScore(x64))},
        rounds,
    )
    out["isoscore"] = {
        "input": f"{x.shape[0]:,} x {x.shape[1]} (package given float64)",
        "seconds": secs,
        "values": vals,
        "abs_diff": abs(vals["repspace"] - vals["isoscore_package"]),
        "speedup_vs_package": round(
            secs["isoscore_package"]["median"] / secs["repspace"]["median"], 2
        ),
    }
    ta, tb = torch.from_numpy(a.astype(np.float64)), torch.from_numpy(b.astype(np.float64))
    for kernel, ours in (("linear", linear_cka), ("rbf", rbf_cka)):
        secs, vals = alternate(
            {
                "repspace": lambda ours=ours: ours(a, b),
                "ckatorch": lambda kernel=kernel: float(cka_base(ta, tb, kernel=kernel)),
            },
            rounds,
        )
        out[f"{kernel}_cka"] = {
            "input": f"{len(a):,} rows, {a.shape[1]} and {b.shape[1]} dims",
            "seconds": secs,
            "values": vals,
            "abs_diff": abs(vals["repspace"] - vals["ckatorch"]),
            "speedup_vs_package": round(secs["ckatorch"]["median"] / secs["repspace"]["median"], 2),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the inspect space")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--compare-rows", type=int, default=20_000)
    ap.add_argument("--reference-rows", type=int, default=4_000, help="rows for ckatorch")
    ap.add_argument("--rounds", type=int, default=1, help="timed rounds per side")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory(prefix="bench-measure-") as d:
        tmp = Path(d)
        gen_s, x = timed(lambda: synthetic(args.rows, args.dim, args.seed))
        ids = [f"r{i}" for i in range(args.rows)]
        write_s, _ = timed(lambda: Space.from_arrays(tmp / "big", ids, x, model="synthetic"))
        runs = []
        for _ in range(args.rounds):
            runs.append(
                run_cli(["inspect", str(tmp / "big"), "--json", "--report", str(tmp / "i.html")])
            )
        inspect_run = min(runs, key=lambda r: r["wall_seconds"])
        inspect_result = inspect_run.pop("result")
        inspect_run["report_bytes"] = (tmp / "i.html").stat().st_size
        inspect_run["all_rounds_wall_seconds"] = [r["wall_seconds"] for r in runs]

        rng = np.random.default_rng(args.seed + 1)
        m = args.compare_rows
        a = x[:m]
        rot, _ = np.linalg.qr(rng.standard_normal((args.dim, args.dim)))
        b = np.tanh(a @ rot.astype(np.float32) * 1.5) + rng.standard_normal(
            a.shape, dtype=np.float32
        ) * np.float32(0.05)
        order = rng.permutation(m)
        Space.from_arrays(tmp / "a", ids[:m], a, model="synthetic-a")
        Space.from_arrays(tmp / "b", [ids[i] for i in order], b[order], model="synthetic-b")
        runs = []
        for _ in range(args.rounds):
            runs.append(
                run_cli(
                    [
                        "compare",
                        str(tmp / "a"),
                        str(tmp / "b"),
                        "--json",
                        "--debiased",
                        "--report",
                        str(tmp / "c.html"),
                    ]
                )
            )
        compare_run = min(runs, key=lambda r: r["wall_seconds"])
        compare_result = compare_run.pop("result")
        compare_run["all_rounds_wall_seconds"] = [r["wall_seconds"] for r in runs]

        pick = np.sort(rng.choice(m, min(m, args.reference_rows), replace=False))
        ref = reference(x, a[pick], b[pick], max(args.rounds, 1))

    stages = inspect_result["seconds"]
    payload = {
        "benchmark": "measure",
        "machine": machine_info(),
        "params": vars(args),
        "targets": [
            target(
                f"inspect {args.rows:,} x {args.dim}: wall time (CLI, with report)",
                inspect_run["wall_seconds"],
                60,
                "s",
            ),
            target(
                f"inspect {args.rows:,} x {args.dim}: peak RSS",
                inspect_run["peak_rss_mb"] / 1024,
                4,
                "GB",
            ),
            target(
                f"compare 2 x {m:,} x {args.dim}: wall time (CLI, debiased, with report)",
                compare_run["wall_seconds"],
                60,
                "s",
            ),
        ],
        "data": {"generate_seconds": round(gen_s, 3), "write_space_seconds": round(write_s, 3)},
        "inspect": {
            **inspect_run,
            "stage_seconds": {
                k: {"seconds": v, "computes": INSPECT_STAGES.get(k, "")} for k, v in stages.items()
            },
            "scope": inspect_result["scope"],
            "metrics": inspect_result["metrics"],
        },
        "compare": {
            **compare_run,
            "metric_seconds": compare_result["seconds"],
            "scope": compare_result["scope"],
            "values": compare_result["pairs"][0],
            "shared": compare_result["shared"],
        },
        "reference": ref,
    }
    path = write_result("measure", payload)
    for t in payload["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']} ({t['goal']})")
    for name in ("isoscore", "linear_cka", "rbf_cka"):
        r = ref[name]
        print(f"{name}: {r['speedup_vs_package']}x vs reference, |diff| {r['abs_diff']:.2e}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
