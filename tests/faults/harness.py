"""Crash at any point: run a writer command, SIGKILL it at a seeded moment, run it again, and
compare the result with a clean run's (shared by ``tests/faults/test_crash.py`` and the longer
campaign of ``bench/faults.py``).

"Byte-identical" is checked on a canonical form of the artifact: every file's bytes, except
JSON files, compared without the fields that hold the time of the run (``created``,
``updated``, ``finished``, ``date``, ``seconds``, ``timings``...), HTML reports, compared
through the JSON they are drawn from, and usearch HNSW files, compared by their
keys and vectors (and their checksums left out of the manifest): the graph of a multi-threaded
HNSW build differs between two clean runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: JSON keys whose values are the time (or duration) of a run, not its result (``checksum``:
#: a sealed file's, taken over its timestamps too).
TIME_KEYS = {"created", "updated", "finished", "started", "date", "seconds", "since", "time",
             "elapsed", "duration", "seconds_total", "timings", "checksum"}  # fmt: skip


@dataclass
class Case:
    """A writer command (``argv`` after ``repspace``) writing the artifact ``out``; training
    commands are checked as absent-or-complete instead of byte-identical."""

    name: str
    argv: list[str]
    out: Path
    training: bool = False
    check: Any = None  # for training: a callable that loads the artifact
    setup: Any = None  # a callable preparing ``out`` before each run (e.g. a started migration)


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):  # (the checksum of an HNSW graph differs like the graph)
        return {
            k: _strip(v)
            for k, v in obj.items()
            if k not in TIME_KEYS and not k.endswith(".usearch")
        }
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _ann_digest(path: Path) -> str:
    import numpy as np
    from usearch.index import Index as Ann

    ann = Ann.restore(str(path), view=True)
    keys = np.sort(np.asarray(ann.keys, dtype=np.uint64))
    vectors = np.asarray(ann.get(keys, dtype=np.float32))
    return hashlib.sha256(keys.tobytes() + vectors.tobytes()).hexdigest()


def canonical(path: Path) -> dict[str, str]:
    """Relative file name -> digest of its canonical content (see the module docstring)."""
    out: dict[str, str] = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        name = str(f.relative_to(path))
        if f.suffix == ".html" and f.with_suffix(".json").is_file():
            continue  # a report: compared through the JSON it is drawn from (it shows run times)
        if f.suffix == ".json":
            try:
                data = _strip(json.loads(f.read_text(encoding="utf-8")))
                out[name] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
                continue
            except ValueError:
                pass
        if f.suffix == ".usearch":
            out[name.rsplit("-", 1)[0]] = _ann_digest(f)  # generation numbers may differ
            continue
        out[name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _clear(case: Case) -> None:
    shutil.rmtree(case.out, ignore_errors=True)
    for stale in case.out.parent.glob(f".{case.out.name}.*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    if case.setup is not None:
        case.setup(case.out)


def run(case: Case, timeout: float = 600) -> tuple[int, float, str]:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "repspace", *case.argv], capture_output=True,
                       text=True, timeout=timeout)  # fmt: skip
    return r.returncode, time.monotonic() - t0, r.stderr


def clean_run(case: Case) -> tuple[dict[str, str], float]:
    """The canonical artifact of an uninterrupted run, and how long the run took."""
    _clear(case)
    rc, seconds, err = run(case)
    if rc != 0:
        raise AssertionError(f"{case.name}: the clean run failed: {err}")
    return canonical(case.out), seconds


def crash(case: Case, clean: dict[str, str], moment: float) -> dict[str, Any]:
    """Kill ``case`` ``moment`` seconds after its start, run it again, check the result."""
    _clear(case)
    with tempfile.TemporaryFile() as err:  # not a pipe: a full pipe would stall the command
        proc = subprocess.Popen([sys.executable, "-m", "repspace", *case.argv],
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            proc.wait(timeout=moment)
            killed = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
        err.seek(0)
        first_error = err.read().decode(errors="replace")
    outcome: dict[str, Any] = {"moment": round(moment, 3), "killed": killed}
    if not killed and proc.returncode != 0:  # it ended by itself, and failed
        outcome.update(ok=False, first_exit=proc.returncode, error=first_error.splitlines()[-1:])
        return outcome
    if case.training:
        # absent or complete and loadable, never a half-written directory
        present = case.out.exists()
        outcome["after_kill"] = "absent" if not present else "complete"
        if present:
            case.check(case.out)
    # killed: the same command again must finish it; finished before the kill: it is complete
    rc, _, err = run(case) if killed else (0, 0.0, "")
    outcome["rerun_exit"] = rc
    if rc != 0:
        outcome["error"] = err.strip().splitlines()[-1:] if err else []
        outcome["ok"] = False
        return outcome
    if case.training:
        case.check(case.out)
        outcome["ok"] = True
    else:
        got = canonical(case.out)
        outcome["ok"] = got == clean
        if got != clean:
            outcome["differs"] = sorted(k for k in set(got) | set(clean)
                                        if got.get(k) != clean.get(k))[:5]  # fmt: skip
    leftovers = [p.name for p in case.out.parent.glob(f".{case.out.name}.*")
                 if not p.name.endswith(".lock")]  # fmt: skip
    outcome["leftovers"] = leftovers
    outcome["ok"] = outcome["ok"] and not leftovers
    return outcome


def moments(seed: int, count: int, duration: float) -> list[float]:
    """``count`` seeded kill moments spread over a run of ``duration`` seconds (the process
    start, about 1 s of imports, included: early moments hit start-up, late ones the end)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.05, duration * 1.05) for _ in range(count))


def campaign(case: Case, count: int, seed: int) -> dict[str, Any]:
    """A clean run, then ``count`` crashes of ``case`` at seeded moments."""
    clean, seconds = clean_run(case) if not case.training else ({}, run_time(case))
    results = [crash(case, clean, m) for m in moments(seed, count, seconds)]
    return {
        "command": "repspace " + " ".join(os.path.basename(a) for a in case.argv),
        "clean_seconds": round(seconds, 2),
        "crashes": len(results),
        "killed_mid_run": sum(r["killed"] for r in results),
        "survived": sum(r["ok"] for r in results),
        "failures": [r for r in results if not r["ok"]],
    }


def run_time(case: Case) -> float:
    _clear(case)
    rc, seconds, err = run(case)
    if rc != 0:
        raise AssertionError(f"{case.name}: the clean run failed: {err}")
    return seconds
