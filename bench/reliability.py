"""The reliability figures (issue "Nothing lost, nothing silently wrong"), like a database's
durability page: gathered from the fault-injection suite (``tests/faults``: run here, its cases
counted per kind, Hypothesis's example counts per reader), the crash campaign
(``bench/results/faults.json``, ``bench/faults.py``), the soak (``bench/results/soak.json``,
``bench/soak.py``), and the cost of verified reads, measured here: ``repspace index`` over a
``--rows`` × 384 space (1M by default) with its shards' sha256 verified (the default) against
the verification alone, each in a fresh process.

Run from the repository root after ``bench/faults.py`` and ``bench/soak.py``:
``.venv/bin/python bench/reliability.py``; writes ``bench/results/reliability.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, RESULTS, machine_info, write_result

KINDS = {
    "test_crash.py": "crash at any point (bounded, in make test)",
    "test_disk.py": "disk full, file-size limit, read-only target",
    "test_corruption.py": "corruption (flipped bytes, truncation, lost shards, edited manifests)",
    "test_fuzz_readers.py": "parser fuzzing (Hypothesis)",
    "test_locks.py": "concurrency (one writer per artifact)",
    "test_server_security.py": "server: Host/Origin validation, API key on every route",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def suite() -> dict[str, Any]:
    """Run the fault-injection suite; cases and failures per file, Hypothesis examples."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--hypothesis-show-statistics", f"--junitxml={xml}", "tests/faults",
             "tests/test_server_security.py"],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        tree = ET.parse(xml)
    per_file: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    for case in tree.iter("testcase"):
        file = case.get("classname", "").split(".")[-1] + ".py"
        entry = per_file.setdefault(file, {"cases": 0, "failed": 0, "skipped": 0})
        entry["cases"] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            entry["failed"] += 1
            failures.append(f"{file}::{case.get('name')}")
        if case.find("skipped") is not None:
            entry["skipped"] += 1
    # Hypothesis: "tests/faults/test_fuzz_readers.py::test_x:" then "- N passing, ..."
    examples: dict[str, int] = {}
    current = None
    for line in r.stdout.splitlines():
        m = re.match(r"^(\S+\.py::\S+):$", line.strip())
        if m:
            current = m.group(1).split("::")[-1]
        m = re.search(r"(\d+) passing(?: examples?)?,", line)
        if m and current:
            examples[current] = examples.get(current, 0) + int(m.group(1))
    return {
        "exit_code": r.returncode,
        "by_kind": {KINDS.get(f, f): v for f, v in sorted(per_file.items())},
        "fuzz_examples_per_test": examples,
        "fuzz_examples_total": sum(examples.values()),
        "failures": failures,
        "tail": r.stdout.strip().splitlines()[-1:],
    }


def verify_overhead(rows: int, dim: int) -> dict[str, Any]:
    """``repspace index`` wall time (shards verified first, the default) and the verification
    alone, each in a fresh process, on a ``rows`` × ``dim`` space."""
    from repspace.space import Space

    with tempfile.TemporaryDirectory(prefix="bench-verify-", dir=REPO / "build") as tmp:
        work = Path(tmp)
        log(f"verify: writing a {rows:,} x {dim} space")
        rng = np.random.default_rng(0)
        x = rng.standard_normal((rows, dim), dtype=np.float32)
        Space.from_arrays(work / "space", [str(i) for i in range(rows)], x, shard_size=250_000)
        del x
        for f in (work / "space").rglob("*"):  # cold: the verification reads from the disk
            if f.is_file():
                fd = os.open(f, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
        code = (
            "import sys, time\nfrom repspace.space import Space\nt = time.perf_counter()\n"
            "Space.open(sys.argv[1], verify=True)\nprint(time.perf_counter() - t)\n"
        )
        timed = subprocess.run(
            [sys.executable, "-c", code, str(work / "space")], capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        verify_s = float(timed.stdout)
        log(f"verify: {verify_s:.2f} s; now repspace index")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "repspace", "index", str(work / "space"), "--out",
                        str(work / "index"), "--quiet"], check=True)  # fmt: skip
        index_s = time.perf_counter() - t0
    return {
        "rows": rows,
        "dim": dim,
        "space_gib": round(rows * dim * 4 / 2**30, 2),
        "verify_seconds": round(verify_s, 2),
        "index_wall_seconds_with_verify": round(index_s, 1),
        "overhead": round(verify_s / (index_s - verify_s), 4),
        "note": "verification in a fresh process, the shards evicted from the page cache first "
        "(posix_fadvise DONTNEED), then repspace index in another fresh process",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--skip-suite", action="store_true")
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args()
    path = RESULTS / "reliability.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    result.update({"benchmark": "reliability", "machine": machine_info()})
    if not args.skip_suite:
        log("suite: tests/faults")
        result["suite"] = suite()
    if not args.skip_verify:
        key = "verified_reads" if args.rows == 1_000_000 else f"verified_reads_{args.rows}"
        result[key] = verify_overhead(args.rows, args.dim)
    for name in ("faults", "soak"):
        f = RESULTS / f"{name}.json"
        if f.is_file():
            data = json.loads(f.read_text())
            result[name] = {k: data[k] for k in data if k not in ("machine", "benchmark")}
    result["targets"] = targets(result)
    write_result("reliability", result)
    print(json.dumps(result["targets"], indent=1))


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if "faults" in r:
        s = r["faults"].get("summary", {})
        lost = s.get("data_lost_or_wrong")
        out.append({"target": "crash campaign: runs whose result is lost or wrong", "value": lost,
                    "met": lost == 0})  # fmt: skip
        few = [c for c, p in r["faults"]["commands"].items() if p["crashes"] < 20]
        out.append({"target": "crash campaign: >= 20 kills per writer command",
                    "value": few or "all", "met": not few})  # fmt: skip
    if "suite" in r:
        failed = sum(v["failed"] for v in r["suite"]["by_kind"].values())
        out.append({"target": "fault suite: failures (tracebacks, wrong results, accepted "
                    "corruptions)", "value": failed, "met": failed == 0})  # fmt: skip
    for key in sorted(k for k in r if k.startswith("verified_reads")):
        o, rows = r[key]["overhead"], r[key]["rows"]
        bound = float(str(o).lstrip("< "))  # "< x" when the build was stopped: an upper bound
        out.append({"target": f"verified reads: <= 10% of repspace index wall time ({rows:,} x "
                    f"{r[key]['dim']})", "value": o, "met": bound <= 0.10})  # fmt: skip
    if "soak" in r:
        out += r["soak"].get("targets", [])
    return out


if __name__ == "__main__":
    main()
