"""Memory of ``repspace encode`` as the corpus grows: peak RSS at N and 10 N documents.

The corpus is streamed, so peak RSS should be flat apart from duplicate-id detection, which
keeps 8 bytes per id by design (80 MB at 10M documents). Each size runs the real CLI
(``repspace encode --encoder hash:64 --no-text --quiet``) in its own process tree; peak RSS is
the child's ``ru_maxrss``. Documents are short synthetic sentences with unique ids.

Run from the repository root: ``.venv/bin/python bench/encode_memory.py`` (``--help``);
writes ``bench/results/encode_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import machine_info, timed, write_result

WORDS = [
    "space",
    "vector",
    "model",
    "corpus",
    "encoder",
    "index",
    "search",
    "shard",
    "query",
    "token",
    "text",
    "data",
]

# Runs the command in a child and prints that child's peak RSS (KiB) on the last line.
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def write_corpus(path: Path, n: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choices(WORDS, k=8))
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")


def measure(n: int, tmp: Path) -> dict[str, Any]:
    corpus = tmp / f"corpus-{n}.jsonl"
    write_corpus(corpus, n)
    cmd = [sys.executable, "-m", "repspace", "encode", str(corpus), "--encoder", "hash:64"]
    cmd += ["--out", str(tmp / f"space-{n}"), "--no-text", "--quiet"]
    seconds, proc = timed(
        lambda: subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *cmd], capture_output=True, text=True, check=True
        )
    )
    return {
        "docs": n,
        "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
        "peak_rss_mb": round(int(proc.stdout.split()[-1]) / 1024, 1),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000, help="N (the second run uses 10 N)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-encode-memory-") as d:
        runs = [measure(n, Path(d)) for n in (args.docs, 10 * args.docs)]
    growth = runs[1]["peak_rss_mb"] - runs[0]["peak_rss_mb"]
    expected = 8 * 9 * args.docs / 1e6  # the duplicate-id hashes of the 9 N extra documents
    payload = {
        "benchmark": "encode_memory",
        "machine": machine_info(),
        "runs": runs,
        "targets": [
            {
                "target": "peak RSS growth from N to 10 N documents, beyond 8 bytes per id",
                "measured_mb": round(growth - expected, 1),
                "goal": "<= 50 MB (flat: streaming)",
                "pass": growth - expected <= 50,
                "growth_mb": round(growth, 1),
                "id_hashes_mb": round(expected, 1),
            }
        ],
    }
    path = write_result("encode_memory", payload)
    print(json.dumps(payload["runs"]), f"\nwrote {path}")


if __name__ == "__main__":
    main()
