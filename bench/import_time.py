"""Start-up cost: ``import repspace`` (``python -X importtime``, cumulative microseconds) and the
wall time of ``repspace --help`` (whether it imports torch too), median of ``--runs`` runs, for
this checkout and optionally others (``--other ROOT``, e.g. a worktree of an older commit) in
the same run, alternating; results keyed by commit.

Run from the repository root: ``.venv/bin/python bench/import_time.py [--other /tmp/old]``;
writes ``bench/results/import.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, machine_info, write_result

HELP = """import sys
from repspace.cli import main
sys.argv = ["repspace", "--help"]
try:
    main()
except SystemExit:
    pass
print("torch" in sys.modules, file=sys.stderr)"""


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root / "src")}


def import_us(root: Path) -> int:
    """Cumulative microseconds of ``import repspace`` (importtime's last line)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import repspace"],
        env=_env(root),
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return int(err.strip().splitlines()[-1].split("|")[1])


def help_run(root: Path) -> tuple[float, bool]:
    """Wall seconds of ``repspace --help`` and whether it imported torch."""
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", HELP], env=_env(root), capture_output=True, text=True, check=True
    )
    return time.perf_counter() - t, r.stderr.strip().splitlines()[-1] == "True"


def _commit(root: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, action="append", default=[])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    roots = {_commit(r): r for r in (REPO, *args.other)}
    samples: dict[str, dict[str, list[Any]]] = {k: {"import": [], "help": []} for k in roots}
    torch: dict[str, bool] = {}
    for _ in range(args.runs):
        for name, root in roots.items():
            samples[name]["import"].append(import_us(root))
            seconds, torch[name] = help_run(root)
            samples[name]["help"].append(round(seconds, 3))
    results = {
        name: {
            "import_repspace_us_median": statistics.median(s["import"]),
            "help_seconds_median": statistics.median(s["help"]),
            "help_imports_torch": torch[name],
            "runs": s,
        }
        for name, s in samples.items()
    }
    for name, r in results.items():
        print(name, {k: v for k, v in r.items() if k != "runs"})
    write_result("import", {"benchmark": "import", "machine": machine_info(), "results": results})


if __name__ == "__main__":
    main()
